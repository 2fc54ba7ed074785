"""Where and with what a run ran: the `provenance` object of RUN/manifest.json, built here and nowhere else.

`provenance(device, plugins, root)` returns, in this order:

* git_commit: HEAD of the checkout at `root` (default: this package's), 'unknown' outside git or without git;
  git_dirty: whether `git diff HEAD` (staged and unstaged changes of tracked files; untracked files are not code the
  run imports unless they are plugins, hashed below) is non-empty, None outside git; git_diff_sha256: sha256 of that
  diff's bytes, '' when clean, None outside git. Every git call has a GIT_TIMEOUT_S limit; no git never fails a run;
* python, torch, numpy, scipy, pot, pandas: versions; device: as asked ('auto' unresolved); host: platform.node();
  cuda_device: the GPU's name or None; threads: torch's intra-op threads of this process (kept for runs before
  issue 44; the same number as torch_threads);
* plugins: {file name: sha256 of its bytes} of the run's plugin files (the full path as key where two share a name;
  'unreadable (Error)' for one that cannot be read);
* cpu_model: /proc/cpuinfo's first 'model name', else platform.processor(), else platform.machine();
  cores: os.cpu_count(); torch_threads: torch.get_num_threads() of the process that plans the run (every cell runs
  on one thread, harness.execute.run_cell.CELL_THREADS); blas: the BLAS torch was built with (`blas_text`);
* gpu: 'NAME (driver X, CUDA Y)' when torch.cuda.is_available(), else None;
* env: {name: value} of every environment variable whose name starts with one of ENV_PREFIXES, sorted by name.
"""
from __future__ import annotations

import hashlib
import os
import platform
import re
import subprocess
from pathlib import Path

#: seconds each git (or nvidia-smi) call may take before it counts as absent
GIT_TIMEOUT_S = 10
#: environment variables recorded: the harness's own (LANDAU_FUSED_MIN_N, LANDAU_REFERENCE_CACHE, ...) and torch's
ENV_PREFIXES = ("LANDAU_", "TORCH")
#: where git is asked by default: this package's checkout
PACKAGE_ROOT = Path(__file__).resolve().parent


def _run(command: list[str], root: Path | None = None) -> bytes | None:
    """The standard output of `command` (run in `root`), or None if it is missing, fails or times out."""
    try:
        return subprocess.run(command, cwd=root, capture_output=True, check=True, timeout=GIT_TIMEOUT_S).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def git_state(root: Path | str | None = None) -> dict:
    """{'git_commit', 'git_dirty', 'git_diff_sha256'} of the checkout at `root` (see the module docstring)."""
    root = Path(root) if root is not None else PACKAGE_ROOT
    head = _run(["git", "rev-parse", "HEAD"], root)
    if head is None:
        return {"git_commit": "unknown", "git_dirty": None, "git_diff_sha256": None}
    diff = _run(["git", "diff", "HEAD", "--no-ext-diff", "--no-textconv", "--no-color"], root)
    return {"git_commit": head.decode("ascii", "replace").strip(), "git_dirty": None if diff is None else bool(diff),
            "git_diff_sha256": None if diff is None else hashlib.sha256(diff).hexdigest() if diff else ""}


def git_commit(root: Path | str | None = None) -> str:
    """The current git commit of the checkout at `root` (default this package's), or 'unknown'."""
    return git_state(root)["git_commit"]


def plugin_hashes(paths) -> dict[str, str]:
    """{file name: sha256 hex of its bytes} of each plugin file (see the module docstring)."""
    names = [Path(p).name for p in paths]
    out = {}
    for path, name in zip(paths, names):
        key = name if names.count(name) == 1 else str(path)
        try:
            out[key] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except OSError as exc:
            out[key] = f"unreadable ({type(exc).__name__})"
    return out


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name (/proc/cpuinfo, else platform.processor(), else platform.machine(), else '')."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux: the platform's word below
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or ""


def blas_text(config: str) -> str:
    """The BLAS of a torch build from its torch.__config__.show() text: 'mkl: Intel(R) oneAPI Math Kernel Library
    Version 2024.2-Product Build 20240605' (BLAS_INFO, then the library's own line, cut at ' for ' and to 80
    characters), either alone where the other is missing, 'unknown' where both are."""
    info = re.search(r"BLAS_INFO=([^,\s]+)", config)
    library = next((line.strip(" -\t") for line in config.splitlines()
                    if re.search(r"Math Kernel Library|OpenBLAS|BLIS|Accelerate", line) and "MKL-DNN" not in line), "")
    library = library.split(" for ")[0][:80]
    return ": ".join(part for part in (info.group(1) if info else "", library) if part) or "unknown"


def gpu_text(torch) -> str | None:
    """'NAME (driver X, CUDA Y)' of CUDA device 0 (the driver from nvidia-smi where it answers), or None without
    CUDA."""
    if not torch.cuda.is_available():
        return None
    smi = _run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
    driver = smi.decode("utf-8", "replace").splitlines()[0].strip() if smi and smi.strip() else "unknown"
    return f"{torch.cuda.get_device_name(0)} (driver {driver}, CUDA {torch.version.cuda})"


def environment(environ=None) -> dict[str, str]:
    """{name: value} of the variables of `environ` (default os.environ) named with an ENV_PREFIXES prefix, sorted."""
    environ = os.environ if environ is None else environ
    return {k: environ[k] for k in sorted(environ) if k.startswith(ENV_PREFIXES)}


def provenance(device: str, plugins=(), root: Path | str | None = None) -> dict:
    """Versions, commit and diff, device, host, hardware, threads, BLAS, GPU, plugin hashes and environment of a run
    (the module docstring says each key), recorded in its manifest."""
    import numpy
    import ot
    import pandas
    import scipy
    import torch
    git = git_state(root)
    return {
        "git_commit": git["git_commit"], "python": platform.python_version(), "torch": torch.__version__,
        "numpy": numpy.__version__, "scipy": scipy.__version__, "pot": ot.__version__,
        "pandas": pandas.__version__, "device": device, "host": platform.node(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "threads": torch.get_num_threads(),
        "git_dirty": git["git_dirty"], "git_diff_sha256": git["git_diff_sha256"], "plugins": plugin_hashes(plugins),
        "cpu_model": cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "blas": blas_text(torch.__config__.show()), "gpu": gpu_text(torch), "env": environment(),
    }
