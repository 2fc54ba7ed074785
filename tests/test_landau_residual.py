"""certificates.landau_residual against values computed by hand: the pair kernel K at chosen points, the unbiased
residual r2_i against its U-statistic definition (every ordered pair j != j' of partners), the partner subsample
of Q_i, the batch s.e. of residual_mean and the root and s.e. of residual_norm (float64 throughout)."""
import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import certificates.landau_residual as lr
from certificates.landau_residual import (BATCHES, PAIRS, column_sums, landau_velocity, pair_kernel, pair_squares,
                                          residual_mean, residual_norm, residual_terms)

f64 = torch.float64


def _t(*v):
    return torch.tensor(v, dtype=f64)


# ------------------------------------------------------------------------------------------ the pair kernel
@pytest.mark.parametrize("C", [1.0, 0.3])
def test_pair_kernel_by_hand_maxwell(C):
    """gamma = 0, d = 2: K = C (-(|z|^2 I - z z^T) s_i - (d - 1) z). z = (1, 0), s_i = (0, 1): (|z|^2 I - z z^T) s_i =
    (0, 1), K = C (-1, -1); z = (0.5, 0.5), s_i = (2, 0): (0.5 I - [[.25, .25], [.25, .25]]) (2, 0) = (0.5, -0.5),
    K = C (-0.5 - 0.5, 0.5 - 0.5) = C (-1, 0); the score of x_j plays no part (by parts)."""
    got = pair_kernel(_t(1.0, 0.0), _t(0.0, 1.0), _t(0.0, 0.0), _t(5.0, -7.0), 0.0, C)
    assert torch.allclose(got, C * _t(-1.0, -1.0), rtol=0, atol=1e-15)
    got = pair_kernel(_t(1.5, 1.0), _t(2.0, 0.0), _t(1.0, 0.5), _t(0.0, 0.0), 0.0, C)
    assert torch.allclose(got, C * _t(-1.0, 0.0), rtol=0, atol=1e-15)


def test_pair_kernel_by_hand_maxwell_3d():
    """d = 3: the div A term is -(d - 1) C z = -2 C z: z = (0, 0, 2), s_i = 0 gives K = C (0, 0, -4)."""
    got = pair_kernel(_t(0.0, 0.0, 2.0), _t(0.0, 0.0, 0.0), _t(0.0, 0.0, 0.0), _t(1.0, 1.0, 1.0), 0.0, 0.5)
    assert torch.allclose(got, _t(0.0, 0.0, -2.0), rtol=0, atol=1e-15)


@pytest.mark.parametrize("z, w", [(2.0, 1 / 8), (0.5, 8.0)])
def test_pair_kernel_by_hand_coulomb(z, w):
    """gamma = -3: K = -C |z|^-3 (|z|^2 I - z z^T)(s_i - s_j). z = (z, 0), s_i - s_j = (0, 1):
    (|z|^2 I - z z^T)(0, 1) = (0, z^2), K = (0, -C w z^2) with w = |z|^-3 (|z| < 1 included: no floor at 1)."""
    C = 0.7
    got = pair_kernel(_t(z + 1.0, 3.0), _t(0.5, 2.0), _t(1.0, 3.0), _t(0.5, 1.0), -3.0, C)
    assert torch.allclose(got, _t(0.0, -C * w * z * z), rtol=1e-14, atol=0)


@pytest.mark.parametrize("gamma", [0.0, -3.0, 1.0])
def test_pair_kernel_vanishes_on_the_diagonal_only(gamma):
    x, s = _t(0.3, -0.2), _t(1.0, 2.0)
    assert torch.equal(pair_kernel(x, s, x.clone(), _t(-4.0, 0.5), gamma, 1.0), torch.zeros(2, dtype=f64))
    assert float(pair_kernel(x, s, x + _t(0.1, 0.0), _t(-4.0, 0.5), gamma, 1.0).norm()) > 1e-3


# ------------------------------------------------------------------------------------------ the residual
def _ustat(x, u, s, gamma, C):
    """r2_i = 1/(m (m - 1)) sum_{j != j', both != i} (u_i - K_ij) . (u_i - K_ij'), m = N - 1: the definition."""
    n = x.shape[0]
    out = []
    for i in range(n):
        others = [j for j in range(n) if j != i]
        k = {j: pair_kernel(x[i], s[i], x[j], s[j], gamma, C) for j in others}
        tot = sum(float((u[i] - k[a]) @ (u[i] - k[b])) for a, b in itertools.permutations(others, 2))
        out.append(tot / ((n - 1) * (n - 2)))
    return np.array(out)


@pytest.mark.parametrize("gamma, d, n", [(0.0, 2, 6), (0.0, 3, 5), (-3.0, 3, 6), (1.0, 2, 4), (0.0, 2, 3)])
def test_residual_terms_are_the_u_statistic(gamma, d, n):
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(n, d, generator=gen, dtype=f64)
    s = -x + 0.5 * torch.randn(n, d, generator=gen, dtype=f64)
    u = torch.randn(n, d, generator=gen, dtype=f64)
    got = residual_terms(x, u, s, gamma, 0.4)
    assert got.dtype == f64 and got.shape == (n,)
    assert np.allclose(got.numpy(), _ustat(x, u, s, gamma, 0.4), rtol=1e-10, atol=1e-12)


def test_landau_velocity_is_the_mean_over_the_others():
    """U[mu](x_i) = (1/(N-1)) sum_{j != i} K_ij, N = 4, gamma = -3 and 0, from pair_kernel."""
    gen = torch.Generator().manual_seed(5)
    x, s = torch.randn(4, 3, generator=gen, dtype=f64), torch.randn(4, 3, generator=gen, dtype=f64)
    for gamma in (0.0, -3.0):
        hand = torch.stack([sum(pair_kernel(x[i], s[i], x[j], s[j], gamma, 0.2) for j in range(4) if j != i) / 3
                            for i in range(4)])
        assert torch.allclose(landau_velocity(x, s, gamma, 0.2), hand, rtol=1e-12, atol=1e-15)


def test_column_sums_of_a_float32_input_are_float64():
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    s = torch.tensor([[0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    got = column_sums(x, s, 0.0, 1.0)
    hand = torch.stack([sum(pair_kernel(x[i].double(), s[i].double(), x[j].double(), s[j].double(), 0.0, 1.0)
                            for j in range(3) if j != i) for i in range(3)])
    assert got.dtype == f64 and torch.allclose(got, hand, rtol=1e-14, atol=1e-14)


def test_pair_squares_use_the_declared_partners():
    """N = 200 > PAIRS + 1: Q_i = (N - 1)/PAIRS sum_r |K(x_i, x_{i + 1 + floor(r (N-1)/PAIRS) mod N})|^2."""
    assert PAIRS == 64
    gen = torch.Generator().manual_seed(2)
    n = 200
    x, s = torch.randn(n, 2, generator=gen, dtype=f64), torch.randn(n, 2, generator=gen, dtype=f64)
    offsets = [1 + (r * (n - 1)) // PAIRS for r in range(PAIRS)]
    idx = torch.arange(n)
    hand = torch.zeros(n, dtype=f64)
    for o in offsets:
        j = (idx + o) % n
        hand += (pair_kernel(x, s, x[j], s[j], -3.0, 0.5) ** 2).sum(-1)
    hand *= (n - 1) / PAIRS
    assert torch.allclose(pair_squares(x, s, -3.0, 0.5), hand, rtol=1e-12)
    # 10 partners: the same rule with 10
    hand10 = sum((pair_kernel(x, s, x[(idx + 1 + (r * (n - 1)) // 10) % n], s[(idx + 1 + (r * (n - 1)) // 10) % n],
                              0.0, 0.5) ** 2).sum(-1) for r in range(10)) * (n - 1) / 10
    assert torch.allclose(pair_squares(x, s, 0.0, 0.5, pairs=10), hand10, rtol=1e-12)


def test_residual_mean_and_its_batch_standard_error():
    """mean over all N of r2_i, and s.e. = sd(ddof=1) / sqrt(B) of the B = BATCHES estimates within the chunks."""
    assert BATCHES == 8
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(80, 2, generator=gen, dtype=f64)
    s, u = -x, torch.randn(80, 2, generator=gen, dtype=f64)
    mean, se = residual_mean(x, u, s, 0.0, 0.5)
    assert mean == pytest.approx(float(residual_terms(x, u, s, 0.0, 0.5).mean()), rel=1e-14)
    parts = [float(residual_terms(x[10 * b:10 * b + 10], u[10 * b:10 * b + 10], s[10 * b:10 * b + 10], 0.0, 0.5).mean())
             for b in range(8)]
    assert se == pytest.approx(float(np.std(parts, ddof=1)) / math.sqrt(8), rel=1e-12)
    _, se4 = residual_mean(x, u, s, 0.0, 0.5, batches=4)
    parts4 = [float(residual_terms(x[20 * b:20 * b + 20], u[20 * b:20 * b + 20], s[20 * b:20 * b + 20], 0.0,
                                   0.5).mean()) for b in range(4)]
    assert se4 == pytest.approx(float(np.std(parts4, ddof=1)) / 2, rel=1e-12)


@pytest.mark.parametrize("mean, se, root, root_se", [
    (0.04, 0.001, 0.2, 0.0025),          # se / (2 root) = 0.0025 < sqrt(se)
    (1e-6, 0.01, 1e-3, 0.1),             # se / (2 root) = 5 > sqrt(se) = 0.1
    (-0.003, 0.0004, 0.0, 0.02),         # negative mean: root 0, s.e. sqrt(se)
    (0.0, 0.0009, 0.0, 0.03),
])
def test_residual_norm_root_and_its_standard_error(monkeypatch, mean, se, root, root_se):
    monkeypatch.setattr(lr, "residual_mean", lambda *a, **k: (mean, se))
    got = residual_norm(None, None, None, 0.0, 1.0)
    assert got[0] == pytest.approx(root, rel=1e-14, abs=0) and got[1] == pytest.approx(root_se, rel=1e-14)


@settings(max_examples=10, deadline=None)
@given(st.floats(0.1, 2.0), st.integers(0, 10_000))
def test_residual_norm_is_the_root_of_the_mean(C, seed):
    """residual_norm[0]^2 = max(residual_mean[0], 0) on any sample (the unpatched composition)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(40, 2, generator=gen, dtype=f64)
    u = torch.randn(40, 2, generator=gen, dtype=f64)
    mean, _ = residual_mean(x, u, -x, 0.0, C)
    assert residual_norm(x, u, -x, 0.0, C)[0] ** 2 == pytest.approx(max(mean, 0.0), rel=1e-12, abs=1e-300)
