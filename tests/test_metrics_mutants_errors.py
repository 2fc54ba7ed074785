"""metrics.errors against values computed by hand (issue 43 item 5): the relative Fisher divergence, the relative
trajectory error and the mean squared distance E(t) of paper section 5.1, each on a cloud of N = 3 particles in
d = 2 (N != d, so a sum over the wrong axis changes the value)."""
import pytest
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from metrics.errors import mean_squared_distance, rfd, trajectory_error


def t64(x):
    return torch.tensor(x, dtype=torch.float64)


#: exact values (N = 3, d = 2): s - s_hat = (1, 1), (0, -2), (0, 0) so sum |s_hat - s|^2 = 6; sum |s|^2 = 1 + 4 + 9 = 14
S = t64([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])
S_HAT = t64([[2.0, 1.0], [0.0, 0.0], [3.0, 0.0]])


def test_errors_rfd_by_hand_from_values_and_from_callables():
    assert rfd(S_HAT, S, S) == 6 / 14
    # callables are evaluated at the points: s_hat(v) = v + (1, 0) and s(v) = v on the three points
    pts = S.clone()
    shifted = lambda v: v + t64([1.0, 0.0])
    assert rfd(shifted, lambda v: v, pts) == 3 / 14
    # float32 scores are measured in float64
    assert rfd(S_HAT.float(), S.float(), S) == 6 / 14


def test_errors_trajectory_error_by_hand_and_refuses_another_shape():
    assert trajectory_error(S_HAT, S) == 6 / 14
    assert trajectory_error(2 * S_HAT, S) == 26 / 14  # 2 s_hat - s = (3, 2), (0, -2), (3, 0): 9 + 4 + 4 + 9
    assert trajectory_error(S_HAT.float(), S.float()) == 6 / 14
    with pytest.raises(ValueError, match=r"\(3, 2\) and \(2, 2\)"):
        trajectory_error(S, S[:2])


def test_errors_mean_squared_distance_by_hand():
    """(1/N) sum_i |v_hat_i - v_i|^2 = (2 + 4 + 0) / 3 = 2: per particle, not per coordinate (6 / 6 = 1) or per
    axis (the mean of the two column sums 1 and 5 is 3)."""
    assert mean_squared_distance(S_HAT, S) == 2.0
    assert mean_squared_distance(S, S_HAT) == 2.0
    assert mean_squared_distance(S, S) == 0.0


@settings(max_examples=40, deadline=None)
@given(arrays("float64", (5, 3), elements=st.floats(-3, 3)), arrays("float64", (5, 3), elements=st.floats(-3, 3)))
def test_errors_against_their_definitions_on_any_cloud(a, b):
    """Each error against its definition written with explicit loops over particles and coordinates."""
    x, y = torch.from_numpy(a), torch.from_numpy(b)
    num = sum((a[i, k] - b[i, k]) ** 2 for i in range(5) for k in range(3))
    den = sum(b[i, k] ** 2 for i in range(5) for k in range(3))
    assert mean_squared_distance(x, y) == pytest.approx(num / 5, rel=1e-12, abs=1e-300)
    if den > 1e-6:
        assert trajectory_error(x, y) == pytest.approx(num / den, rel=1e-12, abs=1e-300)
        assert rfd(x, y, x) == pytest.approx(num / den, rel=1e-12, abs=1e-300)
