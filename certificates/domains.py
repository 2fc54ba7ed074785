"""The values the numbers of a certificate row (infra.rows.CertificateRow) can take, declared once per registered
certificate (issue 44): a stored row outside them was not computed by a certificate, and the store refuses the record
that holds it as damaged (harness.store.record), so `report` and `compare` name it in one line instead of reporting it.

Domains are metrics.specs.DOMAINS (NaN, "not computed", is in every one; +inf in 'non_negative': a bound that
overflowed). Per certificate (the name before ':' of an a-posteriori row such as 'w2_residual:proved'):

    bound      an upper bound of an error norm (>= 0), except lemma2's, the Monte Carlo estimate of
               L_ISM(s_theta) - L_ISM(s) (any sign), and kl_identity's, the right side of an identity (any sign);
    observed   the error it bounds (>= 0: W1, a trajectory or score error, a KDE L2, a coupling W2), except
               kl_identity's, a KL estimate by change of variables (any sign within its quadrature error);
    ratio      bound / observed (CertificateRow.ratio): >= 0 where both are, else any number; and a number, never
               NaN, wherever bound / observed is one (observed > 0 and bound not NaN, or observed <= 0 < bound);
    log10_bound any number (-inf for a bound of 0); mc_se >= 0 (infra.rows checks it for every row).

A certificate not registered here (a plugin's) declares nothing: its bound and observed may be any number.
"""
from __future__ import annotations

import math

from metrics.specs import DOMAINS

from certificates.a_posteriori import A_POSTERIORI
from certificates.evaluate import CERTIFICATES

#: certificate -> {column: domain}; every registered certificate is declared (tests/test_record_values.py)
CERTIFICATE_DOMAINS: dict[str, dict[str, str]] = {
    "lemma2": {"bound": "real", "observed": "non_negative"},
    "thm2_trajectory": {"bound": "non_negative", "observed": "non_negative"},
    "thm2_trajectory_corrected": {"bound": "non_negative", "observed": "non_negative"},
    "thm4_score": {"bound": "non_negative", "observed": "non_negative"},
    "thm5_w1": {"bound": "non_negative", "observed": "non_negative"},
    "thm6_kde": {"bound": "non_negative", "observed": "non_negative"},
    "w2_residual": {"bound": "non_negative", "observed": "non_negative"},
    "lognorm_trajectory": {"bound": "non_negative", "observed": "non_negative"},
    "kl_identity": {"bound": "real", "observed": "real"},
}
assert set(CERTIFICATE_DOMAINS) == set(CERTIFICATES) | set(A_POSTERIORI), "declare each registered certificate once"


def column_domains(certificate: str) -> dict[str, str]:
    """{column: domain} of a row of `certificate` ('w2_residual:proved' reads as 'w2_residual'): bound, observed,
    ratio and log10_bound; every one 'real' for a certificate not registered here."""
    declared = CERTIFICATE_DOMAINS.get(certificate.split(":", 1)[0], {"bound": "real", "observed": "real"})
    both = declared["bound"] == declared["observed"] == "non_negative"
    return {**declared, "ratio": "non_negative" if both else "real", "log10_bound": "real"}


def expected_ratio(bound: float, observed: float) -> float:
    """CertificateRow.ratio of (bound, observed): bound / observed for observed > 0, else inf for bound > 0, else
    NaN."""
    if observed > 0:
        return bound / observed
    return math.inf if bound > 0 else math.nan


def out_of_domain(row: dict) -> str | None:
    """Why the certificate row `row` (CertificateRow.to_json) cannot have been computed (one line: the first number
    outside its declared domain, or a NaN ratio where bound / observed is a number), or None."""
    name = row["certificate"]
    for column, domain in column_domains(name).items():
        if column in row:
            inside, what = DOMAINS[domain]
            if not inside(float(row[column])):
                return f"certificate {name!r} at t = {row['t']}: {column} = {row[column]!r} is not {what}"
    if all(k in row for k in ("ratio", "bound", "observed")) and math.isnan(float(row["ratio"])) \
            and not math.isnan(expected_ratio(float(row["bound"]), float(row["observed"]))):
        return (f"certificate {name!r} at t = {row['t']}: ratio is NaN where bound / observed = "
                f"{row['bound']!r} / {row['observed']!r} is a number")
    return None
