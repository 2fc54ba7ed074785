"""The run context (`harness.plan.context.RunContext`) each command builds once, here: the one place outside the
profile registry that turns a profile's name into a Profile (`get_profile`; tests/test_profiles.py holds it so).

A new run takes today's profile of --profile; a command that reads or resumes an existing run takes the values its
manifest recorded when the run was planned (`RunConfig.profile_values`), today's of that name only for a manifest
written before they were recorded, and today's profile of the name beside it as `today` (what "older configuration"
is judged against; None when today's code has no profile of that name).
"""
from __future__ import annotations

import sys
from pathlib import Path

from harness.plan.context import RunContext
from harness.plan.profiles import DEFAULT_PROFILE, Profile, get_profile
from harness.store.manifest import RunManifest


def todays_profile(name: str) -> Profile | None:
    """Today's registered profile `name`, None when today's code has none of that name."""
    try:
        return get_profile(name)
    except ValueError:
        return None


def run_profiles(args, manifest: RunManifest | None) -> tuple[Profile, Profile | None]:
    """(the profile a run plans with, today's profile of its name): --profile's for a new run (checked before:
    harness.cli.options), the manifest's recorded one for --resume (`recorded_profile`)."""
    if manifest is None:
        profile = get_profile(args.profile or DEFAULT_PROFILE)
        return profile, profile
    return recorded_profile(manifest, f"--resume {args.resume!r}")


def recorded_profile(manifest: RunManifest, where: str) -> tuple[Profile | None, Profile | None]:
    """(the profile `manifest` recorded at plan time, today's of its name): the recorded values when it has them, else
    today's (None when there is none of that name). Recorded values that do not read, or are of another profile than
    the config names (a manifest edited by hand), are not used: one warning line on stderr says so, and today's
    profile of the config's name stands in."""
    name = manifest.config.profile
    today = todays_profile(name)
    values = manifest.config.profile_values
    if values is None:
        return today, today
    try:
        recorded = Profile.from_json(values)
        if recorded.name != name:
            raise ValueError(f"its recorded profile values are of {recorded.name!r}, its config names {name!r}")
    except ValueError as exc:
        print(f"warning: {where}: manifest.json: {exc}; today's profile {name!r} is used instead", file=sys.stderr)
        return today, today
    return recorded, today


def read_context(manifest: RunManifest, run_dir: Path, plugins=(), where: str = "report") -> RunContext:
    """The context of a command that reads the run `manifest` describes in `run_dir` (report): its recorded profile,
    device and seeds, the plugins named on this command line."""
    profile, today = recorded_profile(manifest, where)
    return RunContext(profile, Path(run_dir), device=manifest.config.device, seeds=manifest.config.seeds,
                      plugins=tuple(plugins), today=today)
