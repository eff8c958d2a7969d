"""Compare + render speed in-process, and one compare-notebook run under papermill.

Targets (issue 2): in-process compare plus render <= 20 ms per report pair; one
compare-notebook run <= 4 s wall on a 2-core machine. Prints figures; asserts nothing.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perfgate_lib.io.notebook import run_notebook  # noqa: E402
from perfgate_lib.verdict.render import render_comment  # noqa: E402
from perfgate_lib.verdict.report import load_report  # noqa: E402
from perfgate_lib.verdict.rules import GateContext, decide  # noqa: E402
from perfgate_lib.verdict.thresholds import PARAMETERS_DIR, load_thresholds  # noqa: E402

EXAMPLES = PARAMETERS_DIR / "examples"


def main(pairs: int = 200, notebook_runs: int = 3) -> None:
    base_path = str(EXAMPLES / "tier1_baseline.json")
    treat_path = str(EXAMPLES / "tier1_treatment.json")
    thresholds = load_thresholds()
    context = GateContext(gate=1, treatment_ferry_module="experiments.ferries.datakit_ferry")
    times = []
    for _ in range(pairs):
        start = time.perf_counter()
        base, treat = load_report(base_path), load_report(treat_path)
        verdict = decide(base, treat, thresholds, context)
        render_comment(verdict, base, treat)
        times.append((time.perf_counter() - start) * 1000)
    print(
        f"compare+render in-process (load 2 reports, decide, render): "
        f"median {statistics.median(times):.2f} ms, max {max(times):.2f} ms over {pairs} pairs "
        f"(target <= 20 ms)"
    )
    walls = []
    for _ in range(notebook_runs):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            run_notebook(
                "compare", out, {"baseline": base_path, "treatment": treat_path, "out_dir": out}
            )
            walls.append(time.perf_counter() - start)
    print(
        f"compare.ipynb under papermill: median {statistics.median(walls):.2f} s, "
        f"max {max(walls):.2f} s over {notebook_runs} runs (target <= 4 s)"
    )


if __name__ == "__main__":
    main()
