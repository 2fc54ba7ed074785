"""A transport map's path as the a-posteriori certificates read it: positions, velocity, own score and det J.

For a map x = Phi(v, t) pushing f0 forward (mu_t = Phi(., t)#f0), at the particles x_i = Phi(v_i, t):

    u_i = d/dt Phi(v_i, t),   s_i = J^{-T} (grad log f0(v_i) - grad_v log|det J(v_i)|)  (mu_t's own score,
    solvers.flow_score.self_consistent_score),   det_i = det J(v_i) (<= 0: the map folds, mu_t is not its push-forward).

Three sources: a network flow map (PINN-PM; `network_path`) and the exact characteristics X(v, t) of a problem with
an exact solution (`characteristics_path`: u = U_f(X), s = grad log f_t(X) since X(., t)#f0 = f_t, det = f0(v) / f_t(X) by
Liouville's formula), and the RK4 flow of neural_flow's slab networks (`carried_path`: u = u_theta, s and det carried
along with x, solvers.characteristics_rk4). `flow_path_of` finds the map of a finished cell.
"""
from __future__ import annotations

import math

from dataclasses import dataclass
from typing import Callable

import torch
from torch.func import jvp

from problems import Problem
from problems.cases.characteristics import integrate_characteristics
from solvers.flow_score import jacobian_determinants, self_consistent_score

CHUNK = 4_096


@dataclass(frozen=True)
class FlowState:
    """The path at one time t: x, u, s (N, d) float64 (positions, d/dt Phi, mu_t's score) and det (N,) float64."""

    t: float
    x: torch.Tensor
    u: torch.Tensor
    s: torch.Tensor
    det: torch.Tensor


@dataclass(frozen=True)
class FlowPath:
    """A map's path: `states(v, times)` -> [FlowState] at the points v (N, d) for increasing times; `push(v, times)`
    -> [(N, d) float64] positions only (cheap: fresh samples of f0 pushed forward); `source` names the map."""

    source: str
    states: Callable[[torch.Tensor, list[float]], list[FlowState]]
    push: Callable[[torch.Tensor, list[float]], list[torch.Tensor]]
    #: the map's own time grid (None: any grid): `grid` lists its nodes, a time repeated where the velocity jumps
    #: (the end of one training slab and the start of the next), and `states` must be given exactly that list
    grid: list[float] | None = None
    #: the same map with the score of f0's mollified start of width eps (Problem.mollified_start) in place of f0's:
    #: mu_t^eps = Phi_t # f0_eps, whose score it carries or computes (None: it cannot restart, e.g. the exact ones)
    with_start: Callable[[float], "FlowPath"] | None = None
    #: the width of the mollified start this path's score already starts from (neural_flow's mollify_eps; 0: f0's)
    start_eps: float = 0.0


def network_path(flow, initial_score: Callable, device=None, dtype=None, source: str = "flow map",
                 problem: Problem | None = None) -> FlowPath:
    """The FlowPath of a network flow map flow(v (N, d), t (1,)) -> (N, d) with f0's score `initial_score`: u by
    the flow's written-out forward mode in t (`value_and_velocity`) or torch.func.jvp, s by
    self_consistent_score (NaN at a time where some det J <= 0: folded), det by jacobian_determinants; evaluated on `device`/`dtype` (default: the flow's
    parameters'), returned float64 on the CPU."""
    params = list(flow.parameters()) if hasattr(flow, "parameters") else []
    device = device or (params[0].device if params else torch.device("cpu"))
    dtype = dtype or (params[0].dtype if params else torch.float64)
    f64 = torch.float64

    def tt(t):
        return torch.full((1,), float(t), dtype=dtype, device=device)

    def velocity(v, t):
        if hasattr(flow, "value_and_velocity"):
            return flow.value_and_velocity(v, tt(t))
        return jvp(lambda s: flow(v, s), (tt(t),), (torch.ones(1, dtype=dtype, device=device),))

    def states(v, times):
        out = []
        for t in times:
            parts = []
            for c in v.to(device, dtype).split(CHUNK):
                with torch.no_grad():
                    x, u = velocity(c, t)
                det = jacobian_determinants(flow, c, tt(t))
                s = self_consistent_score(flow, initial_score, c, tt(t)) if bool((det > 0).all()) \
                    else torch.full_like(c, math.nan)  # folded: mu_t has no score from this map
                parts.append((x.detach(), u.detach(), s, det))
            x, u, s, det = (torch.cat([p[k] for p in parts]).to("cpu", f64) for k in range(4))
            out.append(FlowState(float(t), x, u, s, det))
        return out

    def push(v, times):
        with torch.no_grad():
            return [torch.cat([flow(c, tt(t)) for c in v.to(device, dtype).split(CHUNK)]).to("cpu", f64)
                    for t in times]

    restart = None
    if problem is not None and problem.mollified_start(1.0) is not None:
        def restart(eps):
            return network_path(flow, problem.mollified_start(eps).score, device, dtype, source)
    return FlowPath(source, states, push, with_start=restart)


def characteristics_path(problem: Problem, rtol: float = 1e-10, atol: float = 1e-12) -> FlowPath:
    """The FlowPath of the exact characteristics X(v, t) (DOP853, problems.cases.characteristics): u = U_f(t, X),
    s = grad log f_t(X) (mu_t = f_t), det = f0(v) / f_t(X) (Liouville: the push-forward density is f_t)."""

    def push(v, times):
        return integrate_characteristics(problem, v.to("cpu", torch.float64), sorted(times), rtol, atol)

    def states(v, times):
        out = []
        for t, x in zip(sorted(times), push(v, times)):
            with torch.no_grad():
                det = problem.initial_density(v.to(torch.float64)) / problem.density(x, t)  # Liouville
                out.append(FlowState(float(t), x, problem.mean_field_drift(x, t), problem.score(x, t), det))
        return out

    return FlowPath("exact characteristics", states, push)


def carried_path(trained, problem: Problem, eps: float = 0.0) -> FlowPath:
    """The FlowPath of a trained neural_flow (solvers.neural_flow_training.TrainedFlow): the RK4 flow of its slab
    fields in float64 on its own nodes (`grid`: every slab's nodes in turn, the slab boundary listed twice, once
    with each slab's velocity); x, s and det = exp(log det J) carried from the start state of f0 (or of its
    mollified start of width eps: solvers.neural_flow_training.start_state), u the slab's field at x. det > 0 by
    construction. `push` moves positions only and returns them at the requested nodes. With conserve='affine' the
    field's correction is computed over the ensemble it moves (solvers.neural_flow_drift): the cell's particles in
    `states` (the solver's own flow), the fresh samples in `push` (the same method at that sample size)."""
    from solvers.characteristics_rk4 import carry, transport
    from solvers.neural_flow_training import start_state

    f64 = torch.float64
    fields, velocities = trained.slab_fields(f64), trained.slab_velocities(f64)
    grid = [t for slab in trained.slabs for t in slab]

    def states(v, times):
        if list(times) != grid:
            raise ValueError("a neural_flow path is evaluated on its own RK4 nodes only (FlowPath.grid)")
        state, out = start_state(problem, v.to("cpu", f64), eps), []
        for slab, field, velocity in zip(trained.slabs, fields, velocities):
            carried = carry(field, state, slab)
            for t, st in zip(slab, carried):
                with torch.no_grad():
                    u = velocity(st.x, t)
                out.append(FlowState(float(t), st.x.detach(), u.detach(), st.score.detach(),
                                     torch.exp(st.log_det.detach())))
            state = carried[-1].detach()
        return out

    def push(v, times):
        x, at = v.to("cpu", f64), {}
        for slab, velocity in zip(trained.slabs, velocities):
            moved = transport(velocity, x, slab)
            at.update(zip(slab, moved))
            x = moved[-1]
        missing = [t for t in times if t not in at]
        if missing:
            raise ValueError(f"times {missing} are not nodes of the neural_flow path")
        return [at[t] for t in sorted(times)]

    restart = (lambda e: carried_path(trained, problem, e)) if problem.mollified_start(1.0) is not None else None
    return FlowPath("neural_flow RK4 flow (its carried score)", states, push, grid, restart, float(eps))


def flow_path_of(traj, problem: Problem, config, seed: int, workdir: str | None) -> FlowPath | None:
    """The FlowPath of a finished cell, or None if its particles are not a map's push-forward of f0:
    exact_flow (dop853) -> the exact characteristics; a trajectory whose probe holds a flow map
    (pinn_pm_particle) -> that map; a flow-map solver trained with drift_score = flow (pinn_pm_sc, no probe) -> its
    trained map, reloaded by solvers.pinn_training.train_pinn_pm (the in-process memo or the run's checkpoint: no
    training); neural_flow -> its RK4 flow (carried_path), reloaded by solvers.neural_flow_training.train_neural_flow
    the same way."""
    if traj.solver == "exact_flow" and traj.info.get("method") == "dop853":
        return characteristics_path(problem)
    flow = getattr(traj.probe, "flow", None)
    if flow is not None:
        return network_path(flow, problem.initial_score, source="flow map (its own push-forward score)",
                            problem=problem)
    if traj.solver == "neural_flow":
        from solvers.neural_flow_training import train_neural_flow
        trained = train_neural_flow(problem, config, seed, torch.device("cpu"), workdir)
        return carried_path(trained, problem, config.mollify_eps)
    if getattr(config, "drift_score", None) == "flow" and workdir is not None:
        from solvers.pinn_training import train_pinn_pm
        trained = train_pinn_pm(problem, config, seed, torch.device("cpu"), workdir)
        return network_path(trained.flow, problem.initial_score, source="flow map (its own push-forward score)",
                            problem=problem)
    return None
