"""The core-mass metric (metrics/regions.py): the fraction in a ball, its floor, and exact samples at the floor."""
import dataclasses
import math

import pytest
import torch

import problems
from metrics.regions import core_mass_error, core_mass_floor, mass_within
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
