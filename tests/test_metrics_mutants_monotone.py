"""metrics.monotone against values computed by hand (issue 43 item 5): mean_and_se on (N,), (N, 1) and empty
input and at N = 2, and `violations` on series given out of time order, with ties at the allowance, NaN values and
standard errors, paired and unpaired step errors, and the argument checks."""
import math
import warnings

import pytest
import torch

from metrics.monotone import MONOTONE, Violation, mean_and_se, violations


def t64(x):
    return torch.tensor(x, dtype=torch.float64)


def test_monotone_mean_and_se_by_hand():
    """(1, 3): mean 2, sd sqrt(2), se sqrt(2) / sqrt(2) = 1; the (2, 2) array (1, 3; 5, 7) is its four values
    (mean 4, sd sqrt(20 / 3), se sqrt(5 / 3)); float32 is measured in float64."""
    assert mean_and_se(t64([1.0, 3.0])) == (2.0, 1.0)
    mean, se = mean_and_se(t64([[1.0, 3.0], [5.0, 7.0]]))
    assert mean == 4.0
    assert se == pytest.approx(math.sqrt(5 / 3), rel=1e-15)
    assert mean_and_se(t64([[1.0], [3.0]])) == (2.0, 1.0)
    assert mean_and_se(torch.tensor([1.0, 3.0], dtype=torch.float32)) == (2.0, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # N = 1 takes the NaN branch: no ddof warning from torch
        one = mean_and_se(t64([5.0]))
    assert one[0] == 5.0 and math.isnan(one[1])
    empty = mean_and_se(t64([]))
    assert math.isnan(empty[0]) and math.isnan(empty[1])


def test_monotone_violations_sort_by_time_and_report_each_field():
    """Times given as 2, 0, 1 with values 5, 1, 4 and se 0.5, 0.25, 0.25: sorted, the steps are 1 -> 4 (rise 3,
    allowed 2 (0.25 + 0.25) = 1) and 4 -> 5 (rise 1, allowed 2 (0.25 + 0.5) = 1.5): only the first is flagged for a
    quantity that never increases; the reversed series (values 1, 4, 5 -> 5, 4, 1) for one that never decreases."""
    got = violations([2, 0, 1], [5.0, 1.0, 4.0], [0.5, 0.25, 0.25], 2.0, "increases")
    assert got == [Violation(0.0, 1.0, 1.0, 4.0, 3.0, 1.0)]
    assert violations([2, 0, 1], [5.0, 1.0, 4.0], [0.5, 0.25, 0.25], 2.0, "decreases") == []
    fall = violations([0, 1, 2], [5.0, 4.0, 1.0], [0.5, 0.25, 0.25], 2.0, "decreases")
    assert fall == [Violation(1.0, 2.0, 4.0, 1.0, 3.0, 1.0)]
    # at z = 0 every step the wrong way is flagged, none at exactly zero change (the rule is strict)
    assert [(v.t0, v.change) for v in violations([0, 1, 2, 3], [1.0, 1.0, 2.0, 1.5], [9.0] * 4, 0.0)] == [(1.0, 1.0)]
    # a change exactly at the allowance is not a violation
    assert violations([0, 1], [0.0, 1.0], [0.25, 0.25], 2.0) == []
    assert violations([0, 1], [0.0, 1.0], [0.25, 0.25], 1.5) == [Violation(0.0, 1.0, 0.0, 1.0, 1.0, 0.75)]


def test_monotone_violations_use_the_paired_step_error_where_finite():
    """Steps 0 -> 1 (rise 1) and 1 -> 2 (rise 1), se 1 each: unpaired allowed 2 x 2 = 4 (none flagged); with the
    paired step errors (NaN, 0.25, NaN) the first step is allowed 2 x 0.25 = 0.5 (flagged), the second keeps 4."""
    t, v, se = [0, 1, 2], [0.0, 1.0, 2.0], [1.0, 1.0, 1.0]
    assert violations(t, v, se, 2.0) == []
    got = violations(t, v, se, 2.0, "increases", [math.nan, 0.25, math.nan])
    assert got == [Violation(0.0, 1.0, 0.0, 1.0, 1.0, 0.5)]
    # the step error is that of the step into t_k+1: given at t = 2 it judges the second step
    got = violations(t, v, se, 2.0, "increases", [math.nan, math.nan, 0.25])
    assert got == [Violation(1.0, 2.0, 1.0, 2.0, 1.0, 0.5)]


def test_monotone_nan_values_and_nan_errors_are_never_violations():
    assert violations([0, 1, 2], [0.0, math.nan, 5.0], [0.0] * 3, 1.0) == []
    assert violations([0, 1], [0.0, 5.0], [math.nan, 0.0], 1.0) == []
    assert violations([0], [1.0], [0.1], 1.0) == []


def test_monotone_arguments_are_checked():
    assert violations([0, 1], [1.0, 0.0], [0.0, 0.0], 0.0) == []  # z = 0 is allowed
    assert len(violations([0, 1], [0.0, 1.0], [0.0, 0.0], 0.5)) == 1
    with pytest.raises(ValueError, match=r"^z = -0.5; allowed: a number >= 0$"):
        violations([0, 1], [0.0, 1.0], [0.0, 0.0], -0.5)
    with pytest.raises(ValueError, match=r"^never = 'rises'; allowed: 'increases', 'decreases'$"):
        violations([0, 1], [0.0, 1.0], [0.0, 0.0], 1.0, "rises")
    with pytest.raises(ValueError, match="3 times, 2 values, 3 standard errors and 3 step standard errors"):
        violations([0, 1, 2], [0.0, 1.0], [0.0, 0.0, 0.0], 1.0)
    with pytest.raises(ValueError, match="2 times, 2 values, 1 standard errors and 2 step standard errors"):
        violations([0, 1], [0.0, 1.0], [0.0], 1.0)
    with pytest.raises(ValueError, match="2 times, 2 values, 2 standard errors and 3 step standard errors"):
        violations([0, 1], [0.0, 1.0], [0.0, 0.0], 1.0, "increases", [0.0, 0.0, 0.0])


def test_monotone_quantities_name_their_metrics_and_directions():
    assert [(q.metric, q.se, q.step_se, q.never) for q in MONOTONE] == [
        ("entropy_pushforward", "entropy_pushforward_se", "entropy_pushforward_step_se", "decreases"),
        ("fisher_information", "fisher_information_se", "fisher_information_step_se", "increases")]
