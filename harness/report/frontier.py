"""Accuracy per second at large N (issue 45): each method's cost exponent, the error-against-seconds frontier and,
per CPU budget, the method with the least error.

A *rung* is one (solver, overrides) setting of a sweep, its seeds repeats (`harness.report.convergence.rung_stats`).
Cost is the seconds of the method itself (training + stepping, one torch thread a cell), never the harness's
evaluation: its CPU seconds (`solve_cpu_s`, the cell thread's time) where every cell of the problem recorded them,
which another job on the machine does not inflate, else the wall seconds `solve_s` (`cost_clock` says which). For a
problem of a sweep:

* `cost_exponents`: per solver ladder in N, the least-squares slope b of log(solve_s) = a + b log(N), per seed, its
  mean and sd over seeds (an O(N) method reads about 1, an O(N^2) one about 2 once N is large enough that the fixed
  costs no longer dominate, which is why the top of the ladder is fitted on its own too);
* `frontier`: the rungs no other rung beats at once in seconds and in error (lower mean error for no more mean
  seconds), sorted by seconds;
* `budget_choices`: for each CPU budget (`harness.report.thresholds.FRONTIER_BUDGETS_S`), each solver's least-error
  rung whose mean solve_s fits the budget; the least of those against the runner-up by
  `harness.report.evidence.pair_test` on the per-seed errors (paired t over the shared seeds): a winner is named
  only when p < RANK_ALPHA, else the sentence says "indistinguishable".
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.report.convergence import rung_stats, slope_fits
from harness.report.evidence import pair_test
from harness.report.thresholds import FRONTIER_BUDGETS_S, FRONTIER_TOP_FRACTION, RANK_ALPHA

#: the error the frontier is drawn for: the first of these the problem's table has (sliced W1 resolves at any N;
#: exact W1 only up to metrics.wasserstein.MAX_EXACT_POINTS)
FRONTIER_METRICS = ("sliced_w1", "w1")
#: the top of a ladder fitted on its own (harness.report.thresholds)
TOP_FRACTION = FRONTIER_TOP_FRACTION


def frontier_metric(table: pd.DataFrame, problem: str) -> str | None:
    """The error the problem's frontier uses: the first of FRONTIER_METRICS in its table, else None."""
    present = set(table.metric[table.problem == problem]) if not table.empty else set()
    return next((m for m in FRONTIER_METRICS if m in present), None)


def has_n_ladder(table: pd.DataFrame, problem: str) -> bool:
    """True when some solver ran `problem` at two or more N (the frontier's section and figure need it)."""
    df = table[table.problem == problem] if not table.empty else table
    return "p_n" in df.columns and not df.empty and df.groupby("solver").p_n.nunique().max() >= 2


def cost_clock(timings: pd.DataFrame, problem: str) -> tuple[pd.DataFrame, str]:
    """(timings, clock): where every cell of `problem` in `timings` has a finite `solve_cpu_s`, timings with
    `solve_s` replaced by it and clock 'CPU'; else timings unchanged and clock 'wall' (runs made before the records
    held CPU seconds, or a cell without them)."""
    if timings.empty or "solve_cpu_s" not in timings.columns:
        return timings, "wall"
    cpu = pd.to_numeric(timings.loc[timings.problem == problem, "solve_cpu_s"], errors="coerce")
    if cpu.empty or not np.isfinite(cpu.to_numpy(dtype=float)).all():
        return timings, "wall"
    out = timings.copy()
    mine = out.problem == problem
    out.loc[mine, "solve_s"] = cpu.astype(float)
    return out, "CPU"


def _cost_table(table: pd.DataFrame, timings: pd.DataFrame, problem: str) -> pd.DataFrame:
    """timings of `problem` as a long table of one metric 'solve_s' at t = 0, with the cells' p_ columns (N and the
    other config fields, from the metrics table), so that `slope_fits` fits log seconds against log N."""
    keys = ["solver", "problem", "seed", "overrides"]
    tm = timings[(timings.problem == problem)] if not timings.empty else timings
    if tm.empty or "solve_s" not in tm.columns or table.empty:
        return pd.DataFrame()
    params = [c for c in table.columns if c.startswith("p_")]
    cfg = table[table.problem == problem][keys + params].drop_duplicates(keys)
    out = tm[keys + ["solve_s"]].merge(cfg, on=keys, how="inner").rename(columns={"solve_s": "value"})
    return out.assign(metric="solve_s", t=0.0)


def cost_exponents(table: pd.DataFrame, timings: pd.DataFrame, problem: str) -> pd.DataFrame:
    """Per solver ladder in N on `problem`: exponent b of solve_s ~ N^b (mean over seeds), its sd, the N range and
    the exponent over the top of the ladder (N >= TOP_FRACTION x its largest N; NaN with fewer than 2 such N).
    Columns: solver, group, exponent, exponent_sd, top_exponent, seeds, n_min, n_max, points [(N, mean s)]."""
    cost = _cost_table(table, timings, problem)
    if cost.empty or "p_n" not in cost.columns:
        return pd.DataFrame()
    fits = slope_fits(cost, problem, "solve_s", t=0.0)
    if fits.empty:
        return fits
    tops = []
    for r in fits.itertuples():
        n_top = r.n_max * TOP_FRACTION
        sub = cost[(cost.solver == r.solver) & (cost.p_n >= n_top)]
        top = slope_fits(sub, problem, "solve_s", t=0.0)
        top = top[top.group == r.group] if not top.empty else top
        tops.append(float(top.slope.iloc[0]) if not top.empty and top.n_min.iloc[0] > r.n_min else math.nan)
    return fits.rename(columns={"slope": "exponent", "slope_sd": "exponent_sd"}).assign(top_exponent=tops)


def frontier(stats: pd.DataFrame) -> pd.DataFrame:
    """The rows of `stats` (rung_stats: y, solve_s per rung) on the error-seconds frontier: sorted by solve_s, a
    rung is kept when its mean error is below that of every cheaper (or equally cheap) rung."""
    s = stats.dropna(subset=["y", "solve_s"]).sort_values(["solve_s", "y"])
    keep, best = [], math.inf
    for i, r in s.iterrows():
        if r.y < best:
            keep.append(i)
            best = r.y
    return s.loc[keep]


@dataclass(frozen=True)
class BudgetChoice:
    """For one CPU budget: the least-error rung that fits it (solver, overrides, mean error y, mean solve_s), the
    runner-up (another solver's best rung in the budget; '' if none), the test between them and its p. `winner` is
    True when p < RANK_ALPHA (the least error is significantly least)."""

    budget_s: float
    metric: str
    solver: str
    overrides: str
    y: float
    solve_s: float
    runner_up: str
    runner_overrides: str
    runner_y: float
    test: str
    p: float

    @property
    def winner(self) -> bool:
        return bool(self.runner_up) and math.isfinite(self.p) and self.p < RANK_ALPHA


def _per_seed(table: pd.DataFrame, problem: str, metric: str, t: float, solver: str, overrides: str) -> dict:
    df = table[(table.problem == problem) & (table.metric == metric) & (table.solver == solver)
               & (table.overrides.fillna("") == overrides) & np.isclose(table.t, t)]
    return {int(s): float(v) for s, v in zip(df.seed, df.value)}


def budget_choices(table: pd.DataFrame, timings: pd.DataFrame, problem: str, metric: str,
                   budgets=FRONTIER_BUDGETS_S) -> list[BudgetChoice]:
    """One BudgetChoice per budget (seconds) that at least one rung fits, at the problem's last snapshot."""
    stats = rung_stats(table, timings, problem, metric).dropna(subset=["y", "solve_s"])
    if stats.empty:
        return []
    stats = stats.assign(overrides=stats.overrides.fillna(""))
    t = float(table[table.problem == problem].t.max())
    out = []
    for budget in budgets:
        fits = stats[stats.solve_s <= budget]
        if fits.empty:
            continue
        per_solver = fits.loc[fits.groupby("solver").y.idxmin()].sort_values("y")
        best = per_solver.iloc[0]
        runner = per_solver.iloc[1] if len(per_solver) > 1 else None
        test, p = ("", math.nan)
        if runner is not None:
            test, p = pair_test(_per_seed(table, problem, metric, t, best.solver, best.overrides),
                                _per_seed(table, problem, metric, t, runner.solver, runner.overrides))
        out.append(BudgetChoice(float(budget), metric, best.solver, best.overrides, float(best.y), float(best.solve_s),
                                "" if runner is None else runner.solver,
                                "" if runner is None else runner.overrides,
                                math.nan if runner is None else float(runner.y), test, p))
    return out


def _setting(solver: str, overrides: str) -> str:
    return solver if not overrides else f"{solver} [{overrides}]"


def budget_sentence(c: BudgetChoice) -> str:
    """One plain sentence for a budget: who has the least error and whether a test backs it."""
    head = f"For {c.budget_s:g} s of CPU: "
    best = f"{_setting(c.solver, c.overrides)} ({c.metric} {c.y:.3g}, {c.solve_s:.3g} s)"
    if not c.runner_up:
        return head + f"only {best} fits."
    runner = f"{_setting(c.runner_up, c.runner_overrides)} ({c.runner_y:.3g})"
    if c.winner:
        return head + f"{best} has the least error, below {runner} ({c.test}, p = {c.p:.2g})."
    why = f"{c.test}, p = {c.p:.2g}" if c.test else "too few seeds for a test"
    return head + f"{best} and {runner} are indistinguishable ({why})."


def frontier_lines(table: pd.DataFrame, timings: pd.DataFrame, problem: str, figures: set[str]) -> list[str]:
    """The summary's frontier section of a problem where some solver ran several N: the cost exponents, one
    sentence per CPU budget and the frontier figure; [] when there is no ladder in N."""
    metric = frontier_metric(table, problem)
    if metric is None or not has_n_ladder(table, problem):
        return []
    df = table[table.problem == problem]
    timings, clock = cost_clock(timings, problem)
    out = ["### Accuracy per CPU second", ""]
    expo = cost_exponents(table, timings, problem)
    if not expo.empty:
        out += [f"Cost exponent b of solve {clock} seconds ~ N^b (least squares in log-log per seed; mean ± sd over "
                "seeds; "
                f"'top': the rungs with N >= {TOP_FRACTION:g} x the largest):", "",
                "| solver | fixed | N | b | b (top) | seeds |", "|---" * 6 + "|"]
        for r in expo.itertuples():
            sd = "" if math.isnan(r.exponent_sd) else f" ± {r.exponent_sd:.2f}"
            top = "" if math.isnan(r.top_exponent) else f"{r.top_exponent:.2f}"
            out.append(f"| {r.solver} | {r.group or '-'} | {r.n_min}..{r.n_max} | {r.exponent:.2f}{sd} | {top} | "
                       f"{r.seeds} |")
        out.append("")
    choices = budget_choices(table, timings, problem, metric)
    if choices:
        out += [f"Least {metric} at t = {df.t.max():g} within a CPU budget (mean solve {clock} seconds of the setting; "
                "the "
                f"winner named only when a test over seeds gives p < {RANK_ALPHA:g}):", ""]
        out += [f"- {budget_sentence(c)}" for c in choices] + [""]
    name = f"{problem}_frontier.png"
    if name in figures:
        out += [f"![{name[:-4]}](figures/{name})", ""]
    return out if len(out) > 2 else []
