"""Flow-map validity (issue 33): min_det_j and fold_fraction of a flow map per snapshot, exact on maps built to
fold and on affine maps; entropy_pushforward from the change-of-variables density; a folded cell's density-based
numbers shown as folded in summary.md, its certificates not reported, and the verdict's sentence."""
from pathlib import Path

import pandas as pd
import pytest
import torch

import metrics.specs as specs
from harness.execute.evaluate import evaluate
from harness.plan.plugins import load_plugins
from solvers import Trajectory, validate_trajectory
from solvers.flow_score import jacobian_determinants, pushforward_density
from solvers.pinn_pm import PINNParticle

D64 = torch.float64
WINDOW = 0.55


def window_fold(v, t):
    """Phi(v, t) = v - 2 t clamp(v_1, -0.55, 0.55) e_1: det J = 1 - 2t where |v_1| < 0.55 (a fold for t >= 1/2),
    1 outside the window."""
    return v - 2 * t * v[..., :1].clamp(-WINDOW, WINDOW) * torch.tensor([1.0, 0.0], dtype=v.dtype)


def grid() -> torch.Tensor:
    """41 x 5 points, v_1 on a 0.1 grid of [-2, 2]: 11 of the 41 v_1 values (-0.5..0.5) lie in the window."""
    a, b = torch.meshgrid(torch.linspace(-2, 2, 41, dtype=D64), torch.linspace(-1, 1, 5, dtype=D64), indexing="ij")
    return torch.stack([a.reshape(-1), b.reshape(-1)], dim=1)


def tiny2d():
    load_plugins([str(Path(__file__).with_name("harness_plugin.py"))])
    import problems
    return problems.get_problem("tiny2d")


def snapshot(problem, t, v, flow):
    tt = torch.full((1,), t, dtype=D64)
    x = flow(v, tt)
    density, det = pushforward_density(flow, problem.initial_density, v, tt, chunk=16)
    return specs.Snapshot(t, x, None, x, v, problem, None, "", None, 0, det_j=det, density=density)


def value(name, snap):
    return specs.get_metric(name).compute(snap)


@pytest.mark.parametrize("t,det,folded", [(0.25, 0.5, 0.0), (0.5, 0.0, 11 / 41), (0.75, -0.5, 11 / 41)])
def test_a_map_built_to_fold_has_its_fold_fraction_and_min_det_j_exactly(t, det, folded):
    """det J = 1 - 2t on the 11/41 of the grid inside the window, 1 outside: min_det_j = min(1 - 2t, 1) and
    fold_fraction (det J <= 0) = 0 before t = 1/2 and 11/41 from it on, exactly."""
    problem = tiny2d()
    snap = snapshot(problem, t, grid(), window_fold)
    applicable = {m.name for m in specs.applicable(snap)}
    assert {"min_det_j", "fold_fraction"} <= applicable
    assert value("min_det_j", snap) == det
    assert value("fold_fraction", snap) == folded
    # the solver's read-out gives the same determinants (chunked, float64) and the change-of-variables density
    class Trained:
        flow = staticmethod(window_fold)
    got_det, got_density = PINNParticle._change_of_variables(Trained, problem, grid(), grid(), t)
    assert torch.equal(got_det, snap.det_j) and torch.equal(got_density, snap.density)
    # where det J = 0 the density is infinite: no entropy from it (the metric does not apply), no failed cell
    assert ("entropy_pushforward" in applicable) == (det != 0.0)


def test_the_validity_metrics_are_exact_on_an_affine_map_and_absent_without_a_flow_map():
    """Phi(v, t) = A v + b, det A = 1 + 0.6 t - 0.34 t^2 at every particle: min_det_j = det A, fold_fraction 0 while
    det A > 0 and 1 after its root t = 2.81; entropy_pushforward = -mean log N(x; b, A A^T) at the particles."""
    problem = tiny2d()

    def a_of(t):
        return torch.stack([torch.stack([1 + t, 0.3 * t]), torch.stack([-0.2 * t, 1 - 0.4 * t])]).squeeze(-1)

    def affine(v, t):
        return v @ a_of(t.reshape(-1)[0:1]).T + torch.cat([0.5 * t, -t], dim=-1)

    v = problem.sample(500, 3)
    for t in (0.5, 2.0, 3.0):
        snap = snapshot(problem, t, v, affine)
        det_a = 1 + 0.6 * t - 0.34 * t * t
        assert value("min_det_j", snap) == pytest.approx(det_a, abs=1e-13)
        assert value("fold_fraction", snap) == (1.0 if det_a < 0 else 0.0)
        a = a_of(torch.tensor([t], dtype=D64))
        r = snap.x - torch.tensor([0.5 * t, -t], dtype=D64)
        cov = a @ a.T
        log_exact = -0.5 * (r * torch.linalg.solve(cov, r.T).T).sum(-1) - torch.log(2 * torch.pi * torch.sqrt(torch.linalg.det(cov)))
        assert value("entropy_pushforward", snap) == pytest.approx(float(-log_exact.mean()), rel=1e-12)
    plain = specs.Snapshot(1.0, v, None, v, v, problem, None, "", None, 0)
    assert not {"min_det_j", "fold_fraction", "entropy_pushforward"} & {m.name for m in specs.applicable(plain)}


def test_evaluate_reads_the_trajectorys_determinants_and_densities_and_validation_checks_them():
    problem = tiny2d()
    v = grid()
    times = list(problem.snapshot_times)  # 0.5 and 1.0: det J = 0 and -1 in the window
    xs, dets, dens = [], [], []
    for t in times:
        tt = torch.full((1,), t, dtype=D64)
        xs.append(window_fold(v, tt))
        density, det = pushforward_density(window_fold, problem.initial_density, v, tt)
        dets.append(det)
        dens.append(density)
    traj = Trajectory("folding", problem.name, times, xs, [None] * 2, v, det_j=dets, densities=dens)
    rows = evaluate(validate_trajectory(traj, problem), problem, 0, "coarse")
    got = {(r["t"], r["metric"]): r["value"] for r in rows}
    assert got[0.5, "min_det_j"] == 0.0 and got[1.0, "min_det_j"] == -1.0
    assert got[0.5, "fold_fraction"] == got[1.0, "fold_fraction"] == 11 / 41
    assert (0.5, "entropy_pushforward") not in got and (1.0, "entropy_pushforward") in got  # det J = 0 at t = 0.5
    from solvers import TrajectoryError
    with pytest.raises(TrajectoryError, match=r"det_j at t = 0.5 must be a \(205,\) floating tensor"):
        validate_trajectory(Trajectory("folding", problem.name, times, xs, [None] * 2, v, det_j=[d[:10] for d in dets]),
                            problem)
    with pytest.raises(TrajectoryError, match="densities at t = 1 hold negative values"):
        validate_trajectory(Trajectory("folding", problem.name, times, xs, [None] * 2, v,
                                       densities=[dens[0], -dens[1]]), problem)


# ---------------------------------------------------------------------------- the report
def long_table(fold_at_2_5: float) -> pd.DataFrame:
    """bkw2d: sbp, and pinn_pm_sc whose map folds at t = 2.5 when fold_at_2_5 > 0 (min det J -0.013 there)."""
    rows = []

    def add(solver, t, metric, v, ref=""):
        rows.append(dict(solver=solver, problem="bkw2d", seed=0, overrides="", t=t, metric=metric, value=v,
                         reference=ref))

    for t, kde_sbp, kde_sc, rfd_sc, det, frac in ((1.0, 0.2011, 0.2122, 0.5111, 0.9, 0.0),
                                                  (2.5, 0.3011, 0.3333, 0.6777, -0.013, fold_at_2_5),
                                                  (5.0, 0.4011, 0.4444, 0.7888, 0.2, 0.0)):
        for solver, kde in (("sbp", kde_sbp), ("pinn_pm_sc", kde_sc)):
            add(solver, t, "w1", 0.2 * t, "exact")
            add(solver, t, "w1_mc_floor", 0.19 * t, "exact")
            add(solver, t, "kde_l2", kde, "exact")
            add(solver, t, "kde_l2_mc_floor", 0.13, "exact")
        add("sbp", t, "rfd", 0.05, "exact")
        add("pinn_pm_sc", t, "rfd", rfd_sc, "exact")
        add("pinn_pm_sc", t, "min_det_j", det if fold_at_2_5 > 0 else abs(det))
        add("pinn_pm_sc", t, "fold_fraction", frac)
    return pd.DataFrame(rows)


def certificates_frame() -> pd.DataFrame:
    return pd.DataFrame([dict(solver=s, problem="bkw2d", seed=0, overrides="", t=5.0, certificate="thm5_w1",
                              bound=1.234, observed=0.5678, ratio=2.17, holds=True, log10_bound=0.09, on_snapshot=True)
                         for s in ("sbp", "pinn_pm_sc")])


def test_a_folded_snapshots_kde_and_certificates_are_reported_as_invalid_in_the_summary():
    from harness.report.summary import render_summary
    timings = pd.DataFrame([dict(solver=s, problem="bkw2d", seed=0, overrides="", solve_s=3.0)
                            for s in ("sbp", "pinn_pm_sc")])
    text = render_summary(long_table(0.02), timings, pd.DataFrame(), {}, certificates_frame())
    assert "| pinn_pm_sc | 0.2122 | folded | folded |" in text  # KDE L2 from the first fold on
    assert "| sbp | **0.2011** | **0.3011** | **0.4011** |" in text  # the other solver's values stand
    assert "0.3333" not in text and "0.4444" not in text and "0.7888" not in text
    assert ("- pinn_pm_sc folds at t = 2.5 on bkw2d (min det J = -0.013): its densities, KDE and certificates are not "
            "reported.") in text
    assert "*folded*: the flow map is not one-to-one" in text and "pinn_pm_sc folds at t = 2.5 (min det J = -0.013)" in text
    assert "| pinn_pm_sc | folded |" in text  # rfd in the last-snapshot table (w1 stays a number in the verdict)
    assert "| thm5_w1 | not reported (folded) | 1.23 vs 0.568 (holds, x2.17) |" in text
    assert "| pinn_pm_sc | 0.9 | **-0.013 (2.0% folded)** | 0.2 |" in text  # the validity table
    # without the fold every number is shown and nothing is said
    clean = render_summary(long_table(0.0), timings, pd.DataFrame(), {}, certificates_frame())
    assert "| pinn_pm_sc | 0.2122 | 0.3333 | 0.4444 |" in clean and "folded" not in clean and "folds at" not in clean


def test_mask_folds_hides_fold_sensitive_metrics_from_the_first_fold_on_per_seed():
    from harness.report.folds import first_folds, mask_folds
    table = pd.concat([long_table(0.02), long_table(0.0).assign(seed=1)], ignore_index=True)
    folds = first_folds(table)
    assert folds[["solver", "seed", "t", "min_det_j"]].values.tolist() == [["pinn_pm_sc", 0, 2.5, -0.013]]
    masked = mask_folds(table)
    hidden = masked[masked.folded]
    assert set(hidden.metric) == {"kde_l2", "rfd"} and set(hidden.seed) == {0} and set(hidden.t) == {2.5, 5.0}
    assert hidden.value.isna().all() and masked[~masked.folded].value.notna().all()
    assert mask_folds(masked).equals(masked)  # idempotent
    from harness.report.verdict import fold_sentences
    assert fold_sentences(folds) == ["pinn_pm_sc folds at t = 2.5 on bkw2d (min det J = -0.013; in seed 0 of 2): its "
                                     "densities, KDE and certificates are not reported."]
