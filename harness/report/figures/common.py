"""What every figure module shares: the Agg backend, the atomic PNG write, safe file names, setting labels."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from infra.files import replacing  # noqa: E402


def save_figure(fig, path: Path, dpi: int = 110) -> Path:
    """tight_layout, write the PNG atomically (creating its folder; a symbolic link at `path` is replaced,
    never written through), close the figure; returns path."""
    fig.tight_layout()
    try:
        with replacing(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    return path


def figure_path(fig_dir: Path, name: str) -> Path | None:
    """fig_dir / name, or None (with one warning line) when `name` is not a plain file name: metric and
    certificate names come from plugins and cell records, and a '/' in one would write outside fig_dir."""
    if not name or name in (".", "..") or "\0" in name or any(sep and sep in name for sep in (os.sep, os.altsep)):
        print(f"warning: figure {name!r} skipped: its name would place it outside {str(fig_dir)!r}", file=sys.stderr)
        return None
    return fig_dir / name


def setting_label(solver: str, overrides: str) -> str:
    """'sbp' or 'sbp [n=4000]': a solver setting as legends name it."""
    return solver if not overrides else f"{solver} [{overrides}]"
