"""Issue 20: PINN-PM's oracle ablations, its training diagnostics, problem constants from the command line and
the reference scores they rest on. Every number here is checked against a closed form or a bound a bug breaks."""
import dataclasses
import math
from dataclasses import dataclass, field

import pytest
import torch

import problems
from certificates import training_diagnostics
from harness.plan.profiles import PROFILES
from harness.store import tables as store
from harness.plan.cell import Cell
from harness.cli import main
from problems import drift
from problems.references.grid_density import GridDensity
from problems.cases.mixtures import IsotropicMixture
from problems.references.radial import RadialDensity
from solvers.pinn_loss import pinn_losses
from solvers.pinn_networks import SMALL_2D, FlowMap, ScoreNet
from solvers.pinn_pm import PINNConfig
from solvers.pinn_training import _exact_samples, _exact_score_batched, ablation_refusal, training_key

F64 = torch.float64


@dataclass(frozen=True)
class ExactMaxwellian(IsotropicMixture):
    """N(0, I), a steady state: its exact solution at every t is f0, its characteristics the identity."""

    has_exact_solution: bool = field(default=True, init=False)

    def score(self, v, t):
        return -v.to(F64)

    def density(self, v, t):
        return self.initial_density(v)

    def sample_at(self, t, n, seed):
        return self.sample(n, seed)


def maxwellian(dim=2, gamma=0.0) -> ExactMaxwellian:
    return ExactMaxwellian(name=f"exactmaxwellian{dim}d", dim=dim, gamma=gamma, C=1 / 16, t0=0.0,
                           snapshot_times=(1.0, 2.0), kde_bandwidth=0.3, paper_n=1000,
                           grid_box=((-4.0, 4.0),) * dim, grid_points=20, centers=((0.0,) * dim,), weights=(1.0,))


@pytest.mark.parametrize("gamma,n", [(0.0, 4_000), (-3.0, 800)])
def test_exact_drift_score_and_exact_characteristics_leave_no_residual(gamma, n):
    """drift_score=exact with the flow replaced by the exact characteristics (the identity, for a steady state):
    L_phys = 0 to round-off whatever the score network is; with the network in the drift it is not."""
    p = maxwellian(2, gamma)
    v0 = p.sample(n, seed=1)
    times = torch.tensor([0.2, 0.9, 1.7], dtype=F64)
    identity = lambda v, t: v + (t - 0.0) * 0.0 * v
    net = lambda x, t: -x + 0.3 * torch.sin(2 * x) + 0.0 * t  # a wrong, non-Gaussian score model
    oracle = pinn_losses(identity, net, v0, times, gamma, p.C, drift_score=_exact_score_batched(p))
    assert oracle["phys"].item() < 1e-26
    assert oracle["signal"].item() < 1e-26
    plain = pinn_losses(identity, net, v0, times, gamma, p.C)
    assert plain["phys"].item() > 1e-5  # the wrong score's drift is not zero
    assert plain["phys"].item() == pytest.approx(plain["signal"].item(), rel=1e-12)  # x_dot = 0: residual = signal


def test_score_samples_exact_puts_ism_at_its_known_minimum():
    """ISM of the exact score on exact samples of N(0, I) (score_samples=exact) is -E|grad log f|^2 = -d within
    Monte Carlo error, even when the flow's push-forward is a contraction (where ISM would be -1.75 d)."""
    p, n, d = maxwellian(2), 20_000, 2
    v0 = p.sample(n, seed=2)
    times = torch.tensor([0.5, 1.5], dtype=F64)
    contraction = lambda v, t: v * (1 - 0.5 * t / 2.0)  # x = v/2 at t = 2: much sharper than f
    exact = lambda x, t: -x + 0.0 * t
    points = _exact_samples(p, times, n, seed=0, it=0)
    on_samples = pinn_losses(contraction, exact, v0, times, 0.0, p.C, ism_points=points)
    per_sample = (points * points).sum(-1) - 2 * d
    se = per_sample.std().item() / math.sqrt(per_sample.numel())
    assert abs(on_samples["ism"].item() + d) < 4 * se
    on_flow = pinn_losses(contraction, exact, v0, times, 0.0, p.C)
    assert on_flow["ism"].item() < -d - 0.3  # the push-forward is sharper: ISM below its true minimum


def test_detached_drift_positions_stop_only_the_gradient_through_the_positions():
    p = problems.get_problem("bkw2d")
    v0 = p.sample(300, seed=3).to(F64)
    times = torch.tensor([0.5, 2.0, 4.0], dtype=F64)
    torch.manual_seed(0)
    flow, net = FlowMap(2, SMALL_2D, 0.0, 5.0).to(F64), ScoreNet(2, SMALL_2D, 0.0, 5.0).to(F64)
    exact = _exact_score_batched(p)
    out = {}
    for detach in (False, True):
        for name, score in (("exact", lambda x, t: exact(x, t)), ("net", net)):
            loss = pinn_losses(flow, score, v0, times, 0.0, p.C, detach_drift_positions=detach)["phys"]
            flow.zero_grad()
            net.zero_grad()
            loss.backward()
            out[detach, name] = (loss.item(), torch.cat([q.grad.reshape(-1) for q in flow.parameters()]),
                                 torch.cat([q.grad.reshape(-1) for q in net.parameters()]) if name == "net" else None)
    for name in ("exact", "net"):
        assert out[True, name][0] == pytest.approx(out[False, name][0], rel=1e-12)  # the same value of L_phys
    assert torch.allclose(out[True, "net"][2], out[False, "net"][2], rtol=1e-9, atol=1e-15)  # the score trains alike
    # with a score that varies with x (the exact BKW score), the gradient through the positions is a real part
    diff = (out[True, "exact"][1] - out[False, "exact"][1]).norm()
    assert diff > 1e-3 * out[False, "exact"][1].norm()  # 4e-3 here at initialisation; exactly 0 if not detached


def test_new_fields_at_their_defaults_keep_the_training_key_and_ablations_change_it():
    p = problems.get_problem("bkw2d")
    cfg = PINNConfig(group="A", lr=3e-4)
    assert training_key(p, cfg, 0) == training_key(p, dataclasses.replace(cfg, drift_score="net"), 0)
    assert training_key(p, cfg, 0) == training_key(p, dataclasses.replace(cfg, group="paper"), 0)  # bkw2d is A
    assert training_key(p, cfg, 0) == training_key(p, dataclasses.replace(cfg, flow_arch=tuple(SMALL_2D)), 0)
    for change in ({"drift_score": "exact"}, {"score_samples": "exact"}, {"detach_drift_positions": True},
                   {"group": "B"}, {"ism_through_flow": True}):
        assert training_key(p, cfg, 0) != training_key(p, dataclasses.replace(cfg, **change), 0), change
    assert training_key(p, cfg, 0) != training_key(p.replace(C=0.125), cfg, 0)


def test_ablations_are_refused_where_the_problem_has_no_oracle():
    assert ablation_refusal(PINNConfig(drift_score="exact"), problems.get_problem("bkw3d")) is None
    why = ablation_refusal(PINNConfig(drift_score="exact"), problems.get_problem("truncated2d"))
    assert "truncated2d" in why and "bkw2d, bkw3d" in why
    assert "bkw2d" in ablation_refusal(PINNConfig(score_samples="exact"), problems.get_problem("anisotropic2d"))
    assert "snapshot" in ablation_refusal(PINNConfig(drift_score="reference"), problems.get_problem("anisotropic2d"))


@pytest.mark.parametrize("args,needle", [
    (["--set", "drift_score=oracle"], "'net', 'exact', 'reference'"),
    (["--set", "score_samples=true"], "'flow', 'exact'"),
    (["--set", "detach_drift_positions=maybe"], "true or false"),
    (["--set", "group=E"], "'paper', 'A', 'B', 'C', 'D'"),
    (["--set", "drift_score=exact", "-p", "truncated2d"], "problems with one: bkw2d, bkw3d"),
    (["--set", "drift_score=reference"], "drift_score=exact works on bkw2d, bkw3d"),
    (["--set", "bkw2d.C=-1"], "C must be positive"),
    (["--set", "truncated2d.eta=0", "-p", "truncated2d"], "eta of problem truncated2d must be > 0"),
    (["--set", "bkw2d.zeta=1"], "valid constants: gamma, C"),
    (["--set", "bkw2d.gamma=-3"], "BKW is a Maxwell"),
    (["--set", "bkw3d.C=1"], "problem 'bkw3d' is not selected"),
    (["--set", "nosuch.C=1"], "neither a selected solver nor a problem"),
])
def test_bad_set_of_the_new_fields_exits_2_naming_the_valid_values(args, needle, tmp_path, capsys):
    argv = ["run", "-s", "pinn_pm_particle", "--profile", "smoke", "--quiet", "--out", str(tmp_path / "r"), *args]
    if "-p" not in args:
        argv += ["-p", "bkw2d"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and needle in err, err
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_a_problem_constant_is_in_the_cell_id_and_the_exact_solution_follows_it(tmp_path):
    run = tmp_path / "r"
    assert main(["run", "-s", "exact_flow", "-p", "bkw2d", "--profile", "smoke", "--quiet", "--jobs", "1",
                 "--set", "bkw2d.C=0.125,0.0625", "--set", "n=300", "--out", str(run)]) == 0
    cell = Cell("exact_flow", "bkw2d", 0, (("bkw2d.C", 0.125), ("n", 300)))
    assert cell.make_problem().C == 0.125 and cell.solver_overrides() == {"n": 300}
    assert "bkw2d.C=0.125" in cell.id
    table = store.collect_tables(run, store.load_records(run))[0]
    assert set(table.overrides) == {"bkw2d.C=0.0625,n=300", "bkw2d.C=0.125,n=300"}
    err = table[table.metric == "trajectory_error"].groupby("overrides").value.max()
    assert (err < 1e-8).all()  # the exact characteristics and the exact solution use the same C
    # the constant reached the solver: same seed, same initial particles (K(t0) = 1 - K_c: C leaves f0 alone),
    # each cell's stored snapshots are the exact characteristics of those particles under its own C, and they differ
    import numpy as np
    from infra import seeds
    from problems.cases.characteristics import integrate_characteristics
    other = Cell("exact_flow", "bkw2d", 0, (("bkw2d.C", 0.0625), ("n", 300)))
    v0 = cell.make_problem().sample(300, seeds.INITIAL_PARTICLES.seed(0))
    assert torch.equal(v0, other.make_problem().sample(300, seeds.INITIAL_PARTICLES.seed(0)))
    stored = {}
    for c in (cell, other):
        exact = integrate_characteristics(c.make_problem(), v0, [1.0, 2.5, 5.0], 1e-10, 1e-12)
        with np.load(store.particles_path(run, c.id)) as f:
            assert f["times"].tolist() == [1.0, 2.5, 5.0]
            stored[c] = [f[f"x{k}"] for k in range(3)]
        for x, xe in zip(stored[c], exact):
            np.testing.assert_allclose(x, xe.numpy(), rtol=0, atol=1e-5)  # the file holds float32
    assert np.abs(stored[cell][2] - stored[other][2]).max() > 1e-3


def _bkw_grid(p, t, cells=200, half=5.0):
    axes = [torch.linspace(-half, half, cells, dtype=F64)] * 2
    X, Y = torch.meshgrid(*axes, indexing="ij")
    return GridDensity(tuple(axes), p.density(torch.stack([X, Y], -1), t))


@pytest.mark.parametrize("t", [0.0, 2.5, 5.0])
def test_grid_reference_score_matches_the_exact_bkw_score(t):
    """The score a grid reference gives (central differences of log f, interpolated) against BKW's exact
    score at exact samples: relative L2 error below 1% on a 200^2 grid."""
    p = problems.get_problem("bkw2d")
    y = p.sample_at(t, 4_000, seed=5) if t > 0 else p.sample(4_000, seed=5)
    s_ref, s = _bkw_grid(p, t).score(y), p.score(y, t)
    assert float((s_ref - s).norm() / s.norm()) < 1e-2


def test_radial_reference_score_matches_the_exact_bkw3d_score():
    p = problems.get_problem("bkw3d")
    t = 5.75
    r = (torch.arange(400, dtype=F64) + 0.5) * (10.0 / 400)
    v = torch.zeros(400, 3, dtype=F64)
    v[:, 0] = r
    dens = RadialDensity(r.numpy(), p.density(v, t).numpy(), 10.0)
    y = p.sample_at(t, 4_000, seed=6)
    s_ref, s = dens.score(y), p.score(y, t)
    assert float((s_ref - s).norm() / s.norm()) < 1e-2


class TrueProbe:
    """A probe whose particles are exact samples, whose velocity is the drift of its score, and whose score is
    the exact one plus linear * v + cubic * v |v|^2 (both 0: the exact score)."""

    def __init__(self, problem, linear=0.0, cubic=0.0, n=1_500):
        self.p, self.linear, self.cubic, self.n = problem, linear, cubic, n

    def positions(self, t):
        return self.p.sample_at(t, self.n, seed=11)

    def score(self, x, t):
        return self.p.score(x, t) + self.linear * x + self.cubic * x * (x * x).sum(-1, keepdim=True)

    def velocity(self, t):
        x = self.positions(t)
        return drift(x, self.score(x, t), self.p.gamma, self.p.C)


def _by_metric(rows):
    out = {}
    for r in rows:
        out.setdefault(r["metric"], []).append(r["value"])
    return out


def test_training_diagnostics_are_zero_for_the_truth_and_see_a_bent_score():
    p = problems.get_problem("bkw2d")
    exact = _by_metric(training_diagnostics(TrueProbe(p), p, p, seed=0, flow_map=True, reference_kind="exact"))
    assert max(exact["residual_to_signal"]) < 1e-28 and max(exact["residual_to_exact"]) < 1e-28
    assert max(exact["score_rel_err"]) < 1e-12 and max(exact["drift_rel_err"]) < 1e-12
    for flow, best in zip(exact["ism_flow"], exact["ism_min"]):
        assert abs(flow - best) < 0.35  # two Monte Carlo estimates of -E|grad log f|^2 (n = 1500 and 1000; 4 s.e.)
    linear = _by_metric(training_diagnostics(TrueProbe(p, linear=0.1), p, p, seed=0, flow_map=True))
    # gamma = 0: A(z) z = 0, so a linear score error is invisible to the drift
    assert min(linear["score_rel_err"]) > 0.05 and max(linear["drift_rel_err"]) < 1e-10
    cubic = _by_metric(training_diagnostics(TrueProbe(p, cubic=0.01), p, p, seed=0, flow_map=True))
    # a small non-Gaussian error: a few % in the score; near equilibrium (t = 5) several times that in the drift
    assert max(cubic["score_rel_err"]) < 0.1
    assert cubic["drift_rel_err"][-1] > 3 * cubic["score_rel_err"][-1]
    ratios = [d / s for d, s in zip(cubic["drift_rel_err"], cubic["score_rel_err"])]
    assert ratios == sorted(ratios)  # and the amplification grows as f_t approaches the Maxwellian


def _frame(**variants):
    import pandas as pd
    from harness.report.diagnosis import COLUMNS
    rows = []
    for name, vals in variants.items():
        row = {"variant": name.replace("__", "="), "t": 5.0, **{c: math.nan for c, _ in COLUMNS}}
        row.update(vals)
        rows.append(row)
    return pd.DataFrame(rows)


def test_verdict_names_the_source_the_numbers_point_to():
    """Issue 40: one diagnosis, every sentence rendered from it: the status sentence gives numbers only, the cause
    sentence names the cause the numbers decide (the old second decision tree said "the physics residual dominates"
    beside "Dominant cause: the flow map folds")."""
    from harness.report.diagnosis import verdict
    score_bound = _frame(default={"w1_over_floor": 1.6, "energy_drift": -0.05, "drift_rel_err": 0.9, "score_rel_err": 0.05,
                                  "residual_to_signal": 0.2},
                         drift_score__exact={"w1_over_floor": 1.02, "energy_drift": -0.003, "residual_to_exact": 0.01})
    assert verdict(score_bound) == ("At t = 5 the default is 1.60x its W1 floor with energy drift -5.0%. Dominant cause: "
                                    "the learned score inside the drift (drift_score=exact reaches the floor and keeps "
                                    "energy with the same flow training).")
    undertrained = _frame(default={"w1_over_floor": 1.6, "energy_drift": -0.05, "residual_to_signal": 1.0},
                          drift_score__exact={"w1_over_floor": 1.5, "energy_drift": -0.04, "residual_to_exact": 0.9})
    assert verdict(undertrained).endswith("Dominant cause: the flow does not follow its own drift (resid/signal 1.00: "
                                          "undertrained) and no variant that changes only the score in the drift "
                                          "reaches the floor while keeping energy.")
    drift_bound = _frame(default={"w1_over_floor": 2.0, "energy_drift": -0.01, "residual_to_signal": 0.05,
                                  "drift_rel_err": 0.7})
    assert verdict(drift_bound).endswith("the learned score's drift error: the drift built from the learned score is "
                                         "off by 70%.")
    at_floor = _frame(default={"w1_over_floor": 1.0, "energy_drift": 0.0, "residual_to_signal": 0.01, "drift_rel_err": 0.05})
    assert "Dominant cause: nothing to attribute at this N (W1 at its floor, energy kept)." in verdict(at_floor)
    residual_at_floor = _frame(default={"w1_over_floor": 1.05, "energy_drift": -0.03, "residual_to_signal": 0.05,
                                        "drift_rel_err": 0.05})
    assert "particle (Monte Carlo) error" in verdict(residual_at_floor)
    assert "drift_score=flow" not in verdict(residual_at_floor)
    self_consistent = _frame(default={"w1_over_floor": 1.35, "energy_drift": -0.115, "residual_to_signal": 1.08},
                             drift_score__flow={"w1_over_floor": 1.02, "energy_drift": 0.0039})
    assert verdict(self_consistent).endswith(" Without an oracle, the flow's own push-forward score in the drift "
                                             "(drift_score=flow) gives 1.02x its W1 floor and energy drift +0.4%. "
                                             "Dominant cause: the learned score inside the drift (drift_score=flow "
                                             "reaches the floor and keeps energy with the same flow training).")
    off = _frame(default={"w1_over_floor": 1.35, "energy_drift": -0.115, "residual_to_signal": 1.08},
                 drift_score__flow={"w1_over_floor": 1.5, "energy_drift": 0.0039})
    assert "gives 1.50x its W1 floor and energy drift +0.4%. Dominant cause: the flow does not follow" in verdict(off)
    # with the band's evidence: at the floor is the band's verdict, not 1.1
    banded = _frame(default={"w1_over_floor": 1.15, "w1_place": "at", "energy_drift": 0.001, "k": 5, "w1_lo": 1.05,
                             "w1_hi": 1.25, "w1_band": (0.93, 1.18)})
    assert verdict(banded) == ("At t = 5 the default is 1.15x its W1 floor (95% interval 1.05-1.25 over 5 seeds), inside "
                               "its floor band 0.93-1.18 with energy drift +0.1%. Dominant cause: nothing to attribute "
                               "at this N (W1 at its floor, energy kept).")
    above = _frame(default={"w1_over_floor": 1.05, "w1_place": "above", "energy_drift": 0.001, "residual_to_signal": 0.5})
    assert "Dominant cause: the flow does not follow its own drift" in verdict(above)


def test_dominant_cause_follows_the_numbers_in_its_order():
    """Each cause of harness.report.diagnosis.dominant_cause from a table built to show it, and the precedence: a fold
    first (even where a variant would fix the drift), then the hole's mass, then 'none' at the floor."""
    from harness.report.diagnosis import dominant_cause
    cause = lambda **v: dominant_cause(_frame(**v))[0]
    base = {"w1_over_floor": 1.4, "energy_drift": -0.1, "residual_to_signal": 0.1, "drift_rel_err": 0.1}
    fixed = {"w1_over_floor": 1.05, "energy_drift": 0.004}
    assert cause(default={**base, "min_det_j": -0.28, "fold_t": 40.0}, drift_score__flow=fixed) == "fold"
    folded = dominant_cause(_frame(default={**base, "min_det_j": -0.28, "fold_t": 40.0}))[1]
    assert "min det J -0.28, first <= 0 at t = 40" in folded
    assert cause(default={**base, "core_mass_over_floor": 12.0}, drift_score__flow=fixed) == "singular initial score"
    assert cause(default={**base, "core_mass_over_floor": 3.1}, drift_score__flow=fixed) == "singular initial score"
    assert cause(default={**base, "core_mass_over_floor": 2.9}, drift_score__flow=fixed) == "score drift"
    assert cause(default={**base, "w1_over_floor": 1.1, "energy_drift": -0.01}) == "none"
    at_floor = {**base, "w1_over_floor": 1.07, "energy_drift": -0.007}
    assert dominant_cause(_frame(default={**at_floor, "hdr_mass_over_floor": 5.47}))[1].endswith(
        "energy kept); but the highest-density region's mass is off by 5.5x its floor (over 3 floors of one floor draw), "
        "which W1 does not see here.")
    assert dominant_cause(_frame(default={**at_floor, "hdr_mass_over_floor": 2.9}))[1].endswith("energy kept).")
    assert cause(default=base, drift_score__exact=fixed) == "score drift"
    assert cause(default=base, drift_score__exact={**fixed, "energy_drift": 0.02}) == "particle error"
    assert cause(default={**base, "residual_to_signal": 0.31}) == "undertrained"
    assert cause(default={**base, "drift_rel_err": 0.31}) == "score error"
    assert cause(default={**base, "hdr_mass_over_floor": 3.5}) == "misplaced mass"
    assert cause(drift_score__flow=fixed) == "none run"


def test_diagnosis_table_reads_det_j_over_every_snapshot_and_the_rest_at_the_last():
    """A long table of one default variant at t = 1, 2, 3: min det J 0.5, -0.2, -0.4 gives -0.4 with the first fold at
    t = 2; the HDR mass (errors 0.02, 0.09, 0.03 over floors 0.01, 0.03, 0.02: 1.5 at the last snapshot, not the
    worst 3), core mass and W1 at the last snapshot (0.3 / 0.02 = 15, 0.2 / 0.1 = 2)."""
    import pandas as pd
    from harness.report.diagnosis import diagnosis_table, markdown
    per_t = {1.0: dict(min_det_j=0.5, hdr_mass_err=0.02, hdr_mass_mc_floor=0.01),
             2.0: dict(min_det_j=-0.2, hdr_mass_err=0.09, hdr_mass_mc_floor=0.03),
             3.0: dict(min_det_j=-0.4, hdr_mass_err=0.03, hdr_mass_mc_floor=0.02, core_mass_err=0.3,
                       core_mass_mc_floor=0.02, w1=0.2, w1_mc_floor=0.1, energy_drift=-0.05)}
    rows = [dict(solver="pinn_pm_particle", problem="p", seed=0, overrides="iters=9", t=t, metric=m, value=v)
            for t, vals in per_t.items() for m, v in vals.items()]
    frame = diagnosis_table(pd.DataFrame(rows), "p", {"iters=9": "default"})
    r = frame.iloc[0]
    assert (r.t, r.min_det_j, r.fold_t) == (3.0, -0.4, 2.0) and r.hdr_mass_over_floor == pytest.approx(1.5, rel=1e-12)
    assert r.core_mass_over_floor == pytest.approx(15.0, rel=1e-12) and r.w1_over_floor == pytest.approx(2.0, rel=1e-12)
    text = "\n".join(markdown(frame, "p"))
    assert "| -0.4 (folds at t = 2) | 15 ▲ | 1.5 |" in text  # one floor draw: REGION_MASS_FLAG (3) floors
    assert "Dominant cause: the flow map folds (min det J -0.4, first <= 0 at t = 2)" in text


@pytest.mark.slow
def test_diagnose_runs_every_applicable_variant_and_its_table_is_the_long_tables(tmp_path, capsys):
    import pandas as pd
    from harness.plan.diagnosis import COMPANIONS, VARIANTS
    run = tmp_path / "d"
    assert main(["diagnose", "-p", "bkw2d", "--profile", "smoke", "--quiet", "--jobs", "1", "--set", "iters=20",
                 "--out", str(run)]) == 0
    text = (run / "diagnosis.md").read_text()
    assert text in capsys.readouterr().out  # printed as written
    for name in [*VARIANTS, *COMPANIONS]:
        assert f"| {name} |" in text
    assert "Beside it, neural_flow (its own profile config) gives" in text
    assert "## PINN-PM diagnosis" in (run / "summary.md").read_text()
    table = pd.read_parquet(run / "metrics.parquet")
    default = table[(table.overrides == "iters=20") & (table.t == 5.0)].set_index("metric").value
    ratio = default["w1"] / default["w1_mc_floor"]
    assert any(f"| default | {cell} |" in text for cell in (f"{ratio:.3g}", f"**{ratio:.3g}**", f"{ratio:.3g} ✓",
                                                              f"**{ratio:.3g} ✓**"))
    assert set(table.overrides) >= {"iters=20", "drift_score=exact,iters=20", "iters=20,score_samples=exact"}
    # resumable like any run: nothing is redone
    assert main(["diagnose", "-p", "bkw2d", "--profile", "smoke", "--quiet", "--jobs", "1", "--set", "iters=20",
                 "--resume", str(run)]) == 0
    assert f"({len(VARIANTS) + len(COMPANIONS)} already done)" in capsys.readouterr().out  # every one applies
    # a grid is refused: every variant shares one budget
    assert main(["diagnose", "-p", "bkw2d", "--profile", "smoke", "--set", "iters=20,40", "--out", str(tmp_path / "x")]) == 2


def test_verdict_table_and_sentences_from_a_long_table():
    """The verdict (issue 24, issue 40) of a one-seed run without floor distributions: W1/floor per problem and
    solver, ✓ within 10% of the one floor draw, no solver bold and no ranking (no test is possible with one seed)."""
    import pandas as pd
    from harness.report.verdict import verdict_frame, verdict_lines
    rows = []
    for solver, w1, e in (("sbp", 0.16, 1e-4), ("blob", 0.15, 2e-4), ("pinn_pm_particle", 0.32, -0.05)):
        for t, scale in ((1.0, 0.5), (5.0, 1.0)):
            rows += [dict(solver=solver, problem="bkw2d", seed=0, overrides="", t=t, metric="w1", value=w1 * scale,
                          reference="exact"),
                     dict(solver=solver, problem="bkw2d", seed=0, overrides="", t=t, metric="w1_mc_floor",
                          value=0.16 * scale, reference="exact"),
                     dict(solver=solver, problem="bkw2d", seed=0, overrides="", t=t, metric="energy_drift", value=e,
                          reference="")]
    table = pd.DataFrame(rows)
    timings = pd.DataFrame([dict(solver=s, problem="bkw2d", seed=0, overrides="", solve_s=c)
                            for s, c in (("sbp", 6.0), ("blob", 9.0), ("pinn_pm_particle", 50.0))])
    frame = verdict_frame(table, timings)
    assert dict(zip(frame.solver, frame.ratio.round(6))) == {"blob": 0.9375, "pinn_pm_particle": 2.0, "sbp": 1.0}
    text = "\n".join(verdict_lines(frame))
    assert "| bkw2d (t = 5, exact) | one draw (✓: <= 1.1) | 0.94 ✓ (9.0 s) | 2.00 (50 s) | 1.00 ✓ (6.0 s) |" in text
    assert "One seed: the values carry no interval, and no test can rank two solvers" in text
    assert ("**bkw2d** (1 seed): at the W1 floor (within 10% of one floor draw): blob 0.94, sbp 1.00; above it: "
            "pinn_pm_particle 2.00; one seed: no test can rank them; pinn_pm_particle drifts -5% in energy.") in text
    assert "**" not in text.split("| bkw2d")[1].split("\n")[0]  # nothing bold with one seed


def _five_seed_run(w1_of: dict, floor_draws: list[float]):
    """(table, timings, floors) of a five-seed run on bkw2d at t = 5: w1_of {solver: [w1 of seeds 0-4]}, every
    cell's floor distribution the same draws (N = 1000)."""
    import numpy as np
    import pandas as pd
    rows, floors = [], []
    mean = float(np.mean(floor_draws))
    for solver, values in w1_of.items():
        for seed, w in enumerate(values):
            rows += [dict(solver=solver, problem="bkw2d", seed=seed, overrides="", t=5.0, metric="w1", value=w,
                          reference="exact"),
                     dict(solver=solver, problem="bkw2d", seed=seed, overrides="", t=5.0, metric="w1_mc_floor",
                          value=mean, reference="exact"),
                     dict(solver=solver, problem="bkw2d", seed=seed, overrides="", t=5.0, metric="energy_drift",
                          value=1e-4 * (seed + 1), reference="")]
            floors.append(dict(solver=solver, problem="bkw2d", seed=seed, overrides="", t=5.0, metric="w1",
                               floor="w1_mc_floor", n=1000, pairs=len(floor_draws), mean=mean,
                               se=float(np.std(floor_draws, ddof=1) / np.sqrt(len(floor_draws))), reference="exact",
                               values=tuple(floor_draws)))
    timings = pd.DataFrame([dict(solver=s, problem="bkw2d", seed=k, overrides="", solve_s=1.0 + k)
                            for s in w1_of for k in range(5)])
    return pd.DataFrame(rows), timings, pd.DataFrame(floors)


def test_five_seed_verdict_shows_intervals_bands_and_ranks_only_what_its_test_supports():
    """Issue 40: five seeds, floor draws of mean 0.2: sbp and blob at the floor (inside the band), pinn 1.5x above it
    with a paired t test at p < 0.05 against both; sbp and blob indistinguishable, so both bold."""
    import numpy as np
    from harness.report.evidence import null_band
    from harness.report.verdict import verdict_frame, verdict_lines
    draws = [0.2 * (1 + 0.09 * z) for z in np.random.default_rng(0).standard_normal(30)]
    w1_of = {"sbp": [0.19, 0.21, 0.20, 0.185, 0.205], "blob": [0.20, 0.19, 0.21, 0.20, 0.19],
             "pinn_pm_particle": [0.30, 0.31, 0.29, 0.30, 0.33]}
    table, timings, floors = _five_seed_run(w1_of, draws)
    frame = verdict_frame(table, timings, floors).set_index("solver")
    mean = float(np.mean(draws))
    lo, hi = null_band([np.array(draws) / mean] * 5)
    assert frame.loc["sbp", "band_lo"] == pytest.approx(lo, abs=1e-12) and frame.loc["sbp", "band_hi"] == pytest.approx(hi, abs=1e-12)
    assert 0.85 < lo < 0.98 < 1.02 < hi < 1.15  # the band of a mean over 5 seeds: about 1 ± 1.96 x 0.09 / sqrt(5)
    assert frame.loc["sbp", "ratio"] == pytest.approx(np.mean(w1_of["sbp"]) / mean, rel=1e-12)
    assert list(frame.place[["sbp", "blob", "pinn_pm_particle"]]) == ["at", "at", "above"]
    text = "\n".join(verdict_lines(frame.reset_index()))
    row = next(line for line in text.splitlines() if line.startswith("| bkw2d"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == f"{lo:.2f}-{hi:.2f}"
    assert cells[2].startswith("**") and cells[4].startswith("**") and not cells[3].startswith("**")  # blob, sbp bold
    assert "blob is more accurate than pinn_pm_particle (paired t over 5 seeds on log ratios, Holm p <=" in text
    assert "sbp is more accurate than pinn_pm_particle (paired t over 5 seeds on log ratios" in text
    assert "the other tested pairs are indistinguishable at N = 1,000, 5 seeds" in text
    assert "blob is more accurate than sbp" not in text and "sbp is more accurate than blob" not in text
    assert "K = 5 seeds per cell" in text


def test_diagnose_plans_every_variant_at_every_seed():
    """Issue 40: a diagnosis over seeds 0, 3 plans each applicable variant once per seed (it ran seed 0 only)."""
    from harness.plan.diagnosis import plan_diagnosis
    one, names_one = plan_diagnosis(["bkw2d"], PROFILES["smoke"], {}, seeds=(0,), only=["default", "drift_score=exact"])
    two, names_two = plan_diagnosis(["bkw2d"], PROFILES["smoke"], {}, seeds=(0, 3), only=["default", "drift_score=exact"])
    assert [c.seed for c in one] == [0, 0]
    assert sorted(c.seed for c in two) == [0, 0, 3, 3]
    assert len({(c.overrides, c.seed) for c in two}) == 4
    assert names_one == names_two and sorted(names_two.values()) == ["default", "drift_score=exact"]


class FastProbe(TrueProbe):
    """TrueProbe moving at `speed` times the drift of its own score."""

    def __init__(self, problem, speed, **kw):
        super().__init__(problem, **kw)
        self.speed = speed

    def velocity(self, t):
        return self.speed * super().velocity(t)


def test_training_diagnostics_residual_ratios_by_hand():
    """velocity = 3 U_theta: residual_to_signal = |3U - U|^2 / |U|^2 = 4; with a cubic score error
    residual_to_exact = |3 U_theta - U[s]|^2 / |U[s]|^2 (computed here); rows only at snapshots after t0 (bkw3d
    lists t0 = 5.5 among its snapshots)."""
    p = problems.get_problem("bkw2d")
    rows = _by_metric(training_diagnostics(FastProbe(p, 3.0, n=200), p, p, seed=0, flow_map=True))
    assert rows["residual_to_signal"] == pytest.approx([4.0] * 3, rel=1e-12)
    assert rows["residual_to_exact"] == pytest.approx([4.0] * 3, rel=1e-12)
    probe = FastProbe(p, 3.0, cubic=0.01, n=200)
    bent = _by_metric(training_diagnostics(probe, p, p, seed=0, flow_map=True))
    for t, got in zip((1.0, 2.5, 5.0), bent["residual_to_exact"]):
        x = probe.positions(t)
        u_true = drift(x, p.score(x, t), p.gamma, p.C)
        assert got == pytest.approx(float(((probe.velocity(t) - u_true) ** 2).sum() / (u_true ** 2).sum()), rel=1e-10)
    p3 = problems.get_problem("bkw3d")
    ts = {r["t"] for r in training_diagnostics(FastProbe(p3, 1.0, n=50), p3, p3, seed=0, flow_map=True)}
    assert ts == {5.75, 6.0}
    # score_rel_err of s + 0.1 v on the 1,000 true samples of snapshot k (stream DIAGNOSIS_SAMPLES, seed 0):
    # (sum |0.1 y|^2 / sum |s(y)|^2)^(1/2)
    from infra import seeds
    lin = _by_metric(training_diagnostics(TrueProbe(p, linear=0.1, n=50), p, p, seed=0, flow_map=False))
    for k, (t, got) in enumerate(zip((1.0, 2.5, 5.0), lin["score_rel_err"])):
        y = p.sample_at(t, 1_000, seeds.DIAGNOSIS_SAMPLES.seed(0, k))
        assert got == pytest.approx(math.sqrt(float((0.01 * y * y).sum() / (p.score(y, t) ** 2).sum())), rel=1e-12)


def test_training_diagnostics_ratio_of_nothing_is_nan():
    """A ratio over a zero signal (a probe that does not move, on particles with no drift) is NaN, not an error."""
    from certificates.diagnostics import _ratio
    assert math.isnan(_ratio(1.0, 0.0)) and math.isnan(_ratio(0.0, 0.0)) and _ratio(1.0, 4.0) == 0.25


def test_a_companion_row_is_read_from_its_own_solver_and_named_in_a_sentence():
    """neural_flow beside PINN-PM (issue 41): its row is keyed 'neural_flow:' (harness.plan.diagnosis.variant_key),
    read from neural_flow's rows only (a pinn_pm_particle row with the same empty overrides label is the default), and
    the verdict adds its numbers; min det J over every snapshot."""
    import pandas as pd
    from harness.plan.diagnosis import split_key, variant_key
    from harness.report.diagnosis import diagnosis_table, markdown
    assert variant_key("neural_flow", "") == "neural_flow:" and split_key("neural_flow:") == ("neural_flow", "")
    assert variant_key("pinn_pm_particle", "iters=9") == "iters=9" and split_key("a:b") == ("pinn_pm_particle", "a:b")
    rows = [dict(solver=s, problem="p", seed=0, overrides="", t=t, metric=m, value=v)
            for s, w1, e in (("pinn_pm_particle", 0.3, -0.1), ("neural_flow", 0.11, 0.004))
            for t, vals in {1.0: dict(min_det_j=0.7 if s == "neural_flow" else 0.9),
                            2.0: dict(min_det_j=0.25 if s == "neural_flow" else 0.8, w1=w1, w1_mc_floor=0.1,
                                      energy_drift=e)}.items() for m, v in vals.items()]
    frame = diagnosis_table(pd.DataFrame(rows), "p", {"": "default", "neural_flow:": "neural_flow"})
    assert list(frame.variant) == ["default", "neural_flow"]
    nf = frame.iloc[1]
    assert nf.w1_over_floor == pytest.approx(1.1, rel=1e-12) and nf.min_det_j == 0.25
    assert frame.iloc[0].w1_over_floor == pytest.approx(3.0, rel=1e-12)
    text = "\n".join(markdown(frame, "p"))
    assert "Beside it, neural_flow (its own profile config) gives 1.10x its W1 floor" in text
    assert "energy drift +0.4%, min det J 0.25." in text


def test_diagnose_plans_neural_flow_beside_pinn_pm_where_it_applies():
    """The companion runs at its own profile config (no diagnosis budget: iters means Picard iterations there) on
    every problem it applies to, at every seed; `--variants` can name it alone."""
    from harness.plan.diagnosis import plan_diagnosis
    cells, names = plan_diagnosis(["bkw2d"], PROFILES["quick"], {}, seeds=(0, 1), only=["default", "neural_flow"])
    assert sorted((c.solver, c.seed, c.overrides) for c in cells) == [
        ("neural_flow", 0, ()), ("neural_flow", 1, ()),
        ("pinn_pm_particle", 0, (("iters", 750),)), ("pinn_pm_particle", 1, (("iters", 750),))]
    assert names[("bkw2d", "neural_flow", ())] == "neural_flow"
    alone, _ = plan_diagnosis(["truncated2d"], PROFILES["smoke"], {}, only=["neural_flow"])
    assert [(c.solver, c.problem) for c in alone] == [("neural_flow", "truncated2d")]
