"""Issue 15: command lines drawn from a grammar of valid and invalid options never end in a traceback.

Every drawn command line must exit 0, 1 or 2 and leave no 'Traceback' on stderr. Cells use the
trivial plugin (tests/harness_plugin.py: problem tiny2d, solvers still / only_bkw), so valid lines
run in well under a second each; the slow engines (dask, worker processes) are left to their own tests.
"""
import itertools
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli import main

PLUGIN = str(Path(__file__).with_name("harness_plugin.py"))
BAD_PLUGIN = str(Path(__file__).with_name("misbehaving_plugin.py"))  # short, exits, loud, blowup, wrongdim, ...
BASE = Path(tempfile.mkdtemp(prefix="landau-cli-grammar-"))
_counter = itertools.count()


def fresh(kind: str) -> str:
    """A path of the given kind: a new directory name, an existing file, a path below a file, a
    directory with a damaged manifest, a directory with a finished tiny run."""
    k = next(_counter)
    if kind == "new":
        return str(BASE / f"new{k}")
    if kind == "file":
        p = BASE / f"file{k}"
        p.write_text("not a directory")
        return str(p)
    if kind == "below_file":
        p = BASE / f"blocker{k}"
        p.write_text("")
        return str(p / "run")
    if kind == "damaged":
        p = BASE / f"damaged{k}"
        (p / "cells").mkdir(parents=True)
        (p / "manifest.json").write_text('{"config": {"profile": "smo')
        (p / "cells" / "still__tiny2d__seed0.json").write_bytes(b"\x00\xff garbage")
        return str(p)
    if kind == "finished":
        p = BASE / f"finished{k}"
        assert main(["run", "-s", "still", "-p", "tiny2d", "--profile", "smoke", "--quiet", "--plugin", PLUGIN,
                     "--out", str(p)]) == 0
        (p / "cells" / "still__tiny2d__seed0.json").write_text(json.dumps({"solver": "still", "rows": 3}))
        return str(p)
    raise ValueError(kind)


names_s = st.sampled_from(["still", "only_bkw", "nope", "", "still.x", "a/b", "../../evil", "short", "exits", "loud",
                           "blowup", "wrongdim", "m_int"])
names_p = st.sampled_from(["tiny2d", "bkw2d", "nope", ""])
values = {
    "--profile": st.sampled_from(["smoke", "quick", "fast", ""]),
    "--device": st.sampled_from(["cpu", "auto", "tpu", "cuda"]),
    "--seeds": st.sampled_from(["0", "0,1", "x", "-1", "0,0", "", "1,,2"]),
    "--set": st.sampled_from(["n=8,16", "n=abc", "still.n=4", "nope=1", "dt=0.5", "=", "n=", "n=0", "only_bkw.n=4",
                              "sbp.n=3", "n=1e3", "n=100000000", "n=1e20", "dt=1e-12", "bandwidth=-1", "dt=none"]),
    "--jobs": st.sampled_from(["1", "0", "x", "-2", "auto", "1000"]),
    "--executor": st.sampled_from(["local", "bogus"]),
    "--cell-timeout": st.sampled_from(["0", "abc", "-3", "nan", "inf"]),
    "--scheduler": st.sampled_from(["tcp://127.0.0.1:1"]),
}


@st.composite
def command_lines(draw):
    verb = draw(st.sampled_from(["run", "sweep", "report", "list", "references", "bogus", "run", "run"]))
    argv = [verb]
    if verb in ("run", "sweep"):
        if draw(st.booleans()):
            argv += ["--plugin", PLUGIN]
            if draw(st.booleans()):
                argv += ["--plugin", BAD_PLUGIN]
        for _ in range(draw(st.integers(0, 2))):
            argv += ["-s", draw(names_s)]
        for _ in range(draw(st.integers(0, 2))):
            argv += ["-p", draw(names_p)]
        for opt in draw(st.lists(st.sampled_from(sorted(values)), max_size=3, unique=True)):
            argv += [opt, draw(values[opt])]
        if draw(st.booleans()):
            argv.append("--quiet")
        if draw(st.integers(0, 4)) == 0:
            argv.append("--dry-run")  # plans and checks as a run does, writes nothing
        if "--jobs" not in argv:
            argv += ["--jobs", "1"]  # worker processes have their own tests; keep the drawn lines fast
        where = draw(st.sampled_from(["out-new", "out-file", "out-below-file", "resume-new", "resume-damaged",
                                      "resume-finished", "none"]))
        if where.startswith("out"):
            argv += ["--out", fresh({"out-new": "new", "out-file": "file", "out-below-file": "below_file"}[where])]
        elif where.startswith("resume"):
            argv += ["--resume", fresh(where.split("-", 1)[1])]
        else:
            argv += ["--out", fresh("new")]  # never write into the working directory
        if verb == "sweep" and draw(st.booleans()):
            argv += ["-p", "tiny2d", "-s", "still"]  # a valid sweep now and then
    elif verb == "report":
        argv.append(fresh(draw(st.sampled_from(["new", "file", "damaged", "finished"]))))
    elif verb in ("list", "references"):
        if draw(st.booleans()):
            argv += ["--plugin", draw(st.sampled_from([PLUGIN, "/nonexistent.py"]))]
        if verb == "references":
            argv += ["-p", draw(st.sampled_from(["tiny2d", "nope", "bkw2d"])), "--resolution",
                     draw(st.sampled_from(["coarse", "medium"]))]
    if draw(st.integers(0, 9)) == 0:
        argv.insert(draw(st.integers(0, len(argv))), draw(st.sampled_from(["--bogus", "-h", "--all", "--help"])))
    return argv


def test_no_command_line_ends_in_a_traceback_and_the_grammar_reaches_every_outcome(capsys):
    """Each drawn command line exits 0, 1 or 2 without a traceback; over the draws (collected here, so the
    test stands alone in any order) the lines reached both success and usage errors."""
    tried: list[tuple[list[str], int]] = []

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(argv=command_lines())
    def one_line(argv):
        if "--all" in argv and argv[0] == "run" and "-p" not in argv:
            argv = argv + ["-p", "tiny2d"]  # --all alone would run every real solver: keep it fast
        if "--all" in argv and not any(a == "-s" for a in argv):
            argv = argv + ["-s", "still", "--plugin", PLUGIN]
        out = argv[argv.index("--out") + 1] if "--out" in argv else None
        new = out is not None and not Path(out).exists()
        code = main(argv)
        err = capsys.readouterr().err
        tried.append((argv, code))
        assert code in (0, 1, 2), (argv, code, err[-2000:])
        assert "Traceback" not in err, (argv, err[-3000:])
        if "--dry-run" in argv and new:
            assert not Path(out).exists(), (argv, "a dry run created its --out")

    one_line()
    codes = {c for _, c in tried}
    print(f"\ncommand lines tried: {len(tried)}; exit codes: "
          + ", ".join(f"{c}: {sum(1 for _, x in tried if x == c)}" for c in sorted(codes)))
    assert len(tried) >= 40 and {0, 2} <= codes
