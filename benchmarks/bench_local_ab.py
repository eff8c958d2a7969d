"""Local A/B noise and the demo's wall time.

1. An A/A local A/B (the sandbox's ``main`` on both sides, ``--k`` interleaved repeats
   each, ``--docs`` documents): prints, per stage and for the total, the mean seconds
   and the coefficient of variation (stdev / mean, %) over each side's repeats, the
   noise figure the runner reports and whether the delta counted as within the noise.
2. The demo end to end (sandbox, assess, local A/B with the default k, compare,
   archive): prints its total wall time and each step's.

Prints figures; asserts nothing. ``--skip-demo`` runs part 1 only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perfgate_lib.corpus import CorpusSpec  # noqa: E402
from perfgate_lib.runners import local  # noqa: E402
from perfgate_lib.sandbox import build_sandbox  # noqa: E402


def _cv(values: list[float]) -> float:
    if len(values) < 2 or not statistics.mean(values):
        return float("nan")
    return 100 * statistics.stdev(values) / statistics.mean(values)


def aa_noise(k: int, docs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-local-ab-") as tmp:
        box = build_sandbox(Path(tmp) / "repo")
        start = time.perf_counter()
        result = local.run_local_ab(
            box.path,
            box.base,
            box.base,
            out_dir=Path(tmp) / "ab",
            repeats=k,
            docs=docs,
            progress=None,
        )
        took = time.perf_counter() - start
        repeats = local.repeats_frame(result)
        verdict = local.local_verdict(result)
    print(
        f"A/A local A/B: k={k} per side, {docs} docs, {took:.1f} s wall, verdict {verdict.verdict}"
    )
    print(
        f"{'stage':<20}{'mean s':>8}{'CV ctl %':>10}{'CV trt %':>10}{'noise %':>9}"
        f"{'delta %':>9}  within"
    )
    noise = result.noise.set_index("stage")
    for stage in noise.index:
        cvs = []
        means = []
        for side in ("control", "treatment"):
            values = [float(v) for v in repeats[repeats["side"] == side][stage].dropna()]
            cvs.append(_cv(values))
            means.extend(values)
        row = noise.loc[stage]
        print(
            f"{stage:<20}{statistics.mean(means):>8.2f}{cvs[0]:>10.1f}{cvs[1]:>10.1f}"
            f"{row['noise_pct']:>9.1f}{row['delta_pct']:>+9.1f}  {bool(row['within_noise'])}"
        )
    mem = result.memory
    print(
        f"{'peak memory (MB)':<20}{mem['control_median_s']:>8.0f}{'':>20}"
        f"{mem['noise_pct']:>9.1f}{mem['delta_pct']:>+9.1f}  {bool(mem['within_noise'])}"
    )


def demo_time() -> None:
    import os

    from perfgate_lib.demo import run_demo

    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        os.environ["PERFGATE_RUNS_ROOT"] = str(Path(tmp) / "runs")
        start = time.perf_counter()
        result = run_demo(str(Path(tmp) / "runs" / "demo" / "bench"), progress=None)
        took = time.perf_counter() - start
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items() if k != "total")
    print(
        f"demo: {took:.1f} s wall total ({steps}); verdict {result.verdict.get('verdict')}, "
        f"flagged stages {', '.join(result.flagged_stages) or 'none'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=5, help="repeats per side in the A/A run")
    parser.add_argument("--docs", type=int, default=CorpusSpec.docs, help="corpus documents")
    parser.add_argument("--skip-demo", action="store_true", help="only the A/A noise figures")
    args = parser.parse_args()
    aa_noise(args.k, args.docs)
    if not args.skip_demo:
        demo_time()


if __name__ == "__main__":
    main()
