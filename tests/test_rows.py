"""The declared row types (infra/rows.py): what they write, and what they refuse to read."""
import math

import pytest
from hypothesis import given, strategies as st

from infra.rows import CertificateRow, MetricRow

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@given(t=finite, value=finite, metric=st.text(min_size=1, max_size=12), ref=st.sampled_from(["", "exact", "sde"]))
def test_a_metric_row_reads_back_what_it_writes(t, value, metric, ref):
    row = MetricRow(t, metric, value, ref)
    assert MetricRow.from_json(row.to_json()) == row
    assert list(row.to_json()) == ["t", "metric", "value", "reference"]


def test_a_metric_row_without_reference_reads_as_none_and_bad_rows_are_named():
    assert MetricRow.from_json({"t": 1, "metric": "w1", "value": 0.5}) == MetricRow(1.0, "w1", 0.5, "")
    for bad in ({"t": "1", "metric": "w1", "value": 0.5}, {"t": 1.0, "metric": 3, "value": 0.5},
                {"t": 1.0, "metric": "w1", "value": True}, ["t", 1.0]):
        with pytest.raises(ValueError, match="not a metric row"):
            MetricRow.from_json(bad)
    with pytest.raises(ValueError, match="'w1': 'reference' is not a string"):
        MetricRow.from_json({"t": 1.0, "metric": "w1", "value": 0.5, "reference": 7})


def test_a_certificate_row_writes_the_ratio_the_test_and_the_log_bound():
    row = CertificateRow(2.5, "thm5_w1", 4.0, 0.5, on_snapshot=True, constants={"L": 1.5}).to_json()
    assert row == {"t": 2.5, "certificate": "thm5_w1", "bound": 4.0, "observed": 0.5, "ratio": 8.0, "holds": True,
                   "log10_bound": pytest.approx(math.log10(4.0), rel=1e-15), "on_snapshot": True,
                   "mc_se": pytest.approx(math.nan, nan_ok=True), "L": 1.5}
    assert list(row)[-1] == "L"  # constants after the fields: certificates.csv keeps its column order
    violated = CertificateRow(1.0, "thm4_score", 0.1, 0.2).to_json()
    assert violated["holds"] is False and violated["ratio"] == 0.5
    zero = CertificateRow(1.0, "thm2_trajectory", 0.0, 0.0).to_json()
    assert math.isnan(zero["ratio"]) and zero["log10_bound"] == -math.inf and zero["holds"] is True
    assert CertificateRow(1.0, "thm2_trajectory", 1.0, 0.0).to_json()["ratio"] == math.inf
    own_test = CertificateRow(1.0, "lemma2", 1.0, 1.5, holds=True, mc_se=0.2).to_json()
    assert own_test["holds"] is True and own_test["mc_se"] == 0.2


def test_a_certificate_row_with_a_non_number_is_named():
    CertificateRow.validate_json(CertificateRow(1.0, "thm6_kde", 1.0, 0.5).to_json())
    with pytest.raises(ValueError, match="'thm6_kde' has a non-number bound"):
        CertificateRow.validate_json({"t": 1.0, "certificate": "thm6_kde", "bound": "abc"})
    with pytest.raises(ValueError, match="'thm6_kde' has a non-number holds"):
        CertificateRow.validate_json({"t": 1.0, "certificate": "thm6_kde", "holds": "yes"})
    with pytest.raises(ValueError, match="not a certificate row"):
        CertificateRow.validate_json({"t": 1.0})
