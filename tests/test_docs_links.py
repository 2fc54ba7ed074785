"""Every result the documentation cites is in git: each relative link in README.md and docs/**/*.md resolves to
a file git tracks, and no path under docs/ that the README names is ignored (an ignore rule once hid
docs/results/, so the README cited a diagnosis that was never in the repository)."""
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)#\s]+)")
DOC_PATH = re.compile(r"\bdocs/[\w./-]+\.\w+")


def git(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


@pytest.fixture(scope="module")
def tracked() -> set[str]:
    result = git("ls-files")
    if result.returncode != 0:
        pytest.skip("not a git checkout")
    return set(result.stdout.split())


def relative_links(doc: Path) -> list[str]:
    """The repository paths the relative links of a Markdown file point to (web links and anchors left out)."""
    out = []
    for link in LINK.findall(doc.read_text(encoding="utf-8")):
        if "://" in link or link.startswith("mailto:"):
            continue
        out.append((doc.parent / link).resolve().relative_to(ROOT).as_posix())
    return out


def broken_links(docs: list[Path], tracked: set[str]) -> list[str]:
    """'doc -> link' for every relative link that names neither a tracked file nor a folder holding one."""
    bad = []
    for doc in docs:
        for target in relative_links(doc):
            if target not in tracked and not any(t.startswith(target + "/") for t in tracked):
                bad.append(f"{doc.relative_to(ROOT)} -> {target}")
    return bad


def test_every_relative_link_names_a_tracked_file(tracked):
    docs = [ROOT / "README.md"] + sorted(ROOT / p for p in tracked if p.startswith("docs/") and p.endswith(".md"))
    assert broken_links(docs, tracked) == []


def test_a_link_to_an_untracked_file_is_caught(tmp_path, tracked):
    doc = ROOT / "docs" / "__link_probe__.md"
    doc.write_text("[gone](results/never-committed.md) [ok](../README.md) [web](https://example.org/x)\n")
    try:
        assert broken_links([doc], tracked) == ["docs/__link_probe__.md -> docs/results/never-committed.md"]
    finally:
        doc.unlink()


def test_no_docs_path_the_readme_names_is_ignored(tracked):
    named = sorted(set(DOC_PATH.findall((ROOT / "README.md").read_text(encoding="utf-8"))))
    assert named, "the README names no file under docs/"
    ignored = git("check-ignore", "--no-index", *named).stdout.split()
    assert ignored == []
    assert [p for p in named if p not in tracked] == []


def test_docs_results_is_not_ignored():
    """The rule that hid it: `results/` (any depth) instead of `/results/` (the run directories at the top)."""
    assert git("check-ignore", "--no-index", "-q", "docs/results/pinn-diagnosis.md").returncode == 1
    assert git("check-ignore", "--no-index", "-q", "results/20260101-000000/summary.md").returncode == 0
