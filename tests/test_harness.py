"""The harness CLI: bad input, resume equals an uninterrupted run, failure isolation, plugins, report."""
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.plan.profiles import PROFILES

#: --jobs 1: these cells take under a second, so two spawned workers would cost more than they save (the
#: process executor has its own tests in test_parallel.py and test_reliability.py)
SMALL = ["-s", "sbp", "-s", "blob", "-p", "bkw3d", "--profile", "smoke", "--seeds", "0,1", "--quiet", "--jobs", "1"]


def run_cli(*args):
    return main(list(args))


def max_table_width(markdown: str) -> int:
    """Columns of the widest markdown table (header rows start with '| ' and are followed by '|---')."""
    lines = markdown.splitlines()
    widths = [lines[i].count("|") - 1 for i in range(len(lines) - 1) if lines[i + 1].startswith("|---")]
    return max(widths, default=0)


@pytest.mark.parametrize("args,needle", [
    (["-s", "nope", "-p", "bkw2d"], "unknown solver 'nope'; valid solvers: exact_flow, sbp, blob"),
    (["-s", "sbp", "-p", "nope"], "unknown problem 'nope'; valid problems: bkw2d"),
    (["--all", "--profile", "fast"], "unknown profile 'fast'; valid profiles: smoke, quick, paper"),
    (["--all", "--device", "tpu"], "unknown device 'tpu'; valid devices: auto, cpu, cuda"),
    (["--all", "--seeds", "0,x"], "malformed seeds '0,x'"),
    (["--all", "--seeds", "-1"], "malformed seeds '-1'"),
    (["--all", "--seeds", "0,9998"], "seed 9998 is too large; seeds 0..9997 keep a cell's random streams apart"),
    (["-s", "exact_flow", "-p", "rosenbluth3d"], "solver 'exact_flow' does not apply to 'rosenbluth3d'"),
    (["--all", "--plugin", "/nonexistent/plug.py"], "plugin file '/nonexistent/plug.py' does not exist"),
])
def test_bad_input_gives_one_line_and_exit_2(args, needle, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli("run", *args, "--out", str(out)) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and err.count("\n") == 0 and err.startswith("error: ")
    assert not out.exists()


def test_unwritable_and_nonempty_output_dirs(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert run_cli("run", *SMALL, "--out", str(blocker / "run")) == 2  # a path below a file
    assert "not writable" in capsys.readouterr().err
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("precious")
    assert run_cli("run", *SMALL, "--out", str(full)) == 2
    assert "not empty" in capsys.readouterr().err
    assert (full / "keep.txt").read_text() == "precious" and len(list(full.iterdir())) == 1


def test_failing_plugin_import_is_a_usage_error(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('boom')\n")
    assert run_cli("run", "--all", "--plugin", str(bad), "--out", str(tmp_path / "r")) == 2
    assert "failed to import: RuntimeError: boom" in capsys.readouterr().err


@pytest.mark.slow
def test_resume_after_interruption_equals_uninterrupted_run(tmp_path):
    full = tmp_path / "full"
    assert run_cli("run", *SMALL, "--out", str(full)) == 0
    # simulate a kill after some cells: keep one finished cell, drop the others
    part = tmp_path / "part"
    shutil.copytree(full, part)
    cells = sorted((part / "cells").glob("*.json"))
    assert len(cells) == 4
    kept = cells[0]
    kept_bytes = kept.read_bytes()
    for c in cells[1:]:
        c.unlink()
    for f in ("metrics.csv", "metrics.parquet", "summary.md"):
        (part / f).unlink()
    assert run_cli("run", *SMALL, "--resume", str(part)) == 0
    assert kept.read_bytes() == kept_bytes  # the finished cell was not recomputed
    a = pd.read_csv(full / "metrics.csv")
    b = pd.read_csv(part / "metrics.csv")
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.slow
def test_report_reproduces_summary_byte_for_byte(tmp_path):
    out = tmp_path / "r"
    assert run_cli("run", *SMALL, "--out", str(out)) == 0
    before = (out / "summary.md").read_bytes()
    (out / "summary.md").unlink()
    assert run_cli("report", str(out)) == 0
    assert (out / "summary.md").read_bytes() == before
    text = before.decode()
    assert "| *bias floor (n = inf)* |" in text and "| *MC floor" in text
    assert max_table_width(text) <= 8


@pytest.mark.slow
def test_failing_cell_is_recorded_and_the_run_goes_on(tmp_path):
    plugin = tmp_path / "explode.py"
    plugin.write_text(textwrap.dedent("""
        from solvers import Solver, register_solver

        @register_solver("explode")
        class Explode(Solver):
            def solve(self, problem, seed=0, device="cpu", initial=None, progress=False):
                raise FloatingPointError("particles became non-finite by t = 1")
    """))
    out = tmp_path / "r"
    code = run_cli("run", "-s", "explode", "-s", "sbp", "-p", "bkw3d", "--profile", "smoke", "--quiet",
                   "--plugin", str(plugin), "--out", str(out))
    assert code == 1
    rec = json.loads((out / "cells" / "explode__bkw3d__seed0.json").read_text())
    assert rec["status"] == "failed" and "non-finite" in rec["error"]
    table = pd.read_csv(out / "metrics.csv")
    assert set(table.solver) == {"sbp"}
    assert "Failed cells" in (out / "summary.md").read_text()


@pytest.mark.slow
def test_plugin_problem_gets_exact_covariance_metric(tmp_path):
    plugin = tmp_path / "aniso3d.py"
    plugin.write_text(textwrap.dedent("""
        import torch
        from dataclasses import dataclass
        from problems import Problem, register_problem

        @dataclass(frozen=True)
        class Gauss3D(Problem):
            def _sample0(self, n, gen):
                return torch.randn(n, 3, generator=gen, dtype=torch.float64) * torch.tensor([1.5, 1.0, 0.5], dtype=torch.float64)
            def initial_covariance(self):
                return torch.diag(torch.tensor([2.25, 1.0, 0.25], dtype=torch.float64))
            def initial_mean(self):
                return torch.zeros(3, dtype=torch.float64)
            def initial_score(self, v):
                return -v / torch.tensor([2.25, 1.0, 0.25], dtype=v.dtype)

        @register_problem("aniso_gauss3d")
        def aniso_gauss3d():
            return Gauss3D(name="aniso_gauss3d", dim=3, gamma=0.0, C=1/24, t0=0.0, snapshot_times=(0.5, 1.0),
                           kde_bandwidth=0.15, paper_n=10_000, grid_box=((-4, 4),) * 3, grid_points=20)
    """))
    out = tmp_path / "r"
    code = run_cli("run", "-s", "sbp", "-s", "blob", "-p", "aniso_gauss3d", "--profile", "smoke", "--quiet",
                   "--plugin", str(plugin), "--out", str(out))
    assert code == 0
    table = pd.read_csv(out / "metrics.csv")
    assert set(table.solver) == {"sbp", "blob"}
    cov = table[table.metric == "cov_err"]
    assert len(cov) == 4 and (cov.value < 0.5).all()


def harness_list(*args) -> list[str]:
    """The lines `python -m harness list ARGS` prints (the module entry point, in a fresh process)."""
    res = subprocess.run([sys.executable, "-m", "harness", "list", *args], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent)
    return res.stdout.splitlines()


def listed_names(lines: list[str], prefix: str) -> list[str]:
    """The comma-separated names of the one line that starts with `prefix` (e.g. 'metrics: ')."""
    (line,) = [x for x in lines if x.startswith(prefix)]
    return line[len(prefix):].split(", ")


def parse_cell(text: str):
    """A value of the solver table as the registry holds it: None, a bool, a number, else the string."""
    if text in ("None", "True", "False"):
        return {"None": None, "True": True, "False": False}[text]
    try:
        return float(text)
    except ValueError:
        return text


def test_module_entry_point_lists_every_registered_problem_solver_and_metric():
    """`harness list` against the registries: each problem's describe() line and its constants with their values,
    each solver's problems, flags and config fields with their per-profile defaults, the profiles, and the
    metric names of metrics.specs (the training diagnostics on their own line)."""
    import dataclasses

    import metrics.specs
    import problems
    import solvers
    from certificates import DIAGNOSTIC_METRICS
    lines = harness_list()
    for name in problems.list_problems():
        p = problems.get_problem(name)
        at = lines.index("  " + p.describe())
        assert lines[at + 1].startswith("    constants: ")
        constants = dict(item.split("=", 1) for item in lines[at + 1][len("    constants: "):].split(", "))
        expected = {f.name: getattr(p, f.name) for f in dataclasses.fields(p)
                    if f.init and f.name not in ("name", "dim", "snapshot_times", "grid_box", "stiff_dt", "pinn_group", "core_radius")
                    and isinstance(getattr(p, f.name), (int, float, type(None)))}
        assert {k: parse_cell(v) for k, v in constants.items()} == expected, name
    headers = [x for x in lines if x.startswith("  ") and not x.startswith("   ") and ": applies to " in x]
    assert [h.split(":")[0].strip() for h in headers] == solvers.list_solvers()
    for header in headers:
        name = header.split(":")[0].strip()
        cls = solvers.get_solver(name)
        where = [p for p in problems.list_problems() if cls.applies_to(problems.get_problem(p))[0]]
        assert header.split(" [")[0] == f"  {name}: applies to {', '.join(where)}"
        flags = header.split(" [")[1].rstrip("]").split(", ")
        assert ("has_score" in flags) == bool(cls.has_score) and (f"N rate {cls.n_rate:g}" in flags) == (cls.n_rate is not None)
        table = lines[lines.index(header) + 1:]
        table = table[:next(i for i, x in enumerate(table) if not x.startswith("    "))]
        cols = [table[0].index(c) for c in ("type", "smoke", "quick", "paper")]
        rows = {r[:cols[0]].strip(): [r[a:b].strip() for a, b in zip(cols[1:], cols[2:] + [None])] for r in table[1:]}
        smoke = cls.profile_config("smoke", problems.get_problem(where[0]))
        scalars = [f.name for f in dataclasses.fields(smoke)
                   if isinstance(getattr(smoke, f.name), (int, float, str, type(None)))]  # not tuples (network shapes)
        assert list(rows) == scalars, name
        for prof, column in zip(solvers.PROFILES, zip(*rows.values())):
            configs = [cls.profile_config(prof, problems.get_problem(p)) for p in where]
            for field, shown in zip(rows, column):
                values = {getattr(c, field) for c in configs}
                if len(values) == 1:
                    assert parse_cell(shown) == values.pop(), (name, prof, field, shown)
                else:
                    assert shown.endswith("*"), (name, prof, field, shown)
    assert listed_names(lines, "profiles: ") == list(solvers.PROFILES)
    registered = [m for m in metrics.specs.METRICS if m not in DIAGNOSTIC_METRICS]
    assert listed_names(lines, "metrics: ") == registered and "kde_l2" in registered
    assert listed_names(lines, "training diagnostics (PINN-PM cells): ") == list(DIAGNOSTIC_METRICS)


SPEED_METRIC = textwrap.dedent('''
    from metrics.specs import MetricSpec, register_metric
    register_metric(MetricSpec("max_speed", "largest |v| of the particles", lambda s: float(s.x.norm(dim=1).max()),
                               better="", absurd="relative"))
''')


def test_list_names_a_plugin_metric(tmp_path):
    plugin = tmp_path / "speed_metric.py"
    plugin.write_text(SPEED_METRIC)
    assert "max_speed" in listed_names(harness_list("--plugin", str(plugin)), "metrics: ")


def test_list_with_a_plugin_lists_its_problem_and_solver(tmp_path):
    lines = harness_list("--plugin", str(Path(__file__).with_name("harness_plugin.py")))
    assert any(x.startswith("  tiny2d: d=2, gamma=0,") for x in lines)
    assert "  only_bkw: applies to bkw2d [has_score]" in lines and "  still: applies to " in "\n".join(lines)


def test_run_cell_restores_the_thread_count_it_found():
    """A cell runs on CELL_THREADS torch threads; afterwards (ok or failed) the caller has its own count back."""
    import torch

    import solvers
    from harness.plan.cell import Cell
    from harness.execute.run_cell import CELL_THREADS, run_cell
    from harness.plan.plugins import load_plugins
    load_plugins([str(Path(__file__).with_name("harness_plugin.py"))])
    inside = []

    @solvers.register_solver("counts_threads")
    class CountsThreads(solvers.get_solver("still")):
        def solve(self, problem, seed=0, **kw):
            inside.append(torch.get_num_threads())
            if seed == 1:
                raise RuntimeError("a failing cell")
            return super().solve(problem, seed, **kw)

    before = torch.get_num_threads()
    mine = CELL_THREADS + 2
    torch.set_num_threads(mine)
    try:
        ok = run_cell(Cell("counts_threads", "tiny2d", 0), PROFILES["smoke"], "cpu")
        after_ok = torch.get_num_threads()
        failed = run_cell(Cell("counts_threads", "tiny2d", 1), PROFILES["smoke"], "cpu")
        after_failed = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    assert ok.status == "ok" and failed.status == "failed" and "a failing cell" in failed.error
    assert inside == [CELL_THREADS, CELL_THREADS]
    assert after_ok == after_failed == mine


@pytest.mark.slow
def test_smoke_profile_runs_every_applicable_cell(tmp_path):
    """`run --all --profile smoke` (the CI profile): every solver x applicable problem, no failure."""
    out = tmp_path / "smoke"
    assert run_cli("run", "--all", "-s", "exact_flow", "-s", "sbp", "-s", "blob", "--profile", "smoke",
                   "--quiet", "--out", str(out)) == 0
    table = pd.read_csv(out / "metrics.csv")
    cells = set(zip(table.solver, table.problem))
    expected = {(s, p) for s in ("sbp", "blob") for p in
                ("bkw2d", "bkw3d", "anisotropic2d", "rosenbluth3d", "gaussian_mixture3d", "truncated2d")}
    assert cells == expected | {("exact_flow", "bkw2d"), ("exact_flow", "bkw3d")}
    # W1 and KDE L2 with their floors on every problem, each against its named reference
    for problem, kind in {"bkw2d": "exact", "bkw3d": "exact", "anisotropic2d": "grid", "rosenbluth3d": "radial",
                          "gaussian_mixture3d": "sde", "truncated2d": "sde"}.items():
        rows = table[(table.problem == problem) & table.metric.isin(
            ["w1", "w1_mc_floor", "kde_l2", "kde_l2_mc_floor", "kde_l2_bias_floor"])]
        assert set(rows.metric) == {"w1", "w1_mc_floor", "kde_l2", "kde_l2_mc_floor", "kde_l2_bias_floor"}, problem
        assert set(rows.reference) == {kind}, problem
        w1 = rows[rows.metric == "w1"].set_index(["solver", "t"]).value
        floor = rows[rows.metric == "w1_mc_floor"].set_index(["solver", "t"]).value
        assert (w1 < 3 * floor).all() and (floor > 0).all(), problem  # a wrong reference would be far off
    assert "(against the grid reference)" in (out / "summary.md").read_text()
    # the reference solver sits at the Monte Carlo floor; the KDE floors are in the table
    ef = table[(table.solver == "exact_flow") & (table.problem == "bkw2d")].set_index(["t", "metric"]).value
    assert ef[(5.0, "w1")] < 1.6 * ef[(5.0, "w1_mc_floor")]
    assert ef[(5.0, "trajectory_error")] < 1e-12
    assert len(list((out / "figures").glob("*.png"))) >= 30


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_matches_uninterrupted(tmp_path):
    """A real kill (SIGKILL) after the first cell file appears, then --resume."""
    import os
    import signal
    import time
    args = ["-s", "sbp", "-s", "blob", "-p", "bkw3d", "-p", "truncated2d", "--profile", "smoke", "--quiet"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", *args, "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list((killed / "cells").glob("*.json")):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted(p.name for p in (killed / "cells").glob("*.json"))
    assert 1 <= len(done) < 4 and not (killed / "metrics.csv").exists()
    stamps = {p: (killed / "cells" / p).stat().st_mtime_ns for p in done}
    assert run_cli("run", *args, "--resume", str(killed)) == 0
    assert {p: (killed / "cells" / p).stat().st_mtime_ns for p in done} == stamps  # not recomputed
    full = tmp_path / "full"
    assert run_cli("run", *args, "--out", str(full)) == 0
    pd.testing.assert_frame_equal(pd.read_csv(full / "metrics.csv"), pd.read_csv(killed / "metrics.csv"))
