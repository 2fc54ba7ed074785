"""The dask executor against a real scheduler and two worker processes on loopback."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("distributed")

CELLS = ["-s", "exact_flow", "-s", "sbp", "-s", "blob", "-p", "bkw2d", "--seeds", "0,1"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _harness(*args, timeout=300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", "run", *args], capture_output=True, text=True,
                          timeout=timeout, **kw)


@pytest.fixture()
def cluster(tmp_path):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)]
    for k in range(2):
        procs.append(subprocess.Popen([sys.executable, "-m", "dask", "worker", address, "--nthreads", "1",
                                       "--no-nanny", "--no-dashboard", "--name", f"w{k}"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                                      cwd=Path(__file__).resolve().parents[1]))
    from distributed import Client
    deadline = time.time() + 60
    while True:
        try:
            with Client(address, timeout="5s") as c:
                if len(c.scheduler_info()["workers"]) == 2:
                    break
        except OSError:
            pass
        if time.time() > deadline:
            raise RuntimeError("dask cluster did not come up")
        time.sleep(0.5)
    yield address, procs
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


def _metrics(run_dir: Path) -> pd.DataFrame:
    df = pd.read_csv(run_dir / "metrics.csv")
    return df[["solver", "problem", "seed", "t", "metric", "value"]].sort_values(
        ["solver", "problem", "seed", "metric", "t"]).reset_index(drop=True)


@pytest.mark.slow
def test_dask_sweep_equals_local_and_survives_a_killed_worker(cluster, tmp_path):
    address, procs = cluster
    local = _harness(*CELLS, "--profile", "smoke", "--out", str(tmp_path / "local"), "--quiet")
    assert local.returncode == 0, local.stderr[-2000:]
    out = tmp_path / "dask"
    sweep = subprocess.Popen([sys.executable, "-m", "harness", "run", *CELLS, "--profile", "smoke", "--out", str(out),
                              "--quiet", "--executor", "dask", "--scheduler", address],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not ((out / "cells").exists() and any((out / "cells").glob("*.json"))):
        assert time.time() < deadline and sweep.poll() is None, "no cell finished"
        time.sleep(0.1)
    procs[1].kill()  # one worker dies mid-sweep
    stdout, stderr = sweep.communicate(timeout=240)
    records = list((out / "cells").glob("*.json"))
    assert len(records) == 6
    if sweep.returncode != 0:  # a cell lost with its worker is recorded as failed; --resume completes it
        assert "lost on its worker" in stdout + stderr
        again = _harness(*CELLS, "--profile", "smoke", "--resume", str(out), "--quiet", "--executor", "dask",
                         "--scheduler", address)
        assert again.returncode == 0, again.stderr[-2000:]
    a, b = _metrics(tmp_path / "local"), _metrics(out)
    assert len(a) == len(b) > 0
    pd.testing.assert_frame_equal(a.drop(columns="value"), b.drop(columns="value"))
    pd.testing.assert_series_equal(a.value, b.value, rtol=1e-9, atol=1e-12)


@pytest.mark.slow
def test_bad_scheduler_address_is_a_one_line_error_in_bounded_time(tmp_path):
    port = _free_port()  # nothing listens there
    t = time.time()
    res = _harness("-s", "sbp", "-p", "bkw2d", "--profile", "smoke", "--out", str(tmp_path / "r"), "--executor", "dask",
                   "--scheduler", f"tcp://127.0.0.1:{port}", timeout=120)
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "cannot reach the dask scheduler" in lines[0] and str(port) in lines[0], res.stderr
    assert time.time() - t < 60
    bad = _harness("-s", "sbp", "-p", "bkw2d", "--out", str(tmp_path / "q"), "--executor", "slurm")
    assert bad.returncode == 2 and "valid executors: local, process, dask" in bad.stderr
