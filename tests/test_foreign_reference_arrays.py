"""No foreign array shape is accepted from the reference cache (issue 44's probe: a 3D reference file at a 2D
problem's cache name loaded, the cell went on without its reference metrics and the report crashed). Every builder
declares its arrays' shapes; a file at its cache name whose arrays have the right keys but another shape (another
dimension, another grid, another problem's) is damaged: set aside with a warning naming the array, and rebuilt."""
import warnings

import numpy as np
import pytest

import problems
from problems.references import base

#: one problem per registered reference builder (grid, radial, sde), at the coarse resolution (seconds each)
BUILDERS = {"grid": "anisotropic2d", "radial": "rosenbluth3d", "sde": "truncated2d"}


def _foreign(arrays: dict, how: str) -> dict:
    """The same keys with arrays of another shape: an extra trailing dimension, or a longer last axis."""
    if how == "extra dimension":
        return {k: np.stack([a, a], axis=-1) for k, a in arrays.items()}
    return {k: np.concatenate([a, a[..., :1]], axis=-1) for k, a in arrays.items()}


@pytest.mark.slow  # two coarse reference builds each (2-6 s)
@pytest.mark.parametrize("how", ["extra dimension", "longer last axis"])
@pytest.mark.parametrize("kind, name", sorted(BUILDERS.items()))
def test_a_foreign_shaped_cache_file_is_set_aside_and_rebuilt(kind, name, how, tmp_path, monkeypatch):
    monkeypatch.setenv("LANDAU_REFERENCE_CACHE", str(tmp_path))
    monkeypatch.setattr(base, "_MEMORY", {})
    problem = problems.get_problem(name)
    assert problems.reference_kind(problem) == kind
    problems.reference_for(problem, "coarse")
    path = base.reference_cache_path(problem, "coarse", kind)
    with np.load(path) as z:
        good = {k: z[k] for k in z.files}
    with open(path, "wb") as fh:
        np.savez(fh, **_foreign(good, how))
    monkeypatch.setattr(base, "_MEMORY", {})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ref = problems.reference_for(problem, "coarse")
    said = [str(w.message) for w in caught if "is damaged" in str(w.message)]
    assert len(said) == 1 and "has shape" in said[0] and "another problem's or resolution's arrays" in said[0]
    with np.load(path) as z:
        assert {k: z[k].shape for k in z.files} == {k: a.shape for k, a in good.items()}
    assert ref.times == tuple(sorted(set(float(t) for t in problem.snapshot_times)))
    assert list(tmp_path.glob("*.corrupt*")), "the foreign file was not set aside"


def test_every_reference_builder_declares_its_arrays_shapes():
    """The principle over every call site: each call of cached_arrays in problems/ passes `shapes` for its arrays."""
    import ast
    from pathlib import Path
    root = Path(problems.__file__).parent
    calls = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "cached_arrays":
                calls.append((path.name, {k.arg for k in node.keywords}))
    assert len(calls) >= 3 and all("shapes" in kws for _, kws in calls), calls
