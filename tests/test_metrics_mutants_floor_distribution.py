"""metrics.floor_distribution's cache (issue 43 item 5): where an entry is written and under which name, which
stored files are read (a foreign key, a non-list, an empty list, a negative, infinite or non-float value are
recomputed; zeros are read), the in-process memo and its bound, the read-only fallback, the check of the computed
draws, and the FloorDistribution it builds."""
import hashlib
import json
import math

import pytest

from metrics import floor_distribution as fd


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LANDAU_REFERENCE_CACHE", str(tmp_path))
    fd.clear_memo()
    yield tmp_path / "floors"
    fd.clear_memo()


def _counting(values):
    calls = []
    return calls, (lambda: calls.append(1) or list(values))


def test_floor_distribution_cache_dir_is_beside_the_references(cache):
    assert fd.cache_dir() == cache


def test_floor_distribution_entry_name_and_contents(cache):
    """The file is floors/<first 24 hex digits of sha256(key)>.json holding {"key": key, "values": [...]}, the key
    the JSON list [version, metric, repr(judged), t, n, R, extra]."""
    calls, compute = _counting([0.25, 0.5, 0.0])
    assert fd.cached_values("w1", "prob", 1, 10, 3, compute, "x") == (0.25, 0.5, 0.0)
    key = json.dumps([fd.DISTRIBUTION_CACHE_VERSION, "w1", "'prob'", 1.0, 10, 3, "x"])
    assert fd._key("w1", "prob", 1, 10, 3, "x") == key
    path = cache / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".json")
    assert [p.name for p in cache.glob("*.json")] == [path.name]
    assert json.loads(path.read_text()) == {"key": key, "values": [0.25, 0.5, 0.0]}
    # the memo answers a second call in this process; a cleared memo reads the file (zeros included): no compute
    assert fd.cached_values("w1", "prob", 1, 10, 3, compute, "x") == (0.25, 0.5, 0.0)
    fd.clear_memo()
    assert fd.cached_values("w1", "prob", 1, 10, 3, compute, "x") == (0.25, 0.5, 0.0)
    assert calls == [1]


@pytest.mark.parametrize("stored", [
    {"key": "another", "values": [7.0, 7.0, 7.0]},  # a foreign key
    {"values": [7.0, 7.0, 7.0]},  # no key
    [7.0, 7.0, 7.0],  # not a dict
    "text",
    {"key": None, "values": 5},  # values not a list (the key is filled in below)
    {"key": None, "values": []},
    {"key": None, "values": [7.0, -1.0, 7.0]},
    {"key": None, "values": [7.0, 7, 7.0]},  # an int: not what the harness writes
    {"key": None, "values": [7.0, "7.0", 7.0]},
])
def test_floor_distribution_a_foreign_or_damaged_entry_is_recomputed(cache, stored):
    key = fd._key("w1", "prob", 2.0, 10, 3, "")
    if isinstance(stored, dict) and "key" in stored and stored["key"] is None:
        stored = {**stored, "key": key}
    path = cache / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".json")
    cache.mkdir(parents=True)
    path.write_text(json.dumps(stored))
    assert fd._load(path, key) is None
    calls, compute = _counting([1.0, 2.0, 3.0])
    assert fd.cached_values("w1", "prob", 2.0, 10, 3, compute) == (1.0, 2.0, 3.0)
    assert calls == [1]


def test_floor_distribution_a_stored_entry_with_zeros_and_infinities(cache):
    key = fd._key("m", "p", 0.0, 5, 2, "")
    path = cache / "entry.json"
    cache.mkdir(parents=True)
    path.write_text(json.dumps({"key": key, "values": [0.0, 0.5]}))
    assert fd._load(path, key) == (0.0, 0.5)
    path.write_text(json.dumps({"key": key, "values": [2.0, 0.5]}))
    assert fd._load(path, key) == (2.0, 0.5)
    path.write_text('{"key": %s, "values": [Infinity, 0.5]}' % json.dumps(key))
    assert fd._load(path, key) is None
    assert fd._load(cache / "missing.json", key) is None
    path.write_text("{not json")
    assert fd._load(path, key) is None


def test_floor_distribution_the_memo_holds_at_most_512(cache):
    """511 held + 1 new = 512, nothing dropped; one more drops the oldest."""
    fd._MEMO.update({f"k{i}": (float(i),) for i in range(510)})
    fd.cached_values("m", "p", 0.0, 5, 1, lambda: [1.0])
    assert len(fd._MEMO) == 511 and "k0" in fd._MEMO
    fd.cached_values("m", "p", 0.0, 6, 1, lambda: [1.0])
    assert len(fd._MEMO) == 512 and "k0" in fd._MEMO
    fd.cached_values("m", "p", 0.0, 7, 1, lambda: [1.0])
    assert len(fd._MEMO) == 512 and "k0" not in fd._MEMO and "k1" in fd._MEMO


def test_floor_distribution_an_unwritable_cache_still_returns_the_values(cache, monkeypatch):
    def refuse(path):
        raise PermissionError(f"read-only: {path}")

    monkeypatch.setattr(fd, "exclusive_lock", refuse)
    calls, compute = _counting([0.5, 0.75])
    assert fd.cached_values("m", "p", 1.0, 5, 2, compute) == (0.5, 0.75)
    assert calls == [1] and not list(cache.glob("*.json"))


@pytest.mark.parametrize("bad", [[1.0], [1.0, 2.0, 3.0], [1.0, -0.5], [1.0, math.inf], [1.0, math.nan]])
def test_floor_distribution_draws_are_checked(cache, bad):
    with pytest.raises(ValueError, match=f"must be 2 finite non-negative numbers, got {len(bad)}"):
        fd.cached_values("m", "p", 1.0, 5, 2, lambda: bad)
    assert fd._computed(lambda: [0.0, 2], 2) == (0.0, 2.0)


def test_floor_distribution_builds_the_row():
    d = fd.distribution("w1", "w1_mc_floor", 1, 60, [1, 2, 3], "exact")
    assert (d.t, d.metric, d.floor, d.n, d.values, d.reference) == (1.0, "w1", "w1_mc_floor", 60, (1.0, 2.0, 3.0),
                                                                    "exact")
    assert d.mean == 2.0
    assert fd.FLOOR_PAIRS == 30
