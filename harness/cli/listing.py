"""`list`: the registered problems (with their settable constants), solvers (with their config fields per
profile), profiles and metrics."""
from __future__ import annotations

import problems
import solvers
from certificates import DIAGNOSTIC_METRICS
from metrics.specs import METRICS
from harness.plan.profiles import PROFILES

from harness.plan.plugins import load_plugins
from harness.plan.overrides import problem_fields, settable_fields

#: the class flags `list` shows after a solver's problems
FLAGS = ("has_score", "has_flow_map", "needs_gpu_for_paper", "diagnose_training", "uses_workdir")


def cmd_list(args) -> int:
    """Print what is registered (after loading --plugin files)."""
    load_plugins(args.plugin)
    print("problems (constants settable with --set PROBLEM.FIELD=V1,V2):")
    for name in problems.list_problems():
        problem = problems.get_problem(name)
        print("  " + problem.describe())
        print("    constants: " + ", ".join(f"{f}={getattr(problem, f)!r}" for f in problem_fields(problem)))
    print("solvers (settable with --set FIELD=V1,V2 or --set SOLVER.FIELD=...; * = depends on the problem):")
    for name in solvers.list_solvers():
        print(solver_line(name))
        for line in solver_field_lines(name):
            print(line)
    print("profiles: " + ", ".join(PROFILES))
    for prof in PROFILES.values():
        print(f"  {prof.name}: {prof.description} (references: {prof.reference_resolution})")
    print("metrics: " + ", ".join(m for m in METRICS if m not in DIAGNOSTIC_METRICS))  # the registry as it is now
    print("training diagnostics (PINN-PM cells): " + ", ".join(DIAGNOSTIC_METRICS))
    return 0


def solver_line(name: str) -> str:
    """'  NAME: applies to P1, P2 [flags]' of `harness list`."""
    cls = solvers.get_solver(name)
    where = [p for p in problems.list_problems() if cls.applies_to(problems.get_problem(p))[0]]
    flags = [f for f in FLAGS if getattr(cls, f)]
    flags += [f"dt order {cls.dt_order}"] if cls.dt_order is not None else []
    flags += [f"N rate {cls.n_rate:g}"] if cls.n_rate is not None else []
    flags = ", ".join(flags)
    return f"  {name}: applies to {', '.join(where) or 'none'}" + (f" [{flags}]" if flags else "")


def solver_field_lines(name: str) -> list[str]:
    """Lines of `harness list`: the settable config fields of a solver with their default per profile
    (over the problems it applies to; '*' marks a value that depends on the problem)."""
    cls = solvers.get_solver(name)
    fields = settable_fields(cls)
    where = [problems.get_problem(p) for p in problems.list_problems() if cls.applies_to(problems.get_problem(p))[0]]
    if not fields or not where:
        return []
    configs = {prof: [cls.profile_config(prof, p) for p in where] for prof in PROFILES}
    width = max(len("field"), *(len(f) for f in fields)) + 2  # short names (n, dt) must not merge the headers
    lines = [f"    {'field':<{width}}{'type':<14}" + "".join(f"{prof:<16}" for prof in PROFILES)]
    for f, typ in fields.items():
        cells = [_describe_values([getattr(c, f) for c in configs[prof]]) for prof in PROFILES]
        lines.append(f"    {f:<{width}}{typ:<14}" + "".join(f"{c:<16}" for c in cells))
    return lines


def _describe_values(values: list) -> str:
    distinct = list(dict.fromkeys(repr(v) if isinstance(v, float) or v == "" else str(v) for v in values))
    if len(distinct) == 1:
        return distinct[0]
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) == len(values):
        return f"{min(numbers):g}..{max(numbers):g}*"
    return "by problem*"
