"""Gate 0's counts under load: an A/A run beside CPU burners, every pair's ratio per stage.

Builds the sandbox with no change (A/A: the same Zephyr on both sides), starts
``--burners`` busy-loop processes (one pinned to each core in turn; they stop with the
run, or by themselves after ``--load-max-s``), and runs gate 0
(:func:`perfgate_lib.local.ab.run_local_ab`, the shipped ``parameters/gate0.yaml`` with
``min_pairs = max_pairs = --pairs``, so every run measures the same number of pairs).
Samples the 1-minute load average every 5 s while it runs.

Prints, per stage: the control's instruction counts (first and last pair, and their
change), and the range of the per-pair ratios treatment / control, with the largest
distance from 1 in percent. The target of issue 30: every unchanged stage within ±2%
at a load average of 4 or more on the 2 cores. Appends one JSON line per run to
``--out``. Asserts nothing.

    python benchmarks/bench_gate0_load.py --runs 1 --pairs 6
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perfgate_lib.local import ab as local  # noqa: E402
from perfgate_lib.local.sandbox import ZEPHYR_PKG, Change, build_sandbox  # noqa: E402

TARGET_PCT = 2.0
# A/A: a comment in Zephyr's shuffle.py (gate 0 measures only a diff that touches Zephyr;
# a comment changes no instruction the sides execute)
AA = Change(
    branch="bench/aa-load",
    message="zephyr: a comment only (A/A)",
    edits={str(ZEPHYR_PKG / "shuffle.py"): lambda text: "# A/A: a comment only\n" + text},
)


def _burn(core: int, deadline: float) -> None:  # pragma: no cover - a child process
    os.sched_setaffinity(0, {core})
    x = 0
    while time.time() < deadline:
        x = (x * 31 + 7) % 1_000_003


class Burners:
    """``n`` busy-loop processes, one pinned to each core in turn, for at most ``max_s``."""

    def __init__(self, n: int, max_s: float) -> None:
        cores = sorted(os.sched_getaffinity(0))
        deadline = time.time() + max_s
        self.procs = [
            multiprocessing.Process(target=_burn, args=(cores[i % len(cores)], deadline))
            for i in range(n)
        ]

    def __enter__(self) -> Burners:
        for proc in self.procs:
            proc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.terminate()
            proc.join()


class LoadSampler:
    """The 1-minute load average every ``every_s`` seconds, in a thread."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.values: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every_s,), daemon=True)

    def _run(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            self.values.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def per_stage(pairs: list[dict]) -> dict[str, dict]:
    """Per stage: control counts (instructions) per pair and ratios treatment / control."""
    rows: dict[str, dict] = {}
    for pair in pairs:
        for stage, row in pair["control"].items():
            other = pair["treatment"].get(stage, {})
            if "instructions" not in row or "instructions" not in other:
                continue
            entry = rows.setdefault(stage, {"control": [], "ratios": []})
            entry["control"].append(row["instructions"])
            entry["ratios"].append(other["instructions"] / row["instructions"])
    return rows


def report(record: dict) -> None:
    """Print one run's table (every figure names its unit)."""
    load = record["load1"]
    print(
        f"A/A under {record['burners']} burners: {record['pairs']} pairs, "
        f"{record['seconds']:.0f} s; 1-minute load average min {min(load, default=0):.1f}, "
        f"median {statistics.median(load) if load else 0:.1f}, max {max(load, default=0):.1f}"
    )
    print(
        f"{'stage':<12} {'control first':>15} {'control last':>15} {'drift':>7} "
        f"{'ratio min':>9} {'ratio max':>9} {'max |r-1|':>9}  within ±{TARGET_PCT:g}%"
    )
    for stage, entry in record["stages"].items():
        first, last = entry["control"][0], entry["control"][-1]
        lo, hi = min(entry["ratios"]), max(entry["ratios"])
        worst = max(abs(lo - 1), abs(hi - 1)) * 100
        print(
            f"{stage:<12} {first:>15,} {last:>15,} {(last - first) / first * 100:>+6.2f}% "
            f"{lo:>9.4f} {hi:>9.4f} {worst:>8.2f}%  {'yes' if worst <= TARGET_PCT else 'NO'}"
        )
    print("(counts are instructions; drift = (last - first) / first of the control's counts)")


def run(repo: dict, burners: int, pairs: int, load_max_s: float) -> dict:
    settings = local.Gate0Settings.load(
        min_pairs=pairs, max_pairs=pairs, budget_s=10_000, stage_timeout_s=1800
    )
    with tempfile.TemporaryDirectory(prefix="bench-gate0-load-") as tmp:
        start = time.perf_counter()
        with Burners(burners, load_max_s), LoadSampler() as sampler:
            result = local.run_local_ab(
                repo["path"],
                repo["base"],
                repo["head"],
                out_dir=tmp,
                settings=settings,
                progress=None,
            )
        seconds = time.perf_counter() - start
    return {
        "burners": burners,
        "pairs": result.n_pairs,
        "seconds": round(seconds, 1),
        "load1": [round(v, 2) for v in sampler.values],
        "stages": per_stage(result.pairs),
        "stop": result.stop_reason,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--burners", type=int, default=2)
    parser.add_argument("--load-max-s", type=float, default=1800.0)
    parser.add_argument("--out", default="runs/bench-gate0-load.jsonl")
    args = parser.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-gate0-load-repo-") as tmp:
        box = build_sandbox(Path(tmp) / "aa", AA)
        repo = {"path": box.path, "base": box.base, "head": box.head}
        for _ in range(args.runs):
            record = run(repo, args.burners, args.pairs, args.load_max_s)
            with out.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
            report(record)


if __name__ == "__main__":
    main()
