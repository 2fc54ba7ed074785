"""Every result the documentation cites is in git: each relative link in README.md and docs/**/*.md resolves to
a file git tracks, and no path under docs/ that the README names is ignored (an ignore rule once hid
docs/results/, so the README cited a diagnosis that was never in the repository). The README stays a front page
(at most 200 lines, none wider than 160 characters; the rest lives in docs/) and its test command is the one CI runs."""
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 200
README_MAX_WIDTH = 160
LINK = re.compile(r"\]\(([^)#\s]+)")
DOC_PATH = re.compile(r"\bdocs/[\w./-]+\.\w+")
ANCHORED = re.compile(r"\]\(([^)#\s]*)#([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")


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


def documentation(tracked: set[str]) -> list[Path]:
    """README.md and every tracked Markdown file under docs/ (any depth)."""
    return [ROOT / "README.md"] + sorted(ROOT / p for p in tracked if p.startswith("docs/") and p.endswith(".md"))


def test_every_relative_link_names_a_tracked_file(tracked):
    assert broken_links(documentation(tracked), tracked) == []


def slugs(doc: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings (lower case, punctuation dropped, spaces to hyphens)."""
    out, fenced = set(), False
    for line in doc.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (m := HEADING.match(line)):
            base = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
            slug, k = base, 0
            while slug in out:
                k += 1
                slug = f"{base}-{k}"
            out.add(slug)
    return out


def broken_anchors(docs: list[Path]) -> list[str]:
    """'doc -> target#anchor' for every relative link into a Markdown file whose anchor names no heading there."""
    bad = []
    for doc in docs:
        for path, anchor in ANCHORED.findall(doc.read_text(encoding="utf-8")):
            if "://" in path:
                continue
            target = (doc.parent / path).resolve() if path else doc
            if target.suffix == ".md" and target.is_file() and anchor not in slugs(target):
                bad.append(f"{doc.relative_to(ROOT)} -> {target.relative_to(ROOT)}#{anchor}")
    return bad


def test_every_anchor_names_a_heading(tracked):
    assert broken_anchors(documentation(tracked)) == []


def test_a_link_to_a_missing_heading_is_caught():
    doc = ROOT / "docs" / "__anchor_probe__.md"
    doc.write_text("# Probe: a `code` heading\n\n```\n# not a heading\n```\n"
                   "[a](#probe-a-code-heading) [b](#not-a-heading) [c](../README.md#no-such-section)\n")
    try:
        assert broken_anchors([doc]) == ["docs/__anchor_probe__.md -> docs/__anchor_probe__.md#not-a-heading",
                                         "docs/__anchor_probe__.md -> README.md#no-such-section"]
    finally:
        doc.unlink()


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


def test_the_readme_is_a_front_page():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move sections to docs/"
    wide = [f"README.md:{i}: {len(line)} characters" for i, line in enumerate(lines, 1) if len(line) > README_MAX_WIDTH]
    assert wide == []


def test_the_readme_test_command_is_what_ci_runs():
    """.ci/run runs the line after its marker comment; the README must show that line verbatim."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    marker = next(i for i, line in enumerate(ci) if line.startswith("# --- the README's test command"))
    command = ci[marker + 1].strip()
    assert " python -m pytest -q" in command and command.endswith("--dist loadfile")
    assert command in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
