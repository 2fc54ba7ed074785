"""The run context (issue 44): one frozen value the command line builds once per command and passes down, in place
of the loose names (profile, device, seeds, run directory, plugins, --jobs, executor, scheduler, --cell-timeout,
quiet) each layer used to take and look up again.

The profile in it is the Profile object, never a name to look up: `harness.cli.context` is the one place that turns
a name into a Profile (the registry's lookup by name). A command that reads an existing run takes the values its
manifest recorded at plan time (`RunConfig.profile_values`); `today` is what today's registry says of the same name,
the profile "older configuration" is judged against (None when today's code has no profile of that name).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.plan.profiles import Profile


#: the default of RunContext.today: the run's own profile
_SAME = object()


@dataclass(frozen=True)
class RunContext:
    """What one command runs (or reads) a run directory with.

    profile: the run's Profile (a new run: today's; a resumed or reported run: as its manifest recorded it; None
        only for a command that reads a run whose profile neither its manifest records nor today's code knows);
    run_dir: the run directory (absolute); device: as given ('auto' unresolved); seeds: the seeds asked for (() when
    none were); plugins: absolute paths of the plugin files; jobs, executor ('local', 'process', 'dask'), scheduler
    (a Dask address or None), cell_timeout (s or None), quiet: the executor settings; today: today's registry entry
    of profile.name (None: today's code has none), by default `profile` itself (a new run)."""

    profile: Profile | None
    run_dir: Path
    device: str = "auto"
    seeds: tuple[int, ...] = ()
    plugins: tuple[str, ...] = ()
    jobs: int = 1
    executor: str = "local"
    scheduler: str | None = None
    cell_timeout: float | None = None
    quiet: bool = False
    today: Profile | None = field(default=_SAME)  # type: ignore[assignment]

    def __post_init__(self):
        object.__setattr__(self, "run_dir", Path(self.run_dir))
        object.__setattr__(self, "seeds", tuple(self.seeds))
        object.__setattr__(self, "plugins", tuple(str(p) for p in self.plugins))
        if self.today is _SAME:
            object.__setattr__(self, "today", self.profile)
