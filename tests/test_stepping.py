"""Time stepping (fixed and adaptive Euler) and the framework's exclusive phase stopwatch."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import solvers
from problems import drift, get_problem
from problems.cases.characteristics import integrate_characteristics
from solvers.base import Stopwatch
from solvers.stepping import StepRule, integrate, step_schedule


def _linear(lam):
    """dv/dt = -lam(t) v: exact solution v0 exp(-int lam)."""
    return lambda v, t: -lam(t) * v


def _run(rule, velocity, times=(1.0, 2.0, 4.0), v0=None, **kw):
    v0 = torch.ones(50, 2, dtype=torch.float64) if v0 is None else v0
    got = {}
    v, stats = integrate(v0, 0.0, times, rule, velocity, lambda t, x: got.__setitem__(t, x.clone()), **kw)
    return got, stats


def test_adaptive_hits_every_snapshot_and_its_error_falls_with_tol():
    v0 = torch.randn(200, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    errs = []
    for tol in (1e-2, 1e-3, 1e-4):
        got, stats = _run(StepRule(None, dt_max=1.0, tol=tol), _linear(lambda t: 1.0), v0=v0)
        assert sorted(got) == [1.0, 2.0, 4.0]
        errs.append(float((got[4.0] - v0 * math.exp(-4.0)).norm() / (v0 * math.exp(-4.0)).norm()))
    # Euler is first order and its local error is O(h^2): h ~ sqrt(tol), global error ~ sqrt(tol)
    assert errs[0] > errs[1] > errs[2]
    assert 2.0 < errs[0] / errs[1] < 6.0 and 2.0 < errs[1] / errs[2] < 6.0, errs


def test_adaptive_takes_small_steps_only_where_the_dynamics_is_stiff():
    stiff = lambda t: 200.0 if t < 0.5 else 0.1  # a fast transient, then slow decay
    got, stats = _run(StepRule(None, dt_max=0.5, tol=1e-3), _linear(stiff))
    assert stats.h_min < 0.01 and stats.h_max == pytest.approx(0.5)
    assert stats.rejected >= 1
    assert torch.isfinite(got[4.0]).all() and float(got[4.0].abs().max()) < 1e-3  # stable through the transient
    fixed = step_schedule(0.0, (1.0, 2.0, 4.0), stats.h_min)
    assert stats.accepted < len(fixed) / 5  # far fewer steps than a fixed step that is stable throughout


def test_pure_velocity_is_evaluated_once_per_accepted_or_rejected_step():
    calls = []

    def velocity(v, t):
        calls.append(t)
        return -v

    _, stats = _run(StepRule(None, dt_max=1.0, tol=1e-3), velocity)
    assert len(calls) == 1 + stats.accepted + stats.rejected


def test_a_trial_velocity_keeps_the_side_effecting_one_to_accepted_steps():
    """On the stiff transient the rule rejects steps; every proposal (accepted or rejected) goes to the trial
    velocity, and the side-effecting one runs once at the start of each accepted step, never for a rejected one."""
    stiff = _linear(lambda t: 200.0 if t < 0.5 else 0.1)
    accepted_starts, on_step, trials = [], [], []
    _, stats = _run(StepRule(None, dt_max=0.5, tol=1e-3), lambda v, t: accepted_starts.append(t) or stiff(v, t),
                    trial_velocity=lambda v, t: trials.append(t) or stiff(v, t), on_step=lambda t, v: on_step.append(t))
    assert stats.rejected >= 1
    assert accepted_starts == on_step and len(on_step) == stats.accepted
    assert len(trials) == stats.accepted + stats.rejected


def test_fixed_rule_is_the_old_schedule():
    got, stats = _run(StepRule(0.3), _linear(lambda t: 1.0))
    assert stats.accepted == len(step_schedule(0.0, (1.0, 2.0, 4.0), 0.3)) and stats.rejected == 0
    assert stats.h_max <= 0.3 + 1e-12


@pytest.mark.parametrize("bad", [dict(dt=0.0), dict(dt=-1.0), dict(dt=None, tol=0.0), dict(dt=None, dt_max=-1.0)])
def test_bad_rules_are_refused(bad):
    with pytest.raises(ValueError):
        StepRule(**bad)


def test_adaptive_sbp_with_exact_score_keeps_bkw_energy_and_reaches_the_exact_flow():
    """sbp(score=exact) with adaptive steps on bkw2d, float64, with a dt_max large enough that the rule rejects
    steps. The particle drift conserves energy exactly in continuous time, so the energy drift is Euler's
    (sum h^2 mean|U|^2, recorded as euler_energy_increment) and stays below 1e-3. At every snapshot the rms
    distance to the exact characteristics of the same initial particles (DOP853, problems.cases.characteristics) is
    below 6% of the rms distance those moved from their start (4-11% of the rms speed): measured 0.19, 0.36,
    0.52% against 4.4, 8.1, 11.0% (4.3-4.7%: the Monte Carlo error of the drift's moments at N = 10^4 plus
    Euler's error at tol 1e-4). Stepping time 10% ahead of the particles gives 7.5-7.7%."""
    p = get_problem("bkw2d")
    cfg = solvers.get_solver("sbp").profile_config("quick", p, score="exact", n=10_000, dt=None, dt_max=1.0, tol=1e-4)
    tr = solvers.get_solver("sbp")(cfg).solve(p, seed=3)
    assert tr.info["rejected_steps"] >= 1 and tr.info["steps"] >= 10 and tr.info["h_max"] <= 1.0
    e0, e1 = float((tr.initial ** 2).sum(-1).mean()), float((tr.at(5.0) ** 2).sum(-1).mean())
    assert abs(e1 - e0) / e0 < 1e-3
    assert (e1 - e0) / e0 == pytest.approx(tr.info["euler_energy_increment"], rel=1e-6)
    exact = integrate_characteristics(p, tr.initial, p.snapshot_times, 1e-10, 1e-12)
    scale = float((tr.initial ** 2).sum(-1).mean().sqrt())
    for t, x in zip(p.snapshot_times, exact):
        err = float(((tr.at(t) - x) ** 2).sum(-1).mean().sqrt()) / scale
        moved = float(((tr.initial - x) ** 2).sum(-1).mean().sqrt()) / scale
        assert err < 0.06 * moved and moved > 0.04, (t, err, moved)


# ---------------------------------------------------------------------------- stopwatch
class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_nested_phases_are_counted_once():
    clock = FakeClock()
    sw = Stopwatch(clock)
    with sw("stepping"):
        clock.now += 1.0  # stepping itself
        with sw("training"):
            clock.now += 2.0
        with sw("drift"):
            clock.now += 0.5
            with sw("training"):
                clock.now += 0.25
        clock.now += 0.125
    assert sw.times == {"stepping": 1.125, "training": 2.25, "drift": 0.5}
    assert sum(sw.times.values()) == clock.now


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.floats(0, 10)), min_size=1, max_size=12))
def test_phase_times_always_sum_to_the_wall_time(steps):
    """Any nesting: the phases partition the time spent inside the outermost phase."""
    clock = FakeClock()
    sw = Stopwatch(clock)

    def nest(items):
        if not items:
            return
        (name, dt), rest = items[0], items[1:]
        with sw(name):
            clock.now += dt
            nest(rest)
            clock.now += dt / 2

    nest(steps)
    assert sum(sw.times.values()) == pytest.approx(clock.now)


def test_sbp_solve_seconds_count_each_phase_once(monkeypatch):
    """sbp's drift runs inside its stepping phase: with a counting clock the recorded phases add up to the
    solve's wall time, not more (the old Stopwatch counted drift twice)."""
    clock = FakeClock()
    real = Stopwatch.__init__
    monkeypatch.setattr(Stopwatch, "__init__", lambda self, c=None: real(self, clock))
    def slow_drift(*a, **k):
        clock.now += 1.0  # every drift call "takes" one second
        return drift(*a, **k)

    monkeypatch.setattr("solvers.sbp.drift", slow_drift)
    p = get_problem("bkw2d").replace(snapshot_times=(0.5,))
    cfg = solvers.get_solver("sbp").profile_config("smoke", p, n=50, init_iters=2)
    tr = solvers.get_solver("sbp")(cfg).run(p, seed=0)
    steps = tr.info["steps"]
    assert tr.wall_time["drift"] == pytest.approx(steps)
    assert sum(tr.wall_time.values()) == pytest.approx(clock.now)
    assert tr.wall_time["stepping"] < 1e-9  # nothing else advanced the fake clock


def test_max_move_bounds_eulers_energy_drift():
    """A rotation U = omega J v conserves |v|^2; Euler raises it by exactly h^2 mean|U|^2 a step, which the
    stats record. With the displacement cap binding (tol loose), every step moves the particles by max_move
    sigma (rms), so the drift is close to max_move sigma * int rms|U| dt / E0 and falls linearly with max_move."""
    omega = 2.0
    rot = lambda v, t: omega * torch.stack([-v[:, 1], v[:, 0]], -1)
    v0 = torch.randn(100, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    v0 = v0 - v0.mean(0)
    e0 = float(v0.pow(2).sum(-1).mean())
    sigma = math.sqrt(e0 / 2)
    drifts = []
    for move in (1e-2, 1e-3):
        got, stats = _run(StepRule(None, dt_max=1.0, tol=10.0, max_move=move), rot, v0=v0)
        drift = float(got[4.0].pow(2).sum(-1).mean()) / e0 - 1
        predicted = move * sigma * omega * math.sqrt(e0) * 4.0 / e0  # |U| = omega |v| stays ~ omega sqrt(E0)
        assert drift == pytest.approx(stats.energy_increment, rel=0.05)
        assert 0.8 * predicted <= drift <= 1.2 * predicted, (move, drift, predicted)
        drifts.append(drift)
    assert drifts[0] / drifts[1] == pytest.approx(10, rel=0.1)
    free, _ = _run(StepRule(None, dt_max=1.0, tol=10.0), rot, v0=v0)
    assert float(free[4.0].pow(2).sum(-1).mean()) / e0 - 1 > 0.1  # without the cap Euler spirals out


def test_energy_projection_restores_mean_and_spread_exactly():
    """project_energy moves particles back to the mean and the mean squared deviation they started with, and
    with it an Euler run of a velocity that pumps energy keeps both to round-off (float64)."""
    from solvers.stepping import StepRule, integrate, project_energy
    gen = torch.Generator().manual_seed(3)
    v0 = torch.randn(500, 2, generator=gen, dtype=torch.float64) + torch.tensor([0.5, -1.0], dtype=torch.float64)
    mean0, spread0 = v0.mean(0), float((v0 - v0.mean(0)).pow(2).sum(-1).mean())
    w, size = project_energy(1.3 * v0 + 2.0, mean0, spread0)
    assert torch.allclose(w, v0, rtol=0, atol=1e-13) and size == pytest.approx(1 - 1 / 1.3, rel=1e-12)

    def rotation(v, t):  # sum_i v_i . U_i = 0 about the origin, but Euler's h^2 |U|^2 raises the spread
        return torch.stack([-(v[:, 1] - mean0[1]), v[:, 0] - mean0[0]], dim=-1)

    spreads = {}
    for project in (False, True):
        for rule in (StepRule(0.1, energy_projection=project), StepRule(None, dt_max=0.1, energy_projection=project)):
            seen = []
            v, stats = integrate(v0, 0.0, [1.0, 2.0], rule, rotation, lambda t, v: seen.append(v))
            spreads[(project, rule.adaptive)] = float((v - v.mean(0)).pow(2).sum(-1).mean()) / spread0 - 1
            assert torch.allclose(v.mean(0), mean0, rtol=0, atol=1e-12)
            assert (stats.projection_max > 0) == project
    assert spreads[(False, False)] == pytest.approx(1.01 ** 20 - 1, rel=1e-9)  # (1 + h^2)^steps
    assert spreads[(False, True)] > 1e-3
    assert abs(spreads[(True, False)]) < 1e-13 and abs(spreads[(True, True)]) < 1e-13
