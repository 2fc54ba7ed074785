"""The asv suite still imports and runs: `asv check`, one small benchmark, `asv publish` (offline)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ASV = Path(sys.executable).with_name("asv")


def _asv(*args, cfg):
    return subprocess.run([str(ASV), *args, "--config", str(cfg)], capture_output=True, text=True, timeout=600,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.skipif(not ASV.exists(), reason="asv not installed (pip install '.[bench]')")
@pytest.mark.slow
def test_asv_suite_checks_runs_and_publishes(tmp_path):
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    conf = json.loads((ROOT / "asv.conf.json").read_text())
    conf.update(repo=str(ROOT), benchmark_dir=str(ROOT / "benchmarks"), results_dir=str(tmp_path / "results"),
                html_dir=str(tmp_path / "html"))
    cfg = tmp_path / "asv.conf.json"
    cfg.write_text(json.dumps(conf))
    assert _asv("machine", "--yes", cfg=cfg).returncode == 0
    check = _asv("check", "-E", "existing:same", cfg=cfg)
    assert check.returncode == 0 and "No problems found" in check.stdout, check.stdout + check.stderr
    run = _asv("run", "-E", "existing:same", "--quick", "--set-commit-hash", head.stdout.strip(),
               "--bench", "Metrics.time_w1_2000", cfg=cfg)
    assert run.returncode == 0, run.stdout + run.stderr
    results = [p for p in (tmp_path / "results").glob("*/*.json") if p.name != "machine.json"]
    stored = json.loads(results[0].read_text())
    value = stored["results"]["asv_suite.Metrics.time_w1_2000"][0][0]
    assert isinstance(value, (int, float)) and 0 < value < 60
    assert _asv("publish", cfg=cfg).returncode == 0
    index = json.loads((tmp_path / "html" / "index.json").read_text())
    assert "asv_suite.Metrics.time_w1_2000" in index["benchmarks"]
    assert {"asv_suite.Accuracy.track_w1", "asv_suite.Drift.time_drift"} <= set(index["benchmarks"])
