"""Issue 44, size and input: every bad value a user can give is one line and exit 2 naming it (never a
traceback, never a cell that cannot end or fit), --version works, a repeated --set field is refused, a malformed
LANDAU_FUSED_MIN_N is refused, and a closed output pipe ends every subcommand quietly."""
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

import harness.__main__ as entry
from harness.cli import main
from harness.execute import runner
from infra import env
from tests.test_storage_safety import finished_run

ROOT = Path(__file__).resolve().parent.parent
RUN = ["run", "-s", "blob", "-p", "bkw2d", "--profile", "smoke"]

BAD = {
    "subnormal dt": (RUN + ["--set", "dt=1e-320"], "steps of dt"),
    "t0 overflow": (RUN + ["--set", "bkw2d.t0=-1e300"], "t0=-1e+300 is not a valid constant of bkw2d"),
    "not a plugin": (RUN + ["--plugin", "NOTES"], "is not a Python file"),
    "not a url": (RUN + ["--executor", "dask", "--scheduler", "not a url"], "'not a url'"),
    "n_times": (["run", "-s", "pinn_pm_particle", "-p", "bkw2d", "--profile", "smoke", "--set", "n_times=100000000"],
                "lower n or n_times"),
    "tol 1e-300": (["run", "-s", "sbp", "-p", "bkw2d", "--profile", "smoke", "--set", "dt=none", "--set", "tol=1e-300"],
                   "adaptive steps at tol = 1e-300"),
    "repeated field": (RUN + ["--set", "n=100", "--set", "n=200"], "repeats field 'n' of blob"),
    "repeated targeted field": (RUN + ["--set", "blob.n=100", "--set", "blob.n=200"], "repeats field 'n' of blob"),
    "repeated constant": (RUN + ["--set", "bkw2d.C=0.1", "--set", "bkw2d.C=0.2"], "repeats bkw2d.C"),
}


@pytest.fixture
def nothing_runs(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a refused command ran cells")
    monkeypatch.setattr(runner, "run", refuse)


@pytest.mark.parametrize("case", sorted(BAD))
def test_every_bad_value_is_one_line_and_exit_2(tmp_path, capsys, nothing_runs, case):
    argv, named = BAD[case]
    notes = tmp_path / "notes.txt"
    notes.write_text("not python", encoding="utf-8")
    argv = [str(notes) if a == "NOTES" else a for a in argv]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and named in err, err
    assert not (tmp_path / "run").exists()


def test_an_untargeted_and_a_targeted_set_of_one_field_still_combine(tmp_path, capsys, monkeypatch):
    seen = []
    monkeypatch.setattr(runner, "run", lambda cells, *a, **k: seen.extend(cells) or {"cells": 1, "already_done": 0,
                                                                                      "failed": 0})
    assert main(RUN + ["--set", "n=100", "--set", "blob.n=200", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert [c.id for c in seen] == ["blob__bkw2d__seed0__n=200"]


def test_version_prints_the_version_and_exits_0(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == "landau-bench 0.1.0"


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "512x"])
def test_a_malformed_fused_min_n_is_one_line_naming_it(capsys, monkeypatch, value):
    monkeypatch.setenv("LANDAU_FUSED_MIN_N", value)
    assert main(["list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"LANDAU_FUSED_MIN_N={value!r} is not allowed" in err
    assert "a non-negative integer" in err
    with pytest.raises(env.SettingError):
        env.fused_min_n()


def test_fused_min_n_values_and_a_kernel_choice_refuses_a_malformed_one(monkeypatch):
    import torch
    from problems.particle_drift import fused
    assert env.fused_min_n({}) == 512 and env.fused_min_n({"LANDAU_FUSED_MIN_N": " 0 "}) == 0
    assert env.fused_min_n({"LANDAU_FUSED_MIN_N": "2048"}) == 2048
    monkeypatch.setattr(fused, "CPU_MIN_N", None)
    monkeypatch.setenv("LANDAU_FUSED_MIN_N", "many")
    with pytest.raises(env.SettingError, match="LANDAU_FUSED_MIN_N='many'"):
        fused.cpu_kernel_applies((torch.zeros(4, 2),), ("cpu",), set())


@pytest.mark.parametrize("where", ["cells", "config"])
def test_a_manifest_seed_above_the_maximum_is_refused_on_resume(tmp_path, capsys, nothing_runs, where):
    run = finished_run(tmp_path / "run")
    raw = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    if where == "cells":
        raw["cells"] = [["blob", "bkw2d", 10_000, {}]]
    else:
        raw["config"]["seeds"] = [10_000]
    (run / "manifest.json").write_text(json.dumps(raw), encoding="utf-8")
    assert main(["run", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "seed 10000" in err and "0..9997" in err


class _ClosedPipe(io.TextIOBase):
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")


PRINTING = {
    "list": ["list"],
    "help": ["--help"],
    "version": ["--version"],
    "report": ["report", "RUN"],
    "compare": ["compare", "RUN", "RUN"],
    "run": ["run", "--resume", "RUN"],
    "references": ["references", "-p", "bkw2d"],
}
#: the verbs that draw a report first (seconds): CI runs them
_SLOW = ("report", "compare")


@pytest.mark.parametrize("verb", [pytest.param(v, marks=pytest.mark.slow) if v in _SLOW else v for v in sorted(PRINTING)])
def test_a_closed_output_pipe_ends_every_subcommand_quietly(tmp_path, monkeypatch, capsys, verb):
    run = finished_run(tmp_path / "run")
    if verb == "compare":
        assert main(["report", str(run)]) == 0
        capsys.readouterr()
    silenced = []
    monkeypatch.setattr(entry, "_silence_stdout", lambda: silenced.append(True))
    monkeypatch.setattr(sys, "argv", ["harness", *[str(run) if a == "RUN" else a for a in PRINTING[verb]]])
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert entry._run() == 141
    assert silenced == [True]
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_list_into_head_ends_quietly_in_a_real_pipe():
    proc = subprocess.run(f"{sys.executable} -m harness list | head -1", shell=True, cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**__import__('os').environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.count("\n") == 1 and proc.stderr == ""
