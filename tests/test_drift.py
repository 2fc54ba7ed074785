"""The particle drift of paper eq. 2.7: fast forms against references, and conservation."""
import pytest
import torch
from hypothesis import given, strategies as st

from problems import drift, naive_pairwise_drift, pairwise_drift


def cloud(n, d, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(n, d, generator=g, dtype=dtype) * 1.3 + 0.4
    s = torch.randn(n, d, generator=g, dtype=dtype) * 2.0 - 0.3  # arbitrary "scores"
    return v, s


def rel(a, b):
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("d", [2, 3])
def test_maxwell_moment_form_equals_pairwise_sum(d):
    v, s = cloud(600, d, 1)
    assert rel(drift(v, s, 0.0, 1 / 24), pairwise_drift(v, s, 0.0, 1 / 24)) < 1e-12
    v, s = cloud(40, d, 2)
    assert rel(drift(v, s, 0.0, 0.5), naive_pairwise_drift(v, s, 0.0, 0.5)) < 1e-12


@pytest.mark.parametrize("gamma", [-3.0, -1.5, 1.0])
@pytest.mark.parametrize("d", [2, 3])
def test_blockwise_equals_naive(gamma, d):
    v, s = cloud(57, d, 3)
    ref = naive_pairwise_drift(v, s, gamma, 1 / 16)
    assert rel(drift(v, s, gamma, 1 / 16), ref) < 1e-12
    # a tiny memory budget forces one row per block
    assert rel(pairwise_drift(v, s, gamma, 1 / 16, block_bytes=1), ref) < 1e-12


def test_batched_drift_equals_per_element():
    v, s = cloud(3 * 50, 3, 4)
    vb, sb = v.view(3, 50, 3), s.view(3, 50, 3)
    for gamma in (0.0, -3.0):
        batched = drift(vb, sb, gamma, 0.1)
        for b in range(3):
            assert rel(batched[b], drift(vb[b], sb[b], gamma, 0.1)) < 1e-13


def test_float32_close_to_float64():
    v, s = cloud(2000, 3, 5)
    for gamma in (0.0, -3.0):
        ref = drift(v, s, gamma, 1 / 24)
        assert rel(drift(v.float(), s.float(), gamma, 1 / 24).double(), ref) < 1e-4


def check_conservation(v, s, gamma):
    u = drift(v, s, gamma, 0.3)
    scale = float(u.abs().sum())
    assert float(u.sum(0).norm()) <= 1e-10 * scale, "momentum"
    energy_scale = float((v * u).abs().sum())
    assert abs(float((v * u).sum())) <= 1e-10 * energy_scale, "energy"


@pytest.mark.parametrize("gamma", [0.0, -3.0, 1.0])
@pytest.mark.parametrize("d", [2, 3])
def test_conserves_momentum_and_energy(gamma, d):
    v, s = cloud(300, d, 6)
    check_conservation(v, s, gamma)


@given(st.floats(-3, 1, allow_nan=False), st.integers(0, 10_000), st.sampled_from([2, 3]), st.integers(2, 120))
def test_conservation_property(gamma, seed, d, n):
    v, s = cloud(n, d, seed)
    check_conservation(v, s, gamma)


def test_shape_errors():
    v, s = cloud(10, 2, 0)
    with pytest.raises(ValueError, match="same shape"):
        drift(v, s[:5], 0.0, 1.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    v, s = cloud(500, 3, 7)
    for gamma in (0.0, -3.0):
        assert rel(drift(v.cuda(), s.cuda(), gamma, 0.1).cpu(), drift(v, s, gamma, 0.1)) < 1e-12


def test_one_dimensional_input_is_refused():
    with pytest.raises(ValueError, match=r"v must have shape \(\.\.\., N, d\), got \(5,\)"):
        drift(torch.ones(5, dtype=torch.float64), torch.ones(5, dtype=torch.float64), -3.0, 1.0)


@pytest.mark.slow
def test_fused_path_above_its_threshold_equals_the_pairwise_sum():
    """N above the CPU threshold of the compiled kernel (the default dispatch of `drift`), gamma = 1 (the
    general weight exp(gamma/2 log r2); test_fused_drift covers gamma = -3 and -1.5): equal to the blockwise sum."""
    import problems.particle_drift.fused as fused
    v, s = cloud(fused.CPU_MIN_N + 3, 2, 8)
    assert fused.fused_available(v, s, 1.0)
    out = drift(v, s, 1.0, 1 / 16)
    assert rel(out, pairwise_drift(v, s, 1.0, 1 / 16)) < 1e-12
