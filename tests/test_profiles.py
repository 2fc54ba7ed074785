"""The profile registry (harness/plan/profiles.py) is the one place profiles are declared for the harness."""
import pytest

import solvers
from harness.plan.diagnosis import diagnosis_budget
from harness.plan.estimate import _default_seconds
from harness.plan.profiles import DEFAULT_PROFILE, PROFILES, Profile, get_profile


def test_the_registry_and_the_solvers_name_the_same_profiles():
    assert tuple(PROFILES) == solvers.PROFILES
    assert DEFAULT_PROFILE in PROFILES


def test_what_each_profile_means_is_read_from_the_registry():
    assert [p.reference_resolution for p in PROFILES.values()] == ["coarse", "fine", "fine"]
    assert diagnosis_budget(PROFILES["quick"], {}) == {"iters": 750}
    assert diagnosis_budget(PROFILES["quick"], {"iters": 20}) == {"iters": 20}  # the user's --set wins
    assert diagnosis_budget(PROFILES["smoke"], {}) == {} and diagnosis_budget(PROFILES["paper"], {}) == {}
    assert [_default_seconds(p) for p in PROFILES.values()] == [5.0, 60.0, 1_800.0]


def test_an_unknown_profile_or_resolution_is_one_line_naming_the_valid_ones():
    with pytest.raises(ValueError, match="unknown profile 'fast'; valid profiles: smoke, quick, paper"):
        get_profile("fast")
    with pytest.raises(ValueError, match="reference_resolution 'medium' is not one of coarse, fine"):
        Profile("x", "", reference_resolution="medium", diagnosis_iters=None, sweep_top_iters=None,
                default_cell_seconds=1.0)


#: the one module that turns a profile's name into a Profile (issue 44 item 4): the CLI builds the run context there,
#: once per command (harness/cli/context.py), and every layer below takes the Profile object from it; a command that
#: reads a run takes the values its manifest recorded. Nothing else looks a profile up by name: index the registry
#: (PROFILES[...], PROFILES.get(...)), call get_profile, or import either (a module may only test membership or list
#: the names, by importing PROFILES for that: harness/cli/options.py, resume.py, listing.py).
LOOKUPS_ALLOWED = {"harness/cli/context.py"}
#: modules that import PROFILES to list its names or test membership, never to index it
NAMES_ONLY = {"harness/cli/options.py", "harness/cli/resume.py", "harness/cli/listing.py"}


def test_only_the_cli_context_looks_a_profile_up_by_name():
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    lookup = re.compile(r"\bPROFILES\s*(\[|\.get\b)|\bget_profile\b")
    found, imports = set(), set()
    for pkg in ("infra", "problems", "metrics", "solvers", "certificates", "harness"):
        for p in (root / pkg).rglob("*.py"):
            name, text = str(p.relative_to(root)), p.read_text()
            if name == "harness/plan/profiles.py":
                continue
            if lookup.search(text):
                found.add(name)
            if re.search(r"from harness\.plan\.profiles import[^\n]*\bPROFILES\b", text):
                imports.add(name)
    assert found == LOOKUPS_ALLOWED, sorted(found ^ LOOKUPS_ALLOWED)
    assert imports <= NAMES_ONLY, sorted(imports - NAMES_ONLY)
