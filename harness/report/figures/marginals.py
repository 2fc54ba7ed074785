"""The exact or reference density a particle figure is drawn against, and its 1D marginals by quadrature.

A report never builds or writes a reference (`harness report` only reads a run): `judged_if_cached` takes the
problem's exact solution or, for a problem without one, its reference only if the run's resolution of it is
already in the reference cache (`problems.references.base.cached_judged`); otherwise the figures go without the
reference curve and one warning line names the problem.
"""
from __future__ import annotations

import sys

from problems.references.base import cache_dir, cached_judged, reference_kind

MARGINAL_NODES = 160  # nodes along the marginal's axis
MARGINAL_CROSS_NODES = {2: 160, 3: 48}  # nodes along each integrated axis (midpoint quadrature on grid_box)


def judged_if_cached(problem, resolution: str | None):
    """(judged problem, kind) to draw `problem`'s particles against: itself ('exact') if it has an exact
    solution, its reference at `resolution` (the run's recorded profile's; None: unknown, no reference) if that is
    in the reference cache (or already in memory), else (None, None); one warning line on stderr when a reference applies but is not
    cached. Nothing is computed or written."""
    kind = reference_kind(problem)
    if kind is None:
        return None, None
    if resolution is None and kind != "exact":
        return None, None
    try:
        found = cached_judged(problem, resolution)
    except (NotImplementedError, ValueError, OSError):  # a problem or profile the lookup cannot serve: no curve
        return None, None
    if found is None:
        print(f"warning: {problem.name}: its {kind} reference ({resolution}) is not in the reference cache "
              f"{str(cache_dir())!r}; its particle figures are drawn without it (`python -m harness references "
              f"-p {problem.name} --resolution {resolution}` builds it)", file=sys.stderr)
        return None, None
    return found


def reference_marginal(judged, t: float, axis: int, nodes: int = MARGINAL_NODES):
    """(x (nodes,), f_axis(x) (nodes,)): the marginal of the exact / reference density along `axis` on the
    problem's grid box, by the tensor-product rectangle rule over the other axes (float64)."""
    import torch
    d = judged.dim
    cross = MARGINAL_CROSS_NODES.get(d, 32)
    axes = []
    for a, (lo, hi) in enumerate(judged.grid_box):
        m = nodes if a == axis else cross
        step = (hi - lo) / m
        axes.append(lo + step * (torch.arange(m, dtype=torch.float64) + 0.5))
    mesh = torch.meshgrid(*axes, indexing="ij")
    pts = torch.stack([g.reshape(-1) for g in mesh], dim=1)
    f = judged.density(pts, float(t)).reshape(*[len(a) for a in axes])
    weight = 1.0
    for a, (lo, hi) in enumerate(judged.grid_box):
        if a != axis:
            weight *= (hi - lo) / cross
    others = tuple(a for a in range(d) if a != axis)
    return axes[axis], f.sum(dim=others) * weight
