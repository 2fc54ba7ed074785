"""`--set FIELD=V1,V2,...` and `--set SOLVER.FIELD=...`: solver config overrides and their grids.

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
    cfg = solver_cls.Config
    if not dataclasses.is_dataclass(cfg):
        return {}
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


def parse_value(solver_cls, field: str, text: str):
    """`text` parsed to the type of `solver_cls.Config.field`; OverrideError if it does not fit."""
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
    if kind in (int, float) and value is not None and not isinstance(value, bool):
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
        if opt.solver is not None:
            if opt.solver not in solver_classes:
                raise OverrideError(f"--set {opt.text!r}: solver {opt.solver!r} is not selected; "
                                    f"selected solvers: {', '.join(solver_classes)}")
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
            if opt.solver is None and opt.field in per_solver[s] and per_solver[s][opt.field][0]:
                continue  # a targeted option already set this field for this solver
            values = list(dict.fromkeys(parse_value(solver_classes[s], opt.field, v) for v in opt.values))
            per_solver[s][opt.field] = (opt.solver is not None, values)
    out = {}
    for s, fields in per_solver.items():
        names = sorted(fields)
        out[s] = [tuple(zip(names, combo)) for combo in itertools.product(*(fields[n][1] for n in names))]
    return out


def format_value(value) -> str:
    """A value as it appears in a cell label (repr for floats, so 0.1 stays 0.1)."""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def label(overrides) -> str:
    """'dt=0.02,n=4000' for overrides (('dt', 0.02), ('n', 4000)); '' for none."""
    return ",".join(f"{k}={format_value(v)}" for k, v in overrides)
