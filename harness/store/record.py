"""The cell record: the one type a cell (or an executor, for a cell that produced none) writes and the
store, tables, figures and reports read.

`CellRecord.to_json()` is the JSON of `RUN/cells/<cell id>.json`; `CellRecord.from_json(data, stem)`
is its inverse and its validation: anything that is not a record of that shape (and, with `stem`, of
that cell) raises `DamagedRecord` with a one-line reason, and the store sets the file aside.

The file is strict JSON (RFC 8259, what JSON.parse and jq read): a non-finite float (a certificate's
infinite bound, a NaN standard error) is written as the string "Infinity", "-Infinity" or "NaN"
(`NON_FINITE`). Reading turns these three strings back into floats wherever a record holds numbers:
in rows and certificate rows (every field but `metric`, `reference` and `certificate`), wall_time,
info, curves, config, solve_s and total_s; there a string with one of these three values reads as the
float. Records written before, with bare Infinity and NaN, still load.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from infra.rows import CertificateRow, FloorDistribution, MetricRow

from harness.store.identity import cell_id, label as overrides_label

STATUSES = ("ok", "failed")
#: how a non-finite float is written in a record (see the module docstring)
NON_FINITE = {"Infinity": math.inf, "-Infinity": -math.inf, "NaN": math.nan}
#: the record fields whose non-finite floats are written as NON_FINITE strings and read back
_NUMERIC_FIELDS = ("rows", "certificates", "wall_time", "info", "curves", "config", "solve_s", "solve_cpu_s",
                   "total_s")
#: keys of rows and certificate rows that hold text, never a number
_TEXT_KEYS = frozenset({"metric", "reference", "certificate"})


class DamagedRecord(ValueError):
    """A cell record that cannot be trusted: unreadable, truncated, not JSON, or of the wrong shape."""


def is_number(x) -> bool:
    """A JSON number (int or float, not bool)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


@dataclass(frozen=True)
class CellRecord:
    """One cell's outcome.

    rows: metric rows {t, metric, value, reference} (long format); wall_time: {phase: seconds} of the
    solver's phases and 'evaluation'; solve_s: the cost on a work-precision axis
    (`harness.execute.run_cell.solve_seconds`); solve_cpu_s: the CPU seconds the cell's thread spent in the solver's
    run (`time.thread_time`, one torch thread a cell: what the method cost however loaded the machine; None for a
    trained solver, whose training may have run elsewhere, on a GPU, for a failed cell and in records before it); total_s: the cell's whole wall time; certificates: rows of
    `certificates.certify`; floors: the floor distributions (infra.rows.FloorDistribution as JSON) of its metrics
    with a null law (records written before issue 40 have none); warnings: one line per absurd metric value; error/traceback: why a
    failed cell failed; *_error: a part that failed without failing the cell.
    peak_rss_mb: the resident-set peak (MiB) of the process that ran the cell, `harness.execute.resources`: in a
    worker process that ran cells before, the process's peak so far, an upper bound of the cell's; gpu_peak_mb: the
    CUDA memory peak (MiB) allocated during the cell (None where the cell used no CUDA); kernels: {kernel name: calls}
    of the drift and blob-score kernels the cell used (`problems.particle_drift.usage`). Records written before
    issue 44 have none of these three (None, None, {}).
    """

    solver: str
    problem: str
    seed: int
    cell_id: str
    profile: str
    status: str
    overrides: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    rows: list = field(default_factory=list)
    wall_time: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    curves: dict = field(default_factory=dict)
    solve_s: float | None = None
    solve_cpu_s: float | None = None
    total_s: float | None = None
    warnings: list = field(default_factory=list)
    certificates: list = field(default_factory=list)
    floors: list = field(default_factory=list)
    error: str = ""
    traceback: str = ""
    certificates_error: str = ""
    diagnostics_error: str = ""
    peak_rss_mb: float | None = None
    gpu_peak_mb: float | None = None
    kernels: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def key(self) -> dict:
        """The identity columns of every table row: solver, problem, seed and the override label."""
        return {"solver": self.solver, "problem": self.problem, "seed": self.seed,
                "overrides": overrides_label(sorted(self.overrides.items()))}

    @classmethod
    def failed(cls, cell, profile: str, error: str, **fields) -> "CellRecord":
        """A 'failed' record of `cell` (a harness.plan.cell.Cell) with its one-line `error`."""
        return cls(cell.solver, cell.problem, cell.seed, cell.id, profile, "failed", overrides=dict(cell.overrides),
                   error=error, **fields)

    def to_json(self) -> dict:
        """The record as a strict JSON object (non-finite floats as NON_FINITE strings); empty optional fields
        are left out (the files read as before)."""
        keep = _REQUIRED + _KEPT_EMPTY[self.status]
        return {f.name: encode_non_finite(getattr(self, f.name)) for f in dataclasses.fields(self)
                if f.name in keep or getattr(self, f.name) not in ("", None, [], {})}

    @classmethod
    def from_json(cls, data, stem: str | None = None) -> "CellRecord":
        """The record a JSON object holds (of file stem `stem` if given); DamagedRecord with the reason if it
        is not one. NON_FINITE strings in the numeric fields are read as the floats they stand for."""
        if isinstance(data, dict):
            try:
                data = {k: _decode_non_finite(v) if k in _NUMERIC_FIELDS else v for k, v in data.items()}
            except RecursionError:
                raise DamagedRecord("nested too deeply") from None
        _validate(data, stem)
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs.setdefault("cell_id", stem or cell_id(data["solver"], data["problem"], data["seed"],
                                                     tuple(data.get("overrides", {}).items())))
        kwargs.setdefault("profile", "")
        for key in ("solve_s", "solve_cpu_s", "total_s", "peak_rss_mb", "gpu_peak_mb"):
            if key in kwargs and kwargs[key] is not None:
                kwargs[key] = float(kwargs[key])
        return cls(**kwargs)


def encode_non_finite(value):
    """`value` (a JSON-like tree of dicts, lists, tuples and scalars) with every non-finite float replaced by
    its NON_FINITE string, so that json.dumps(..., allow_nan=False) writes it."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: encode_non_finite(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(encode_non_finite(v) for v in value)
    if isinstance(value, list):
        return [encode_non_finite(v) for v in value]
    return value


def _decode_non_finite(value):
    """The inverse of encode_non_finite in a numeric field: NON_FINITE strings back to floats (not under the
    text keys of a row)."""
    if isinstance(value, str):
        return NON_FINITE.get(value, value)
    if isinstance(value, dict):
        return {k: v if k in _TEXT_KEYS else _decode_non_finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_non_finite(v) for v in value]
    return value


_REQUIRED = ("solver", "problem", "seed", "overrides", "cell_id", "profile", "status")
#: fields an ok record writes even when empty (as run_cell always did)
_KEPT_EMPTY = {"ok": ("config", "rows", "wall_time", "info", "curves", "warnings"), "failed": ()}


def _validate(rec, stem: str | None) -> None:
    """DamagedRecord unless `rec` has the shape CellRecord.to_json writes (and belongs to file stem `stem`)."""
    if not isinstance(rec, dict):
        raise DamagedRecord(f"a JSON {type(rec).__name__}, not a record")
    for key, kind in (("solver", str), ("problem", str), ("status", str)):
        if not isinstance(rec.get(key), kind):
            raise DamagedRecord(f"field {key!r} missing or not a {kind.__name__}")
    if not isinstance(rec.get("seed"), int) or isinstance(rec.get("seed"), bool) or rec["seed"] < 0:
        raise DamagedRecord("field 'seed' missing or not a non-negative int")
    if not isinstance(rec.get("overrides", {}), dict):
        raise DamagedRecord("field 'overrides' is not an object")
    if rec["status"] not in STATUSES:
        raise DamagedRecord(f"status {rec['status']!r} is neither 'ok' nor 'failed'")
    for key in ("cell_id", "profile", "error", "traceback", "certificates_error", "diagnostics_error"):
        if not isinstance(rec.get(key, ""), str):
            raise DamagedRecord(f"field {key!r} is not a string")
    for key in ("peak_rss_mb", "gpu_peak_mb", "solve_cpu_s", "solve_s", "total_s"):  # failed records too
        if rec.get(key) is not None and not is_number(rec[key]):
            raise DamagedRecord(f"field {key!r} is not a number")
    _check_not_negative(rec)
    kernels = rec.get("kernels", {})
    if not isinstance(kernels, dict) or not all(isinstance(k, str) and isinstance(n, int) and not isinstance(n, bool)
                                                for k, n in kernels.items()):
        raise DamagedRecord("'kernels' is not an object {kernel name: calls}")
    if stem is not None:
        own = cell_id(rec["solver"], rec["problem"], rec["seed"], tuple(rec.get("overrides", {}).items()))
        if own != stem:
            raise DamagedRecord(f"it describes cell {own!r}, not {stem!r}")
    if rec["status"] == "failed":
        return
    _check_rows(rec.get("rows"), "rows", MetricRow.from_json, "{t, metric, value}")
    for key in ("wall_time", "info", "config", "curves"):
        if not isinstance(rec.get(key, {}), dict):
            raise DamagedRecord(f"field {key!r} is not an object")
    if not all(is_number(v) for v in rec.get("wall_time", {}).values()):
        raise DamagedRecord("'wall_time' holds a non-number")
    _check_rows(rec.get("certificates", []), "certificates", CertificateRow.validate_json, "certificate rows")
    _check_rows(rec.get("floors", []), "floors", FloorDistribution.from_json, "floor distributions")
    for key in ("total_s", "solve_s"):
        if key in rec and not is_number(rec[key]):
            raise DamagedRecord(f"field {key!r} is not a number")
    _check_values(rec)
    if not isinstance(rec.get("warnings", []), list) or not all(isinstance(w, str) for w in rec.get("warnings", [])):
        raise DamagedRecord("'warnings' is not a list of strings")
    if not all(isinstance(v, (int, float, str, bool, type(None))) or isinstance(v, (list, tuple))
               for v in rec.get("config", {}).values()):
        raise DamagedRecord("'config' holds a value that is not a scalar or a list")


def _check_not_negative(rec: dict) -> None:
    """DamagedRecord if a duration or a memory peak of `rec` is negative or not finite (no run takes -3 s or
    forever: a record that says so was not written by the harness, and its numbers are not reported as they are)."""
    named = {key: rec.get(key) for key in ("solve_s", "solve_cpu_s", "total_s", "peak_rss_mb", "gpu_peak_mb")}
    wall = rec.get("wall_time")
    named.update({f"wall_time.{k}": v for k, v in wall.items()} if isinstance(wall, dict) else {})
    for key, value in named.items():
        if is_number(value) and not 0 <= float(value) < math.inf:
            raise DamagedRecord(f"field {key!r} is {value}: a duration or memory peak is a finite number >= 0")


def _check_values(rec: dict) -> None:
    """DamagedRecord naming the first row of `rec` whose value lies outside its metric's declared domain
    (metrics.specs.MetricSpec.domain: a W1 of -5 is not a measurement; the PINN-PM diagnostics declare theirs in
    certificates.diagnostics; a metric not registered, a plugin's, is any number), or the first certificate row with a
    number outside its certificate's declared domain or a NaN ratio where bound / observed is a number
    (certificates.domains). A row's time is finite (infra.rows); whether it lies in the problem's [t0, T] is the
    trust check's (harness.plan.trust), which builds the problem."""
    from metrics.specs import METRICS  # the registries that own them (lazy: the store imports no torch)
    import certificates.diagnostics  # noqa: F401  (registers the diagnostic metrics with their domains)
    from certificates.domains import out_of_domain
    for row in rec.get("rows", []):
        spec = METRICS.get(row["metric"])
        why = spec.out_of_domain(row["value"]) if spec is not None else None
        if why:
            raise DamagedRecord(f"row {row['metric']!r} at t = {row['t']}: {why}")
    for row in rec.get("certificates", []):
        why = out_of_domain(row)
        if why:
            raise DamagedRecord(why)


def _check_rows(value, name: str, check, what: str) -> None:
    """DamagedRecord unless `value` is a list whose every item `check` accepts (it raises ValueError)."""
    if not isinstance(value, list):
        raise DamagedRecord(f"{name!r} is not a list of {what}")
    for item in value:
        try:
            check(item)
        except ValueError as exc:
            raise DamagedRecord(f"{name!r} is not a list of {what}: {exc}") from None
