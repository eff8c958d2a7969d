"""Gate 0 measurement candidate: instruction counts under valgrind callgrind.

Runs the mini ferry once per process (``python -m perfgate_lib.local.miniferry``, one worker
thread, PYTHONHASHSEED=0) on a small corpus, natively and under ``valgrind
--tool=callgrind``: twice on the sandbox's ``main`` (A/A: are the counts repeatable?) and
once on a planted shuffle-path change (does the count see it?). Prints instructions per
run, the A/A difference and the change's ratio, and the wall time of each run beside the
native one, which is what decides whether callgrind fits gate 0's minutes. Asserts
nothing. Needs ``valgrind`` on PATH.

    python benchmarks/bench_gate0_callgrind.py --docs 60
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_gate0_power import SIZES  # noqa: E402

from perfgate_lib.io.git import detached_worktree as worktree
from perfgate_lib.local.ab import zephyr_source  # noqa: E402
from perfgate_lib.local.sandbox import build_sandbox  # noqa: E402

_TOTAL = re.compile(r"^(?:summary|totals): (\d+)", re.MULTILINE)


def run(tree: Path, tmp: Path, docs: int, callgrind: bool) -> tuple[float, int | None]:
    """(wall seconds, instructions or None) of one mini ferry process on ``tree``."""
    out = tmp / f"cg-{time.monotonic_ns()}.out"
    cmd = [
        sys.executable,
        "-m",
        "perfgate_lib.local.miniferry",
        "--out",
        str(tmp / "report.json"),
        "--docs",
        str(docs),
        "--max-workers",
        "1",
        "--zephyr-src",
        str(zephyr_source(tree)),
    ]
    if callgrind:
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *cmd]
    env = {
        **os.environ,
        "PYTHONHASHSEED": "0",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, check=True)
    seconds = time.perf_counter() - start
    if not callgrind:
        return seconds, None
    match = _TOTAL.search(out.read_text(errors="replace"))
    return seconds, int(match.group(1)) if match else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=60)
    parser.add_argument("--change", default="x2", choices=sorted(SIZES))
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        print("valgrind not on PATH: nothing measured")
        return
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as name:
        tmp = Path(name)
        box = build_sandbox(tmp / "repo", SIZES[args.change])
        with (
            worktree(box.path, box.base_sha, tmp / "control") as control,
            worktree(box.path, box.head_sha, tmp / "treatment") as treatment,
        ):
            native = [run(control, tmp, args.docs, False)[0] for _ in range(2)]
            a1 = run(control, tmp, args.docs, True)
            a2 = run(control, tmp, args.docs, True)
            b1 = run(treatment, tmp, args.docs, True)
    print(f"mini ferry, {args.docs} docs, 1 worker thread, one process per run")
    print(f"  native wall time per run: {min(native):.1f} s (best of 2)")
    for label, (seconds, instr) in (("A/A run 1", a1), ("A/A run 2", a2), (args.change, b1)):
        print(f"  callgrind {label:>9}: {instr or 0:>15,} instructions, {seconds:6.1f} s wall")
    if a1[1] and a2[1] and b1[1]:
        print(f"  A/A difference: {100 * abs(a2[1] - a1[1]) / a1[1]:.3f}%")
        print(f"  {args.change} / control (whole run): ×{b1[1] / a1[1]:.3f}")
        print(f"  slowdown under callgrind: ×{a1[0] / min(native):.0f} per run")


if __name__ == "__main__":
    main()
