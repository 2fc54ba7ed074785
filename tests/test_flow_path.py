"""certificates.flow_path against maps whose path is known in closed form: a linear map Phi(v, t) = (I + t A) v
(u = A v, det J = det(I + t A), mu_t's score (I + t A)^{-T} grad log f0(v)), a map with its own forward mode, a
folding map, the exact characteristics of bkw2d (Liouville's det J = f0(v) / f_t(X)) and the cell dispatch of
flow_path_of."""
import math
from types import SimpleNamespace

import pytest
import torch

import solvers.pinn_training
from certificates.flow_path import FlowState, characteristics_path, flow_path_of, network_path
from problems import get_problem
from problems.cases.characteristics import integrate_characteristics

f64 = torch.float64
A = torch.tensor([[0.5, 1.0], [-0.25, 0.2]], dtype=f64)


class _Linear(torch.nn.Module):
    """Phi(v, t) = v (I + t A)^T, no parameters (evaluated in float64 on the CPU by default)."""

    def forward(self, v, t):
        return v + t * (v @ A.to(v.dtype).T)


def _score(v):
    return -v  # f0 = N(0, I)


@pytest.mark.parametrize("t", [0.0, 0.5, 2.0])
def test_network_path_of_a_linear_map(t):
    v = torch.tensor([[1.0, 2.0], [-0.5, 0.25], [0.0, 0.0]], dtype=f64)
    path = network_path(_Linear(), _score)
    assert path.source == "flow map"
    (st,) = path.states(v, [t])
    j = torch.eye(2, dtype=f64) + t * A
    assert isinstance(st, FlowState) and st.t == t and st.x.dtype == f64
    assert torch.allclose(st.x, v @ j.T, rtol=0, atol=1e-15)
    assert torch.allclose(st.u, v @ A.T, rtol=0, atol=1e-15)
    assert torch.allclose(st.det, torch.full((3,), float(torch.linalg.det(j)), dtype=f64), rtol=1e-14)
    assert torch.allclose(st.s, torch.linalg.solve(j.T, -v.T).T, rtol=1e-12, atol=1e-14)
    (x,) = path.push(v, [t])
    assert torch.allclose(x, v @ j.T, rtol=0, atol=1e-15)


def test_network_path_states_and_push_at_several_times():
    v = torch.tensor([[1.0, -1.0]], dtype=f64)
    path = network_path(_Linear(), _score, source="named")
    states = path.states(v, [0.25, 1.0])
    assert path.source == "named" and [s.t for s in states] == [0.25, 1.0]
    pushed = path.push(v, [0.25, 1.0])
    for st, x, t in zip(states, pushed, (0.25, 1.0)):
        assert torch.equal(st.x, x) and torch.allclose(x, v + t * v @ A.T, atol=1e-15)


class _OwnForwardMode(_Linear):
    """The same map, with a written-out forward mode that states its velocity (here 3 A v, to see it is used)."""

    def value_and_velocity(self, v, t):
        return self(v, t), 3 * (v @ A.T)


def test_network_path_uses_a_written_out_forward_mode():
    v = torch.tensor([[1.0, 2.0]], dtype=f64)
    (st,) = network_path(_OwnForwardMode(), _score).states(v, [0.5])
    assert torch.allclose(st.u, 3 * (v @ A.T), atol=1e-15)


class _Fold(torch.nn.Module):
    """Phi(v, t) = (v_1 (1 - 2t), v_2): det J = 1 - 2t, 0 at t = 1/2."""

    def forward(self, v, t):
        return torch.stack([v[..., 0] * (1 - 2 * t), v[..., 1] + 0 * t], -1)


def test_a_folded_map_has_no_score():
    v = torch.tensor([[1.0, 2.0], [0.5, -1.0]], dtype=f64)
    before, at, after = network_path(_Fold(), _score).states(v, [0.25, 0.5, 0.75])
    assert torch.allclose(before.s, torch.stack([-v[:, 0] / 0.5, -v[:, 1]], -1), atol=1e-14)
    assert torch.allclose(before.det, torch.full((2,), 0.5, dtype=f64))
    assert torch.isnan(at.s).all() and torch.isnan(after.s).all()
    assert torch.allclose(after.det, torch.full((2,), -0.5, dtype=f64))


class _Float32(torch.nn.Module):
    """A float32 map with one parameter: the path is evaluated in float32 and returned float64."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(1 / 3, dtype=torch.float32))

    def forward(self, v, t):
        return v * (1 + self.a * t)


def test_network_path_evaluates_in_the_flows_dtype():
    v = torch.tensor([[1.0, 0.1]], dtype=f64)
    (st,) = network_path(_Float32(), _score).states(v, [1.0])
    want32 = (v.float() * (1 + torch.tensor(1 / 3, dtype=torch.float32))).double()
    assert st.x.dtype == f64 and torch.equal(st.x, want32)
    assert not torch.equal(st.x, v * (1 + 1 / 3))  # float64 evaluation would differ in the last digits
    (x,) = network_path(_Float32(), _score).push(v, [1.0])
    assert x.dtype == f64 and torch.equal(x, want32)


def test_characteristics_path_of_bkw2d():
    """x = X(v, t) (DOP853), u = U_f(t, x), s = grad log f_t(x), det = f0(v) / f_t(x); push sorts the times."""
    p = get_problem("bkw2d")
    v = p.sample(6, 3)
    path = characteristics_path(p)
    assert path.source == "exact characteristics"
    states = path.states(v, [0.5, 0.2])
    xs = integrate_characteristics(p, v.to(f64), [0.2, 0.5], 1e-10, 1e-12)
    assert [s.t for s in states] == [0.2, 0.5]
    for st, x in zip(states, xs):
        assert torch.allclose(st.x, x, rtol=1e-12, atol=1e-14)
        assert torch.allclose(st.u, p.mean_field_drift(x, st.t), rtol=1e-12, atol=1e-14)
        assert torch.allclose(st.s, p.score(x, st.t), rtol=1e-12, atol=1e-14)
        assert torch.allclose(st.det, p.initial_density(v.to(f64)) / p.density(x, st.t), rtol=1e-12)
        assert not torch.allclose(st.det, torch.ones(6, dtype=f64), rtol=1e-3)  # the density does change
    pushed = path.push(v, [0.5, 0.2])
    assert all(torch.allclose(a, b, rtol=1e-12, atol=1e-14) for a, b in zip(pushed, xs))


def test_characteristics_path_tolerances_are_passed_on(monkeypatch):
    import certificates.flow_path as fp
    seen = []
    monkeypatch.setattr(fp, "integrate_characteristics", lambda p, v, times, rtol, atol: seen.append(
        (times, rtol, atol)) or [v for _ in times])
    p = get_problem("bkw2d")
    characteristics_path(p).push(p.sample(2, 1), [0.3, 0.1])
    characteristics_path(p, rtol=1e-6, atol=1e-7).push(p.sample(2, 1), [0.1])
    assert seen == [([0.1, 0.3], 1e-10, 1e-12), ([0.1], 1e-6, 1e-7)]


def test_flow_path_of_dispatches_on_the_cell(monkeypatch):
    p = get_problem("bkw2d")
    exact = SimpleNamespace(solver="exact_flow", info={"method": "dop853"}, probe=None)
    assert flow_path_of(exact, p, None, 0, None).source == "exact characteristics"
    other = SimpleNamespace(solver="exact_flow", info={"method": "rk4"}, probe=None)
    assert flow_path_of(other, p, None, 0, None) is None
    probe = SimpleNamespace(solver="pinn_pm_particle", info={}, probe=SimpleNamespace(flow=_Linear()))
    path = flow_path_of(probe, p, None, 0, None)
    assert path.source == "flow map (its own push-forward score)"
    assert torch.allclose(path.push(torch.ones(1, 2, dtype=f64), [1.0])[0], torch.tensor([[2.5, 0.95]], dtype=f64))
    trained = SimpleNamespace(solver="pinn_pm_sc", info={}, probe=None)
    cfg = SimpleNamespace(drift_score="flow")
    assert flow_path_of(trained, p, cfg, 0, None) is None  # no run directory: nothing to reload
    assert flow_path_of(trained, p, SimpleNamespace(drift_score="exact"), 0, "/nowhere") is None
    calls = []

    def fake_train(problem, config, seed, device, workdir):
        calls.append((problem.name, config, seed, str(device), workdir))
        return SimpleNamespace(flow=_Linear())

    monkeypatch.setattr(solvers.pinn_training, "train_pinn_pm", fake_train)
    path = flow_path_of(trained, p, cfg, 7, "/work/dir")
    assert calls == [("bkw2d", cfg, 7, "cpu", "/work/dir")]
    assert path.source == "flow map (its own push-forward score)"
    assert math.isclose(float(path.push(torch.ones(1, 2, dtype=f64), [0.0])[0][0, 0]), 1.0)


class _Recorder(torch.nn.Module):
    """Records the device and dtype it is called with; returns zeros on the CPU."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, v, t):
        self.seen.append((v.device.type, t.device.type, v.dtype, t.dtype))
        return torch.zeros(v.shape, dtype=f64)


def test_network_path_uses_the_device_and_dtype_it_is_given():
    """An explicit device and dtype win over the flow's own (here none): the map is called on them (the meta device:
    no memory, no values) and the result comes back float64 on the CPU."""
    rec = _Recorder()
    (x,) = network_path(rec, _score, device=torch.device("meta"), dtype=torch.float32).push(torch.ones(3, 2), [0.5])
    assert rec.seen == [("meta", "meta", torch.float32, torch.float32)]
    assert x.device.type == "cpu" and x.dtype == f64 and torch.equal(x, torch.zeros(3, 2, dtype=f64))
