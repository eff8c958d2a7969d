"""Gate 0's power benchmark: planted shuffle-path slowdowns, A/A, quiet and loaded.

For each planted change (a real edit of the sandbox's Zephyr ``shuffle.py``, scaled to
slow ``fuzzy_dups`` by about +5%, +10%, +20% and 2x in gate 0's decision metric,
instructions on the shipped 40-document corpus: the scatter writer re-hashes every
routed key 6, 12, 24 or 120 extra times) and for A/A (the same code on both
sides), runs gate 0 (:func:`perfgate_lib.local.ab.run_local_ab` with the shipped
``parameters/gate0.yaml``) ``--trials`` times. Every second trial runs under a bounded
background load: one busy-loop process pinned to one core, started before the trial and
stopped after it by this script (it also stops itself after ``--load-max-s``).

Prints, per size: how often ``fuzzy_dups`` is flagged (its call is not pass: fail, warn
or undecided, each counted), how often
another stage is wrongly flagged (a warn or fail call) or left undecided, fails in
unchanged stages, the median measured ratio, and the median wall time of gate 0; for A/A
the false fail and false warn rates of the overall verdict. Each figure is given for the
decision metric (the shipped one, instruction counts) and, from the same pairs, for wall
time. Writes every trial to ``--out`` (JSON lines). Asserts nothing.

    python benchmarks/bench_gate0_power.py --trials 20 --sizes aa,p20
    python benchmarks/bench_gate0_power.py --first-trial 10 --trials 11  # continue --out
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perfgate_lib.local import ab as local  # noqa: E402
from perfgate_lib.local.sandbox import (  # noqa: E402
    ZEPHYR_PKG,
    Change,
    build_sandbox,
    replace_once,
)

KIT = Path(__file__).resolve().parents[1]
SHUFFLE = str(ZEPHYR_PKG / "shuffle.py")
TARGET = "fuzzy_dups"


def _hash_change(rounds: int) -> Change:
    """The scatter writer hashes every routed key ``rounds`` extra times (per-item work in
    the shuffle path: each round adds about 0.8% to fuzzy_dups' instructions at 40 docs,
    8 rounds measured ×1.07 and 80 rounds ×1.66; in CPU time at 1000 docs about 1.2%)."""
    old = "        key = self._key_fn(item)\n"
    new = old + f"        for _ in range({rounds}):  # re-check the routing hash\n"
    new += "            deterministic_hash(key)\n"
    return Change(
        branch=f"bench/route-hash-{rounds}",
        message=f"zephyr: re-check each scatter key's routing hash {rounds} times",
        edits={SHUFFLE: replace_once(old, new, f"planted change: {old!r} not once in shuffle.py")},
    )


SIZES = {
    "aa": Change(branch="bench/aa", message="no change (A/A)", edits={}),
    "p5": _hash_change(6),
    "p10": _hash_change(12),
    "p20": _hash_change(24),
    "x2": _hash_change(120),
}


def _burn(deadline: float) -> None:  # pragma: no cover - a child process
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    x = 0
    while time.time() < deadline:
        x = (x * 31 + 7) % 1_000_003


class Load:
    """One busy core for at most ``max_s`` seconds (a child process)."""

    def __init__(self, max_s: float) -> None:
        self.proc = multiprocessing.Process(target=_burn, args=(time.time() + max_s,))

    def __enter__(self) -> Load:
        self.proc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.join()


def _calls(table, column: str) -> dict[str, str]:
    return {str(r["stage"]): str(r[column]) for r in table.to_dict("records")}


def kit_commit() -> str:
    """The kit's commit, ``+dirty`` when its tracked files differ (so a row names its code)."""
    head = subprocess.run(
        ["git", "-C", str(KIT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(KIT), "diff", "--quiet", "HEAD"]).returncode != 0
    return (head or "unknown") + ("+dirty" if dirty else "")


def trial(
    size: str, repo: dict[str, str], loaded: bool, load_max_s: float, out: Path, commit: str = ""
) -> dict:
    settings = local.Gate0Settings.load()
    with tempfile.TemporaryDirectory(prefix="bench-gate0-") as tmp:
        start = time.perf_counter()
        if loaded:
            with Load(load_max_s):
                result = local.run_local_ab(
                    repo["path"], repo["base"], repo["head"], out_dir=tmp, progress=None
                )
        else:
            result = local.run_local_ab(
                repo["path"], repo["base"], repo["head"], out_dir=tmp, progress=None
            )
        seconds = time.perf_counter() - start
        verdict = local.local_verdict(result)
    table = result.paired
    ratios = {str(r["stage"]): float(r["ratio"]) for r in table.to_dict("records")}
    record = {
        "size": size,
        "commit": commit,
        "loaded": loaded,
        "seconds": round(seconds, 1),
        "pairs": result.n_pairs,
        "stop": result.stop_reason,
        "metric": settings.metric,
        "calls": _calls(table, "call"),
        "wall": _calls(table, "wall_call"),
        "ratio": ratios,
        "wall_ratio": {str(r["stage"]): r["wall_ratio"] for r in table.to_dict("records")},
        "verdict": verdict.verdict,
        "flags": {  # every stage and signal the verdict did not pass, with its note
            name: f"{call}: {note}"
            for name, call, note in [
                *((r.stage, r.verdict, r.note) for r in verdict.stages),
                *((r.signal, r.verdict, r.note) for r in verdict.signals),
            ]
            if call != "pass"
        },
        "timings": result.timings,
        "load1": round(os.getloadavg()[0], 2),
        "settings": settings.__dict__,
    }
    with out.open("a") as handle:
        handle.write(json.dumps(record) + "\n")
    return record


def summarize(records: list[dict]) -> None:
    """Print the figures per size and metric, after the kit commits the trials ran on."""
    commits: dict[str, int] = {}
    for r in records:
        key = r.get("commit") or "not recorded"
        commits[key] = commits.get(key, 0) + 1
    print("trials per kit commit: " + ", ".join(f"{c} {n}" for c, n in commits.items()))
    for size in SIZES:
        group = [r for r in records if r["size"] == size]
        if not group:
            continue
        n = len(group)
        loaded = sum(r["loaded"] for r in group)
        print(
            f"\n{size}: {n} trials ({loaded} under load), median gate-0 wall time "
            f"{statistics.median(r['seconds'] for r in group):.0f} s, median pairs "
            f"{statistics.median(r['pairs'] for r in group):.0f}, median {TARGET} "
            f"{group[0].get('metric', 'cpu')} ratio "
            f"{statistics.median(r['ratio'].get(TARGET, float('nan')) for r in group):.3f}"
        )
        for metric in ("calls", "wall"):
            calls = [r.get(metric) or r["cpu"] for r in group]  # "cpu": records before 2026-12
            label = group[0].get("metric", "cpu") if metric == "calls" else metric
            flagged = sum(c.get(TARGET) != "pass" for c in calls)
            called = {v: sum(c.get(TARGET) == v for c in calls) for v in ("fail", "warn")}
            others = [
                {s: v for s, v in c.items() if s not in (TARGET, "wall_seconds_total")}
                for c in calls
            ]
            wrong = sum(any(v in ("warn", "fail") for v in o.values()) for o in others)
            wrong_fail = sum(any(v == "fail" for v in o.values()) for o in others)
            undecided = sum(any(v == "undecided" for v in o.values()) for o in others)
            line = (
                f"  {label}: {TARGET} flagged {flagged}/{n} (fail {called['fail']}, warn "
                f"{called['warn']}, undecided {flagged - called['fail'] - called['warn']}); "
                "another stage wrongly flagged "
                f"{wrong}/{n} (fail {wrong_fail}/{n}); another stage left undecided {undecided}/{n}"
            )
            print(line)
        if size == "aa":
            verdicts = [r["verdict"] for r in group]
            print(
                f"  verdict: false fail {verdicts.count('fail')}/{n}, false warn "
                f"{verdicts.count('warn')}/{n}, inconclusive {verdicts.count('inconclusive')}/{n}, "
                f"pass {verdicts.count('pass')}/{n}"
            )
            calls = [[v.split(":")[0] for v in r.get("flags", {}).values()] for r in group]
            worst = [
                "fail"
                if "fail" in c
                else "inconclusive"
                if "undecided" in c
                else "warn"
                if "warn" in c
                else "pass"
                for c in calls
            ]
            if worst != verdicts:
                print(
                    "  verdict from the rows under the current rules (an undecided row is "
                    f"inconclusive): false fail {worst.count('fail')}/{n}, false warn "
                    f"{worst.count('warn')}/{n}, inconclusive {worst.count('inconclusive')}/{n}, "
                    f"pass {worst.count('pass')}/{n}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument(
        "--first-trial",
        type=int,
        default=1,
        help="number of the first trial (1-based), to continue a recorded --out; even "
        "trials run under load",
    )
    parser.add_argument("--sizes", default=",".join(SIZES))
    parser.add_argument("--load-max-s", type=float, default=600.0)
    parser.add_argument("--out", default="runs/bench-gate0-power.jsonl")
    parser.add_argument("--summary-only", action="store_true", help="summarize --out, run nothing")
    args = parser.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not args.summary_only:
        sizes = [s for s in args.sizes.split(",") if s]
        with tempfile.TemporaryDirectory(prefix="bench-gate0-repos-") as tmp:
            repos, commit = {}, kit_commit()
            for size in sizes:
                box = build_sandbox(Path(tmp) / size, SIZES[size])
                repos[size] = {"path": box.path, "base": box.base, "head": box.head}
            for i in range(args.first_trial, args.first_trial + args.trials):
                for size in sizes:  # sizes interleaved, so drift spreads over all of them
                    rec = trial(size, repos[size], i % 2 == 0, args.load_max_s, out, commit)
                    print(
                        f"trial {i} {size} {'loaded' if rec['loaded'] else 'quiet '} "
                        f"{rec['seconds']:.0f} s {rec['pairs']} pairs {TARGET} "
                        f"×{rec['ratio'].get(TARGET, float('nan')):.3f} calls={rec['calls']} "
                        f"verdict={rec['verdict']}",
                        flush=True,
                    )
    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    summarize(records)


if __name__ == "__main__":
    main()
