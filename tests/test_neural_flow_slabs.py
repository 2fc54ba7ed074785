"""benchmarks/neural_flow_slabs.py (the per-slab trace of neural_flow's training): its input checks, the stop at a
non-finite slab, and one real trace at the smoke profile."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import neural_flow_slabs as slabs_script  # noqa: E402

from problems import get_problem  # noqa: E402
from solvers import neural_flow_training as nft  # noqa: E402
from solvers.neural_flow import NeuralFlow  # noqa: E402


@pytest.mark.parametrize("text, message", [("nosuch=1", "FIELD one of arch,"), ("lr=abc", "'abc' is not a float"),
                                           ("lr", "expected FIELD=VALUE"), ("arch=1,x", "is not a tuple")])
def test_a_bad_setting_is_refused_in_one_line(capsys, text, message):
    assert slabs_script.main(["--problem", "bkw2d", "--set", text]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_settings_take_the_fields_type():
    cfg = NeuralFlow.profile_config("smoke", get_problem("bkw2d"))
    cfg = slabs_script.parse_setting(slabs_script.parse_setting(cfg, "grade=3"), "arch=8,1,4,1,16,2")
    assert cfg.grade == 3.0 and isinstance(cfg.grade, float) and cfg.arch == (8, 1, 4, 1, 16, 2)


def test_the_trace_stops_at_the_first_non_finite_slab(monkeypatch):
    """A stand-in training that fails in slab 2: two slab lines, then the training's own message, and 2 returned."""
    calls = []

    def fit(net, problem, cfg, state, nodes, slab):
        calls.append(slab)
        if slab == 2:
            raise nft.NeuralFlowTrainingError(f"non-finite in slab {slab}")
        return [{"phys": 1.0, "signal": 2.0}], state

    monkeypatch.setattr(nft, "_fit_slab", fit)
    problem = get_problem("bkw2d")
    lines = []
    assert slabs_script.trace(problem, NeuralFlow.profile_config("smoke", problem), 0, out=lines.append) == 2
    assert calls == [0, 1, 2]
    assert [ln.split(" [")[0] for ln in lines[2:4]] == ["slab 0", "slab 1"] and "loss 1 -> 1 of |U|^2 2" in lines[2]
    assert lines[-1] == "stopped: non-finite in slab 2" and len(lines) == 5


@pytest.mark.slow
def test_a_real_trace_at_the_smoke_profile_keeps_the_second_moment():
    """bkw2d at smoke sizes, one Adam step a slab: every planned slab traced, E|x|^2 within 5% of f0's (the Landau
    flow keeps it; an untrained net barely moves the particles)."""
    problem = get_problem("bkw2d")
    cfg = slabs_script.parse_setting(slabs_script.parse_setting(
        NeuralFlow.profile_config("smoke", problem), "iters=1"), "inner=1")
    lines = []
    n = slabs_script.trace(problem, cfg, 0, out=lines.append)
    assert n == len(nft.slabs_of(nft.nodes_for(problem, cfg), cfg.slab_steps)) and len(lines) == n + 2
    second = [float(ln.split("E|x|^2 ")[1].split()[0]) for ln in lines[2:]]
    assert all(abs(m / second[0] - 1) < 0.05 for m in second)
