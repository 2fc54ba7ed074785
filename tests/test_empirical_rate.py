"""certificates.empirical_rate: the rate from two runs started from nearby particles (labelled empirical)."""
import math

import pytest
import torch

from certificates.empirical_rate import empirical_rates, main, rates
from infra import seeds
from problems import get_problem
from solvers.base import Trajectory


class _Expanding:
    """A fake solver whose particles move as x(t) = v e^{c (t - t0)}: two runs separate at exactly the rate c."""

    def __init__(self, c):
        self.c = c

    def run(self, problem, seed=0, initial=None):
        times = [t for t in problem.snapshot_times if t > problem.t0]
        xs = [initial * math.exp(self.c * (t - problem.t0)) for t in times]
        return Trajectory("fake", problem.name, times, xs, [None] * len(times), initial)


@pytest.mark.parametrize("c", [-0.3, 0.0, 0.25])
def test_the_rate_of_a_linear_flow_is_its_exponent_in_every_batch(c):
    """x(t) = v e^{c t}: rate c at every step with batch s.e. 0 (to round-off); D(t0) = delta sigma rms|xi|."""
    p = get_problem("bkw2d")
    found = empirical_rates(_Expanding(c), p, 0, 400, delta=1e-3)
    assert [(r.t0, r.t1) for r in found] == [(0.0, 1.0), (1.0, 2.5), (2.5, 5.0)]
    for r in found:
        assert r.rate == pytest.approx(c, abs=1e-9) and r.rate_se < 1e-9 and r.label == "empirical"
    v0 = p.sample(400, seeds.INITIAL_PARTICLES.seed(0))
    sigma = float((v0 - v0.mean(0)).pow(2).mean().sqrt())
    assert found[0].d0 == pytest.approx(1e-3 * sigma * math.sqrt(2), rel=0.1)


def test_rates_are_log_ratios_over_the_step_and_the_se_sees_uneven_batches():
    """Two clouds whose distance doubles in one half of the particles and stays in the other over a step of 2:
    rate = log(sqrt(5/2)) / 2 (the distance of the mean squares), and the batch s.e. is that of 4 batches at log 2 / 2 and 4 at 0."""
    a = torch.zeros(16, 2, dtype=torch.float64)
    b0 = torch.ones(16, 2, dtype=torch.float64)
    b1 = b0.clone()
    b1[:8] *= 2
    (r,) = rates([0.0, 2.0], [a, a], [b0, b1])
    assert r.rate == pytest.approx(math.log(math.sqrt(2.5)) / 2, rel=1e-12)
    half = math.log(2) / 2  # the rate of each of the 4 doubling batches (the other 4: 0)
    assert r.d0 == pytest.approx(math.sqrt(2)) and r.rate_se == pytest.approx(half * math.sqrt(8 / 7) / 2 / math.sqrt(8))


def test_bad_names_are_refused_in_one_line(capsys):
    assert main(["-s", "no_such_solver", "-p", "bkw2d"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


@pytest.mark.parametrize("delta", ["0", "-1e-3", "nan", "inf"])
def test_a_delta_that_is_not_a_positive_number_is_refused_in_one_line(capsys, delta):
    """delta = 0 divided by zero in log(D1 / D0), a negative or non-finite one gave a traceback: one line, exit 2."""
    assert main(["-s", "blob", "-p", "bkw2d", f"--delta={delta}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --delta must be a finite number > 0") and "\n" not in err
