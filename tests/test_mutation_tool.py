"""benchmarks/mutation.py counts a mutant that times out as killed, so a --timeout below the tests' own time would
report every mutant killed (100%, the probe of issue 44): it is refused, naming the value and the least it takes."""
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks import mutation  # noqa: E402


@pytest.fixture
def fake_module(tmp_path, monkeypatch):
    """A module with one mutant whose tests take 0.3 s unmutated and always pass."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("x = 1 + 1\n")
    monkeypatch.setattr(mutation, "mutants_of", lambda module, source: [
        (mutation.Mutant(module, 0, 1, 6, "+", "-"), "x = 1 - 1\n")])
    calls = []

    def fake_run(workdir, module, timeout, fork=True):
        calls.append(timeout)
        time.sleep(0.3)
        return ("passed", "") if timeout >= 0.3 else ("timeout", "")
    monkeypatch.setattr(mutation, "run_tests", fake_run)
    return tmp_path, calls


def test_a_timeout_below_the_tests_own_time_is_refused(fake_module):
    workdir, calls = fake_module
    with pytest.raises(SystemExit, match=r"--timeout 0.1 s is below twice the 0\.\d s .*give at least 1 s"):
        mutation.measure("pkg/m.py", workdir, {}, 0.1, lambda s: None)
    assert calls == [3600]  # only the unmutated run: no mutant ran


def test_a_sufficient_timeout_runs_the_mutant(fake_module):
    workdir, calls = fake_module
    result = mutation.measure("pkg/m.py", workdir, {}, 5.0, lambda s: None)
    assert result["survived"] == 1 and result["timeout"] == 0 and calls == [3600, 5.0]
