"""A stored number that no measurement can give is never reported as a number (issue 44's probe: a record with
W1 = -5, solve_s = -3 or t = 1e300 was reported as it was).

The principle, tested as a property over every numeric field a record's readers report: a record whose field holds
a value outside what that field can hold (a metric value outside its metric's declared domain, metrics.specs
`MetricSpec.domain`, the PINN-PM diagnostics' among them; a certificate's bound, observed error or ratio outside its
declared domain, certificates.domains, or a NaN ratio where bound / observed is a number; a time outside the problem's [t0, T]; a negative or infinite duration or memory peak; a
negative standard error or floor draw) is refused by the store (DamagedRecord, set aside) or not trusted by the
trust check (harness.plan.trust, left out with one line), and a record whose every field holds a possible value is
accepted.
"""
import json
import math

import certificates.diagnostics  # noqa: F401  (registers the diagnostic metrics: every metric is in the records)
import pytest
from hypothesis import given, settings, strategies as st

from harness.plan.trust import record_mismatch
from harness.report.rebuild import trusted_records
from harness.store.record import CellRecord, DamagedRecord, encode_non_finite
from harness.store.tables import load_records, set_aside_records
from infra.rows import CertificateRow, FloorDistribution
from metrics.specs import METRICS

STEM = "sbp__bkw2d__seed0"
T0, T = 0.0, 5.0  # bkw2d's [t0, T]
SLACK = 1e-9 * T  # the trust check's rounding slack, relative to max(1, |t0|, |T|)


def _in_time(v):
    return T0 - SLACK <= v <= T + SLACK


def good_record() -> dict:
    """An ok record of sbp on bkw2d with one row of every registered metric (value 0.5, -0.5 for a non-positive one:
    in its domain), two certificate rows (lemma2, whose bound has any sign, and thm5_w1, whose bound is >= 0) and one
    floor distribution at t = 2.5, and its durations and memory peaks."""
    rows = [{"t": 2.5, "metric": name, "value": -0.5 if spec.domain == "non_positive" else 0.5, "reference": ""}
            for name, spec in METRICS.items()]
    return CellRecord("sbp", "bkw2d", 0, STEM, "smoke", "ok", rows=rows,
                      certificates=[CertificateRow(2.5, "lemma2", 0.3, 0.2, mc_se=0.01).to_json(),
                                    CertificateRow(2.5, "thm5_w1", 0.3, 0.2).to_json()],
                      floors=[FloorDistribution(2.5, "w1", "w1_mc_floor", 300, (0.1, 0.2)).to_json()],
                      wall_time={"setup": 0.1, "stepping": 2.0, "evaluation": 0.3}, solve_s=2.0, total_s=2.5,
                      solve_cpu_s=1.9, peak_rss_mb=300.0, gpu_peak_mb=10.0).to_json()


def _non_negative(v):
    return math.isnan(v) or v >= 0


#: the values each domain holds, written out here (not read from metrics.specs) so that a wrong predicate there fails
DOMAIN_HOLDS = {"non_negative": _non_negative, "fraction": lambda v: math.isnan(v) or 0 <= v <= 1,
                "non_positive": lambda v: math.isnan(v) or v <= 0, "real": lambda v: True}
#: what each certificate column of the good record's two rows can hold, written out here (certificates.domains
#: declares them): lemma2's bound is a Monte Carlo difference of two losses (any sign), so its ratio has any sign; a
#: ratio is a number wherever bound / observed is (both rows: 0.3 / 0.2)
CERTIFICATE_HOLDS = {
    0: {"bound": lambda v: True, "observed": _non_negative, "ratio": lambda v: not math.isnan(v)},
    1: {"bound": _non_negative, "observed": _non_negative, "ratio": lambda v: not math.isnan(v) and v >= 0},
}


def fields(record: dict):
    """(path, holds) for every numeric field of `record` that a report reads: path a tuple of keys into the JSON,
    holds(value) whether the field can hold that float."""
    for i, row in enumerate(record["rows"]):
        yield ("rows", i, "t"), _in_time
        yield ("rows", i, "value"), DOMAIN_HOLDS[METRICS[row["metric"]].domain]
    for i, holds in CERTIFICATE_HOLDS.items():
        yield ("certificates", i, "t"), _in_time
        yield ("certificates", i, "mc_se"), _non_negative  # NaN: no Monte Carlo error
        yield ("certificates", i, "log10_bound"), lambda v: True  # -inf for a bound of 0
        for name, column_holds in holds.items():
            yield ("certificates", i, name), column_holds
    yield ("floors", 0, "t"), _in_time
    for j in range(2):
        yield ("floors", 0, "values", j), lambda v: 0 <= v < math.inf
    for phase in record["wall_time"]:
        yield ("wall_time", phase), lambda v: 0 <= v < math.inf
    for name in ("solve_s", "solve_cpu_s", "total_s", "peak_rss_mb", "gpu_peak_mb"):
        yield (name,), lambda v: 0 <= v < math.inf


FIELDS = list(fields(good_record()))


def accepted(data: dict) -> bool:
    """Whether the record survives what `report` and `--resume` do with it: read from its strict JSON (the store's
    validation) and trusted as a record of its cell in a smoke run (harness.plan.trust)."""
    text = json.dumps(encode_non_finite(data), allow_nan=False)
    try:
        rec = CellRecord.from_json(json.loads(text), STEM)
    except DamagedRecord:
        return False
    return record_mismatch(rec, "smoke") is None


def with_value(data: dict, path: tuple, value: float) -> dict:
    data = json.loads(json.dumps(data))
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


absurd = st.sampled_from([-5.0, -3.0, 1e300, -1e300, -1e-300, 5.000001, 1.5, math.inf, -math.inf, math.nan])
values = st.one_of(absurd, st.floats(width=64), st.floats(-1.0, 6.0))


def test_the_good_record_is_accepted():
    assert accepted(good_record())
    # every metric's t and value, 2 x 6 certificate fields, 3 floor fields, 3 phases, 5 run fields
    assert len(list(fields(good_record()))) == 2 * len(METRICS) + 23


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(FIELDS), value=values)
def test_a_record_is_accepted_exactly_when_every_field_holds_a_possible_value(field, value):
    path, holds = field
    assert accepted(with_value(good_record(), path, value)) == holds(value), (path, value)


def test_every_accuracy_metric_and_floor_declares_a_bounded_domain():
    """An error against the truth, and the floor it is measured against, cannot be negative: their domain says so."""
    for spec in METRICS.values():
        if "accuracy" in spec.roles or spec.is_floor or spec.absurd == "floor":
            assert spec.domain in ("non_negative", "fraction"), spec.name
            assert spec.out_of_domain(-5.0) is not None and spec.out_of_domain(0.0) is None, spec.name


def test_the_probes_records_are_set_aside_or_left_out_with_one_line_each(tmp_path, capsys):
    """W1 = -5, solve_s = -3, t = 1e300 (issue 44's probe) in three cells of a run: none is reported, each is named."""
    (tmp_path / "cells").mkdir()
    probes = {"w1": ("rows", list(METRICS).index("w1"), "value", -5.0), "solve": ("solve_s", -3.0),
              "time": ("rows", 0, "t", 1e300)}
    for seed, (name, change) in enumerate(probes.items()):
        stem = f"sbp__bkw2d__seed{seed}"
        data = with_value({**good_record(), "seed": seed, "cell_id": stem}, change[:-1], change[-1])
        (tmp_path / "cells" / f"{stem}.json").write_text(json.dumps(encode_non_finite(data)))
    kept = trusted_records(load_records(tmp_path), "smoke")
    err = capsys.readouterr().err
    assert kept == []
    assert set_aside_records(tmp_path) == ["sbp__bkw2d__seed0.json.corrupt", "sbp__bkw2d__seed1.json.corrupt"]
    assert "'w1' at t = 2.5: w1 = -5.0 is not >= 0" in err and "'solve_s' is -3.0" in err
    assert ("cell record sbp__bkw2d__seed2.json is not reported: its row 'kinetic_energy' is at t = 1e+300, "
            "outside bkw2d's [t0, T] = [0, 5]") in err
    assert len(err.strip().splitlines()) == 3


def _write_run(run, probe=None):
    """A finished run of sbp and blob on bkw2d seed 0 (good_record) with its manifest and tables; `probe` (path...,
    value) then edits sbp's stored record as issue 44's probe did, after the tables were written."""
    from harness.store import tables as store
    (run / "cells").mkdir(parents=True)
    store.write_cell(run, CellRecord.from_json(good_record(), STEM))
    store.write_cell(run, CellRecord.from_json({**good_record(), "solver": "blob", "cell_id": "blob__bkw2d__seed0"}))
    store.atomic_write_text(run / "manifest.json", json.dumps({"config": {"profile": "smoke"},
                                                               "cells": [["sbp", "bkw2d", 0, {}],
                                                                         ["blob", "bkw2d", 0, {}]]}))
    metrics, timings, _ = store.collect_tables(run)
    store.atomic_write_frame(metrics, run / "metrics.parquet")
    store.atomic_write_frame(timings, run / "timings.csv")
    if probe:
        data = with_value(good_record(), probe[:-1], probe[-1])
        (run / "cells" / f"{STEM}.json").write_text(json.dumps(encode_non_finite(data)))
    return run


def test_compare_never_compares_a_probes_number(tmp_path, capsys):
    """`compare` reads the records too (its staleness check and cell statuses): B's absurd record is named in one
    line and its cell counts as missing in B (exit 1), never compared as a number."""
    from harness.cli import main
    a = _write_run(tmp_path / "a")
    w1 = list(METRICS).index("w1")
    for k, probe in enumerate([("rows", w1, "value", -5.0), ("solve_s", -3.0), ("rows", w1, "t", 1e300)]):
        b = _write_run(tmp_path / f"b{k}", probe)
        capsys.readouterr()
        code = main(["compare", str(a), str(b)])
        out = capsys.readouterr()
        warnings = [line for line in out.err.splitlines() if line.startswith("warning:")]
        assert code == 1 and len(warnings) == 1 and f"{STEM}.json" in warnings[0], (probe, out.err)
        assert "-5" not in out.out and "1e+300" not in out.out, probe


def test_every_diagnostic_metric_and_registered_certificate_declares_its_domain():
    """The PINN-PM diagnostics and every certificate's numbers have a declared domain (certificates.domains): an
    error ratio or a bound cannot be negative, minus a mean square cannot be positive."""
    from certificates import A_POSTERIORI, CERTIFICATES, DIAGNOSTIC_METRICS
    from certificates.domains import column_domains
    assert {name: METRICS[name].domain for name in DIAGNOSTIC_METRICS} == {
        "residual_to_signal": "non_negative", "residual_to_exact": "non_negative", "score_rel_err": "non_negative",
        "drift_rel_err": "non_negative", "ism_flow": "real", "ism_min": "non_positive"}
    for name in (*CERTIFICATES, *A_POSTERIORI):
        assert set(column_domains(name)) == {"bound", "observed", "ratio", "log10_bound"}, name
    assert column_domains("thm5_w1")["bound"] == "non_negative" and column_domains("w2_residual:proved") == \
        column_domains("w2_residual")
    assert column_domains("a_plugins_certificate") == {"bound": "real", "observed": "real", "ratio": "real",
                                                       "log10_bound": "real"}


#: issue 44's absurd numbers in the diagnostics and certificate columns: (path..., value, what the one line says)
COLUMN_PROBES = [
    (("certificates", 1, "bound", -5.0), "certificate 'thm5_w1' at t = 2.5: bound = -5.0 is not >= 0"),
    (("certificates", 0, "ratio", math.nan), "certificate 'lemma2' at t = 2.5: ratio is NaN where bound / observed"),
    (("rows", list(METRICS).index("score_rel_err"), "value", -1.0), "score_rel_err = -1.0 is not >= 0"),
    (("rows", list(METRICS).index("ism_min"), "value", 0.5), "ism_min = 0.5 is not <= 0"),
]


@pytest.mark.parametrize("probe, said", COLUMN_PROBES)
def test_report_and_compare_name_an_absurd_certificate_or_diagnostic_number_in_one_line(tmp_path, capsys, probe,
                                                                                      said):
    from harness.cli import main
    a = _write_run(tmp_path / "a")
    b = _write_run(tmp_path / "b", probe)
    capsys.readouterr()
    code = main(["compare", str(a), str(b)])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert code == 1 and len(err) == 1 and f"{STEM}.json" in err[0] and said in err[0], err
    assert main(["report", str(b)]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if STEM in line]
    assert len(err) == 1 and said in err[0], err


@pytest.mark.parametrize("status", ["ok", "failed"])
@pytest.mark.parametrize("key", ["solve_cpu_s", "solve_s", "total_s", "peak_rss_mb"])
def test_a_duration_that_is_not_a_number_is_named_in_any_record(status, key):
    """A text where a duration or peak belongs makes the record damaged, naming that field, in a failed record too
    (it was a ValueError from float() there, which crashed report and compare)."""
    data = {**good_record(), "status": status, "error": "boom" if status == "failed" else "", key: "x"}
    with pytest.raises(DamagedRecord, match=f"field '{key}' is not a number"):
        CellRecord.from_json(data, STEM)
