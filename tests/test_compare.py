"""Issue 24: `harness compare RUN_A RUN_B` finds no regression in a re-run of the same cells and flags a
deliberately worse setting (exit 1); bad directories are one line, exit 2. RUN/index.html parses, has every
table of summary.md and every image it references exists; the marginal figures are written."""
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.cli import main

CELLS = ["-s", "sbp", "-s", "blob", "-p", "bkw2d", "--profile", "smoke", "--quiet", "--jobs", "1"]


@pytest.mark.slow
def test_compare_a_rerun_is_clean_and_a_worse_setting_is_flagged(tmp_path, capsys):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert main(["run", *CELLS, "--out", str(a)]) == 0
    assert main(["run", *CELLS, "--out", str(b)]) == 0
    capsys.readouterr()
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "0 of " in out and "no regression" in out and "| sbp / bkw2d | 5 | w1 |" in out
    assert main(["run", *CELLS, "--set", "sbp.n=60", "--out", str(c)]) == 0
    capsys.readouterr()
    assert main(["compare", str(a), str(c)]) == 1
    out = capsys.readouterr().out
    worse = [line for line in out.splitlines() if line.startswith("| ") and "**worse**" in line]
    assert worse and all(line.startswith("| sbp / bkw2d (settings differ: `-` vs `n=60`)") for line in worse)
    assert not any("blob" in line for line in worse)  # blob ran the same cells: identical values
    # B better than A is not a regression
    assert main(["compare", str(c), str(a)]) == 0
    check_index_html(a)


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.images, self.open = 0, [], []

    def handle_starttag(self, tag, attrs):
        if tag in ("table", "tr", "td", "th", "thead", "tbody", "ul", "li", "p", "b", "i", "code", "h1", "h2", "h3"):
            self.open.append(tag)
        self.tables += tag == "table"
        if tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_endtag(self, tag):
        if tag in ("table", "tr", "td", "th", "thead", "tbody", "ul", "li", "p", "b", "i", "code", "h1", "h2", "h3"):
            assert self.open and self.open.pop() == tag, f"</{tag}> closes {self.open[-1:]}"


def check_index_html(run: Path) -> None:
    summary = (run / "summary.md").read_text()
    page = _Page()
    page.feed((run / "index.html").read_text())
    assert page.open == []  # every element closed in order
    md_tables = sum(1 for k, line in enumerate(summary.splitlines())
                    if line.startswith("|") and (k == 0 or not summary.splitlines()[k - 1].startswith("|")))
    assert page.tables == md_tables >= 3  # the verdict, energy and per-problem tables
    assert page.images and all((run / src).is_file() for src in page.images)
    assert "figures/bkw2d_marginals.png" in page.images and "figures/bkw2d_density2d.png" in page.images


def test_compare_refuses_missing_and_foreign_directories(tmp_path, capsys):
    (tmp_path / "plain").mkdir()
    for args in (["compare", str(tmp_path / "nope"), str(tmp_path / "plain")],
                 ["compare", str(tmp_path / "plain"), str(tmp_path / "plain")]):
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and ("is not a directory" in err or "is not a finished run directory" in err)
