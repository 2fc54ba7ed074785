"""`--set FIELD=V1,V2,...`, `--set SOLVER.FIELD=...` and `--set PROBLEM.FIELD=...`: config overrides and grids.

A `PROBLEM.FIELD` option sets a constant of the problem (e.g. `--set bkw2d.C=0.125`): it applies to that
problem's cells only, is kept in the cell's overrides under the key `PROBLEM.FIELD` (so it is part of the
cell id and the `overrides` column), and the problem's exact solution and reference follow it (the
reference cache keys on every constant). `problem_fields` lists the settable constants.

A value list is a grid (one cell per value); several `--set` options make the cartesian product.
An untargeted `--set n=...` applies to every selected solver whose config has a field `n`; a
targeted `--set sbp.n=...` to that solver only (and wins over an untargeted one). Values are
parsed to the field's type (int, float, bool, str, or `X | None` with `none`); a field whose
dataclass default is positive, or that the config lists in `POSITIVE`, must stay positive, one whose
default is 0 must stay >= 0; a field with a declared `CHOICES` entry (or
named `dtype`) must take one of them. Every mistake is an `OverrideError` with a one-line
message naming the bad value and the valid ones.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import types
import typing
from dataclasses import dataclass

from harness.store.identity import format_value, label  # noqa: F401  (a cell label is part of its identity)

DTYPES = ("float32", "float64")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


class OverrideError(ValueError):
    """A bad `--set` option: printed as one line, exit code 2."""


@dataclass(frozen=True)
class SetOption:
    """One parsed `--set`: the solver it targets (None: every solver with the field), field, raw values."""

    solver: str | None
    field: str
    values: tuple[str, ...]
    text: str


def _field_type(config_cls, name: str):
    return typing.get_type_hints(config_cls)[name]


def _scalar_kind(typ) -> tuple[type | None, bool]:
    """(int | float | bool | str or None if not settable, optional?) of a field's type annotation."""
    optional = False
    if typing.get_origin(typ) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        optional = len(args) < len(typing.get_args(typ))
        typ = args[0] if len(args) == 1 else None
    return (typ if typ in (int, float, bool, str) else None), optional


def settable_fields(solver_cls) -> dict[str, str]:
    """{field: type name} of the scalar fields of a solver's config (the ones `--set` can change)."""
    cfg = solver_cls.Config  # a frozen dataclass (solvers.config.check_config_class at registration)
    out = {}
    for f in dataclasses.fields(cfg):
        kind, optional = _scalar_kind(_field_type(cfg, f.name))
        if kind is not None:
            out[f.name] = kind.__name__ + (" | None" if optional else "")
    return out


def choices(solver_cls, field: str) -> tuple | None:
    """The allowed values of a str field (the config's CHOICES, or float32/float64 for `dtype`), or None."""
    declared = getattr(solver_cls.Config, "CHOICES", {}) or {}
    if field in declared:
        return tuple(declared[field])
    return DTYPES if field == "dtype" else None


def parse_value(solver_cls, field: str, text: str, sign_rules: bool = True):
    """`text` parsed to the type of `solver_cls.Config.field`; OverrideError if it does not fit (`sign_rules`:
    a positive default must stay positive, a zero default non-negative)."""
    kind, optional = _scalar_kind(_field_type(solver_cls.Config, field))
    where = f"field {field} of {solver_cls.name}"
    raw = text.strip()
    if optional and raw.lower() == "none":
        return None
    try:
        if kind is bool:
            if raw.lower() not in _TRUE + _FALSE:
                raise ValueError
            value = raw.lower() in _TRUE
        elif kind is int:
            number = float(raw.replace("_", ""))
            if not number.is_integer():
                raise ValueError
            value = int(number)
        elif kind is float:
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
        else:
            value = raw
    except ValueError:
        expected = {bool: "true or false", int: "an integer", float: "a finite number"}[kind]
        raise OverrideError(f"--set {field}={text!r}: expected {expected} for {where}") from None
    allowed = choices(solver_cls, field) if kind is str else None
    if allowed is not None and value not in allowed:
        raise OverrideError(f"--set {field}={text!r}: not a valid {where}; valid values: {', '.join(map(repr, allowed))}")
    default = next(f.default for f in dataclasses.fields(solver_cls.Config) if f.name == field)
    positive = field in (getattr(solver_cls.Config, "POSITIVE", ()) or ())
    if sign_rules and kind in (int, float) and value is not None and not isinstance(value, bool):
        if (positive or (isinstance(default, (int, float)) and default > 0)) and value <= 0:
            raise OverrideError(f"--set {field}={text!r}: {where} must be > 0")
        if isinstance(default, (int, float)) and default == 0 and value < 0:
            raise OverrideError(f"--set {field}={text!r}: {where} must be >= 0")
    return value


def parse_set_options(texts: list[str]) -> list[SetOption]:
    """Split each `[SOLVER.]FIELD=V1,V2` into a SetOption (syntax only; names are checked by `grids`)."""
    out = []
    for text in texts:
        key, sep, values = text.partition("=")
        key = key.strip()
        vals = tuple(v.strip() for v in values.split(","))
        if not sep or not key or any(v == "" for v in vals):
            raise OverrideError(f"malformed --set {text!r}; expected FIELD=V1,V2,... or SOLVER.FIELD=V1,V2,...")
        solver, _, field = key.rpartition(".")
        out.append(SetOption(solver or None, field, vals, text))
    return out


def grids(options: list[SetOption], solver_classes: dict[str, type]) -> dict[str, list[tuple[tuple[str, object], ...]]]:
    """{solver: [overrides, ...]}: the cartesian product of the options that apply to each selected solver.

    overrides is a tuple of (field, value) pairs sorted by field; a solver no option touches gets [()].
    """
    per_solver: dict[str, dict[str, list]] = {name: {} for name in solver_classes}
    for opt in options:
        if opt.solver is not None and opt.solver not in solver_classes and _is_problem(opt.solver):
            continue  # a problem constant: problem_grids
        if opt.solver is not None:
            if opt.solver not in solver_classes and _is_solver(opt.solver):
                raise OverrideError(f"--set {opt.text!r}: solver {opt.solver!r} is not selected; "
                                    f"selected solvers: {', '.join(solver_classes)}")
            if opt.solver not in solver_classes:
                raise OverrideError(f"--set {opt.text!r}: {opt.solver!r} is neither a selected solver nor a problem; "
                                    f"selected solvers: {', '.join(solver_classes)}; problems: "
                                    f"{', '.join(_problem_names())}")
            fields = settable_fields(solver_classes[opt.solver])
            if opt.field not in fields:
                raise OverrideError(f"--set {opt.text!r}: {opt.solver} has no settable field {opt.field!r}; "
                                    f"valid fields: {', '.join(fields)}")
            targets = [opt.solver]
        else:
            targets = [s for s, cls in solver_classes.items() if opt.field in settable_fields(cls)]
            if not targets:
                valid = sorted({f for cls in solver_classes.values() for f in settable_fields(cls)})
                raise OverrideError(f"--set {opt.text!r}: no selected solver ({', '.join(solver_classes)}) has a "
                                    f"field {opt.field!r}; valid fields: {', '.join(valid)}")
        for s in targets:
            if opt.field in per_solver[s] and per_solver[s][opt.field][0] == (opt.solver is not None):
                raise OverrideError(f"--set {opt.text!r} repeats field {opt.field!r} of {s}, set by an earlier --set; "
                                    f"give one --set {opt.field}=V1,V2 for a grid")
            if opt.solver is None and opt.field in per_solver[s] and per_solver[s][opt.field][0]:
                continue  # a targeted option already set this field for this solver
            values = list(dict.fromkeys(parse_value(solver_classes[s], opt.field, v) for v in opt.values))
            per_solver[s][opt.field] = (opt.solver is not None, values)
    out = {}
    for s, fields in per_solver.items():
        names = sorted(fields)
        out[s] = [tuple(zip(names, combo)) for combo in itertools.product(*(fields[n][1] for n in names))]
    return out


# --------------------------------------------------------------------------- problem constants
#: Problem fields that are not constants a user may change (identity, dimension, derived flags)
FIXED_PROBLEM_FIELDS = ("name", "dim", "has_exact_solution", "stiff_dt", "pinn_group", "core_radius")
#: problem constants of any sign (the others keep the sign of their default: C, eta, bandwidths, sizes > 0)
SIGNED_PROBLEM_FIELDS = ("gamma", "t0")


def _problem_names() -> list[str]:
    import problems
    return problems.list_problems()


def _is_solver(name: str) -> bool:
    import solvers
    return name in solvers.list_solvers()


def _is_problem(name: str) -> bool:
    return name in _problem_names()


class _ProblemFields:
    """parse_value's view of a problem: its dataclass as the 'Config', its name."""

    def __init__(self, problem):
        self.Config, self.name = type(problem), f"problem {problem.name}"


def problem_fields(problem) -> dict[str, str]:
    """{field: type name} of a problem's settable scalar constants (C, gamma, ...; not name or dim)."""
    out = {}
    for f in dataclasses.fields(problem):
        if f.name in FIXED_PROBLEM_FIELDS or not f.init:
            continue
        kind, optional = _scalar_kind(_field_type(type(problem), f.name))
        if kind is not None and kind is not str:
            out[f.name] = kind.__name__ + (" | None" if optional else "")
    return out


def problem_grids(options: list[SetOption], problem_names: list[str]) -> dict[str, list[tuple[tuple[str, object], ...]]]:
    """{problem: [constants, ...]}: the cartesian product of the `PROBLEM.FIELD` options per selected problem,
    each constants a tuple of ('PROBLEM.FIELD', value) pairs sorted by key; a problem no option touches gets
    [()]. Every value is checked by building the problem with it (OverrideError naming the value and why)."""
    import problems
    per_problem: dict[str, dict[str, list]] = {p: {} for p in problem_names}
    for opt in options:
        if opt.solver is None or not _is_problem(opt.solver):
            continue
        if opt.solver not in per_problem:
            raise OverrideError(f"--set {opt.text!r}: problem {opt.solver!r} is not selected; selected problems: "
                                f"{', '.join(problem_names)}")
        problem = problems.get_problem(opt.solver)
        fields = problem_fields(problem)
        if opt.field not in fields:
            raise OverrideError(f"--set {opt.text!r}: {opt.solver} has no settable constant {opt.field!r}; "
                                f"valid constants: {', '.join(fields)}")
        values = list(dict.fromkeys(parse_value(_ProblemFields(problem), opt.field, v,
                                                sign_rules=opt.field not in SIGNED_PROBLEM_FIELDS)
                                    for v in opt.values))
        for value in values:
            try:
                problems.get_problem(opt.solver, **{opt.field: value})
            except (ValueError, TypeError, ArithmeticError) as exc:  # an overflow (t0 = -1e300) included
                raise OverrideError(f"--set {opt.text!r}: {opt.field}={value!r} is not a valid constant of "
                                    f"{opt.solver} ({exc})") from None
        key = f"{opt.solver}.{opt.field}"
        if key in per_problem[opt.solver]:
            raise OverrideError(f"--set {opt.text!r} repeats {key}, set by an earlier --set; give one --set "
                                f"{key}=V1,V2 for a grid")
        per_problem[opt.solver][key] = values
    out = {}
    for p, fields in per_problem.items():
        names = sorted(fields)
        out[p] = [tuple(zip(names, combo)) for combo in itertools.product(*(fields[n] for n in names))]
    return out


def split_overrides(problem: str, overrides) -> tuple[dict, dict]:
    """({solver field: value}, {problem constant: value}) of a cell's overrides; keys 'PROBLEM.FIELD' of
    the cell's own problem are its constants."""
    solver, constants = {}, {}
    prefix = problem + "."
    for k, v in overrides:
        if k.startswith(prefix):
            constants[k[len(prefix):]] = v
        else:
            solver[k] = v
    return solver, constants
