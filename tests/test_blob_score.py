"""The compiled blob score against the blockwise one, and which one `blob_score` takes."""
import pytest
import torch

import problems.particle_drift.fused as fused
import solvers.blob as blob


def _cloud(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    return 1.3 * torch.randn(n, d, generator=g, dtype=torch.float64)


@pytest.mark.slow  # compiles two kernels: about 12 s from an empty torch.compile cache
@pytest.mark.parametrize("d,eps", [(2, 0.0225), (3, 0.09)])
def test_compiled_blob_score_equals_blockwise_and_is_the_default(d, eps, monkeypatch):
    v = _cloud(fused.CPU_MIN_N + 37, d, d)  # not a multiple of the row block: exercises the padding
    ref = blob.blockwise_blob_score(v, eps)
    compiled = blob.compiled_blob_score(v, eps)  # called directly: a compiler failure fails the test
    assert float((compiled - ref).abs().max() / ref.abs().max()) < 1e-12
    calls = []
    real = blob.compiled_blob_score
    monkeypatch.setattr(blob, "compiled_blob_score", lambda *a: calls.append(1) or real(*a))
    out = blob.blob_score(v, eps)
    assert calls, "blob_score did not take the compiled path for a no-grad CPU input with N >= CPU_MIN_N"
    assert (v.dtype, d) not in blob._blob_disabled  # and did not fall back
    torch.testing.assert_close(out, compiled, rtol=0, atol=0)


def test_blockwise_blob_score_below_the_threshold_and_with_gradients(monkeypatch):
    monkeypatch.setattr(blob, "compiled_blob_score", lambda *a: pytest.fail("compiled path taken"))
    small = _cloud(fused.CPU_MIN_N - 1, 2, 0)
    torch.testing.assert_close(blob.blob_score(small, 0.09), blob.blockwise_blob_score(small, 0.09), rtol=0, atol=0)
    big = _cloud(fused.CPU_MIN_N + 1, 2, 1).requires_grad_(True)
    blob.blob_score(big, 0.09).sum().backward()  # autograd goes through the blockwise sum
    assert big.grad is not None and torch.isfinite(big.grad).all()


def test_a_failing_compiler_falls_back_to_the_blockwise_sum(monkeypatch):
    def broken(*a):
        raise RuntimeError("no C++ compiler")
    monkeypatch.setattr(blob, "compiled_blob_score", broken)
    monkeypatch.setattr(blob, "_blob_disabled", set())
    v = _cloud(fused.CPU_MIN_N + 5, 3, 4)
    with pytest.warns(UserWarning, match="compiled blob score unavailable"):
        out = blob.blob_score(v, 0.09)
    torch.testing.assert_close(out, blob.blockwise_blob_score(v, 0.09), rtol=0, atol=0)
    assert (torch.float64, 3) in blob._blob_disabled
