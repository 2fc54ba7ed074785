"""Issue 44, the run directory is the record: the provenance a run records (git state and diff hash, plugin hashes,
hardware, BLAS, environment), what each cell used (peak memory, kernels) and how reports show it, and `--dry-run`,
which prints the plan, its estimate and that provenance and writes nothing."""
import hashlib
import json
import re
import subprocess

import pandas as pd
import pytest
import torch

from harness.cli import main
from harness.execute.resources import cell_usage, start_cell
from harness.plan.cell import Cell
from harness.report.provenance import provenance_differences, provenance_lines
from harness.store import tables as store
from harness.store.provenance import blas_text, cpu_model, environment, git_state, plugin_hashes, provenance
from harness.store.record import CellRecord
from problems import drift
from problems.particle_drift import usage
from harness.plan.profiles import PROFILES


def git(root, *args) -> bytes:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=root,
                          capture_output=True, check=True, timeout=30).stdout


@pytest.fixture
def repo(tmp_path):
    """A git repository with one committed file, a.txt."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "a.txt").write_text("one\n")
    git(root, "add", "a.txt")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_the_dirty_flag_and_diff_hash_follow_the_tracked_files(repo):
    clean = git_state(repo)
    assert clean["git_commit"] == git(repo, "rev-parse", "HEAD").decode().strip()
    assert clean["git_dirty"] is False and clean["git_diff_sha256"] == ""
    (repo / "a.txt").write_text("two\n")
    dirty = git_state(repo)
    diff = git(repo, "diff", "HEAD")
    assert dirty["git_dirty"] is True and dirty["git_diff_sha256"] == hashlib.sha256(diff).hexdigest()
    assert dirty["git_commit"] == clean["git_commit"]
    (repo / "a.txt").write_text("three\n")
    assert git_state(repo)["git_diff_sha256"] not in ("", dirty["git_diff_sha256"])
    (repo / "a.txt").write_text("two\n")
    assert git_state(repo)["git_diff_sha256"] == dirty["git_diff_sha256"]  # the same diff, the same hash
    (repo / "untracked.txt").write_text("x")
    (repo / "a.txt").write_text("one\n")
    assert git_state(repo)["git_dirty"] is False  # an untracked file is not a change of the code


def test_outside_git_the_state_is_unknown_and_nothing_fails(tmp_path):
    assert git_state(tmp_path) == {"git_commit": "unknown", "git_dirty": None, "git_diff_sha256": None}


def test_plugin_hashes_are_the_sha256_of_each_file(tmp_path):
    (tmp_path / "x").mkdir()
    one, two, same_name = tmp_path / "mine.py", tmp_path / "other.py", tmp_path / "x" / "other.py"
    one.write_bytes(b"print('a')\n")
    two.write_bytes(b"B = 2\n")
    same_name.write_bytes(b"B = 3\n")
    assert plugin_hashes([one]) == {"mine.py": hashlib.sha256(b"print('a')\n").hexdigest()}
    both = plugin_hashes([two, same_name])  # two files of one name: keyed by their paths
    assert both == {str(two): hashlib.sha256(b"B = 2\n").hexdigest(),
                    str(same_name): hashlib.sha256(b"B = 3\n").hexdigest()}
    assert plugin_hashes([tmp_path / "gone.py"]) == {"gone.py": "unreadable (FileNotFoundError)"}


def test_the_environment_holds_landau_and_torch_variables_only(monkeypatch):
    monkeypatch.setenv("LANDAU_X", "7")
    monkeypatch.setenv("TORCH_TEST_44", "on")
    monkeypatch.setenv("UNRELATED_44", "no")
    env = environment()
    assert env["LANDAU_X"] == "7" and env["TORCH_TEST_44"] == "on" and "UNRELATED_44" not in env
    assert list(env) == sorted(env)
    given = {"LANDAU_A": "1", "PATH": "/bin", "TORCHINDUCTOR_X": "2"}
    assert environment(given) == {"LANDAU_A": "1", "TORCHINDUCTOR_X": "2"}


def test_a_run_provenance_keeps_the_old_keys_and_adds_the_new(repo, monkeypatch, tmp_path):
    monkeypatch.setenv("LANDAU_X", "7")
    plugin = tmp_path / "p.py"
    plugin.write_bytes(b"X = 1\n")
    p = provenance("cpu", [plugin], root=repo)
    assert {"git_commit", "python", "torch", "numpy", "scipy", "pot", "pandas", "device", "host", "cuda_device",
            "threads"} <= set(p)
    assert p["git_dirty"] is False and p["git_diff_sha256"] == "" and p["device"] == "cpu"
    assert p["plugins"] == {"p.py": hashlib.sha256(b"X = 1\n").hexdigest()}
    assert p["env"]["LANDAU_X"] == "7" and p["torch_threads"] == torch.get_num_threads()
    assert p["cores"] >= 1 and isinstance(p["cpu_model"], str) and isinstance(p["blas"], str)
    assert (p["gpu"] is None) == (not torch.cuda.is_available())
    json.dumps(p)  # the manifest writes it


def test_the_cpu_model_comes_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: X\nmodel name\t: Fake CPU 9000 @ 3.0GHz\n\nprocessor\t: 1\n"
                    "model name\t: Fake CPU 9000 @ 3.0GHz\n")
    assert cpu_model(info) == "Fake CPU 9000 @ 3.0GHz"
    assert cpu_model(tmp_path / "none") == cpu_model(tmp_path / "none2")  # the platform's word, never an error


def test_blas_names_the_library_torch_was_built_with():
    mkl = ("PyTorch built with:\n  - Intel(R) oneAPI Math Kernel Library Version 2024.2-Product Build 20240605 for "
           "Intel(R) 64 architecture applications\n  - Intel(R) MKL-DNN v3.4.2\n  - Build settings: BLAS_INFO=mkl, "
           "BUILD_TYPE=Release, LAPACK_INFO=mkl\n")
    assert blas_text(mkl) == "mkl: Intel(R) oneAPI Math Kernel Library Version 2024.2-Product Build 20240605"
    assert blas_text("  - Build settings: BLAS_INFO=open, CXX_COMPILER=/x\n") == "open"
    assert blas_text("  - OpenBLAS 0.3.27\n") == "OpenBLAS 0.3.27"
    assert blas_text("PyTorch built with:\n  - GCC 9.3\n") == "unknown"


def test_each_drift_and_blob_score_call_counts_its_kernel():
    from solvers.blob import blob_score
    v = torch.randn(10, 2, dtype=torch.float64)
    usage.reset()
    drift(v, v, -3.0, 1.0)
    drift(v, v, 0.0, 1.0)
    drift(v, v, 0.0, 1.0)
    blob_score(v, 0.1)  # N = 10 < LANDAU_FUSED_MIN_N: blockwise
    assert usage.counts() == {"blob_score:blockwise": 1, "drift:blockwise": 1, "drift:maxwell": 2}
    start_cell()
    assert usage.counts() == {}


def test_a_cell_usage_holds_its_peak_memory_and_kernels():
    import resource
    start_cell()
    drift(torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 3, dtype=torch.float64), 0.0, 1.0)
    used = cell_usage()
    assert used["kernels"] == {"drift:maxwell": 1}
    assert 10 < used["peak_rss_mb"] <= resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 + 0.05  # KiB -> MiB
    if not torch.cuda.is_available():
        assert used["gpu_peak_mb"] is None


def record(**usage_fields) -> CellRecord:
    cell = Cell("blob", "bkw2d", 0)
    return CellRecord("blob", "bkw2d", 0, cell.id, "smoke", "ok", rows=[{"t": 1.0, "metric": "w1", "value": 0.1}],
                      wall_time={"drift": 1.0}, solve_s=1.0, total_s=1.5, **usage_fields)


def test_a_cell_record_round_trips_its_usage_and_an_old_record_loads(tmp_path):
    rec = record(peak_rss_mb=512.5, gpu_peak_mb=None, kernels={"blob_score:compiled_cpu": 20, "drift:compiled_cpu": 20})
    data = json.loads(json.dumps(rec.to_json()))
    assert data["peak_rss_mb"] == 512.5 and "gpu_peak_mb" not in data
    assert CellRecord.from_json(data, rec.cell_id) == rec
    old = {k: v for k, v in data.items() if k not in ("peak_rss_mb", "kernels")}
    back = CellRecord.from_json(old, rec.cell_id)
    assert back.peak_rss_mb is None and back.gpu_peak_mb is None and back.kernels == {}
    store.write_cell(tmp_path, rec)
    timings = store.collect_tables(tmp_path)[1]
    assert timings.peak_rss_mb.tolist() == [512.5]
    assert timings.kernels.tolist() == ["blob_score:compiled_cpu=20; drift:compiled_cpu=20"]
    assert store.kernels_from_text(timings.kernels[0]) == rec.kernels


def test_the_summary_provenance_section_is_a_few_lines():
    p = {"git_commit": "0123456789abcdef", "git_dirty": True, "git_diff_sha256": "ab" * 32, "python": "3.11.7",
         "torch": "2.5.0", "numpy": "2.1", "host": "h", "cpu_model": "Fake CPU", "cores": 2, "torch_threads": 2,
         "blas": "mkl", "gpu": None, "env": {"LANDAU_FUSED_MIN_N": "0"}, "plugins": {"mine.py": "cd" * 32}}
    timings = pd.DataFrame({"peak_rss_mb": [100.0, 612.4], "kernels": ["drift:maxwell=3", "drift:maxwell=2; x=1"]})
    lines = provenance_lines({"provenance": p}, timings)
    text = "\n".join(lines)
    assert lines[0] == "## Provenance" and len(lines) <= 8
    assert "commit `0123456789ab`, dirty (diff sha256 `abababababab`)" in text
    assert "CPU `Fake CPU`, 2 cores, 2 torch threads" in text and "BLAS `mkl`, GPU none" in text
    assert "`LANDAU_FUSED_MIN_N=0`" in text and "`mine.py` sha256 `cdcdcdcdcdcd`" in text
    assert "peak resident memory up to 612 MiB" in text and "drift:maxwell 5, x 1" in text
    old = provenance_lines({"provenance": {"git_commit": "c0"}})  # a run before issue 44: one line
    assert old == ["## Provenance", "", "- commit `c0`; Python ?, torch ?, numpy ?, host `?`", ""]


def test_provenance_differences_name_each_changed_key():
    a = {"git_commit": "c1", "host": "a", "threads": 2, "torch_threads": 2, "env": {"LANDAU_X": "1"},
         "plugins": {"p.py": "ab" * 32}}
    assert provenance_differences(a, dict(a)) == []
    assert provenance_differences(a, {**a, "host": "b"}) == []  # a machine's name is left out
    b = {**a, "threads": 4, "torch_threads": 4, "env": {"LANDAU_X": "1", "LANDAU_Y": "2"},
         "plugins": {"p.py": "cd" * 32}}
    assert provenance_differences(a, b) == ["`torch_threads`: 2 -> 4", "`plugins.p.py`: abababababab -> cdcdcdcdcdcd",
                                            "`env.LANDAU_Y`: unset -> 2"]  # A's keys first, then B's
    assert provenance_differences({"git_commit": "c1", "threads": 2}, a) == [
        "recorded in one run only: `torch_threads`, `env`, `plugins`"]


def planned_count(out: str) -> int:
    """The cell count a dry run prints, checked against the cells it lists."""
    count = int(re.search(r"^(\d+) cells? planned", out, re.M).group(1))
    assert count == len([line for line in out.splitlines() if re.match(r"  \S+ / \S+ / seed \d+", line)])
    return count


@pytest.mark.parametrize("argv, cells", [
    (["run", "-s", "blob", "-p", "bkw2d"], 1),
    (["sweep", "-s", "blob", "-p", "bkw2d"], None),
    (["diagnose", "-p", "bkw2d"], None),
])
def test_a_dry_run_prints_the_plan_and_provenance_and_writes_nothing(argv, cells, tmp_path, capsys):
    out_dir = tmp_path / "deeper" / "run"
    assert main([*argv, "--profile", "smoke", "--dry-run", "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert not out_dir.exists() and not out_dir.parent.exists()
    n = planned_count(out)
    assert n == cells if cells is not None else n > 1
    assert "estimate: about" in out and "provenance the manifest would record:" in out
    assert re.search(r"^  git_dirty: (True|False|None)$", out, re.M) and "  env: " in out


def test_a_real_cell_records_what_it_used():
    from harness.execute.run_cell import run_cell
    rec = run_cell(Cell("blob", "bkw2d", 0), PROFILES["smoke"], "cpu")
    assert rec.ok, rec.error
    blob_calls = sum(n for k, n in rec.kernels.items() if k.startswith("blob_score:"))
    assert blob_calls > 0 and rec.kernels.get("drift:maxwell", 0) >= blob_calls  # bkw2d is Maxwellian: gamma = 0
    assert rec.peak_rss_mb > 10 and set(rec.to_json()) >= {"peak_rss_mb", "kernels", "solve_cpu_s"}
    assert 0 < rec.solve_cpu_s <= rec.total_s  # the CPU of one thread inside the cell's wall time


def test_cpu_seconds_are_recorded_only_where_they_are_the_methods_cost():
    """A trained solver's training may have run in another cell (solve_s charges info['train_s']): no CPU seconds;
    'auto' on this CPU machine and 'cpu' keep them."""
    from harness.execute.run_cell import cpu_seconds
    assert cpu_seconds(2.5, {}, "cpu") == 2.5 and cpu_seconds(2.5, {"steps": 3}, "auto") == 2.5
    assert cpu_seconds(2.5, {"train_s": 40.0}, "cpu") is None
