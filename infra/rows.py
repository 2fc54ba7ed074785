"""The rows a cell produces, one declared type each: a metric value (`MetricRow`) and a certificate evaluation
(`CertificateRow`). Producers (harness.execute.evaluate, certificates) build them here, the cell record
(harness/store/record.py) stores their `to_json()` and validates what it reads with `from_json`, so a row is
assembled in one place and checked in one place. They live in the bottom layer because both the certificates
package and the harness produce them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_time(data: dict, what: str) -> None:
    """ValueError unless data['t'] (a number) is finite: every row is at a time of the problem's [t0, T] (whether it
    lies in that interval is checked where the problem is known, harness.plan.trust)."""
    if not math.isfinite(data["t"]):
        raise ValueError(f"{what} has t = {data['t']}: a time is a finite number")


@dataclass(frozen=True)
class MetricRow:
    """One metric value at one snapshot time: t, metric (a registered name), value, and reference (what it was
    measured against: 'exact', 'sde', 'grid', 'radial', or '' for none)."""

    t: float
    metric: str
    value: float
    reference: str = ""

    def to_json(self) -> dict:
        return {"t": float(self.t), "metric": self.metric, "value": float(self.value), "reference": self.reference}

    @classmethod
    def from_json(cls, data) -> "MetricRow":
        """The row a JSON object holds; ValueError naming what is wrong otherwise (a missing 'reference' reads
        as '', as rows written before it existed)."""
        if not (isinstance(data, dict) and _number(data.get("t")) and isinstance(data.get("metric"), str)
                and _number(data.get("value"))):
            raise ValueError("not a metric row {t, metric, value}")
        _check_time(data, f"metric row {data['metric']!r}")
        if not isinstance(data.get("reference", ""), str):
            raise ValueError(f"metric row {data['metric']!r}: 'reference' is not a string")
        return cls(float(data["t"]), data["metric"], float(data["value"]), data.get("reference", ""))


#: the numeric fields of a certificate row
CERTIFICATE_NUMBERS = ("bound", "observed", "ratio", "log10_bound", "mc_se")


@dataclass(frozen=True)
class CertificateRow:
    """One certificate (paper Lemma 2, Theorems 2, 4, 5, 6) at one time: its bound, the observed error, ratio =
    bound / observed (inf when observed is 0 and the bound is not), holds (bound >= observed unless the
    certificate states its own test), log10_bound (finite where the bound over- or underflows), on_snapshot
    (t is a snapshot time), mc_se (the Monte Carlo standard error where one applies, else NaN) and the
    constants the bound used ({name: number}, written beside the fields)."""

    t: float
    certificate: str
    bound: float
    observed: float
    holds: bool | None = None
    log10_bound: float | None = None
    on_snapshot: bool = False
    mc_se: float = math.nan
    constants: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        if self.observed > 0:
            return self.bound / self.observed
        return math.inf if self.bound > 0 else math.nan

    def to_json(self) -> dict:
        """The row as the record stores it (the constants flattened after the fields)."""
        log10_bound = self.log10_bound if self.log10_bound is not None else (
            math.log10(self.bound) if self.bound > 0 else -math.inf)
        holds = bool(self.bound >= self.observed) if self.holds is None else bool(self.holds)
        return {"t": float(self.t), "certificate": self.certificate, "bound": float(self.bound),
                "observed": float(self.observed), "ratio": float(self.ratio), "holds": holds,
                "log10_bound": float(log10_bound), "on_snapshot": bool(self.on_snapshot), "mc_se": float(self.mc_se),
                **self.constants}

    @classmethod
    def validate_json(cls, data) -> None:
        """ValueError naming the field unless `data` is a certificate row as to_json writes it (rows written
        before some fields existed may lack them)."""
        if not (isinstance(data, dict) and _number(data.get("t")) and isinstance(data.get("certificate"), str)):
            raise ValueError("not a certificate row {t, certificate, ...}")
        _check_time(data, f"certificate row {data['certificate']!r}")
        bad = [k for k in CERTIFICATE_NUMBERS if k in data and not _number(data[k])]
        if bad or not isinstance(data.get("holds", True), bool):
            raise ValueError(f"certificate row {data['certificate']!r} has a non-number {bad[0] if bad else 'holds'}")
        if data.get("mc_se", 0.0) < 0:  # NaN (no Monte Carlo error) passes
            raise ValueError(f"certificate row {data['certificate']!r} has mc_se = {data['mc_se']}: a standard error "
                             f"is >= 0")


@dataclass(frozen=True)
class FloorDistribution:
    """A metric's floor as a distribution (issue 40): the metric's value for R independent draws of exact (or
    reference) samples of the cell's n at time t, i.e. what the measurement gives for a solver with no error.

    t: snapshot time; metric: the measured metric ('w1'); floor: its Monte Carlo floor metric ('w1_mc_floor'),
    whose table value is `mean`; n: particles a side; values: (R,) the R draws; reference: what the draws came
    from ('exact', 'sde', ...). mean = (1/R) sum values (the denominator of every '/floor' ratio), se = sd / sqrt(R)
    its standard error."""

    t: float
    metric: str
    floor: str
    n: int
    values: tuple
    reference: str = ""

    @property
    def pairs(self) -> int:
        """R, the number of draws."""
        return len(self.values)

    @property
    def mean(self) -> float:
        """(1/R) sum_r values_r: the floor."""
        return math.fsum(self.values) / len(self.values)

    @property
    def se(self) -> float:
        """sd(values) / sqrt(R) (sd with ddof 1): the floor's standard error; NaN for R < 2."""
        r = len(self.values)
        if r < 2:
            return math.nan
        m = self.mean
        return math.sqrt(math.fsum((v - m) ** 2 for v in self.values) / (r - 1) / r)

    def to_json(self) -> dict:
        return {"t": float(self.t), "metric": self.metric, "floor": self.floor, "n": int(self.n),
                "values": [float(v) for v in self.values], "reference": self.reference}

    @classmethod
    def from_json(cls, data) -> "FloorDistribution":
        """The distribution a JSON object holds; ValueError naming what is wrong otherwise (no draws, a draw that
        is not a finite non-negative number, a non-positive n)."""
        if not (isinstance(data, dict) and _number(data.get("t")) and isinstance(data.get("metric"), str)
                and isinstance(data.get("floor"), str)):
            raise ValueError("not a floor distribution {t, metric, floor, n, values}")
        _check_time(data, f"floor distribution of {data['metric']!r}")
        n, values = data.get("n"), data.get("values")
        if not (isinstance(n, int) and not isinstance(n, bool) and n > 0):
            raise ValueError(f"floor distribution of {data['metric']!r}: n = {n!r} is not a positive int")
        if not (isinstance(values, list) and values
                and all(_number(v) and math.isfinite(v) and v >= 0 for v in values)):
            raise ValueError(f"floor distribution of {data['metric']!r}: 'values' is not a non-empty list of finite "
                             f"non-negative numbers")
        if not isinstance(data.get("reference", ""), str):
            raise ValueError(f"floor distribution of {data['metric']!r}: 'reference' is not a string")
        return cls(float(data["t"]), data["metric"], data["floor"], n, tuple(float(v) for v in values),
                   data.get("reference", ""))
