"""`python -m harness.execute.cell_process`: run one cell, or one reference task, in a process of its own (used by
--cell-timeout).

Reads a JSON spec {plugins, cell, profile (its values), device, run_dir, progress, out, parent} from standard input
and writes the cell's record as JSON to the file `out`; a spec with `reference` (a
`harness.execute.reference_tasks.ReferenceTask` as JSON) in place of `cell` builds that reference and writes
its `ReferenceResult`. The parent kills this process's group when it runs past its time limit. The process
dies with its parent: on Linux the kernel sends it SIGKILL when the parent dies (PR_SET_PDEATHSIG), and
everywhere a watchdog thread ends it when the parent's pid is gone (a run killed by SIGKILL leaves no cell
training on in its directory).
"""
from __future__ import annotations

import json
import sys


def main() -> int:
    """Run the cell (or build the reference) described on stdin; write its record atomically to spec['out']."""
    spec = json.loads(sys.stdin.read())
    from harness.execute.tasks import context_of_spec, die_with_parent, run_task
    if spec.get("parent"):
        die_with_parent(int(spec["parent"]))

    if "reference" in spec:
        from harness.execute.reference_tasks import run_reference_task
        result = run_reference_task(spec["plugins"], spec["reference"])
    else:
        result = run_task(context_of_spec(spec), spec["cell"], None, spec.get("progress", False),
                          spec.get("single_thread", False))
    from pathlib import Path

    from infra.files import replacing
    with replacing(Path(spec["out"])) as tmp:  # never through a link planted in RUN/.scratch
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(result.to_json(), fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
