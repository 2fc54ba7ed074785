"""The a-posteriori certificates' section of summary.md: bound / observed at every snapshot (certificates.a_posteriori).

One table per problem, a row per (solver setting, certificate), a column per snapshot time, each cell
'bound / observed = ratio', marked VIOLATED where the row does not hold (the bound is below the observed lower bound
beyond its Monte Carlo and quadrature error) and 'not a transport' where the map folded.
"""
from __future__ import annotations

import math

import pandas as pd

from certificates import A_POSTERIORI
from harness.report.folds import row_label


def is_a_posteriori(name: str) -> bool:
    """True for an a-posteriori certificate's name ('w2_residual:<label>', 'lognorm_trajectory')."""
    return name.split(":")[0] in A_POSTERIORI


def cell_text(r) -> str:
    """'bound / observed = ratio' (3 significant digits), then ' [W2 >= L]' where a positive lower bound L of the true
    W2 was measured (observed_lower), ' VIOLATED' where not holds; 'not a transport'."""
    if r.certificate.endswith(":not_a_transport"):
        return "not a transport"
    ratio = f" = {r.ratio:.3g}" if math.isfinite(r.ratio) else ""
    lower = getattr(r, "observed_lower", math.nan)
    lower = f" [W2 >= {lower:.3g}]" if isinstance(lower, float) and math.isfinite(lower) and lower > 0 else ""
    return f"{r.bound:.3g} / {r.observed:.3g}{ratio}{lower}" + ("" if r.holds else " VIOLATED")


def a_posteriori_section(certs: pd.DataFrame | None) -> list[str]:
    """Lines of the section (empty if no a-posteriori row): lowest seed, every snapshot after t0."""
    if certs is None or certs.empty:
        return []
    rows = certs[certs.certificate.map(is_a_posteriori)]
    if rows.empty:
        return []
    rows = rows[rows.seed == rows.seed.min()]
    out = ["## A-posteriori certificates (seed %d; bound / observed = ratio at every snapshot)" % int(rows.seed.min()),
           "", "`w2_residual:proved` (gamma = 0) / `:conditional` (Coulomb): W2(mu_0, f_0) + int ||u - U[mu]|| dt vs "
           "the observed W2 (the coupling to the exact characteristics where there are some, else the debiased "
           "exact OT); `:blob_density` / `:sbp_score`: the same for the mollified density of blob's / sbp's particles "
           "(sbp's with its learned score: not a certificate); `lognorm_trajectory`: the per-particle log-norm Gronwall bound vs the floor-free trajectory "
           "error. [W2 >= L]: a lower bound of the true W2 (the radii's W2, or Gelbrich's from the moments, less twice "
           "their floors); truncated2d's jump: the bound is taken through f0's mollification. Their constants (MC "
           "s.e., quadrature error, the lower bounds, OT floor, mollification width): certificates.csv; "
           "what each assumes: docs/certificates.md.", ""]
    for problem, g in rows.groupby("problem"):
        times = sorted(g.t.unique())
        out += [f"### {problem}", "", "| solver | certificate | " + " | ".join(f"t = {t:g}" for t in times) + " |",
                "|---|---" + "|---" * len(times) + "|"]
        for (solver, overrides, cert), gc in g.groupby(["solver", "overrides", "certificate"], sort=True):
            by_t = {float(r.t): cell_text(r) for r in gc.itertuples()}
            out.append(f"| {row_label(solver, overrides)} | {cert} | " + " | ".join(by_t.get(float(t), "")
                                                                                 for t in times) + " |")
        out.append("")
    return out
