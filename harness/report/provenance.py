"""Provenance as a reader sees it: a few lines of summary.md / index.html (`provenance_lines`) and the list of
differences `compare` prints before its verdict (`provenance_differences`).

Both read the manifest's `provenance` object (`harness.store.provenance` says each key) as the run directory holds
it; a run made before a key existed simply lacks it. The summary also says what the cells used, from timings.csv:
the largest peak resident memory (and GPU peak) of a cell and the drift / blob-score kernels over all cells.
"""
from __future__ import annotations

import math

import pandas as pd

from harness.store.tables import kernels_from_text

#: keys `provenance_differences` leaves out: `host`, a machine's name (what the machine is, cpu_model, cores and gpu,
#: are compared); `threads` and `cuda_device` where the run also has `torch_threads` and `gpu`, which hold the same
#: (they are compared under those names)
NOISE = ("host",)
SAME_AS = {"threads": "torch_threads", "cuda_device": "gpu"}
#: a sha256 is shown by its first characters
SHORT_HASH = 12


def _short(value) -> str:
    """A provenance value in one short piece of text: a sha256 cut to SHORT_HASH characters, None as 'none'."""
    if value is None:
        return "none"
    text = str(value)
    return text[:SHORT_HASH] if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else text


def _flat(provenance: dict) -> dict[str, object]:
    """The provenance with its objects (env, plugins) flattened to 'env.NAME', 'plugins.FILE' keys (an empty object
    adds none)."""
    out = {}
    for key, value in provenance.items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def provenance_differences(a: dict, b: dict) -> list[str]:
    """'`key`: A value -> B value' for every provenance key whose value differs between runs A and B, NOISE and the
    SAME_AS duplicates left out, in A's key order then B's; an environment variable or plugin in one run only reads
    'unset' in the other. Keys one run does not record at all (made before they existed) are one last line."""
    skip = set(NOISE) | {old for old, new in SAME_AS.items() if new in a and new in b}
    fa, fb = _flat(a), _flat(b)
    out, unrecorded = [], {}
    for key in dict.fromkeys([*fa, *fb]):
        top = key.split(".", 1)[0]
        if top in skip:
            continue
        if top not in a or top not in b:
            unrecorded[top] = True
            continue
        va, vb = fa.get(key, "unset"), fb.get(key, "unset")
        if va != vb:
            out.append(f"`{key}`: {_short(va)} -> {_short(vb)}")
    if unrecorded:
        out.append(f"recorded in one run only: {', '.join(f'`{k}`' for k in unrecorded)}")
    return out


def compare_lines(a: dict, b: dict) -> list[str]:
    """The provenance paragraph of `compare`: its differences, or one line saying there are none."""
    diffs = provenance_differences(a, b)
    if not diffs:
        return ["Provenance: the same in both runs (host names aside).", ""]
    head = "Provenance differences (A -> B; they do not change the exit status):"
    return [head, ""] + [f"- {d}" for d in diffs] + [""]


def provenance_lines(manifest: dict, timings: pd.DataFrame | None = None) -> list[str]:
    """The 'Provenance' section of summary.md: commit and dirty flag, versions, CPU, cores, threads, BLAS, GPU, the
    LANDAU_* / TORCH* environment, plugin hashes, and from timings the cells' memory peaks and kernels."""
    p = manifest.get("provenance") if isinstance(manifest.get("provenance"), dict) else {}
    out = ["## Provenance", "",
           f"- commit `{str(p.get('git_commit', 'unknown'))[:12]}`{_git_state(p)}; Python {p.get('python', '?')}, "
           f"torch {p.get('torch', '?')}, numpy {p.get('numpy', '?')}, host `{p.get('host', '?')}`"]
    if "cpu_model" in p:  # a run made before issue 44 records none of this line
        gpu = f"`{p['gpu']}`" if p.get("gpu") else "none"
        out.append(f"- CPU `{p.get('cpu_model') or '?'}`, {p.get('cores', '?')} cores, {p.get('torch_threads', '?')} "
                   f"torch threads (each cell runs on 1), BLAS `{p.get('blas', '?')}`, GPU {gpu}")
    if "env" in p:
        env = p.get("env") or {}
        out.append("- environment: " + (", ".join(f"`{k}={v}`" for k, v in env.items())
                                        or "no LANDAU_* or TORCH* variable set"))
    if p.get("plugins"):
        out.append("- plugins: " + ", ".join(f"`{name}` sha256 `{_short(h)}`" for name, h in p["plugins"].items()))
    used = _usage_line(timings)
    return out + ([used] if used else []) + [""]


def _git_state(p: dict) -> str:
    """', clean', ', dirty (diff sha256 `0123456789ab`)', or '' where the run did not record it."""
    if p.get("git_dirty") is None:
        return ""
    return f", dirty (diff sha256 `{_short(p.get('git_diff_sha256'))}`)" if p["git_dirty"] else ", clean"


def _usage_line(timings: pd.DataFrame | None) -> str:
    """'- cells: peak resident memory up to 612 MiB, GPU peak up to 88 MiB; kernels drift:compiled_cpu 4,000, ...'
    from timings.csv ('' for a run whose records hold neither)."""
    if timings is None or timings.empty:
        return ""
    parts = []
    for column, what in (("peak_rss_mb", "peak resident memory up to {:.0f} MiB (a process's peak so far: an upper "
                                         "bound per cell)"), ("gpu_peak_mb", "GPU peak up to {:.0f} MiB")):
        top = pd.to_numeric(timings[column], errors="coerce").max() if column in timings.columns else math.nan
        if pd.notna(top):
            parts.append(what.format(top))
    kernels: dict[str, int] = {}
    for text in timings.get("kernels", pd.Series(dtype=object)):
        for name, calls in kernels_from_text(text).items():
            kernels[name] = kernels.get(name, 0) + calls
    if kernels:
        parts.append("kernels " + ", ".join(f"{name} {calls:,}" for name, calls in sorted(kernels.items())))
    return "- cells: " + "; ".join(parts) if parts else ""
