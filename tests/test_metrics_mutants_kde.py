"""metrics.kde.kde_l2_null_draw (issue 43 item 5): at m >= n it is kde_l2_mc_floor itself; below, the KDE of the
m samples of the KDE floor stream shrunk towards K_h * f by sqrt(m / n), measured against f on the grid, written out
here from its pieces (bkw2d at t = 1, n = 400, m = 50)."""
import math

import pytest
import torch

import problems
from infra import seeds
from metrics import kde


def _by_hand(problem, t, n, m, seed, h):
    pts, axes = problem.eval_grid()
    sample = problem.sample_at(t, m, seed=seeds.KDE_FLOOR.seed(seed))
    kde_m = kde.kde_on_axes(sample, axes, h).to(torch.float64).flatten()
    smooth = kde.smoothed_density(problem, pts, t, h).to(torch.float64)
    exact = problem.density(pts, t).to(torch.float64)
    shrunk = smooth + math.sqrt(m / n) * (kde_m - smooth)
    return float(torch.linalg.vector_norm(shrunk - exact) / torch.linalg.vector_norm(exact))


def test_kde_null_draw_below_n_is_the_shrunk_kde_by_hand():
    p = problems.get_problem("bkw2d")
    h = p.kde_bandwidth
    got = kde.kde_l2_null_draw(p, 1.0, 400, 50, 3)
    assert got == pytest.approx(_by_hand(p, 1.0, 400, 50, 3, h), rel=1e-10)
    # the default seed is 0; an explicit bandwidth is used instead of the problem's
    assert kde.kde_l2_null_draw(p, 1.0, 400, 50) == pytest.approx(_by_hand(p, 1.0, 400, 50, 0, h), rel=1e-10)
    assert kde.kde_l2_null_draw(p, 1.0, 400, 50, 3, 0.4) == pytest.approx(_by_hand(p, 1.0, 400, 50, 3, 0.4),
                                                                           rel=1e-10)
    # shrinking: the error of 50 samples scaled to 400 is below the unscaled one of the same 50
    assert got < kde.kde_l2_null_draw(p, 1.0, 50, 50, 3) == kde.kde_l2_mc_floor(p, 1.0, 50, 3)


@pytest.mark.parametrize("m", [400, 401])
def test_kde_null_draw_at_m_ge_n_is_the_mc_floor(m, monkeypatch):
    calls = []
    monkeypatch.setattr(kde, "kde_l2_mc_floor", lambda *a: calls.append(a) or 0.125)
    p = problems.get_problem("bkw2d")
    assert kde.kde_l2_null_draw(p, 1.0, 400, m, 5, 0.3) == 0.125
    assert calls == [(p, 1.0, 400, 5, 0.3)]
    calls.clear()
    assert kde.kde_l2_null_draw(p, 1.0, 400, 399, 5, 0.3) != 0.125 and calls == []
