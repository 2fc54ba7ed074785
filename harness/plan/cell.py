"""What a run is made of: the `Cell` (solver, problem, seed, config overrides) and the pairs a plan skipped.

Planning code imports this module without the execution stack; problems and solvers are imported when a
cell builds its problem or config (so `import harness.plan` does not import torch).
"""
from __future__ import annotations

from dataclasses import dataclass

from harness.plan.overrides import split_overrides
from harness.store.identity import cell_id, label as overrides_label


@dataclass(frozen=True)
class Skipped:
    """A (solver, problem) pair a plan left out, and the solver's reason."""

    solver: str
    problem: str
    why: str

    def __str__(self) -> str:
        return f"{self.solver} on {self.problem}: {self.why}"


@dataclass(frozen=True)
class Cell:
    """One unit of work: a solver on a problem with a seed and config overrides ((field, value) pairs)."""

    solver: str
    problem: str
    seed: int
    overrides: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "overrides", tuple(sorted((str(k), v) for k, v in self.overrides)))

    @property
    def label(self) -> str:
        """'dt=0.02,n=4000', or '' without overrides."""
        return overrides_label(self.overrides)

    @property
    def id(self) -> str:
        """File stem (harness.store.identity.cell_id)."""
        return cell_id(self.solver, self.problem, self.seed, self.overrides)

    def describe(self) -> str:
        """'sbp / bkw2d / seed 0 [n=4000]' for messages."""
        return f"{self.solver} / {self.problem} / seed {self.seed}" + (f" [{self.label}]" if self.overrides else "")

    def solver_overrides(self) -> dict:
        """The overrides that are solver config fields."""
        return split_overrides(self.problem, self.overrides)[0]

    def problem_constants(self) -> dict:
        """The overrides that are constants of the problem ('PROBLEM.FIELD' keys), by field name."""
        return split_overrides(self.problem, self.overrides)[1]

    def make_problem(self):
        """The cell's problem with its constants applied."""
        import problems
        return problems.get_problem(self.problem, **self.problem_constants())

    def make_config(self, profile: str):
        """The solver's config of `profile` for this cell's problem with the solver overrides applied."""
        import solvers
        return solvers.get_solver(self.solver).profile_config(profile, self.make_problem(), **self.solver_overrides())

    def to_json(self) -> list:
        return [self.solver, self.problem, self.seed, dict(self.overrides)]

    @classmethod
    def from_json(cls, item) -> "Cell":
        """The inverse of to_json (also accepts the old [solver, problem, seed] form); ValueError if malformed."""
        if not isinstance(item, (list, tuple)) or len(item) not in (3, 4):
            raise ValueError(f"not a cell: {item!r}")
        solver, problem, seed = item[:3]
        overrides = item[3] if len(item) == 4 else {}
        if not (isinstance(solver, str) and isinstance(problem, str) and isinstance(seed, int)
                and not isinstance(seed, bool) and seed >= 0 and isinstance(overrides, dict)):
            raise ValueError(f"not a cell: {item!r}")
        return cls(solver, problem, seed, tuple(overrides.items()))


def unique_cells(cells) -> tuple[list[Cell], list[Cell]]:
    """(each cell once, in first-seen order; the cells that repeated one already there): a cell named twice (`-s
    blob -s blob`, two diagnosis variants that coincide under --set) must never run twice writing the same files."""
    seen, kept, repeated = set(), [], []
    for cell in cells:
        if cell.id in seen:
            repeated.append(cell)
        else:
            seen.add(cell.id)
            kept.append(cell)
    return kept, repeated


def merged_plan(kept: list[Cell], added: list[Cell]) -> list[Cell]:
    """The cells of `kept` (a resumed manifest's plan) then those of `added` not among them: a resume with a
    selection adds to a run's plan and never drops a cell from it, so a later --resume still retries it."""
    return unique_cells([*kept, *added])[0]


def distinct_configs(cells, profile: str):
    """(cell, problem, config) for the first cell of each distinct (solver, problem, overrides) whose config
    can be built (one that cannot fails later as its own cell, with its message)."""
    seen = set()
    for cell in cells:
        key = (cell.solver, cell.problem, cell.overrides)
        if key in seen:
            continue
        seen.add(key)
        try:
            problem, cfg = cell.make_problem(), cell.make_config(profile)
        except (TypeError, ValueError):
            continue
        yield cell, problem, cfg
