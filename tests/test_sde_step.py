"""The SDE reference's Euler-Maruyama step (problems/references/sde.py): the fused step against the formula written
out, and the chunked pool against the whole pool, bit for bit."""
import math

import pytest
import torch

import problems
from problems.references import sde


def test_em_step_is_the_written_out_formula_in_float64():
    """v - 2 (d-1) C h u + sqrt(2 C h) [ |u| z1 - u (u . z1)/|u| + z2 root^T ] at 50 random points in 3D, to 1e-13."""
    g = torch.Generator().manual_seed(4)
    v = torch.randn(50, 3, generator=g, dtype=torch.float64)
    z = torch.randn(50, 6, generator=g, dtype=torch.float64)
    mean = torch.tensor([0.3, -0.1, 0.2], dtype=torch.float64)
    root = torch.tensor([[0.9, 0.1, 0.0], [0.1, 0.7, 0.05], [0.0, 0.05, 0.8]], dtype=torch.float64)
    C, h, d = 0.5, 0.02, 3
    u = v - mean
    r = u.norm(dim=1, keepdim=True)
    z1, z2 = z[:, :3], z[:, 3:]
    want = v - 2 * (d - 1) * C * h * u + math.sqrt(2 * C * h) * (r * z1 - u * (u * z1).sum(1, keepdim=True) / r
                                                                 + z2 @ root.T)
    got = sde._em_step(v.clone(), mean, root, 2 * (d - 1) * C * h, math.sqrt(2 * C * h), z)
    torch.testing.assert_close(got, want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_chunked_pool_equals_the_whole_pool_bit_for_bit(chunk, monkeypatch):
    p = problems.get_problem("gaussian_mixture3d")
    monkeypatch.setattr(sde, "STEP_CHUNK", 10**9)
    whole = sde.simulate(p, [0.1, 0.2], 300, 0.02, dtype=torch.float32)
    monkeypatch.setattr(sde, "STEP_CHUNK", chunk)
    chunked = sde.simulate(p, [0.1, 0.2], 300, 0.02, dtype=torch.float32)
    assert all(torch.equal(whole[t], chunked[t]) for t in whole)
