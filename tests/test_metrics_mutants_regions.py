"""metrics.regions against values computed by hand (issue 43 item 5): the mass in a ball about a centre that is not
the origin, with points on the sphere, the binomial floor at several (p, n), and the highest-density region's level
where it falls exactly on a sample's density."""
import math

import pytest
import torch

from metrics import regions
from metrics.regions import HDR_SHARE, core_mass_error, core_mass_floor, hdr_level, hdr_mass_error, mass_within


def t64(x):
    return torch.tensor(x, dtype=torch.float64)


#: N = 5 points in d = 2 about the centre c = (1, 2): distances 0, 1.5 (on the sphere of radius 1.5), 1, 2, 3
C = t64([1.0, 2.0])
X = t64([[1.0, 2.0], [2.5, 2.0], [1.0, 3.0], [1.0, 0.0], [4.0, 2.0]])


def test_regions_mass_within_a_ball_off_the_origin_by_hand():
    assert mass_within(X, C, 1.5) == 2 / 5  # distance 1.5 is on the sphere: outside (strict)
    assert mass_within(X, C, 1.6) == 3 / 5
    assert mass_within(X, C, 2.5) == 4 / 5
    assert mass_within(X, C, 0.5) == 1 / 5
    assert mass_within(X.float(), C, 1.6) == 3 / 5  # the centre follows the points' dtype
    # the same points about the origin: |x| = sqrt(5), 2.5, sqrt(10), 1, sqrt(20)
    assert mass_within(X, t64([0.0, 0.0]), 2.4) == 2 / 5


def test_regions_core_mass_error_is_the_absolute_difference():
    ref = t64([[1.0, 2.0], [9.0, 9.0], [9.0, 9.0], [9.0, 9.0]])  # a quarter inside every ball of radius < 9
    assert core_mass_error(X, ref, C, 1.6) == pytest.approx(3 / 5 - 1 / 4, abs=1e-15)
    assert core_mass_error(ref, X, C, 1.6) == pytest.approx(3 / 5 - 1 / 4, abs=1e-15)


@pytest.mark.parametrize("p, n", [(0.5, 100), (0.1, 10), (0.9, 1_000), (0.3, 7)])
def test_regions_floor_is_the_binomial_mean_absolute_deviation(p, n):
    """sqrt(2 / pi) sqrt(p (1 - p) / n): 0.5 / sqrt(100) sqrt(2 / pi) = 0.0398942... at (0.5, 100)."""
    assert core_mass_floor(p, n) == pytest.approx(math.sqrt(2 / math.pi * p * (1 - p) / n), rel=1e-14)
    assert core_mass_floor(0.5, 100) == pytest.approx(0.039894228040143274, rel=1e-14)
    # no mass or all of it: no error; outside [0, 1] (a rounding of p) the variance is clipped at 0
    assert core_mass_floor(0.0, n) == 0.0
    assert core_mass_floor(1.0, n) == 0.0
    assert core_mass_floor(1.25, n) == 0.0


def test_regions_the_default_share_is_half_the_mass():
    """Densities 1..11 on 11 reference points: the level of share 1/2 is the median, 6, hit exactly by one sample, so
    the super-level set {f >= 6} holds 6 of 11 (the tie counts inside), {f > 6} would hold 5."""
    assert HDR_SHARE == 0.5
    ref = t64([[float(k), 0.0] for k in range(1, 12)])
    f = lambda v: v[:, 0].clone()
    assert hdr_level(ref, f) == 6.0
    err, p_ref = hdr_mass_error(ref, ref, f)
    assert (err, p_ref) == (0.0, 6 / 11)
    # particles at densities 6 (on the level: inside), 5.5, 0.5, 11: two of four inside
    x = t64([[6.0, 0.0], [5.5, 1.0], [0.5, 2.0], [11.0, 3.0]])
    err, p_ref = hdr_mass_error(x, ref, f)
    assert p_ref == 6 / 11
    assert err == pytest.approx(6 / 11 - 2 / 4, abs=1e-15)
    # a share of 0.3: the 0.7 quantile, position 7 of 0..10, is the density 8; {f >= 8} holds 4 of 11
    assert hdr_level(ref, f, 0.3) == 8.0
    assert hdr_mass_error(x, ref, f, 0.3) == (pytest.approx(4 / 11 - 1 / 4, abs=1e-15), 4 / 11)


@pytest.mark.parametrize("share", [0.0, 1.0, -0.5, 1.5])
def test_regions_a_share_outside_the_open_unit_interval_is_refused(share):
    ref = t64([[float(k), 0.0] for k in range(1, 12)])
    with pytest.raises(ValueError, match=f"share must be in \\(0, 1\\), got {share}"):
        hdr_level(ref, lambda v: v[:, 0].clone(), share)


@pytest.mark.parametrize("share", [1e-9, 0.999999])
def test_regions_a_share_just_inside_the_interval_is_taken(share):
    ref = t64([[float(k), 0.0] for k in range(1, 12)])
    level = hdr_level(ref, lambda v: v[:, 0].clone(), share)
    assert level == pytest.approx(11.0 - 10 * share, abs=1e-6)


def test_regions_reference_sample_size_and_its_sampling_error():
    """The reference's own binomial standard error at p = 1/2 is below the 2.3e-3 the module states."""
    assert math.sqrt(0.25 / regions.REFERENCE_SAMPLES) < 2.3e-3
