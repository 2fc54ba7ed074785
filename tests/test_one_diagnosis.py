"""Issue 40: one diagnosis. `diagnose` decides one cause from a diagnosis table and every sentence is rendered from
that value, so no two sentences can name different causes (committed evidence had "the physics residual dominates"
beside "Dominant cause: the flow map folds"); W1 is found by family, so a paper-profile run (w1_sub4000 only) still
gets a finite W1/floor."""
import math

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.report.diagnosis import CAUSES, COLUMNS, diagnose, diagnosis_table, render

VARIANT_NAMES = ("default", "drift_score=exact", "drift_score=flow", "collocation=log")
PLACES = ("", "at", "above", "below")

finite_or_nan = lambda lo, hi: st.one_of(st.just(math.nan), st.floats(lo, hi, allow_nan=False))


@st.composite
def diagnosis_frames(draw):
    names = draw(st.lists(st.sampled_from(VARIANT_NAMES), unique=True, min_size=1, max_size=4))
    rows = []
    for name in names:
        row = {"variant": name, "t": draw(st.sampled_from([5.0, 40.0])), "k": draw(st.integers(1, 6))}
        row.update({c: draw(finite_or_nan(0.0, 6.0)) for c, _ in COLUMNS})
        row["energy_drift"] = draw(finite_or_nan(-0.5, 0.5))
        row["min_det_j"] = draw(finite_or_nan(-1.0, 2.0))
        row["fold_t"] = draw(st.one_of(st.just(math.nan), st.sampled_from([1.0, 15.0, 40.0])))
        for short in ("w1", "core", "hdr"):
            row[f"{short}_place"] = draw(st.sampled_from(PLACES))
            row[f"{short}_band"] = draw(st.sampled_from([(math.nan, math.nan), (0.8, 1.2)]))
        lo = draw(finite_or_nan(0.5, 2.0))
        row["w1_lo"], row["w1_hi"] = lo, lo + 0.2
        rows.append(row)
    return pd.DataFrame(rows)


@settings(max_examples=300, deadline=None)
@given(diagnosis_frames())
def test_no_two_sentences_name_different_causes(frame):
    """One cause phrase, and what the sentences say of the rows holds of the rows: a band is named only where the
    row has one, "no variant ... reaches the floor while keeping energy" only where none does, and a variant said to
    fix the drift does reach the floor and keep energy."""
    from harness.report.diagnosis import _banded, _kept
    diag = diagnose(frame)
    text = render(diag)
    named = {cause for cause, phrase in CAUSES.items() if phrase in text}
    assert named == {diag.cause}, (named, text)
    assert text.count("Dominant cause") == 1
    rows = {r["variant"]: r for r in frame.to_dict("records")}
    if "its floor band" in text:
        assert any(_banded(r, "w1") for r in rows.values())
    if "above its band" in text:
        assert any(_banded(r, s) for r in rows.values() for s in ("core", "hdr"))
    if "reaches the floor while keeping energy" in text:
        assert not any(_kept(rows[v]) for v in ("drift_score=exact", "drift_score=flow") if v in rows)
    for fix in diag.fixes:
        assert _kept(rows[fix])


def test_the_causes_are_tested_in_their_order_from_the_bands():
    """The region flags are the band test where the table has it (a 2.9 HDR ratio above its band is misplaced
    mass, a 5 inside it is not), and at the floor is the W1 band's verdict, not 1.1."""
    base = {"variant": "default", "t": 5.0, "k": 5, **{c: math.nan for c, _ in COLUMNS}, "energy_drift": -0.2,
            "residual_to_signal": 0.1, "drift_rel_err": 0.1, "w1_over_floor": 1.3, "w1_place": "above"}
    frame = lambda **v: pd.DataFrame([{**base, **v}])
    assert diagnose(frame(hdr_mass_over_floor=2.9, hdr_place="above")).cause == "misplaced mass"
    assert diagnose(frame(hdr_mass_over_floor=5.0, hdr_place="at")).cause == "particle error"
    assert diagnose(frame(core_mass_over_floor=2.5, core_place="above")).cause == "singular initial score"
    assert diagnose(frame(w1_over_floor=1.15, w1_place="at", energy_drift=0.0)).cause == "none"
    assert diagnose(frame(w1_over_floor=1.05, w1_place="above", energy_drift=0.0)).cause == "particle error"


def test_w1_is_found_by_family_so_a_paper_profile_diagnosis_has_a_finite_ratio():
    """At n_eval 10,000 a cell has w1_sub4000 and its floor, no w1: the diagnosis reads it (its ratio was NaN, so it
    could never name 'none' or 'score drift')."""
    rows = [dict(solver="pinn_pm_particle", problem="p", seed=s, overrides="", t=5.0, metric=m, value=v)
            for s in (0, 1) for m, v in (("w1_sub4000", 0.03 + 0.001 * s), ("w1_sub4000_mc_floor", 0.03),
                                         ("energy_drift", 0.001))]
    frame = diagnosis_table(pd.DataFrame(rows), "p", {"": "default"})
    assert frame.w1_over_floor.iloc[0] == (1.0 + 1 + 1 / 30) / 2
    assert frame.k.iloc[0] == 2 and frame.w1_place.iloc[0] == "at"
    assert diagnose(frame).cause == "none"
