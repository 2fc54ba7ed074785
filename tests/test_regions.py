"""The region-mass metrics (metrics/regions.py): the fraction in a ball or in the reference's highest-density region,
the floor, and exact samples at the floor."""
import dataclasses
import math

import pytest
import torch

import problems
from metrics.regions import core_mass_error, core_mass_floor, hdr_level, hdr_mass_error, mass_within
from metrics.specs import METRICS, Snapshot, applicable


def t64(x):
    return torch.tensor(x, dtype=torch.float64)


def test_mass_within_counts_the_points_strictly_inside():
    x = t64([[0.0, 0.0], [0.5, 0.0], [1.0, 0.0], [0.0, 2.0]])
    assert mass_within(x, t64([0.0, 0.0]), 1.0) == 0.5  # the point at distance 1 is outside
    assert mass_within(x, t64([0.0, 2.0]), 0.1) == 0.25
    assert core_mass_error(x, t64([[0.1, 0.1]] * 3 + [[5.0, 5.0]]), t64([0.0, 0.0]), 1.0) == 0.25


def test_the_floor_is_the_binomial_mean_absolute_deviation():
    assert core_mass_floor(0.21, 1_000) == pytest.approx(math.sqrt(2 / math.pi) * math.sqrt(0.21 * 0.79 / 1_000), rel=1e-14)
    assert core_mass_floor(0.0, 1_000) == 0.0


def test_exact_samples_sit_at_the_floor_and_an_empty_hole_is_its_whole_mass():
    """bkw2d has exact samples at every t: with a declared core radius, the mean error of n exact samples over 40
    seeds is the floor (within 25%); particles that never enter the ball miss exactly its mass."""
    p = dataclasses.replace(problems.get_problem("bkw2d"), core_radius=0.8)
    t, n = 2.5, 1_000
    center = t64([0.0, 0.0])
    reference = p.sample_at(t, 200_000, 7)
    mass = mass_within(reference, center, 0.8)
    errors = [core_mass_error(p.sample_at(t, n, 100 + k), reference, center, 0.8) for k in range(40)]
    assert sum(errors) / len(errors) == pytest.approx(core_mass_floor(mass, n), rel=0.25)
    outside = p.sample_at(t, n, 1)
    outside = outside[(outside.pow(2).sum(-1) >= 0.8**2)]
    assert core_mass_error(outside, reference, center, 0.8) == pytest.approx(mass, abs=1e-15)


def test_the_metric_applies_where_a_problem_declares_a_core_radius():
    base = problems.get_problem("bkw2d")
    x = base.sample_at(1.0, 500, 0)
    snap = lambda prob: Snapshot(1.0, x, None, x, x, prob, prob, "exact", None, 0)
    names = lambda prob: {m.name for m in applicable(snap(prob))}
    assert "core_mass_err" not in names(base)
    declared = dataclasses.replace(base, core_radius=1.0)
    assert {"core_mass_err", "core_mass_mc_floor"} <= names(declared)
    value = METRICS["core_mass_err"].compute(snap(declared))
    assert 0 <= value < 5 * METRICS["core_mass_mc_floor"].compute(snap(declared))
    assert problems.get_problem("truncated2d").core_radius == 0.9


def test_hdr_level_and_mass_by_hand():
    """f(v) = exp(-|v|^2) on reference radii 1..10: the level of the 30% region is the 0.7 quantile of the ten values,
    torch's linear interpolation at position 6.3 of the ascending sort, f(4) + 0.3 (f(3) - f(4)); radii 1, 2, 3
    reach it (p_ref = 0.3). Particles at radii 0.5, 2, 3.5, 9: two inside (f(3.5) = e^-12.25 is below the level,
    about 0.3 e^-9), so the error is |0.5 - 0.3|."""
    f = lambda v: torch.exp(-(v * v).sum(-1))
    ref = t64([[float(r), 0.0] for r in range(1, 11)])
    vals = sorted(f(ref).tolist())
    assert hdr_level(ref, f, 0.3) == pytest.approx(vals[6] + 0.3 * (vals[7] - vals[6]), rel=1e-14)
    x = t64([[0.5, 0.0], [0.0, 2.0], [3.5, 0.0], [9.0, 0.0]])
    err, p_ref = hdr_mass_error(x, ref, f, 0.3)
    assert p_ref == pytest.approx(0.3, abs=1e-15)
    assert err == pytest.approx(0.2, abs=1e-15)
    with pytest.raises(ValueError, match="share"):
        hdr_level(ref, f, 1.0)


def test_exact_samples_sit_at_the_hdr_floor_and_a_spread_law_misses_the_modes():
    """bkw2d at t = 0.5 with its exact density: the mean HDR error of n exact samples over 40 seeds is the
    binomial floor (within 25%) with about half the mass inside; the same samples scaled by 1.5 (mass moved to the
    tails) miss it by far more than the floor."""
    p = problems.get_problem("bkw2d")
    t, n = 0.5, 1_000
    density = lambda v: p.density(v, t)
    reference = p.sample_at(t, 200_000, 7)
    errors, masses = [], []
    for k in range(40):
        err, mass = hdr_mass_error(p.sample_at(t, n, 100 + k), reference, density)
        errors.append(err)
        masses.append(mass)
    assert masses[0] == pytest.approx(0.5, abs=1e-3)
    floor = core_mass_floor(masses[0], n)
    assert sum(errors) / len(errors) == pytest.approx(floor, rel=0.25)
    spread, _ = hdr_mass_error(1.5 * p.sample_at(t, n, 1), reference, density)
    assert spread > 10 * floor


def test_the_hdr_metric_is_registered_for_judged_cells_and_reads_the_region_sample():
    """hdr_mass_err applies to a snapshot with a judged solution (not without one) and equals hdr_mass_error against
    the core-mass reference stream's sample; its floor is the binomial floor of that sample's region mass."""
    from infra import seeds
    p = problems.get_problem("bkw2d")
    x = p.sample_at(1.0, 500, 3)
    snap = Snapshot(1.0, x, None, x, x, p, p, "exact", None, 0)
    assert {"hdr_mass_err", "hdr_mass_mc_floor"} <= {m.name for m in applicable(snap)}
    unjudged = Snapshot(1.0, x, None, x, x, p, None, "", None, 0)
    assert "hdr_mass_err" not in {m.name for m in applicable(unjudged)}
    reference = p.sample_at(1.0, 50_000, seeds.CORE_MASS_REFERENCE.seed(0))
    err, mass = hdr_mass_error(2.0 * x, reference, lambda v: p.density(v, 1.0))
    moved = dataclasses.replace(snap, x=2.0 * x)
    assert METRICS["hdr_mass_err"].compute(moved) == err
    # its floor: the mean of the binomial law's draws |B/500 - B'/50,000| (B ~ Bin(500, mass), B' ~ Bin(50,000, mass))
    # from the region stream, within 10% of the law's mean absolute deviation (200 draws: a 5% standard error)
    import numpy as np
    rng = np.random.default_rng(seeds.REGION_NULL.seed(0, 1))
    draws = np.abs(rng.binomial(500, mass, 200) / 500 - rng.binomial(50_000, mass, 200) / 50_000)
    assert METRICS["hdr_mass_mc_floor"].compute(moved) == pytest.approx(draws.mean(), rel=1e-12)
    assert METRICS["hdr_mass_mc_floor"].compute(moved) == pytest.approx(core_mass_floor(mass, 500), rel=0.1)
    assert METRICS["hdr_mass_err"].roles == ()  # not an accuracy metric: compare would read its noise as a regression
