"""The problem registry: names to factories. Problems know nothing of solvers or metrics.

Users add a problem from their own file with `@register_problem("name")` on a zero-argument
factory returning a `Problem`; duplicate names raise.
"""
from __future__ import annotations

from typing import Callable

from problems.cases.base import Problem
from infra.files import check_name

_FACTORIES: dict[str, Callable[[], Problem]] = {}


def register_problem(name: str):
    """Decorator registering a zero-argument factory under `name` (duplicate or malformed names raise,
    see infra.files.NAME_PATTERN). The factory is called once at registration, so a problem that its own
    checks refuse (`Problem.__post_init__`: a dim outside SUPPORTED_DIMS, C <= 0) fails there, in one line."""
    check_name("problem", name)

    def deco(factory: Callable[[], Problem]):
        if name in _FACTORIES:
            raise ValueError(f"problem {name!r} is already registered")
        problem = factory()  # built once here, so a malformed problem (dim 7, C <= 0) fails at its registration
        if not isinstance(problem, Problem):
            raise ValueError(f"problem {name!r}: its factory returned a {type(problem).__name__}, not a Problem")
        _FACTORIES[name] = factory
        return factory
    return deco


def list_problems() -> list[str]:
    """Registered problem names, in registration order."""
    return list(_FACTORIES)


def get_problem(name: str, **overrides) -> Problem:
    """The problem `name` with optional field overrides (e.g. `C=1.0`).

    Unknown names raise ValueError listing the registered ones.
    """
    if name not in _FACTORIES:
        raise ValueError(f"unknown problem {name!r}; valid problems: {', '.join(_FACTORIES)}")
    problem = _FACTORIES[name]()
    if problem.name != name:
        problem = problem.replace(name=name)
    return problem.replace(**overrides) if overrides else problem
