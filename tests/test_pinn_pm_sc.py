"""pinn_pm_sc (issue 33): PINN-PM with the self-consistent score in its drift, registered and in `run --all`, a
training key of its own, and a trajectory that carries det J and the change-of-variables density at its particles."""
import dataclasses

import pytest
import torch

import problems
import solvers
from harness.cli.parser import build_parser
from harness.cli.planning import select
from solvers.flow_score import jacobian_determinants
from solvers.pinn_pm import PINNConfig
from solvers.pinn_pm_sc import PINNSCConfig
from solvers.pinn_training import training_key


def test_pinn_pm_sc_is_registered_in_run_all_and_has_the_particle_variants_sizes():
    assert "pinn_pm_sc" in solvers.list_solvers()
    chosen, _ = select(build_parser().parse_args(["run", "--all"]), sweep=False)
    assert "pinn_pm_sc" in chosen
    cls, base = solvers.get_solver("pinn_pm_sc"), solvers.get_solver("pinn_pm_particle")
    assert cls.has_flow_map and cls.has_score
    for name in problems.list_problems():
        p = problems.get_problem(name)
        assert cls.applies_to(p)[0]
        for profile in solvers.PROFILES:
            sc, particle = cls.profile_config(profile, p), base.profile_config(profile, p)
            assert isinstance(sc, PINNSCConfig) and sc.drift_score == "flow" and sc.flow_score_gradient == "detached"
            assert dataclasses.replace(particle, drift_score="flow") == PINNConfig(**dataclasses.asdict(sc)), (name, profile)


def test_its_training_key_is_not_the_default_trainings_and_is_that_of_drift_score_flow():
    """A subclass default (drift_score = flow) must enter the key: training_key compares against PINNConfig's
    defaults, so pinn_pm_sc never loads pinn_pm_particle's default training, and shares --set drift_score=flow's."""
    for name in ("bkw2d", "gaussian_mixture3d"):
        p = problems.get_problem(name)
        sc = solvers.get_solver("pinn_pm_sc").profile_config("quick", p)
        particle = solvers.get_solver("pinn_pm_particle").profile_config("quick", p)
        assert training_key(p, sc, 0) != training_key(p, particle, 0)
        assert training_key(p, sc, 0) == training_key(p, dataclasses.replace(particle, drift_score="flow"), 0)
        through = dataclasses.replace(sc, flow_score_gradient="through")
        assert training_key(p, through, 0) not in (training_key(p, sc, 0), training_key(p, particle, 0))


def test_another_drift_score_is_refused_with_a_pointer_to_pinn_pm_particle():
    cls = solvers.get_solver("pinn_pm_sc")
    p = problems.get_problem("bkw2d")
    assert cls.refusal(cls.profile_config("smoke", p), p) is None
    assert "use pinn_pm_particle" in cls.refusal(cls.profile_config("smoke", p, drift_score="net"), p)
    assert PINNSCConfig.CHOICES["drift_score"] == ("flow",)


def test_its_trajectory_carries_det_j_and_the_change_of_variables_density_at_the_particles():
    """A smoke training on bkw2d: det_j is det J(V) of its own flow at the P1 particles and densities f0(V) / |det J(V)|
    (float64, one per particle and snapshot); scores are the flow's push-forward score; no probe (no score network)."""
    solvers.pinn_training._MEMO.clear()
    p = problems.get_problem("bkw2d")
    cfg = solvers.get_solver("pinn_pm_sc").profile_config("smoke", p, iters=10, n_density=500)
    solver = solvers.get_solver("pinn_pm_sc")(cfg)
    traj = solvers.validate_trajectory(solver.run(p, seed=0), p)
    trained = solvers.pinn_training.train_pinn_pm(p, cfg, 0, torch.device("cpu"))  # the memo: the same networks
    assert traj.probe is None and traj.info["training_key"] == trained.key
    assert traj.score_is_own is True  # its scores are its own density's: fisher_information applies (in 3D)
    v = traj.initial.to(torch.float32)
    for t, x, det, density in zip(traj.times, traj.particles, traj.det_j, traj.densities):
        assert det.dtype == density.dtype == torch.float64 and det.shape == density.shape == (cfg.n_eval,)
        tt = torch.full((1,), t, dtype=torch.float32)
        assert torch.equal(det, jacobian_determinants(trained.flow, v, tt))
        assert torch.allclose(density, p.initial_density(traj.initial) / det.abs(), rtol=1e-12, atol=0)
        assert torch.allclose(x, trained.flow(v, tt).to(torch.float64), rtol=0, atol=1e-6)
    solvers.pinn_training._MEMO.clear()
