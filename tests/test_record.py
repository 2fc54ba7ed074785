"""CellRecord: the JSON of a cell file round-trips, and what is not a record is refused with its reason."""
import json

import pytest
from hypothesis import given, settings, strategies as st

from harness.plan.cell import Cell
from harness.store.record import CellRecord, DamagedRecord

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
rows = st.lists(st.fixed_dictionaries({"t": finite, "metric": st.sampled_from(["w1", "kde_l2", "rfd"]),
                                       "value": st.floats(min_value=0, allow_infinity=False),  # their domain
                                       "reference": st.sampled_from(["", "exact", "sde"])}),
                max_size=5)


@settings(max_examples=40, deadline=None)
@given(rows=rows, seed=st.integers(0, 50),
       wall=st.dictionaries(st.sampled_from(["setup", "training"]), st.floats(0, 1e9, allow_nan=False)),
       warnings=st.lists(st.text(max_size=10), max_size=2), n=st.integers(1, 10**6))
def test_an_ok_record_round_trips_through_its_json(rows, seed, wall, warnings, n):
    cell = Cell("sbp", "bkw2d", seed, (("n", n),))
    rec = CellRecord("sbp", "bkw2d", seed, cell.id, "smoke", "ok", overrides={"n": n}, config={"n": n}, rows=rows,
                     wall_time=wall, solve_s=1.5, total_s=2.0, warnings=warnings)
    back = CellRecord.from_json(json.loads(json.dumps(rec.to_json())), cell.id)
    assert back == rec
    assert back.key == {"solver": "sbp", "problem": "bkw2d", "seed": seed, "overrides": f"n={n}"}


def test_a_failed_record_keeps_only_what_it_has():
    rec = CellRecord.failed(Cell("blob", "bkw3d", 2), "quick", "TimeoutError: timed out after 5 s")
    data = rec.to_json()
    assert set(data) == {"solver", "problem", "seed", "overrides", "cell_id", "profile", "status", "error"}
    assert CellRecord.from_json(data, "blob__bkw3d__seed2") == rec and not rec.ok


@pytest.mark.parametrize("change, reason", [
    ({"seed": -1}, "'seed' missing or not a non-negative int"),
    ({"status": "done"}, "neither 'ok' nor 'failed'"),
    ({"rows": [{"t": "soon", "metric": "w1", "value": 1.0}]}, "'rows' is not a list"),
    ({"wall_time": {"setup": "fast"}}, "'wall_time' holds a non-number"),
    ({"solve_s": "1"}, "'solve_s' is not a number"),
    ({"peak_rss_mb": "big"}, "'peak_rss_mb' is not a number"),
    ({"kernels": {"drift:maxwell": "many"}}, "'kernels' is not an object"),
    ({"problem": "bkw3d"}, "describes cell 'sbp__bkw3d__seed0', not 'sbp__bkw2d__seed0'"),
    ({"solve_s": -3}, "'solve_s' is -3: a duration or memory peak is a finite number >= 0"),
    ({"wall_time": {"training": -0.5}}, "'wall_time.training' is -0.5"),
    ({"peak_rss_mb": -1.0}, "'peak_rss_mb' is -1.0"),
])
def test_a_damaged_record_names_what_is_wrong(change, reason):
    good = CellRecord("sbp", "bkw2d", 0, "sbp__bkw2d__seed0", "smoke", "ok", rows=[], solve_s=1.0).to_json()
    with pytest.raises(DamagedRecord, match=reason.replace("(", r"\(")):
        CellRecord.from_json({**good, **change}, "sbp__bkw2d__seed0")


def test_solve_seconds_charge_the_training_once_and_never_the_wait_for_it():
    from harness.execute.run_cell import solve_seconds
    wall = {"training": 5.0, "checkpoint_wait": 100.0, "inference": 1.0, "evaluation": 3.0}
    assert solve_seconds(wall, {"train_s": 7.0}) == 8.0  # train_s replaces the training phase; wait, evaluation out
    assert solve_seconds(wall, {}) == 6.0
