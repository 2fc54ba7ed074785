"""Issue 30, executors: what a dying worker, a vanished Dask cluster, a relative run directory, a large --jobs
and a huge --cell-timeout did to a run. Each test failed on the main before its fix."""
import json
from pathlib import Path

import pytest

from harness.cli import main

HERE = Path(__file__).parent
PLUGIN = str(HERE / "harness_plugin.py")
DYING = str(HERE / "dying_plugin.py")


def record(run_dir, cell_id):
    return json.loads((run_dir / "cells" / f"{cell_id}.json").read_text())


@pytest.mark.slow
def test_a_dead_pool_worker_fails_its_cell_alone_and_the_run_goes_on(tmp_path, capsys, monkeypatch):
    """`dies` kills its worker while `bystander` runs on the other one and `still` has run or waits: `dies` alone
    is failed, with its exit code; the bystander cut short and the queued cells run on a new pool."""
    monkeypatch.setenv("DYING_SYNC", str(tmp_path))
    out = tmp_path / "r"
    code = main(["run", "-s", "dies", "-s", "bystander", "-s", "still", "-p", "tiny2d", "--plugin", PLUGIN,
                 "--plugin", DYING, "--jobs", "2", "--quiet", "--out", str(out)])
    assert code == 1
    dead = record(out, "dies__tiny2d__seed0")
    assert dead["status"] == "failed" and "worker process died (exit code 1)" in dead["error"]
    assert "\n" not in dead["error"]
    assert (tmp_path / "bystander").exists()  # it did run beside `dies`
    assert record(out, "bystander__tiny2d__seed0")["status"] == "ok"
    assert record(out, "still__tiny2d__seed0")["status"] == "ok"
    assert "Traceback" not in capsys.readouterr().err
    assert "dies" in (out / "summary.md").read_text()
