"""The profile registry (harness/plan/profiles.py) is the one place profiles are declared for the harness."""
import pytest

import solvers
from harness.execute.evaluate import reference_resolution
from harness.plan.diagnosis import diagnosis_budget
from harness.plan.estimate import _default_seconds
from harness.plan.profiles import DEFAULT_PROFILE, PROFILES, Profile, get_profile


def test_the_registry_and_the_solvers_name_the_same_profiles():
    assert tuple(PROFILES) == solvers.PROFILES
    assert DEFAULT_PROFILE in PROFILES


def test_what_each_profile_means_is_read_from_the_registry():
    assert [reference_resolution(p) for p in PROFILES] == ["coarse", "fine", "fine"]
    assert diagnosis_budget("quick", {}) == {"iters": 750}
    assert diagnosis_budget("quick", {"iters": 20}) == {"iters": 20}  # the user's --set wins
    assert diagnosis_budget("smoke", {}) == {} and diagnosis_budget("paper", {}) == {}
    assert [_default_seconds(p) for p in PROFILES] == [5.0, 60.0, 1_800.0]


def test_an_unknown_profile_or_resolution_is_one_line_naming_the_valid_ones():
    with pytest.raises(ValueError, match="unknown profile 'fast'; valid profiles: smoke, quick, paper"):
        get_profile("fast")
    with pytest.raises(ValueError, match="reference_resolution 'medium' is not one of coarse, fine"):
        Profile("x", "", reference_resolution="medium", diagnosis_iters=None, sweep_top_iters=None,
                default_cell_seconds=1.0)
