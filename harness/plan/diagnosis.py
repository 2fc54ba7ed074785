"""`python -m harness diagnose -p PROBLEM`: PINN-PM's default training beside its oracle ablations, and which of
Theorem 1's three error sources (score error, particle error, physics residual) dominates, by measurement.

A diagnosis is an ordinary run (resumable, lockable, in the long table) of `pinn_pm_particle` on one problem,
seed 0, one cell per variant, every variant at the same budget (the profile's, or `--set iters=...`):

    default                      the profile's config
    drift_score=exact            the exact score inside the drift of L_phys: the flow alone against the true drift
    score_samples=exact          ISM on i.i.d. samples of the exact f_t: the score alone against the truth
    detach_drift_positions=true  no L_phys gradient through the positions U is evaluated at
    group=paper                  Appendix B's architecture for the problem (where it is not the profile's)
    ism_through_flow=true        Algorithm 1 literally (the ISM gradient through the flow: it collapses)
    drift_score=flow[+through]   the flow's own push-forward score in the drift (no score network, no oracle)
    collocation=log              collocation times dense near t0, sparse near T (no oracle)

and beside them the companions: other solvers at their own profile config (their budgets are not PINN-PM's
iterations), e.g. `neural_flow`, a flow that cannot fold (issue 41); their rows are keyed '<solver>:<overrides
label>' in the manifest's diagnosis map (`variant_key`), PINN-PM's by the overrides label alone.

The oracle rows need an exact solution (BKW); the others run everywhere. This module plans the diagnosis;
`harness.report.diagnosis` reads the last snapshot of each variant from the long table (`diagnosis_table`) and
turns it into one sentence (`verdict`).
"""
from __future__ import annotations

from harness.plan.cell import Cell
from harness.plan.profiles import Profile

SOLVER = "pinn_pm_particle"
#: variant name -> config overrides
VARIANTS: dict[str, tuple] = {
    "default": (),
    "drift_score=exact": (("drift_score", "exact"),),
    "score_samples=exact": (("score_samples", "exact"),),
    "detach_drift_positions=true": (("detach_drift_positions", True),),
    "group=paper": (("group", "paper"),),
    "ism_through_flow=true": (("ism_through_flow", True),),
    # not an oracle: the flow's own push-forward score in the drift (solvers.flow_score), detached or not
    "drift_score=flow": (("drift_score", "flow"),),
    "drift_score=flow+through": (("drift_score", "flow"), ("flow_score_gradient", "through")),
    # not an oracle: collocation times log-spaced near t0 (solvers.pinn_training.collocation_times)
    "collocation=log": (("collocation", "log"),),
}


#: companion rows: variant name -> solver, run at its own profile config on every problem it applies to
COMPANIONS: dict[str, str] = {"neural_flow": "neural_flow"}


def variant_key(solver: str, overrides_label: str) -> str:
    """The key of a row in the manifest's diagnosis map: the overrides label for PINN-PM's variants (as runs before
    the companions stored it), '<solver>:<label>' for a companion."""
    return overrides_label if solver == SOLVER else f"{solver}:{overrides_label}"


def split_key(key: str) -> tuple[str, str]:
    """(solver, overrides label) of a variant_key."""
    head, sep, rest = key.partition(":")
    return (head, rest) if sep and head in COMPANIONS.values() else (SOLVER, key)


def diagnosis_budget(profile: Profile, base: dict) -> dict:
    """`base` (the user's --set overrides) with the diagnosis budget of `profile` where the user set no `iters`."""
    iters = profile.diagnosis_iters
    return {**({"iters": iters} if iters is not None else {}), **base}


def applicable_variants(problem, profile: Profile, base: dict | None = None, only: list[str] | None = None
                        ) -> dict[str, tuple]:
    """The variants of VARIANTS (or of `only`) that apply to `problem` at `profile`, each with `base` (the user's
    --set overrides, the diagnosis budget included) added: the oracle rows only with an exact solution,
    group=paper only where the paper's group differs from the profile's."""
    import solvers  # planning imports without torch (tests/test_layering.py): solvers only when variants are built
    cls = solvers.get_solver(SOLVER)
    base = dict(base or {})
    out = {}
    for name, extra in VARIANTS.items():
        if only is not None and name not in only:
            continue
        overrides = {**base, **dict(extra)}
        cfg = cls.profile_config(profile.name, problem, **overrides)
        if cls.refusal(cfg, problem):
            continue
        if name == "group=paper":
            default_cfg = cls.profile_config(profile.name, problem, **base)
            from solvers.pinn_training import architectures
            if architectures(cfg, problem) == architectures(default_cfg, problem):
                continue
        out[name] = tuple(sorted(overrides.items()))
    return out


def plan_diagnosis(problem_names: list[str], profile: Profile, base: dict | None = None, seeds: tuple[int, ...] = (0,),
                   only: list[str] | None = None) -> tuple[list[Cell], dict[tuple, str]]:
    """(cells, {(problem, solver, overrides): variant name}) of a diagnosis of each problem (the variants and
    companions in `only`, or all) at every seed of `seeds`, PINN-PM's at the profile's diagnosis budget unless `base`
    sets `iters`, a companion at its own profile config where it applies. Two variants that are the same cell under
    `base` (`--set drift_score=exact` with the drift_score=exact variant) keep the first one's name; the caller plans
    the cell once (`harness.plan.cell.unique_cells`)."""
    import problems  # as `solvers` in applicable_variants: only when a diagnosis is planned
    import solvers
    cells, names = [], {}
    base = diagnosis_budget(profile, dict(base or {}))
    for p_name in problem_names:
        problem = problems.get_problem(p_name)
        planned = [(SOLVER, name, overrides) for name, overrides in
                   applicable_variants(problem, profile, base, only).items()]
        planned += [(solver, name, ()) for name, solver in COMPANIONS.items()
                    if (only is None or name in only) and solvers.get_solver(solver).applies_to(problem)[0]]
        for solver, name, overrides in planned:
            for seed in seeds:
                cells.append(Cell(solver, p_name, seed, overrides))
                names.setdefault((p_name, solver, cells[-1].overrides), name)  # coinciding: the first one names it
    return cells, names
