"""The self-consistent score and the change-of-variables density of a flow map (solvers/flow_score.py) against
closed forms and finite differences, float64."""
import math

import pytest
import torch

from solvers.flow_score import jacobian_determinants, pushforward_density, self_consistent_score

D64 = torch.float64


def gaussian_score(v):
    return -v


def test_an_affine_map_of_a_gaussian_has_the_gaussian_score():
    """Phi(v, t) = A(t) v + b(t) pushes N(0, I) to N(b, A A^T): score -(A A^T)^{-1} (x - b), to 1e-12."""
    def a_of(t):
        return torch.stack([torch.stack([1 + t, 0.3 * t]), torch.stack([-0.2 * t, 1 - 0.4 * t])]).squeeze(-1)

    def flow(v, t):
        a = a_of(t.reshape(-1)[0:1])
        return v @ a.T + torch.cat([0.5 * t, -t], dim=-1)

    gen = torch.Generator().manual_seed(0)
    v0 = torch.randn(50, 2, generator=gen, dtype=D64)
    for tt in (0.0, 0.5, 1.0):
        t = torch.full((1,), tt, dtype=D64)
        s = self_consistent_score(flow, gaussian_score, v0, t)
        a = a_of(t)
        x = flow(v0, t)
        b = torch.tensor([0.5 * tt, -tt], dtype=D64)
        expected = -torch.linalg.solve(a @ a.T, (x - b).T).T
        assert torch.allclose(s, expected, rtol=0, atol=1e-12)


def _nonlinear(v, t):
    """A smooth invertible map (J = I + t M + 0.3 t diag(cos v) stays near I for |t| <= 1)."""
    m = torch.tensor([[0.0, 0.4], [-0.3, 0.0]], dtype=D64)
    return v + t * (v @ m.T) + 0.3 * t * torch.sin(v)


def _inverse(x, t, iters=60):
    v = x.clone()
    for _ in range(iters):  # Newton on Phi(v) = x, one point at a time
        j = torch.func.jacfwd(lambda u: _nonlinear(u, t))(v)
        v = v - torch.linalg.solve(j, _nonlinear(v, t) - x)
    return v


def _log_pushforward(x, t):
    """log f_t(x) = log f0(Phi^{-1}(x)) - log |det J(Phi^{-1}(x))|, f0 = N(0, I) in 2D."""
    v = _inverse(x, t)
    j = torch.func.jacfwd(lambda u: _nonlinear(u, t))(v)
    return -0.5 * (v * v).sum() - math.log(2 * math.pi) - torch.log(torch.abs(torch.linalg.det(j)))


def test_a_nonlinear_map_matches_the_finite_difference_gradient_of_the_change_of_variables_density():
    t = torch.full((1,), 0.8, dtype=D64)
    gen = torch.Generator().manual_seed(1)
    for v in torch.randn(5, 2, generator=gen, dtype=D64):
        s = self_consistent_score(_nonlinear, gaussian_score, v, t)
        x = _nonlinear(v, t)
        h = 1e-5
        fd = torch.stack([(_log_pushforward(x + h * e, t) - _log_pushforward(x - h * e, t)) / (2 * h)
                          for e in torch.eye(2, dtype=D64)])
        assert torch.allclose(s, fd, rtol=0, atol=1e-8), (s, fd)


def test_a_map_built_to_fold_has_a_negative_jacobian_determinant():
    """Phi(v, t) = v - 2 t v_1 e_1 folds the first axis at t = 1/2: det J = 1 - 2t."""
    def folding(v, t):
        return v - 2 * t * v * torch.tensor([1.0, 0.0], dtype=D64)

    v0 = torch.randn(10, 2, generator=torch.Generator().manual_seed(2), dtype=D64)
    for tt, det in ((0.25, 0.5), (0.5, 0.0), (0.75, -0.5)):
        got = jacobian_determinants(folding, v0, torch.full((1,), tt, dtype=D64))
        assert torch.allclose(got, torch.full((10,), det, dtype=D64), rtol=0, atol=1e-14)


def test_the_loss_with_the_flow_score_is_the_loss_with_that_score_as_an_oracle():
    """For the identity map Phi(v, t) = v the push-forward score is grad log f0 at every t: L_phys with
    flow_score (detached or through) equals L_phys with drift_score = grad log f0, and there is no ISM term."""
    import problems
    from solvers.flow_score import self_consistent_score
    from solvers.pinn_loss import pinn_losses
    p = problems.get_problem("bkw2d")
    v0 = p.sample(200, 3)
    times = torch.tensor([0.5, 1.0, 3.0], dtype=D64)

    def identity(v, t):
        return v + 0.0 * t

    def no_score(x, t):
        raise AssertionError("the score network is not used with flow_score")

    oracle = pinn_losses(identity, lambda x, t: p.initial_score(x), v0, times, p.gamma, p.C,
                         drift_score=lambda x, t: p.initial_score(x))
    for through in (False, True):
        got = pinn_losses(identity, no_score, v0, times, p.gamma, p.C, flow_score_through=through,
                          flow_score=lambda v, t: self_consistent_score(identity, p.initial_score, v, t, through))
        assert float(got["ism"]) == 0.0
        assert float(got["phys"]) == pytest.approx(float(oracle["phys"]), rel=1e-12)
    with pytest.raises(ValueError, match="cannot be combined"):
        pinn_losses(identity, no_score, v0, times, p.gamma, p.C, ism_through_flow=True,
                    flow_score=lambda v, t: v)


def gaussian_density(v):
    return torch.exp(-0.5 * (v * v).sum(-1)) / (2 * math.pi) ** (v.shape[-1] / 2)


def test_an_affine_map_of_a_gaussian_has_the_gaussian_density_at_its_particles():
    """Phi(v, t) = A(t) v + b(t) pushes N(0, I) to N(b, A A^T): f0(v) / |det J(v)| is that Gaussian's density at
    x = Phi(v, t), to 1e-10 relative, at times where det A > 0 and (t = 3) where det A < 0 (|det J| counts)."""
    def a_of(t):
        return torch.stack([torch.stack([1 + t, 0.3 * t]), torch.stack([-0.2 * t, 1 - 0.4 * t])]).squeeze(-1)

    def flow(v, t):
        return v @ a_of(t.reshape(-1)[0:1]).T + torch.cat([0.5 * t, -t], dim=-1)

    v0 = torch.randn(200, 2, generator=torch.Generator().manual_seed(5), dtype=D64)
    for tt in (0.0, 0.5, 1.0, 3.0):
        t = torch.full((1,), tt, dtype=D64)
        density, det = pushforward_density(flow, gaussian_density, v0, t, chunk=64)
        a, b = a_of(t), torch.tensor([0.5 * tt, -tt], dtype=D64)
        cov = a @ a.T
        r = flow(v0, t) - b
        quad = (r * torch.linalg.solve(cov, r.T).T).sum(-1)
        exact = torch.exp(-0.5 * quad) / (2 * math.pi * torch.sqrt(torch.linalg.det(cov)))
        assert density.dtype == det.dtype == D64 and density.shape == (200,)
        assert torch.allclose(density, exact, rtol=1e-10, atol=0), (tt, (density / exact - 1).abs().max())
        assert torch.allclose(det, torch.linalg.det(a).expand(200), rtol=0, atol=1e-13)
    assert float(det.max()) < 0  # t = 3: det A = 1 + 0.6 t - 0.34 t^2 < 0, the density still positive


def test_a_nonlinear_maps_density_matches_the_change_of_variables_with_a_finite_difference_jacobian():
    """f0(v) / |det J(v)| with J by forward mode against the same with J by central differences of Phi (h = 1e-5:
    agreement to ~1e-9; asserted to 1e-6)."""
    t = torch.full((1,), 0.8, dtype=D64)
    v0 = torch.randn(20, 2, generator=torch.Generator().manual_seed(6), dtype=D64)
    density, det = pushforward_density(_nonlinear, gaussian_density, v0, t)
    h = 1e-5
    columns = [(_nonlinear(v0 + h * e, t) - _nonlinear(v0 - h * e, t)) / (2 * h) for e in torch.eye(2, dtype=D64)]
    det_fd = torch.linalg.det(torch.stack(columns, dim=-1))
    assert torch.allclose(det, det_fd, rtol=1e-6, atol=0)
    assert torch.allclose(density, gaussian_density(v0) / det_fd.abs(), rtol=1e-6, atol=0)
    # and it is the density of x = Phi(v): the inverse map's change of variables (_log_pushforward) agrees
    x = _nonlinear(v0, t)
    for k in range(3):
        assert float(torch.log(density[k])) == pytest.approx(float(_log_pushforward(x[k], t)), abs=1e-10)


def test_determinants_in_chunks_equal_one_batch():
    v0 = torch.randn(101, 2, generator=torch.Generator().manual_seed(7), dtype=D64)
    t = torch.full((1,), 0.6, dtype=D64)
    whole = jacobian_determinants(_nonlinear, v0, t)
    assert torch.equal(jacobian_determinants(_nonlinear, v0, t, chunk=10), whole)
    assert whole.dtype == D64
    single = jacobian_determinants(lambda v, tt: v + tt * torch.sin(v), v0.float(), t.float())  # a float32 map
    assert single.dtype == D64  # J in the map's dtype, its determinant in float64
    assert torch.allclose(single, torch.prod(1 + 0.6 * torch.cos(v0), dim=-1), rtol=1e-6, atol=0)
