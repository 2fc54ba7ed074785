"""A per-slab trace of neural_flow's training: how well each slab's velocity net fits its Landau drift and what the
carried score and det J do, to see where and why a training goes non-finite (issue 41, gaussian_mixture3d).

    PYTHONPATH=. python benchmarks/neural_flow_slabs.py --problem gaussian_mixture3d [--profile quick] [--seed 0]
        [--set grade=3] [--set inner=50] ...

One line per slab (solvers.neural_flow_training: slabs of `slab_steps` RK4 steps, `iters` Picard iterations of
`inner` Adam steps each): its time interval, the regression loss |u_theta - U|^2 at the first and last iteration
against the signal |U|^2 (loss / signal near 1: the net has not fitted the drift), the carried score's largest
norm and mean square (the Fisher information of the push-forward, physically non-increasing in 3D), the smallest
log det J (a strong compression), the second moment E|x|^2 (kept by the Landau flow) and the slab's seconds. The
trace stops at the first non-finite loss, with the training's own one-line message. Training only: no cell, no run
directory, no evaluation.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def parse_setting(cfg, text: str):
    """cfg with one 'field=value' applied (the value parsed as the field's type; a tuple as comma-separated ints);
    ValueError naming the bad text and the valid fields otherwise."""
    name, sep, value = text.partition("=")
    fields = {f.name for f in dataclasses.fields(cfg)}
    if not sep or name not in fields:
        raise ValueError(f"--set {text!r}: expected FIELD=VALUE with FIELD one of {', '.join(sorted(fields))}")
    kind = type(getattr(cfg, name))
    try:
        parsed = tuple(int(v) for v in value.split(",")) if kind is tuple else kind(value)
    except ValueError:
        raise ValueError(f"--set {text!r}: {value!r} is not a {kind.__name__}") from None
    return dataclasses.replace(cfg, **{name: parsed})


def trace(problem, cfg, seed: int, out=print) -> int:
    """Train slab by slab as solvers.neural_flow_training._train does (no checkpoints) and print one line per slab;
    the number of slabs trained (fewer than planned when the training went non-finite)."""
    import torch

    from infra import seeds
    from solvers import neural_flow_training as nft

    dtype = getattr(torch, cfg.dtype)
    slabs = nft.slabs_of(nft.nodes_for(problem, cfg), cfg.slab_steps)
    net = nft.build_net(problem, cfg, seed, torch.device("cpu"), dtype)
    start = nft.start_state(problem, problem.sample(cfg.n, seeds.NEURAL_FLOW_TRAINING.seed(seed)), cfg.mollify_eps)
    state = nft.Carried(*(a.to(dtype) for a in (start.x, start.log_f, start.score, start.log_det)))
    out(f"{problem.name}, seed {seed}, {len(slabs)} slabs; {cfg}")
    out(f"t0: |s| max {state.score.norm(dim=-1).max():.3g}, mean |s|^2 {(state.score ** 2).sum(-1).mean():.4g}")
    for j, nodes in enumerate(slabs):
        began = time.perf_counter()
        try:
            fits, state = nft._fit_slab(net, problem, cfg, state, nodes, j)
        except nft.NeuralFlowTrainingError as exc:
            out(f"stopped: {exc}")
            return j
        norm = state.score.norm(dim=-1)
        out(f"slab {j} [{nodes[0]:.4g}, {nodes[-1]:.4g}]: loss {fits[0]['phys']:.3g} -> {fits[-1]['phys']:.3g} of "
            f"|U|^2 {fits[-1]['signal']:.3g}; |s| max {norm.max():.3g}, mean |s|^2 {(norm ** 2).mean():.4g}; "
            f"min log det J {state.log_det.min():.3g}; E|x|^2 {(state.x ** 2).sum(-1).mean():.5g} "
            f"({time.perf_counter() - began:.1f} s)")
    return len(slabs)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and print the trace; 2 with a one-line message on bad input."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problem", default="gaussian_mixture3d")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], dest="settings")
    args = parser.parse_args(argv)
    from problems import get_problem
    from solvers.neural_flow import NeuralFlow

    try:
        problem = get_problem(args.problem)
        cfg = NeuralFlow.profile_config(args.profile, problem)
        for text in args.settings:
            cfg = parse_setting(cfg, text)
    except (KeyError, ValueError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    import torch
    torch.set_num_threads(1)
    trace(problem, cfg, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
