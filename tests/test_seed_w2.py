"""metrics.seed_w2 and harness.report.seed_w2: W2 between two seeds' clouds on a Maxwell problem must not increase
beyond noise (issue 43, item 3)."""
import math

import numpy as np
import pytest
import torch

from metrics.monotone import violations
from metrics.seed_w2 import MAX_BATCH, batch_estimates, seed_w2_series, w2_squared
from problems import get_problem
from problems.cases.characteristics import integrate_characteristics

TIMES = [0.0, 1.0, 2.5, 5.0]


def _exact_clouds(seed, n=600):
    p = get_problem("bkw2d")
    return integrate_characteristics(p, p.sample(n, seed), TIMES, 1e-9, 1e-11)


def test_w2_squared_of_a_translation_and_of_equal_sets():
    """Exact OT: a set against itself 0; against its translate by c, |c|^2 exactly."""
    x = np.random.default_rng(0).normal(size=(50, 2))
    assert w2_squared(x, x) == pytest.approx(0.0, abs=1e-12)
    assert w2_squared(x, x + np.array([0.3, -0.4])) == pytest.approx(0.25, rel=1e-9)


def test_batch_estimate_removes_the_floor():
    """Two independent samples of one law: the cross-batch W2^2 is the floor (> 0), d2 averages to 0 within 4 se;
    a translate by c gives d2 ~ |c|^2 (within 4 se)."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(640, 2)), rng.normal(size=(640, 2))
    perm = np.arange(640)
    d2 = batch_estimates(a, b, perm, perm, 16)
    assert w2_squared(a[:40], b[:40]) > 0.05
    assert abs(d2.mean()) <= 4 * d2.std(ddof=1) / 4
    d2 = batch_estimates(a, b + np.array([1.0, 0.0]), perm, perm, 16)
    assert abs(d2.mean() - 1.0) <= 4 * d2.std(ddof=1) / 4 + 0.05


def test_batches_stop_at_max_batch_points(monkeypatch):
    """At N = 16 x (MAX_BATCH + 50) the batches hold MAX_BATCH points each (the particles beyond 16 x MAX_BATCH are
    not used), so the exact OTs stay MAX_BATCH points at any N; the series reports that n."""
    import metrics.seed_w2 as sw
    sizes = []
    real = sw.w2_squared
    monkeypatch.setattr(sw, "w2_squared", lambda x, y: sizes.append((len(x), len(y))) or real(x, y))
    n = 16 * (MAX_BATCH + 50)
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    batch_estimates(a, b, np.arange(n), np.arange(n), 16)
    assert set(sizes) == {(MAX_BATCH, MAX_BATCH)} and len(sizes) == 48
    sizes.clear()
    series = seed_w2_series([0.0], [a], [b])
    assert series[0].n == MAX_BATCH and series[0].batches == 16 and max(max(s) for s in sizes) == sw.MAX_EXACT


@pytest.mark.slow
def test_exact_solutions_are_not_flagged_and_a_growing_shift_is():
    """Two seeds of the exact BKW characteristics (N = 600): the floor moves (w2 changes) but d2 stays at 0 and no
    step is flagged at MONOTONE_Z = 4; the second run translated by 0.1 t (1, 1) is flagged at every step after t0
    that adds more than 4 step se (at least the last)."""
    a, b = _exact_clouds(1), _exact_clouds(2)
    series = seed_w2_series(TIMES, a, b)
    assert [s.t for s in series] == TIMES and series[0].batches == 16 and math.isnan(series[0].step_se)
    assert all(abs(s.d2) <= 4 * s.se for s in series)
    assert not violations(TIMES, [s.d2 for s in series], [s.se for s in series], 4.0, "increases",
                          [s.step_se for s in series])
    shifted = [x + 0.1 * t * torch.tensor([1.0, 1.0], dtype=torch.float64) for x, t in zip(b, TIMES)]
    series = seed_w2_series(TIMES, a, shifted)
    found = violations(TIMES, [s.d2 for s in series], [s.se for s in series], 4.0, "increases",
                       [s.step_se for s in series])
    assert found and found[-1].t1 == 5.0
    assert series[-1].d2 == pytest.approx(0.5, abs=4 * series[-1].se + 0.05)


def _run_dir(tmp_path, shift):
    """A run directory with the snapshot particles of sbp on bkw2d (two seeds: exact clouds, the second translated by
    shift t) and of sbp on rosenbluth3d's name with the same clouds (gamma != 0: never checked); fake records."""
    from types import SimpleNamespace
    (tmp_path / "cells").mkdir()
    recs = []
    for problem in ("bkw2d", "rosenbluth3d"):
        for seed in (0, 1):
            clouds = _exact_clouds(seed + 1, 400)
            arrays = {"times": np.array(TIMES)}
            for k, (x, t) in enumerate(zip(clouds, TIMES)):
                arrays[f"x{k}"] = (x.numpy() + (shift * t if seed else 0.0)).astype(np.float32)
            cell = f"sbp__{problem}__s{seed}"
            np.savez_compressed(tmp_path / "cells" / f"{cell}.npz", **arrays)
            recs.append(SimpleNamespace(ok=True, problem=problem, seed=seed, cell_id=cell,
                                        key=dict(solver="sbp", problem=problem, seed=seed, overrides="")))
    return recs


@pytest.mark.slow
@pytest.mark.parametrize("shift", [0.0, 0.2])
def test_the_report_reads_two_seeds_and_the_verdict_marks_a_rising_distance(tmp_path, shift):
    """harness.report.seed_w2 from particle files: only the Maxwell problem gets rows (4 snapshots, seeds 0 and 1);
    summary.md marks sbp on bkw2d with MONOTONE_MARK and names the step when the second seed drifts away by 0.2 t,
    and marks nothing for two exact runs; the section lists the W2 at every snapshot."""
    import pandas as pd
    from harness.report.monotone import MONOTONE_MARK
    from harness.report.seed_w2 import seed_w2_frame, seed_w2_violations
    from harness.report.summary import render_summary
    frame = seed_w2_frame(tmp_path, _run_dir(tmp_path, shift))
    assert list(frame.problem.unique()) == ["bkw2d"] and list(frame.t) == TIMES
    assert (frame.seed_a == 0).all() and (frame.seed_b == 1).all()
    found = seed_w2_violations(frame)
    table = pd.DataFrame([dict(solver="sbp", problem="bkw2d", seed=s, overrides="", t=t, metric=m, value=0.2,
                               reference="exact") for s in (0, 1) for t in TIMES for m in ("w1", "w1_mc_floor")])
    timings = pd.DataFrame([dict(solver="sbp", problem="bkw2d", seed=s, overrides="", solve_s=10.0) for s in (0, 1)])
    text = render_summary(table, timings, pd.DataFrame(), {}, seed_w2=frame)
    assert "## W2 between two seeds (Maxwell problems)" in text and "| sbp | 0, 1 |" in text
    if shift:
        assert not found.empty and found.iloc[-1].t1 == 5.0
        assert f"{MONOTONE_MARK} sbp on bkw2d: w2sq_between_seeds increases" in text
    else:
        assert found.empty and MONOTONE_MARK not in text


def test_a_damaged_or_huge_particle_file_is_skipped(tmp_path):
    """A particle file that is not an archive, or whose header claims more numbers than the figures read, gives no
    rows (the report goes on); the intact pair beside them gives rows."""
    import zipfile
    from types import SimpleNamespace
    from harness.report.seed_w2 import seed_w2_frame
    (tmp_path / "cells").mkdir()
    recs = []
    for name, seed in (("a", 0), ("b", 1)):
        (tmp_path / "cells" / f"{name}.npz").write_bytes(b"not a zip")
        recs.append(SimpleNamespace(ok=True, problem="bkw2d", seed=seed, cell_id=name,
                                    key=dict(solver="blob", problem="bkw2d", seed=seed, overrides="")))
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 2), np.float32))
    header["shape"] = (200_000_000, 3)
    with zipfile.ZipFile(tmp_path / "cells" / "a.npz", "w") as zf:
        with zf.open("x0.npy", "w") as fh:
            np.lib.format.write_array_header_1_0(fh, header)
    assert seed_w2_frame(tmp_path, recs).empty
    rng = np.random.default_rng(0)
    for name, seed in (("c", 0), ("d", 1)):
        np.savez(tmp_path / "cells" / f"{name}.npz", times=np.array([1.0, 2.0]), x0=rng.normal(size=(100, 2)),
                 x1=rng.normal(size=(100, 2)))
        recs.append(SimpleNamespace(ok=True, problem="bkw2d", seed=seed, cell_id=name,
                                    key=dict(solver="sbp", problem="bkw2d", seed=seed, overrides="")))
    frame = seed_w2_frame(tmp_path, recs)
    assert list(frame.solver) == ["sbp", "sbp"] and list(frame.t) == [1.0, 2.0]
