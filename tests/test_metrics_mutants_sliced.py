"""metrics.sliced against its definition written out direction by direction (issue 43 item 5): the default
directions (L = 200 unit columns from numpy's default_rng(0)), the sorted-projection W_p^p on each, their mean to
the power 1/p, unequal sizes through POT's quantile form, the argument checks, and the chunking of the directions
(at most CHUNK_ELEMENTS / n a chunk, at least one)."""
import numpy as np
import pytest
import torch

from metrics import sliced
from metrics.sliced import SLICED_PROJECTIONS, projections, sliced_wasserstein


def _cloud(n, d, seed, scale=1.0):
    return scale * np.random.default_rng(seed).standard_normal((n, d))


def _by_hand(x, y, p, theta):
    """((1/L) sum_l (1/n) sum_k |x_(k) - y_(k)|^p)^(1/p) over the columns of theta, equal sizes, one direction a loop."""
    powers = []
    for l in range(theta.shape[1]):
        px, py = np.sort(x @ theta[:, l]), np.sort(y @ theta[:, l])
        powers.append(np.mean(np.abs(px - py) ** p))
    return float(np.mean(powers) ** (1.0 / p))


def test_sliced_default_directions_are_200_unit_columns_of_seed_0():
    theta = projections(3)
    g = np.random.default_rng(0).standard_normal((3, 200))
    assert SLICED_PROJECTIONS == 200
    assert theta.shape == (3, 200)
    np.testing.assert_allclose(theta, g / np.sqrt((g ** 2).sum(0)), rtol=1e-15, atol=0)
    np.testing.assert_allclose(np.linalg.norm(theta, axis=0), 1.0, rtol=1e-14)
    np.testing.assert_array_equal(projections(2, 5, 7), projections(2, 5, 7))
    assert not np.array_equal(projections(2, 5, 7), projections(2, 5, 8))


@pytest.mark.parametrize("p", [1, 2])
def test_sliced_equal_sizes_match_the_definition_direction_by_direction(p):
    """n = 40 points, d = 2, default L = 200 and seed 0, against the loop; seed 9 and L = 7 as well."""
    x, y = _cloud(40, 2, 1), _cloud(40, 2, 2, scale=1.7) + np.array([0.3, -0.2])
    assert sliced_wasserstein(x, y, p) == pytest.approx(_by_hand(x, y, p, projections(2, 200, 0)), rel=1e-12)
    assert sliced_wasserstein(x, y, p, count=7, seed=9) == pytest.approx(_by_hand(x, y, p, projections(2, 7, 9)),
                                                                        rel=1e-12)
    # the defaults: p = 1, L = 200, seed 0
    if p == 1:
        assert sliced_wasserstein(x, y) == sliced_wasserstein(x, y, 1, 200, 0)
    # torch input of the same points gives the same number
    assert sliced_wasserstein(torch.from_numpy(x), torch.from_numpy(y), p) == pytest.approx(
        _by_hand(x, y, p, projections(2, 200, 0)), rel=1e-12)


def test_sliced_one_direction_by_hand():
    """theta = e_1 or e_2 only (d = 2, L = 1 where the normalised draw is along an axis): sorted x-coordinates
    (0, 1, 5) against (2, 2, 2): W1 = (2 + 1 + 3) / 3 = 2, W2 = sqrt((4 + 1 + 9) / 3)."""
    x = np.array([[5.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    y = np.array([[2.0, 0.0], [2.0, 0.0], [2.0, 0.0]])
    theta = np.array([[1.0], [0.0]])
    assert sliced._projected_powers(x, y, theta, 1).tolist() == [2.0]
    assert sliced._projected_powers(x, y, theta, 2).tolist() == pytest.approx([14 / 3], rel=1e-15)
    two = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert sliced._projected_powers(x, y, two, 1).tolist() == [2.0, 0.0]


@pytest.mark.parametrize("p", [1, 2])
def test_sliced_unequal_sizes_use_the_quantile_form(p):
    """n = 30 against m = 45 where y repeats x and half of it again: the projected laws differ; the value is POT's on
    the same directions, and the same pair with 30 against 30 is the sorted form's."""
    import ot
    x = _cloud(30, 2, 4)
    y = _cloud(45, 2, 5, scale=1.3)
    theta = projections(2, 200, 0)
    assert sliced_wasserstein(x, y, p) == pytest.approx(ot.sliced_wasserstein_distance(x, y, projections=theta, p=p),
                                                        rel=1e-12)
    assert sliced_wasserstein(y, x, p) == pytest.approx(sliced_wasserstein(x, y, p), rel=1e-12)


def test_sliced_refuses_another_p_and_a_dimension_mismatch():
    x = _cloud(6, 2, 0)
    for p in (0, 3, -1):
        with pytest.raises(ValueError, match=f"p = 1 or 2, got {p}"):
            sliced_wasserstein(x, x, p)
    assert sliced_wasserstein(x, x, 1) == 0.0 and sliced_wasserstein(x, x, 2) == 0.0
    with pytest.raises(ValueError, match="dimension mismatch: 2 vs 3"):
        sliced_wasserstein(x, _cloud(6, 3, 1), 1)
    # unequal sizes in the same dimension are measured, not refused
    assert sliced_wasserstein(x, _cloud(9, 2, 1), 1) > 0


def _spy(monkeypatch):
    widths = []
    inner = sliced._projected_powers

    def spy(xa, ya, theta, p):
        widths.append(theta.shape[1])
        return inner(xa, ya, theta, p)

    monkeypatch.setattr(sliced, "_projected_powers", spy)
    return widths


def test_sliced_directions_are_chunked_by_the_largest_cloud(monkeypatch):
    """CHUNK_ELEMENTS = 5e6: n = 500 projects all 200 directions at once; n = 40,000 125 a chunk,
    so 125 + 75; with CHUNK_ELEMENTS = 90 and n = 40, 2 directions a chunk (100 chunks), and below n = CHUNK_ELEMENTS
    one direction a chunk: the value is the same in every case."""
    widths = _spy(monkeypatch)
    x, y = _cloud(40, 2, 1), _cloud(40, 2, 2)
    whole = sliced_wasserstein(x, y, 1)
    assert widths == [200]
    widths.clear()
    big = _cloud(40_000, 2, 3)
    sliced_wasserstein(big, big[::-1], 1, count=200)
    assert widths == [125, 75]
    widths.clear()
    monkeypatch.setattr(sliced, "CHUNK_ELEMENTS", 90)
    assert sliced_wasserstein(x, y, 1) == pytest.approx(whole, rel=1e-12)
    assert widths == [2] * 100
    widths.clear()
    monkeypatch.setattr(sliced, "CHUNK_ELEMENTS", 30)
    assert sliced_wasserstein(x, y, 1, count=5) == pytest.approx(_by_hand(x, y, 1, projections(2, 5, 0)), rel=1e-12)
    assert widths == [1] * 5
