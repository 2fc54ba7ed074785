"""The solver registry: names to solver classes. Duplicate names raise; unknown names list the valid ones.

Register your own solver from your own file:

    from solvers import Solver, register_solver

    @register_solver("my_solver")
    class MySolver(Solver):
        ...
"""
from __future__ import annotations

from infra.files import check_name

from solvers.base import Solver
from solvers.config import check_config_class

_SOLVERS: dict[str, type[Solver]] = {}


def register_solver(name: str):
    """Class decorator registering a Solver subclass under `name` (duplicate or malformed names raise, see
    infra.files.NAME_PATTERN)."""
    check_name("solver", name)

    def deco(cls: type[Solver]) -> type[Solver]:
        if name in _SOLVERS:
            raise ValueError(f"solver {name!r} is already registered")
        if not (isinstance(cls, type) and issubclass(cls, Solver)):
            raise TypeError(f"{cls!r} is not a Solver subclass")
        check_config_class(name, cls.Config)
        cls.name = name
        _SOLVERS[name] = cls
        return cls
    return deco


def list_solvers() -> list[str]:
    """Registered solver names, in registration order."""
    return list(_SOLVERS)


def get_solver(name: str) -> type[Solver]:
    """The solver class registered as `name`; ValueError listing the valid names otherwise."""
    if name not in _SOLVERS:
        raise ValueError(f"unknown solver {name!r}; valid solvers: {', '.join(_SOLVERS)}")
    return _SOLVERS[name]
