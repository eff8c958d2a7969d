"""`perfgate demo` run after run, every second one under the power benchmark's load
(or none, with ``--no-load``).

For each run: its wall seconds (install excluded: the demo command itself), the demo's
"took ..." line (where its time went), the verdict, and fuzzy_dups' call and paired
interval from ``verdict.json``. Prints how many runs
named fuzzy_dups as failing and the slowest run. Asserts nothing.

    python benchmarks/bench_demo_runs.py --runs 10
    python benchmarks/bench_demo_runs.py --runs 3 --no-load   # the demo's time, quiet host
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_gate0_power import Load  # noqa: E402

TARGET = "fuzzy_dups"


def one_demo(out: Path, loaded: bool, load_max_s: float) -> dict:
    """Run ``perfgate demo --out out`` (under load when asked); what it decided."""
    cmd = [sys.executable, "-m", "perfgate_lib", "demo", "--out", str(out)]
    start = time.perf_counter()
    if loaded:
        with Load(load_max_s):
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    else:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    record = {"loaded": loaded, "seconds": round(seconds, 1), "exit": proc.returncode}
    took = [line.strip() for line in proc.stdout.splitlines() if line.strip().startswith("took ")]
    if took:
        record["took"] = took[-1]  # the demo's own account of where its time went
    verdict_path = out / "verdict.json"
    if verdict_path.is_file():
        verdict = json.loads(verdict_path.read_text())
        record["verdict"] = verdict.get("verdict")
        for stage in verdict.get("stages") or []:
            if stage.get("stage") == TARGET:
                record["call"] = stage.get("verdict")
                record["note"] = stage.get("note")
        record["failing"] = sorted(
            s.get("stage") for s in verdict.get("stages") or [] if s.get("verdict") == "fail"
        )
    else:
        record["error"] = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--load-max-s", type=float, default=600.0)
    parser.add_argument(
        "--loaded-first", action="store_true", help="runs 1, 3, ... under load (else 2, 4, ...)"
    )
    parser.add_argument("--no-load", action="store_true", help="every run on a quiet host")
    args = parser.parse_args()
    records = []
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        for i in range(args.runs):
            loaded = not args.no_load and i % 2 == (0 if args.loaded_first else 1)
            rec = one_demo(Path(tmp) / f"run{i}", loaded, args.load_max_s)
            records.append(rec)
            print(json.dumps(rec), flush=True)
    named = sum(r.get("failing") == [TARGET] for r in records)
    loaded = [r for r in records if r["loaded"]]
    print(
        f"{named}/{len(records)} runs failed at {TARGET} alone "
        f"({sum(r.get('failing') == [TARGET] for r in loaded)}/{len(loaded)} under load); "
        f"median {statistics.median(r['seconds'] for r in records):.0f} s, slowest "
        f"{max(r['seconds'] for r in records):.0f} s"
    )


if __name__ == "__main__":
    main()
