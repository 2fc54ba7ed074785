"""Paper Lemma 2 (Hyvarinen identity) for Gaussian f and affine g, both sides in closed form:

    E_f[|g|^2 + 2 div g] = E_f[|g - s|^2] - E_f[|s|^2],   s = grad log f.

For f = N(mu, Sigma), g(v) = B v + c, s(v) = -Sigma^{-1}(v - mu):
    E|g|^2 = |B mu + c|^2 + tr(B Sigma B^T),  E div g = tr B,
    g - s = M v + e with M = B + Sigma^{-1}, e = c - Sigma^{-1} mu,
    E|g - s|^2 = |M mu + e|^2 + tr(M Sigma M^T),  E|s|^2 = tr(Sigma^{-1}).
"""
import numpy as np
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

el = st.floats(-2, 2, allow_nan=False)


def affine_case(d):
    return st.tuples(arrays("float64", (d, d), elements=el), arrays("float64", (d,), elements=el),
                     arrays("float64", (d,), elements=el), arrays("float64", (d, d), elements=el))


def gaussian_moment_sides(B, c, mu, L):
    d = len(mu)
    Sigma = L @ L.T + 0.2 * np.eye(d)
    Si = np.linalg.inv(Sigma)
    lhs = np.sum((B @ mu + c) ** 2) + np.trace(B @ Sigma @ B.T) + 2 * np.trace(B)
    M, e = B + Si, c - Si @ mu
    rhs = np.sum((M @ mu + e) ** 2) + np.trace(M @ Sigma @ M.T) - np.trace(Si)
    return lhs, rhs, Sigma


@given(st.sampled_from([2, 3]).flatmap(affine_case))
def test_hyvarinen_identity_closed_form(case):
    lhs, rhs, _ = gaussian_moment_sides(*case)
    assert abs(lhs - rhs) <= 1e-9 * (1 + abs(lhs) + abs(rhs))


def test_hyvarinen_identity_monte_carlo_agrees_with_closed_form():
    """The closed form is the expectation: a Monte Carlo estimate lands within 4 s.e."""
    rng = np.random.default_rng(0)
    B, c, mu, L = rng.normal(size=(3, 3)), rng.normal(size=3), rng.normal(size=3), rng.normal(size=(3, 3))
    lhs, _, Sigma = gaussian_moment_sides(B, c, mu, L)
    x = rng.multivariate_normal(mu, Sigma, size=400_000)
    g = x @ B.T + c
    vals = (g**2).sum(1) + 2 * np.trace(B)
    assert abs(vals.mean() - lhs) < 4 * vals.std() / np.sqrt(len(vals))
