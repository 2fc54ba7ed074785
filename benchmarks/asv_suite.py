"""asv benchmarks: speed (time_*, peakmem_*) and accuracy (track_*) in one history per commit.

    asv machine --yes && asv run -E existing:same --set-commit-hash $(git rev-parse HEAD) && asv publish

Every benchmark carries an explicit `version`, so editing this file does not reset a history
unless the measured thing changes (then bump its version).
"""
from __future__ import annotations

import torch

import metrics
import problems
import solvers
from harness.execute.evaluate import evaluate
from problems import drift
from problems.particle_drift.dispatch import pairwise_drift
from solvers.pinn_loss import pinn_losses
from solvers.pinn_pm import PINNConfig
from solvers.pinn_training import build_networks

torch.set_num_threads(max(1, torch.get_num_threads()))


def _particles(n: int, d: int, dtype=torch.float32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(n, d, generator=g, dtype=torch.float64)
    s = -v + 0.1 * torch.randn(n, d, generator=g, dtype=torch.float64)
    return v.to(dtype), s.to(dtype)


class Drift:
    """problems.drift (the default path every solver uses) for gamma in {0, -3}, d in {2, 3}."""

    params = ([0.0, -3.0], [2, 3], [1_000, 4_000, 16_000, 64_000])
    param_names = ["gamma", "d", "n"]
    number = 1
    repeat = (1, 3, 30.0)
    timeout = 300
    version = "1"

    def setup(self, gamma, d, n):
        self.v, self.s = _particles(n, d)
        drift(self.v, self.s, gamma, 1 / 24)  # compile / warm up outside the timing

    def time_drift(self, gamma, d, n):
        drift(self.v, self.s, gamma, 1 / 24)

    def peakmem_drift(self, gamma, d, n):
        drift(self.v, self.s, gamma, 1 / 24)


class DriftReference:
    """The blockwise broadcasting reference (what the fused kernel replaces), small N only."""

    params = ([1_000, 4_000],)
    param_names = ["n"]
    number = 1
    repeat = (1, 3, 30.0)
    version = "1"

    def setup(self, n):
        self.v, self.s = _particles(n, 3)

    def time_pairwise_reference(self, n):
        pairwise_drift(self.v, self.s, -3.0, 1 / 24)


class Metrics:
    """W1 (exact, POT) at n = 2,000 and the KDE relative L2 error of 10^5 particles on bkw2d's grid."""

    version = "1"
    timeout = 300

    def setup(self):
        self.p = problems.get_problem("bkw2d")
        self.x = self.p.sample_at(5.0, 2_000, 0)
        self.y = self.p.sample_at(5.0, 2_000, 1)
        self.big = self.p.sample_at(5.0, 100_000, 2)

    def time_w1_2000(self):
        metrics.w1(self.x, self.y)

    def time_kde_l2_1e5_2d(self):
        metrics.kde_l2(self.big, self.p, 5.0)

    def peakmem_kde_l2_1e5_2d(self):
        metrics.kde_l2(self.big, self.p, 5.0)


class SolverSteps:
    """One SBP step (10 ISM iterations + drift, N = 1,000, bkw2d) and one PINN-PM training iteration
    (group A, N = 1,000, 16 collocation times, bkw2d)."""

    version = "1"
    timeout = 300

    def setup(self):
        self.p = problems.get_problem("bkw2d")
        cfg = solvers.get_solver("sbp").profile_config("quick", self.p)
        from solvers.networks import mlp, seeded
        from solvers.score_matching import ism_loss
        self.v = self.p.sample(1_000, 0)
        self.net = seeded(lambda: mlp(2, 2, cfg.width, cfg.depth), 0, "cpu", torch.float64)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        self.ism_loss, self.iters = ism_loss, cfg.iters_per_step
        pcfg = PINNConfig(group="A")
        self.flow, self.score = build_networks(self.p, pcfg, 0, torch.device("cpu"), torch.float32)
        self.popt = torch.optim.Adam(list(self.flow.parameters()) + list(self.score.parameters()), lr=1e-4)
        self.v0 = self.p.sample(1_000, 1).float()
        self.times = torch.linspace(0.1, 5.0, 16)

    def time_sbp_step(self):
        for _ in range(self.iters):
            self.opt.zero_grad()
            self.ism_loss(self.net, self.v).backward()
            self.opt.step()
        with torch.no_grad():
            self.v + 0.05 * drift(self.v, self.net(self.v), self.p.gamma, self.p.C)

    def time_pinn_iteration(self):
        losses = pinn_losses(self.flow, self.score, self.v0, self.times, self.p.gamma, self.p.C)
        self.popt.zero_grad()
        (losses["phys"] + losses["ism"]).backward()
        self.popt.step()


def _cell(solver: str, profile: str) -> dict:
    p = problems.get_problem("bkw2d")
    cls = solvers.get_solver(solver)
    traj = cls(cls.profile_config(profile, p)).solve(p, seed=0)
    return {(r["metric"], r["t"]): r["value"] for r in evaluate(traj, p, 0)}


class Accuracy:
    """Errors of the reference cells on bkw2d at t = 5 (seed 0): sbp and blob at the quick profile,
    both PINN-PM variants at the smoke profile. Lower is better; speed and error share one history."""

    version = "1"
    timeout = 900
    unit = "relative error"

    def setup_cache(self):
        return {"sbp_quick": _cell("sbp", "quick"), "blob_quick": _cell("blob", "quick"),
                "pinn_pm_particle_smoke": _cell("pinn_pm_particle", "smoke"),
                "pinn_pm_score_smoke": _cell("pinn_pm_score", "smoke")}

    params = (["sbp_quick", "blob_quick", "pinn_pm_particle_smoke", "pinn_pm_score_smoke"],)
    param_names = ["cell"]

    def track_w1(self, cache, cell):
        return cache[cell][("w1", 5.0)]

    def track_kde_l2(self, cache, cell):
        return cache[cell][("kde_l2", 5.0)]

    def track_rfd(self, cache, cell):
        return cache[cell].get(("rfd", 5.0), float("nan"))
