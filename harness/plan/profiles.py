"""The profile registry: the one place that says what `smoke`, `quick` and `paper` mean to the harness.

A profile picks each solver's config (declared by the solver: `Solver._profile`, `solvers.PROFILES` names
them) and, here, everything else a run does with it: the reference resolution it is judged against, the
diagnosis training budget, the longest training rung of a sweep, and the per-cell seconds an estimate falls
back on. tests/test_profiles.py checks that this registry and the solvers' names agree.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class Profile:
    """What one profile means outside the solvers' own configs.

    reference_resolution: 'coarse' or 'fine', the resolution of the references a run is judged against;
    diagnosis_iters: PINN-PM iterations of every `harness diagnose` variant (None: the profile's own). Quick: 750,
        where the drift_score=exact oracle fits bkw2d's dynamics (energy -0.2%, W1 at its floor at t = 5; at the
        main job's 250 iterations even the oracle is undertrained: energy -2.3%, W1 1.2x its floor;
        docs/results/pinn-diagnosis.md);
    sweep_top_iters: the longest training rung of a sweep (None: the profile's own iters);
    default_cell_seconds: an estimate's seconds for a cell no measurement covers.
    """

    name: str
    description: str
    reference_resolution: str
    diagnosis_iters: int | None
    sweep_top_iters: int | None
    default_cell_seconds: float

    def __post_init__(self):
        if self.reference_resolution not in RESOLUTIONS:
            raise ValueError(f"profile {self.name!r}: reference_resolution {self.reference_resolution!r} is not one "
                             f"of {', '.join(RESOLUTIONS)}")

    def to_json(self) -> dict:
        """The profile's fields as a JSON object (what a manifest records and a cell process is handed)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data) -> "Profile":
        """The Profile a `to_json` object holds (a manifest's record of it: no lookup by name); ValueError naming
        the first field that is missing or of the wrong type."""
        if not isinstance(data, dict):
            raise ValueError(f"a recorded profile is a JSON {type(data).__name__}, not an object")
        kinds = {"name": (str,), "description": (str,), "reference_resolution": (str,),
                 "diagnosis_iters": (int, type(None)), "sweep_top_iters": (int, type(None)),
                 "default_cell_seconds": (int, float)}
        for f in fields(cls):
            value = data.get(f.name)
            if f.name not in data or isinstance(value, bool) or not isinstance(value, kinds[f.name]):
                raise ValueError(f"recorded profile field {f.name!r} is missing or not of its type (found {value!r})")
        return cls(**{f.name: data[f.name] for f in fields(cls)})


#: reference resolutions (problems/references: 'coarse' for CI, 'fine' for results)
RESOLUTIONS = ("coarse", "fine")

PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("smoke", "seconds a cell, for CI and checking a setup",
            reference_resolution="coarse", diagnosis_iters=None, sweep_top_iters=None, default_cell_seconds=5.0),
    Profile("quick", "minutes a cell on a laptop CPU: the default",
            reference_resolution="fine", diagnosis_iters=750, sweep_top_iters=1_500, default_cell_seconds=60.0),
    Profile("paper", "the paper's settings (Appendix B); hours a cell, for a GPU",
            reference_resolution="fine", diagnosis_iters=None, sweep_top_iters=None, default_cell_seconds=1_800.0),
)}

#: the profile of a run that names none (and of records and manifests written before they named one)
DEFAULT_PROFILE = "quick"


def get_profile(name: str) -> Profile:
    """The registered profile `name`; ValueError naming the valid ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; valid profiles: {', '.join(PROFILES)}") from None
