"""metrics.invariants against exact values (issue 43 item 5): momentum_drift of a shifted cloud, entropy_dissipation
of two particles by hand, of any cloud against the pairwise definition, and of a Gaussian in expectation."""
import math

import pytest
import torch
from hypothesis import given, strategies as st

import metrics
from problems import drift


def t64(x):
    return torch.tensor(x, dtype=torch.float64)


def test_invariants_momentum_drift_of_a_shifted_cloud_is_the_shift():
    """v = v0 + c: |c| / sqrt(2 E(v0)) with 2 E(v0) = mean |v0|^2 = (1 + 9 + 4 + 2) / 4 = 4, c = (3, 4): 5 / 2."""
    v0 = t64([[1.0, 0.0], [0.0, 3.0], [2.0, 0.0], [1.0, 1.0]])
    c = t64([3.0, 4.0])
    assert metrics.momentum_drift(v0 + c, v0) == 2.5
    assert metrics.momentum_drift(v0, v0) == 0.0
    # float32 input is measured in float64; a swapped pair changes the sign only
    assert metrics.momentum_drift((v0 - c).float(), v0) == pytest.approx(2.5, rel=1e-7)
    assert metrics.momentum_drift(v0, v0 + c) == pytest.approx(5 / math.sqrt(2 * metrics.kinetic_energy(v0 + c)),
                                                              rel=1e-15)


def test_invariants_energy_and_momentum_of_known_clouds():
    v = t64([[1.0, 0.0], [0.0, 3.0], [2.0, 0.0], [1.0, 1.0]])
    assert torch.equal(metrics.momentum(v), t64([1.0, 1.0]))
    assert metrics.kinetic_energy(v) == 2.0
    assert metrics.energy_drift(3 * v, v) == 8.0


@pytest.mark.parametrize("gamma", [0.0, -3.0, 1.0])
def test_entropy_dissipation_of_two_particles_by_hand(gamma):
    """v = (1, 0), (-1, 0): D = -(1/2N^2) sum_ij ds^T A(dv) ds = -(1/4) ds^T A(dv) ds with dv = (2, 0),
    A(dv) = C 2^gamma diag(0, 4), so D = -C 2^gamma (s_1y - s_2y)^2; s_1 = (0.5, 2), s_2 = (-1, -1): -9 C 2^gamma."""
    v = t64([[1.0, 0.0], [-1.0, 0.0]])
    s = t64([[0.5, 2.0], [-1.0, -1.0]])
    assert metrics.entropy_dissipation(v, s, gamma, 0.3) == pytest.approx(-9 * 0.3 * 2**gamma, rel=1e-14)


@given(st.integers(0, 2**32 - 1), st.sampled_from([2, 3]), st.sampled_from([0.0, -3.0, -1.5]))
def test_entropy_dissipation_is_the_pairwise_definition(seed, d, gamma):
    """D = -(1/N^2) sum_ij s_i^T A(v_i - v_j)(s_i - s_j), A(z) = C |z|^gamma (|z|^2 I - z z^T), written out (float64);
    and it is <= 0 (the symmetrised form is minus a sum of quadratic forms of PSD matrices)."""
    g = torch.Generator().manual_seed(seed)
    n, C = 7, 0.4
    v = torch.randn(n, d, generator=g, dtype=torch.float64)
    s = torch.randn(n, d, generator=g, dtype=torch.float64)
    total = 0.0
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            z = v[i] - v[j]
            r = float(z.norm())
            A = C * r**gamma * (r * r * torch.eye(d, dtype=torch.float64) - torch.outer(z, z))
            total += float(s[i] @ A @ (s[i] - s[j]))
    got = metrics.entropy_dissipation(v, s, gamma, C)
    assert got == pytest.approx(-total / n**2, rel=1e-11, abs=1e-14)
    assert got <= 0.0


def test_entropy_dissipation_of_a_gaussian_with_its_exact_score():
    """f = N(m, Sigma), s = -P (v - m), P = Sigma^-1, gamma = 0: with the mean-field drift U = C[(|u|^2 + T) P u -
    (u^T P u) u - d u], E[s . U] = -C[E|u|^2 u^T P^2 u + T tr P - E(u^T P u)^2 - d^2] and Isserlis' E[u^T A u u^T B u] =
    tr(A Sigma) tr(B Sigma) + 2 tr(A Sigma B Sigma) give D = -2C (tr Sigma tr Sigma^-1 - d^2) (0 iff Sigma ~ I). The
    particle value is the U-statistic's (N - 1)/N of it; four seeds of 4,000 within 4 standard errors of their mean."""
    d, C, n = 3, 1 / 24, 4_000
    Sigma = t64([[2.0, 0.3, 0.0], [0.3, 1.0, -0.2], [0.0, -0.2, 0.5]])
    m = t64([0.5, -1.0, 2.0])
    P = torch.linalg.inv(Sigma)
    exact = -2 * C * (float(torch.trace(Sigma) * torch.trace(P)) - d * d) * (n - 1) / n
    L = torch.linalg.cholesky(Sigma)
    vals = []
    for seed in range(4):
        v = m + torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) @ L.T
        vals.append(metrics.entropy_dissipation(v, -(v - m) @ P, 0.0, C))
    est = sum(vals) / 4
    se = math.sqrt(sum((x - est) ** 2 for x in vals) / 3 / 4)
    assert exact < -0.1
    assert abs(est - exact) < 4 * se and se < 0.05 * abs(exact), (est, exact, se)


def test_entropy_dissipation_is_the_score_times_the_drift():
    """(1/N) sum_i s_i . U_i with U from problems.drift (any gamma), float32 input measured in float64."""
    g = torch.Generator().manual_seed(3)
    v = torch.randn(9, 2, generator=g, dtype=torch.float64)
    s = torch.randn(9, 2, generator=g, dtype=torch.float64)
    want = float((s * drift(v, s, -3.0, 0.2)).sum(1).mean())
    assert metrics.entropy_dissipation(v, s, -3.0, 0.2) == pytest.approx(want, rel=1e-14)
    assert metrics.entropy_dissipation(v.float(), s.float(), -3.0, 0.2) == pytest.approx(want, rel=1e-5)
