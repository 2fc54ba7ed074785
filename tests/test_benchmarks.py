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


@pytest.mark.slow
def test_the_gpu_check_dry_run_runs_every_step_on_the_cpu(tmp_path):
    """benchmarks/gpu_check.sh --dry-run: every step of the device check at tiny sizes on the CPU, each with its
    log, the Triton kernel within its tolerances, and the smoke run of the four bkw2d cells written."""
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run"], capture_output=True,
                          text=True, timeout=900, cwd=ROOT, env={**os.environ, "OUT": str(tmp_path)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    steps = ["cuda_tests", "triton_accuracy", "drift_rate", "pinn_iteration_A", "pinn_iteration_B", "run_smoke_bkw2d"]
    assert [line.split(":")[0][3:] for line in done.stdout.splitlines() if line.startswith("== ")] == steps
    assert all(f"== {s}: exit 0" in done.stdout for s in steps)
    accuracy = (tmp_path / "triton_accuracy.log").read_text()
    if "triton is not installed" not in accuracy:
        assert accuracy.count(" yes") == 8 and " NO" not in accuracy
    cells = sorted(p.name for p in (tmp_path / "paper-bkw2d" / "cells").glob("*.json"))
    assert cells == [f"{s}__bkw2d__seed0__iters=10.json" if s.startswith("pinn") else f"{s}__bkw2d__seed0.json"
                     for s in ("blob", "pinn_pm_particle", "pinn_pm_score", "sbp")]


@pytest.mark.parametrize("args, named", [(["--against", "no-such-rev-1234"], "no-such-rev-1234"),
                                         (["--pairs", "0"], "got 0")])
def test_the_main_job_benchmark_refuses_a_bad_revision_or_pair_count_before_running_anything(args, named):
    """bench_run_all.py names a bad --against revision or --pairs count in one line (exit 2), before it
    calibrates or starts a run (a run would take minutes)."""
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_run_all.py"), *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and named in done.stderr and "calibration" not in done.stdout
    assert done.stderr.strip().splitlines()[-1].startswith("bench_run_all.py: error:")


def test_the_gpu_check_refuses_a_linked_output_directory_before_any_step(tmp_path):
    """gpu_check.sh writes and deletes under $OUT: a symbolic link there is refused (exit 2, one line) before any
    step runs; without $OUT it makes a private directory of its own (not a fixed shared /tmp path)."""
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / "out").symlink_to(target)
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, env={**os.environ, "OUT": str(tmp_path / "out")})
    assert done.returncode == 2 and "is a symbolic link" in done.stdout and "==" not in done.stdout
    assert list(target.iterdir()) == []
    script = (ROOT / "benchmarks" / "gpu_check.sh").read_text()
    assert "OUT=${OUT:-$(mktemp -d /tmp/gpu_check.XXXXXX)}" in script


def test_the_triton_accuracy_step_says_skipped_without_triton(monkeypatch, capsys):
    """Without Triton the accuracy step has nothing to check: exit 3, which gpu_check.sh reports as 'skipped' (it
    passed green before), and 2 on a GPU (a failure there)."""
    sys.path.insert(0, str(ROOT))
    from benchmarks import gpu_drift_accuracy
    from problems.particle_drift import triton_kernel
    monkeypatch.setattr(triton_kernel, "available", lambda: False)
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert gpu_drift_accuracy.main(["--device", "cpu", "--n", "8"]) == 3
    assert gpu_drift_accuracy.main(["--device", "cuda", "--n", "8"]) == 2
    assert "triton is not installed" in capsys.readouterr().err
    script = (ROOT / "benchmarks" / "gpu_check.sh").read_text()
    assert 'if [ $rc -eq 3 ]; then' in script and 'echo "== $name: skipped' in script
