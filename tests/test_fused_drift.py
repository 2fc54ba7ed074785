"""Fused Coulomb drift: the compiled CPU kernel and the Triton kernel (interpreter) against the blockwise reference."""
import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import problems.particle_drift.fused as fused
from problems import drift, pairwise_drift


def _vs(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(n, d, generator=g, dtype=torch.float64)
    return v, -v + 0.3 * torch.randn(n, d, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("gamma,d", [(-3.0, 3), (-1.5, 2)])
def test_compiled_cpu_kernel_equals_reference_and_is_the_default(gamma, d, monkeypatch):
    n = fused.CPU_MIN_N + 37  # not a multiple of the block: exercises the padding
    v, s = _vs(n, d, 1)
    calls = []
    real = fused.fused_drift
    monkeypatch.setattr(sys.modules["problems.particle_drift.dispatch"], "fused_drift", lambda *a: calls.append(1) or real(*a))
    out = drift(v, s, gamma, 1 / 24)
    assert calls, "drift() did not take the fused path for a no-grad (N, d) input with N >= CPU_MIN_N"
    assert ("cpu", v.dtype, gamma) not in fused._disabled  # the compiled kernel ran, no silent fallback
    ref = pairwise_drift(v, s, gamma, 1 / 24)
    assert float((out - ref).abs().max() / ref.abs().max()) < 1e-12
    assert float(out.sum(0).abs().max()) < 1e-12 * float(ref.abs().sum())  # momentum conserved


def test_reference_path_when_gradients_are_needed():
    v, s = _vs(fused.CPU_MIN_N + 1, 3, 2)
    v.requires_grad_(True)
    assert not fused.fused_available(v, s, -3.0)
    assert not fused.fused_available(v.detach()[:100], s[:100], -3.0)  # small N: no compilation
    assert not fused.fused_available(v.detach(), s, 0.0)  # Maxwell has its O(N) form
    assert fused.fused_available(v.detach(), s, -3.0)


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton not installed")
def test_triton_kernel_in_the_interpreter_equals_reference():
    code = textwrap.dedent("""
        import torch
        from problems.particle_drift.triton_kernel import triton_drift
        from problems import pairwise_drift
        g = torch.Generator().manual_seed(0)
        worst = 0.0
        for d in (2, 3):
            for gamma in (-3.0, -1.5, 1.0):
                v = torch.randn(150, d, generator=g, dtype=torch.float64)
                s = -v + 0.3 * torch.randn(150, d, generator=g, dtype=torch.float64)
                v[7] = v[3]  # a coincident pair contributes 0, not nan
                a, b = triton_drift(v, s, gamma, 1 / 16), pairwise_drift(v, s, gamma, 1 / 16)
                assert torch.isfinite(a).all()
                worst = max(worst, float((a - b).abs().max() / b.abs().max()))
        print(worst)
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "TRITON_INTERPRET": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    assert float(res.stdout.strip().splitlines()[-1]) < 1e-13
