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


# ------------------------------------------------------------------- hand-computed values
# Rows worked out by hand, A(z) w = |z|^2 w - z (z . w) before the weight C |z|^gamma:
#   z = (1, -1, 2), w = (0, 1, 1): |z|^2 = 6, z.w = 1  ->  6 w - z = (-1, 7, 4)
#   z = (0, 0, 3),  w = (1, 2, 5): |z|^2 = 9, z.w = 15 ->  (9, 18, 45) - (0, 0, 45) = (9, 18, 0)
#   z = 0 (self term)                                   ->  0
#   z = (2, 1, 2),  w = (1, 0, 0): |z|^2 = 9, z.w = 2  ->  (9, 0, 0) - (4, 2, 4) = (5, -2, -4)
# arranged as a (2, 2, 3) batch: the batch axes differ from d, so a reduction over the wrong axis shows.
HAND_Z = [[[1.0, -1.0, 2.0], [0.0, 0.0, 3.0]], [[0.0, 0.0, 0.0], [2.0, 1.0, 2.0]]]
HAND_W = [[[0.0, 1.0, 1.0], [1.0, 2.0, 5.0]], [[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]]
HAND_AW = {  # gamma -> A(z) w with C = 1
    1.0: [[[-6**0.5, 7 * 6**0.5, 4 * 6**0.5], [27.0, 54.0, 0.0]], [[0.0, 0.0, 0.0], [15.0, -6.0, -12.0]]],
    0.0: [[[-1.0, 7.0, 4.0], [9.0, 18.0, 0.0]], [[0.0, 0.0, 0.0], [5.0, -2.0, -4.0]]],
    -3.0: [[[-(6**-1.5), 7 * 6**-1.5, 4 * 6**-1.5], [1 / 3, 2 / 3, 0.0]], [[0.0, 0.0, 0.0], [5 / 27, -2 / 27, -4 / 27]]],
}


def t64(x):
    return torch.tensor(x, dtype=torch.float64)


def test_kernel_apply_equals_hand_computed_values_on_a_batch():
    z, w = t64(HAND_Z), t64(HAND_W)
    for gamma, expect in HAND_AW.items():
        assert torch.allclose(kernel_apply(z, w, gamma), t64(expect), rtol=1e-14, atol=1e-15), gamma  # default C = 1
        assert torch.allclose(kernel_apply(z, w, gamma, 2.5), 2.5 * t64(expect), rtol=1e-14, atol=1e-15), gamma


def test_kernel_matrix_equals_hand_computed_values():
    """z = (1, 2): |z|^2 I - z z^T = [[4, -2], [-2, 1]], |z| = sqrt 5; z = (0, 3): [[9, 0], [0, 0]], |z| = 3."""
    z = t64([[1.0, 2.0], [0.0, 3.0], [0.0, 0.0]])
    base = t64([[[4.0, -2.0], [-2.0, 1.0]], [[9.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    for gamma, weights in ((1.0, (5**0.5, 3.0)), (0.0, (1.0, 1.0)), (-3.0, (5**-1.5, 1 / 27))):
        expect = base * t64([weights[0], weights[1], 0.0])[:, None, None]
        assert torch.allclose(kernel_matrix(z, gamma), expect, rtol=1e-14, atol=1e-15), gamma
        assert torch.allclose(kernel_matrix(z, gamma, 0.5), 0.5 * expect, rtol=1e-14, atol=1e-15), gamma


def test_kernel_divergence_equals_hand_computed_values_on_a_batch():
    """div A(z) = -(d - 1) C |z|^gamma z; for the (2, 2, 3) batch: |z| = sqrt 6, 3, 0 (self term), 3."""
    z = t64(HAND_Z)
    for gamma in (1.0, 0.0, -3.0):
        weight = t64([[6 ** (gamma / 2), 3**gamma], [0.0, 3**gamma]])[..., None]
        expect = -2.0 * weight * z
        assert torch.allclose(kernel_divergence(z, gamma), expect, rtol=1e-14, atol=1e-15), gamma
        assert torch.allclose(kernel_divergence(z, gamma, 0.3), 0.3 * expect, rtol=1e-14, atol=1e-15), gamma


def test_radial_weight_is_zero_at_the_self_term():
    from problems.equation.kernel import radial_weight
    r2 = t64([0.0, 4.0, 0.25])
    assert torch.equal(radial_weight(r2, -3.0), t64([0.0, 1 / 8, 8.0]))
    assert torch.equal(radial_weight(r2, 1.0), t64([0.0, 2.0, 0.5]))


@given(st.sampled_from([-3.0, -2.5, -1.5, -0.5]))
def test_gradient_through_coincident_points_is_finite(gamma):
    """The self term z = 0 of a singular kernel contributes a zero gradient, not nan (autograd through the
    particle sum: pairwise drift, PINN training)."""
    z = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    w = t64([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0]])
    (grad,) = torch.autograd.grad(kernel_apply(z, w, gamma).sum(), z)
    assert torch.equal(grad, torch.zeros_like(grad))
    from problems import pairwise_drift
    v = t64([[0.0, 0.0], [1.0, 0.5], [-0.5, 2.0]]).requires_grad_(True)
    s = t64([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    (gv,) = torch.autograd.grad(pairwise_drift(v, s, gamma, 1.0).pow(2).sum(), v)
    assert torch.isfinite(gv).all() and float(gv.abs().max()) > 0
