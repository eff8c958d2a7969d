"""Run every ``benchmarks/bench_*.py`` in turn and print their figures."""

from __future__ import annotations

import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
# Short settings for `make bench`; the README gives each script's full run.
QUICK_ARGS = {
    "bench_gate0_power.py": ["--trials", "2", "--out", "runs/bench-gate0-quick.jsonl"],
    "bench_demo_runs.py": ["--runs", "2"],
}

if __name__ == "__main__":
    failed = 0
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        args = QUICK_ARGS.get(script.name, [])
        failed |= subprocess.call([sys.executable, str(script), *args]) != 0
    sys.exit(1 if failed else 0)
