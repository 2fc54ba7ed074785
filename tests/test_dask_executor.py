"""The dask executor against a real scheduler and two worker processes on loopback."""
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
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


@contextmanager
def _listener(answer: bytes | None):
    """tcp://127.0.0.1:PORT of a server thread that accepts every connection and sends `answer` on it (None: says
    nothing), keeping it open: a live port that is not a Dask scheduler."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:  # closed: the test is over
                return
            held.append(conn)
            if answer:
                conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()
        for conn in held:
            conn.close()


#: what a live port that is not a Dask scheduler may say: nothing, a web server's reply, bytes that read as a huge
#: frame count (the probe's 3.07 EiB allocation), a frame header promising bytes that never come, zeros
NOT_DASK = {"silent": None, "http": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" * 50,
            "huge_frames": b"\xff" * 64, "half_frame": struct.pack("<Q", 1) + struct.pack("<Q", 1000) + b"ab",
            "zeros": b"\x00" * 64}


@pytest.mark.parametrize("name", NOT_DASK)
def test_a_live_port_that_is_not_a_dask_scheduler_is_one_line_naming_it_never_a_hang(name):
    from harness.execute.dask_executor import connect_dask
    from harness.plan.errors import ExecutorError
    outcome = []

    def attempt():
        try:
            outcome.append(connect_dask(address, 1, timeout_s=1.0))
        except BaseException as exc:  # what the CLI would show
            outcome.append(exc)

    with _listener(NOT_DASK[name]) as address:
        thread = threading.Thread(target=attempt, daemon=True)
        thread.start()
        thread.join(60)  # a guard against the hang this tests, not a timing claim (the bound is 1 s)
        assert not thread.is_alive(), f"connect_dask({address!r}) still waits on a port that says {name}"
    [exc] = outcome
    assert isinstance(exc, ExecutorError), repr(exc)
    assert address in str(exc) and "\n" not in str(exc) and "dask scheduler" in str(exc)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["silent", "huge_frames"])
def test_run_at_a_port_that_is_not_dask_exits_2_with_one_line(tmp_path, name):
    """The command, end to end: one line on stderr naming the address (no traceback, no Client.__del__ after it)."""
    with _listener(NOT_DASK[name]) as address:
        res = _harness("-s", "sbp", "-p", "bkw2d", "--profile", "smoke", "--out", str(tmp_path / "r"),
                       "--executor", "dask", "--scheduler", address, timeout=120)
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1 and address in lines[0], res.stderr
    assert not (tmp_path / "r" / "cells").exists() or not any((tmp_path / "r" / "cells").iterdir())
