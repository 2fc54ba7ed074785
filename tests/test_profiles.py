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


#: the modules that still look a profile up by name (issue 44 item 4: the CLI looks it up once and passes the Profile
#: object down): the CLI itself, the runner for callers that give none, the manifest's planned cells and the trust
#: check (harness.plan.resolved), a cell in its own process (execute/evaluate.py: the name crosses the process
#: boundary), the sweep plan and the marginal figures. The list only shrinks.
LOOKUPS_ALLOWED = {"harness/cli/run.py", "harness/execute/runner.py", "harness/plan/resolved.py",
                   "harness/execute/evaluate.py", "harness/plan/sweep.py", "harness/report/figures/marginals.py"}


def test_no_new_module_looks_a_profile_up_by_name():
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    found = {str(p.relative_to(root)) for pkg in ("infra", "problems", "metrics", "solvers", "certificates", "harness")
             for p in (root / pkg).rglob("*.py")
             if re.search(r"\bPROFILES\[|\bget_profile\(", p.read_text()) and p.name != "profiles.py"}
    assert found <= LOOKUPS_ALLOWED, sorted(found - LOOKUPS_ALLOWED)
