"""Check (not a test): the Triton drift kernel against the float64 blockwise reference, on the hardware.

    PYTHONPATH=. python benchmarks/gpu_drift_accuracy.py [--device cuda] [--n 3000]

For gamma in {0, -3} and d in {2, 3}: U = triton_drift(v, s) in float64 and float32 on --device against
`problems.pairwise_drift` in float64 on the CPU of the same inputs (for float32, the float32-rounded v and s:
the rounding of the inputs themselves, amplified by |z|^-3 at close pairs, is not the kernel's error and
reaches 1.3e-5 at N = 200 in 2D), relative error ||U - U_ref|| / ||U_ref|| (Frobenius) beside
its tolerance (float64 1e-12, float32 1e-5). `--device cpu` runs Triton's interpreter (TRITON_INTERPRET=1,
set before triton is imported): the dry run of benchmarks/gpu_check.sh. Exit 1 if any error is over its
tolerance, 2 if Triton is missing.
"""
from __future__ import annotations

import argparse
import os
import sys

TOLERANCE = {"float64": 1e-12, "float32": 1e-5}


def relative_errors(device: str, n: int, seed: int = 0) -> list[tuple[float, int, str, float]]:
    """[(gamma, d, dtype, relative error)] of triton_drift on `device` against the float64 CPU reference for n
    particles v ~ N(0, I) and scores s = -v + 0.3 N(0, I) (a torch.Generator seeded `seed`)."""
    import torch

    from problems import pairwise_drift
    from problems.particle_drift.triton_kernel import triton_drift
    out = []
    gen = torch.Generator().manual_seed(seed)
    for d in (2, 3):
        v = torch.randn(n, d, generator=gen, dtype=torch.float64)
        s = -v + 0.3 * torch.randn(n, d, generator=gen, dtype=torch.float64)
        for gamma in (0.0, -3.0):
            for dtype in ("float64", "float32"):
                cast = getattr(torch, dtype)
                vc, sc = v.to(cast), s.to(cast)  # the reference sees the same (rounded) inputs as the kernel
                ref = pairwise_drift(vc.double(), sc.double(), gamma, 1 / 16)
                got = triton_drift(vc.to(device), sc.to(device), gamma, 1 / 16).double().cpu()
                out.append((gamma, d, dtype, float((got - ref).norm() / ref.norm())))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--n", type=int, default=3_000)
    args = ap.parse_args(argv)
    if args.device == "cpu":
        os.environ["TRITON_INTERPRET"] = "1"
    from problems.particle_drift import triton_kernel as module
    if not module.available():
        print("triton is not installed: nothing to check", file=sys.stderr)
        return 3 if args.device == "cpu" else 2  # 3: skipped (gpu_check.sh says so; a dry run is not failed by it)
    rows = relative_errors(args.device, args.n)
    print(f"triton drift vs float64 reference, N = {args.n}, device {args.device}")
    print(f"{'gamma':>6} {'d':>2} {'dtype':>8} {'rel err':>10} {'tolerance':>10}  ok")
    bad = 0
    for gamma, d, dtype, err in rows:
        ok = err <= TOLERANCE[dtype]
        bad += not ok
        print(f"{gamma:>6g} {d:>2} {dtype:>8} {err:>10.2e} {TOLERANCE[dtype]:>10.0e}  {'yes' if ok else 'NO'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
