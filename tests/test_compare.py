"""Issue 24: `harness compare RUN_A RUN_B` finds no regression in a re-run of the same cells and flags a
deliberately worse setting (exit 1); bad directories are one line, exit 2. RUN/index.html parses, has every
table of summary.md and every image it references exists; the marginal figures are written.

Issue 30: a cell ok in A and failed or missing in B is a regression (exit 1); failed in both or new in B is
listed, not a regression; a run without an ok cell, a damaged timings.csv, a metrics.parquet of other columns
are one line, exit 2. These tests write minimal run directories with the project's own writers (no solver runs).
"""
import json
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.store import tables as store
from harness.plan.cell import Cell
from harness.cli import main
from harness.store.record import CellRecord

CELLS = ["-s", "sbp", "-s", "blob", "-p", "bkw2d", "--profile", "smoke", "--quiet", "--jobs", "1"]


@pytest.mark.slow
def test_compare_a_rerun_is_clean_and_a_worse_setting_is_flagged(tmp_path, capsys):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert main(["run", *CELLS, "--out", str(a)]) == 0
    assert main(["run", *CELLS, "--out", str(b)]) == 0
    capsys.readouterr()
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "0 of " in out and "no regression" in out and "| sbp / bkw2d | 5 | w1 |" in out
    assert main(["run", *CELLS, "--set", "sbp.n=60", "--out", str(c)]) == 0
    capsys.readouterr()
    assert main(["compare", str(a), str(c)]) == 1
    out = capsys.readouterr().out
    worse = [line for line in out.splitlines() if line.startswith("| ") and "**worse**" in line]
    assert worse and all(line.startswith("| sbp / bkw2d (settings differ: `-` vs `n=60`)") for line in worse)
    assert not any("blob" in line for line in worse)  # blob ran the same cells: identical values
    # B better than A is not a regression
    assert main(["compare", str(c), str(a)]) == 0
    check_index_html(a)
    # issue 30's probe: B's sbp record marked failed and B's tables rebuilt; compare must not pass it
    record = json.loads((b / "cells" / "sbp__bkw2d__seed0.json").read_text())
    (b / "cells" / "sbp__bkw2d__seed0.json").write_text(json.dumps({**record, "status": "failed", "error": "x"}))
    assert main(["report", str(b)]) == 0
    capsys.readouterr()
    assert main(["compare", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert cell_table(out) == {("sbp / bkw2d", 0): ("ok", "failed: x", "**regression**")}
    assert "| blob / bkw2d | 5 | w1 |" in out and "| sbp / bkw2d | 5 | w1 |" not in out


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.images, self.open = 0, [], []

    def handle_starttag(self, tag, attrs):
        if tag in ("table", "tr", "td", "th", "thead", "tbody", "ul", "li", "p", "b", "i", "code", "h1", "h2", "h3"):
            self.open.append(tag)
        self.tables += tag == "table"
        if tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_endtag(self, tag):
        if tag in ("table", "tr", "td", "th", "thead", "tbody", "ul", "li", "p", "b", "i", "code", "h1", "h2", "h3"):
            assert self.open and self.open.pop() == tag, f"</{tag}> closes {self.open[-1:]}"


def check_index_html(run: Path) -> None:
    summary = (run / "summary.md").read_text()
    page = _Page()
    page.feed((run / "index.html").read_text())
    assert page.open == []  # every element closed in order
    md_tables = sum(1 for k, line in enumerate(summary.splitlines())
                    if line.startswith("|") and (k == 0 or not summary.splitlines()[k - 1].startswith("|")))
    assert page.tables == md_tables >= 3  # the verdict, energy and per-problem tables
    assert page.images and all((run / src).is_file() for src in page.images)
    assert "figures/bkw2d_marginals.png" in page.images and "figures/bkw2d_density2d.png" in page.images


def test_compare_refuses_missing_and_foreign_directories(tmp_path, capsys):
    (tmp_path / "plain").mkdir()
    for args in (["compare", str(tmp_path / "nope"), str(tmp_path / "plain")],
                 ["compare", str(tmp_path / "plain"), str(tmp_path / "plain")]):
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and ("is not a directory" in err or "is not a finished run directory" in err)


def write_run(run: Path, cells: dict, commit: str = "c0", provenance: dict | None = None) -> Path:
    """A minimal finished run directory at `run`: one record per {(solver, seed): w1 or 'failed'} cell on bkw2d
    (an ok cell has w1 at t = 0 and 1), manifest.json (provenance: {git_commit: commit, **provenance}), and
    metrics.parquet / timings.csv from the records."""
    run.mkdir(parents=True, exist_ok=True)
    planned = []
    for key, w1 in cells.items():
        solver, seed, overrides = (*key, ())[:3]  # (solver, seed) or (solver, seed, overrides)
        cell = Cell(solver, "bkw2d", seed, overrides)
        planned.append(cell.to_json())
        if w1 == "failed":
            rec = CellRecord.failed(cell, "smoke", f"{solver} blew up")
        else:
            rec = CellRecord(solver, "bkw2d", seed, cell.id, "smoke", "ok", overrides=dict(cell.overrides), rows=[
                {"t": t, "metric": "w1", "value": w1 * (1 + t)} for t in (0.0, 1.0)],
                wall_time={"solve": 1.0}, solve_s=1.0, total_s=1.0)
        store.write_cell(run, rec)
    manifest = {"config": {"profile": "smoke"}, "provenance": {"git_commit": commit, **(provenance or {})},
                "cells": planned}
    store.atomic_write_text(run / "manifest.json", json.dumps(manifest))
    metrics, timings, _ = store.collect_tables(run)
    store.atomic_write_frame(metrics, run / "metrics.parquet")
    store.atomic_write_frame(timings, run / "timings.csv")
    return run


def compare(capsys, a: Path, b: Path) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `harness compare a b`."""
    capsys.readouterr()
    code = main(["compare", str(a), str(b)])
    out = capsys.readouterr()
    return code, out.out, out.err


def cell_table(out: str) -> dict:
    """{(solver / problem, seed): (A, B, change)} from the table of cells not ok in both runs in compare's output."""
    lines = out.split("Cells not ok in both runs")[1].split("\n\n")[1].splitlines() if "Cells not ok" in out else []
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    return {(r[0], int(r[1])): tuple(r[2:]) for r in rows}


BASE = {("sbp", 0): 0.1, ("blob", 0): 0.2}


def test_a_cell_failed_in_b_is_a_regression(tmp_path, capsys):
    a = write_run(tmp_path / "a", BASE)
    assert compare(capsys, a, write_run(tmp_path / "same", BASE))[0] == 0
    code, out, _ = compare(capsys, a, write_run(tmp_path / "b", {**BASE, ("sbp", 0): "failed"}))
    assert code == 1
    assert cell_table(out) == {("sbp / bkw2d", 0): ("ok", "failed: sbp blew up", "**regression**")}
    assert "no regression" not in out and "1 cell ok in A is failed or missing in B" in out


def test_compare_names_each_provenance_difference_before_its_verdict_and_keeps_its_exit_code(tmp_path, capsys):
    """Issue 44: two runs of the same numbers whose manifests differ in one key (and in the host name, left out):
    one difference line, before the closing verdict line, and exit 0; a regression still exits 1."""
    same = {"cpu_model": "Xeon A", "cores": 2, "env": {"LANDAU_FUSED_MIN_N": "0"}, "host": "a"}
    a = write_run(tmp_path / "a", BASE, provenance=same)
    b = write_run(tmp_path / "b", BASE, provenance={**same, "cpu_model": "EPYC B", "host": "b"})
    code, out, _ = compare(capsys, a, b)
    lines = out.splitlines()
    diffs = [line for line in lines if line.startswith("- `")]
    assert code == 0 and diffs == ["- `cpu_model`: Xeon A -> EPYC B"]
    assert lines.index(diffs[0]) < next(i for i, line in enumerate(lines) if "no regression" in line)
    code, out, _ = compare(capsys, a, write_run(tmp_path / "same", BASE, provenance=same))
    assert code == 0 and "Provenance: the same in both runs" in out and "- `" not in out
    worse = write_run(tmp_path / "worse", {**BASE, ("sbp", 0): "failed"}, provenance={**same, "env": {}})
    code, out, _ = compare(capsys, a, worse)
    assert code == 1 and "- `env.LANDAU_FUSED_MIN_N`: 0 -> unset" in out


def test_runs_with_several_settings_a_cell_are_compared_setting_by_setting(tmp_path, capsys):
    """A --set grid gives a (solver, problem) several settings: cells are matched by setting (this once raised
    KeyError: 'overrides')."""
    grid = {("sbp", 0, (("n", 100),)): 0.2, ("sbp", 0, (("n", 200),)): 0.1, ("blob", 0): 0.3}
    a = write_run(tmp_path / "a", grid)
    code, out, err = compare(capsys, a, write_run(tmp_path / "same", grid))
    assert (code, err) == (0, "") and "no regression" in out
    code, out, err = compare(capsys, a, write_run(tmp_path / "b", {**grid, ("sbp", 0, (("n", 200),)): 0.5}))
    worse = [line for line in out.splitlines() if line.startswith("| ") and "**worse**" in line]
    assert code == 1 and len(worse) == 2 and all(line.startswith("| sbp / bkw2d [n=200] |") for line in worse), out
    assert "| sbp / bkw2d [n=100] | 1 | w1 | 0.4 | 0.4 | 1 | 1/1 | same commit, same values |  |" in out
    assert "2 of 6 accuracy values over 3 matched cells are worse in B" in out


def test_a_cell_missing_in_b_is_a_regression(tmp_path, capsys):
    a = write_run(tmp_path / "a", BASE)
    code, out, _ = compare(capsys, a, write_run(tmp_path / "b", {("blob", 0): 0.2}))
    assert code == 1 and "no regression" not in out
    assert cell_table(out) == {("sbp / bkw2d", 0): ("ok", "missing", "**regression**")}


def test_failed_in_both_and_new_in_b_are_listed_not_regressions(tmp_path, capsys):
    a = write_run(tmp_path / "a", {**BASE, ("sbp", 1): "failed"})
    b = write_run(tmp_path / "b", {**BASE, ("sbp", 1): "failed", ("blob", 1): 0.3, ("blob", 2): "failed"})
    code, out, _ = compare(capsys, a, b)
    assert code == 0 and "no regression" in out
    assert cell_table(out) == {("sbp / bkw2d", 1): ("failed: sbp blew up", "failed: sbp blew up", "failed in both"),
                               ("blob / bkw2d", 1): ("missing", "ok", "new in B"),
                               ("blob / bkw2d", 2): ("missing", "failed: blob blew up", "new in B")}
    # the means are over each run's ok seeds: B's new seed 1 (w1 0.3) puts B's mean 1.25x A's, but with 1 and 2 seeds
    # no test can tell them apart (issue 40: asv's rule) and seed 0, in both, did not move: not worse
    assert "| blob / bkw2d | 1 | w1 | 0.4 | 0.5 | 1.25 | 1/2 | too few seeds for a test |  |" in out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from([0.1, "failed", None]), min_size=3, max_size=3),
       st.lists(st.sampled_from([0.1, "failed", None]), min_size=3, max_size=3))
@pytest.mark.slow
def test_exit_code_is_1_exactly_when_an_ok_cell_of_a_is_not_ok_in_b(capsys, in_a, in_b):
    """Three cells, each ok (same w1), failed or absent (not planned) in A and in B: exit 2 when A has no ok cell or
    the runs share no (solver, problem); else 1 exactly when a cell ok in A is failed in B, or its solver has no ok
    cell in B (issue 40: a seed B did not plan, beside other ok seeds of it, is 'not run in B', not a regression)."""
    keys = [("sbp", 0), ("sbp", 1), ("blob", 0)]
    with tempfile.TemporaryDirectory() as tmp:
        a = write_run(Path(tmp, "a"), {k: v for k, v in zip(keys, in_a) if v is not None})
        b = write_run(Path(tmp, "b"), {k: v for k, v in zip(keys, in_b) if v is not None})
        code, out, err = compare(capsys, a, b)
    ok_a = [k for k, v in enumerate(in_a) if v == 0.1]
    solvers = lambda side: {keys[k][0] for k in range(3) if side[k] is not None}
    ok_b = {keys[k][0] for k in range(3) if in_b[k] == 0.1}
    lost = [k for k in ok_a if in_b[k] == "failed" or keys[k][0] not in ok_b]
    expected = 2 if not ok_a or not solvers(in_a) & solvers(in_b) else 1 if lost else 0
    assert code == expected, out + err
    if code == 2:
        assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err


def test_a_run_without_an_ok_cell_is_one_line(tmp_path, capsys):
    a = write_run(tmp_path / "a", {("sbp", 0): "failed"})
    b = write_run(tmp_path / "b", BASE)
    code, _, err = compare(capsys, a, b)
    assert code == 2 and err.count("\n") == 1 and "has no ok cell" in err and str(a) in err
    code, out, _ = compare(capsys, b, a)  # every ok cell of A failed or missing in B
    assert code == 1 and "No cell, time and metric is present in both runs." in out
    assert cell_table(out) == {("sbp / bkw2d", 0): ("ok", "failed: sbp blew up", "**regression**"),
                               ("blob / bkw2d", 0): ("ok", "missing", "**regression**")}


def test_damaged_timings_is_one_line(tmp_path, capsys):
    a = write_run(tmp_path / "a", BASE)
    b = write_run(tmp_path / "b", BASE)
    for text, why in (('solver,problem\n"unclosed\n', "timings.csv"), ("\xff\xfe\x00bin", "timings.csv"),
                      ("solver,problem,seed,overrides,solve_s\nsbp,bkw2d,0,,fast\n", "solve_s")):
        (b / "timings.csv").write_bytes(text.encode("latin-1"))
        code, _, err = compare(capsys, a, b)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
        assert str(b) in err and why in err


def test_metrics_of_other_columns_is_one_line(tmp_path, capsys):
    a = write_run(tmp_path / "a", BASE)
    b = write_run(tmp_path / "b", BASE)
    good = pd.read_parquet(b / "metrics.parquet")
    for frame, why in ((pd.DataFrame({"x": [1.0], "y": ["z"]}), "metric"),
                       (good.drop(columns=["value"]), "value"),
                       (good.assign(value="big"), "value")):
        store.atomic_write_frame(frame, b / "metrics.parquet")
        code, _, err = compare(capsys, a, b)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
        assert str(b / "metrics.parquet") in err and why in err


def test_a_fifo_at_a_run_s_manifest_is_refused_not_waited_on(tmp_path, monkeypatch):
    """compare never opens a special file in a run directory in a blocking way: a FIFO at manifest.json is a
    one-line CompareError, also when it appears after the directory was checked (the check is bypassed here)."""
    import os
    import threading
    from harness.report import compare
    run = tmp_path / "run"
    (run / "cells").mkdir(parents=True)
    (run / "metrics.parquet").write_bytes(b"")
    os.mkfifo(run / "manifest.json")
    monkeypatch.setattr(compare.Path, "is_file", lambda self: True)  # the FIFO arrives after the check
    caught = []
    worker = threading.Thread(target=lambda: caught.append(_raises(compare.load_run, run)), daemon=True)
    worker.start()
    worker.join(20)
    assert not worker.is_alive(), "load_run waited on the FIFO"
    assert isinstance(caught[0], compare.CompareError) and "manifest.json" in str(caught[0])


def _raises(fn, *args):
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001
        return exc
    return None
