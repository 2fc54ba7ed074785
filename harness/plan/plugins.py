"""Loads user files that register problems or solvers (`--plugin FILE.py`)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from infra.text import one_line

_LOADED: set[str] = set()


class PluginError(Exception):
    """A plugin file is missing or failed to import."""


def load_plugins(paths) -> None:
    """Import each file once by path; PluginError names the file and the error."""
    for p in paths:
        path = Path(p).resolve()
        if str(path) in _LOADED:
            continue
        if not path.is_file():
            raise PluginError(f"plugin file {p!r} does not exist")
        name = f"landau_plugin_{len(_LOADED)}_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path) if path.suffix == ".py" else None
        if spec is None or spec.loader is None:
            raise PluginError(f"plugin file {p!r} is not a Python file; give a FILE.py that registers problems, "
                              f"solvers or metrics")
        module = importlib.util.module_from_spec(spec)
        try:
            sys.modules[name] = module
            spec.loader.exec_module(module)
        except (Exception, SystemExit) as exc:  # a sys.exit() at import must not end the run silently
            sys.modules.pop(name, None)
            what = f"called sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else f"{type(exc).__name__}: {exc}"
            raise PluginError(f"plugin {p!r} failed to import: {one_line(what)}") from None
        _LOADED.add(str(path))
