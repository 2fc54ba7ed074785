"""Properties of the Landau kernel A(z) = C |z|^gamma (|z|^2 I - z z^T)."""
import torch
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

from problems import kernel_apply, kernel_divergence, kernel_matrix

finite = st.floats(-5, 5, allow_nan=False, allow_infinity=False)
gammas = st.floats(-3, 1, allow_nan=False)
dims = st.sampled_from([2, 3])


def vec(d):
    return arrays("float64", (d,), elements=finite).map(torch.from_numpy)


@given(dims.flatmap(lambda d: st.tuples(vec(d), vec(d))), gammas, st.floats(0.01, 3))
def test_symmetric_and_psd(zw, gamma, C):
    z, w = zw
    if z.norm() < 1e-3:
        z = z + 0.5
    a = kernel_matrix(z, gamma, C)
    assert torch.allclose(a, a.T, atol=1e-12 * a.abs().max())
    eig = torch.linalg.eigvalsh(a)
    assert eig.min() >= -1e-10 * eig.abs().max()
    # quadratic form via the matrix-free apply
    assert float(w @ kernel_apply(z, w, gamma, C)) >= -1e-9 * (1 + float(a.abs().max()) * float(w @ w))


@given(dims.flatmap(vec), gammas)
def test_null_vector_and_apply_matches_matrix(z, gamma):
    if z.norm() < 1e-3:
        z = z + 0.7
    az = kernel_apply(z, z, gamma, 1.3)
    scale = 1.3 * float(z.norm()) ** (gamma + 3)
    assert float(az.norm()) <= 1e-12 * max(scale, 1.0)
    w = torch.arange(1.0, z.numel() + 1, dtype=torch.float64)
    assert torch.allclose(kernel_apply(z, w, gamma, 1.3), kernel_matrix(z, gamma, 1.3) @ w, rtol=1e-12, atol=1e-12)


@given(dims.flatmap(vec), gammas, st.floats(0.1, 4).flatmap(lambda x: st.sampled_from([x, -x])))
def test_homogeneity(z, gamma, lam):
    if z.norm() < 1e-2:
        z = z + 0.3
    lhs = kernel_matrix(lam * z, gamma)
    rhs = abs(lam) ** (gamma + 2) * kernel_matrix(z, gamma)
    assert torch.allclose(lhs, rhs, rtol=1e-10, atol=1e-12)


@given(dims.flatmap(vec), gammas)
def test_divergence_matches_autograd(z, gamma):
    if z.norm() < 1e-2:
        z = z + 0.4
    z = z.clone().requires_grad_(True)
    a = kernel_matrix(z, gamma, 0.7)
    div = torch.stack([sum(torch.autograd.grad(a[k, l], z, retain_graph=True)[0][l] for l in range(z.numel()))
                       for k in range(z.numel())])
    assert torch.allclose(div, kernel_divergence(z.detach(), gamma, 0.7), rtol=1e-10, atol=1e-12)


def test_self_term_is_zero_for_singular_kernel():
    z = torch.zeros(4, 3, dtype=torch.float64)
    assert torch.equal(kernel_apply(z, torch.ones_like(z), -3.0), torch.zeros_like(z))
