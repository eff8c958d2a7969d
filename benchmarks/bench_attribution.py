"""Where the instructions went, on a planted change: is it the top row, and what it costs.

Builds the sandbox with one planted change in a named function: the scatter writer's
per-item routing (``zephyr/shuffle.py``'s ``_item_routing``) re-hashes each routing key
``--rounds`` extra times (``hash(repr(key))``: C work done in that function's own frame).
Runs gate 0 (:func:`perfgate_lib.local.ab.run_local_ab`, the shipped
``parameters/gate0.yaml``) ``--runs`` times and reads each run's
``profile/attribution.json``: the top row of ``fuzzy_dups``, whether it is the planted
function under its Python name, the share of the stage's change the listed rows explain
(target: >= 80%), and the seconds gate 0 took and spent on attribution.

``--variant off`` runs the same without Python names (no perf trampolines, no caller
contexts: ``PERFGATE_PYTHON_NAMES=0``) for the cost comparison; each variant appends its
runs to ``--out`` (JSON lines). ``--summary`` prints both variants' figures from ``--out``.

    python benchmarks/bench_attribution.py --runs 10
    python benchmarks/bench_attribution.py --runs 3 --variant off
    python benchmarks/bench_attribution.py --summary
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

if "--variant" in sys.argv and sys.argv[sys.argv.index("--variant") + 1] == "off":
    os.environ["PERFGATE_PYTHON_NAMES"] = "0"  # before perfgate_lib is imported

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perfgate_lib.local import ab as local  # noqa: E402
from perfgate_lib.local.evidence import load_attribution  # noqa: E402
from perfgate_lib.local.sandbox import ZEPHYR_PKG, Change, build_sandbox, replace_once  # noqa: E402

PLANTED = "_item_routing"
STAGE = "fuzzy_dups"


def planted_change(rounds: int) -> Change:
    old = "    key = key_fn(item)\n"
    new = old + f"    for _ in range({rounds}):  # planted: re-hash the routing key\n"
    new += "        hash(repr(key))\n"
    return Change(
        branch=f"bench/rehash-{rounds}",
        message=f"zephyr: re-hash each routing key {rounds} times",
        edits={
            str(ZEPHYR_PKG / "shuffle.py"): replace_once(
                old, new, f"planted change: {old!r} not once in shuffle.py"
            )
        },
    )


def one_run(repo: dict, variant: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-attribution-") as tmp:
        start = time.perf_counter()
        result = local.run_local_ab(
            repo["path"], repo["base"], repo["head"], out_dir=tmp, progress=None
        )
        seconds = time.perf_counter() - start
        try:
            attribution = load_attribution(tmp)
        except FileNotFoundError:
            attribution = {}
    stage = (attribution.get("stages") or {}).get(STAGE, {})
    listed = [r for r in stage.get("rows", []) if r.get("listed")]
    return {
        "variant": variant,
        "seconds": round(seconds, 1),
        "profile_s": result.timings.get("profile"),
        "pairs": result.n_pairs,
        "ratio": {str(r["stage"]): r["ratio"] for r in result.paired.to_dict("records")},
        "view": stage.get("view"),
        "top": [(r["function"], r["file"], r["delta"]) for r in listed[:3]],
        "explained_pct": stage.get("explained_pct"),
        "listed": len(listed),
        "delta_pct": stage.get("delta_pct"),
        "kept_bytes": attribution.get("kept_bytes"),
        "error": attribution.get("error"),
        "load1": round(os.getloadavg()[0], 1),
    }


def direct(rounds: int, repeats: int, out: Path) -> None:
    """The planted stage measured ``repeats`` times by one warmed-up side process each
    (as gate 0 measures its pairs): each repetition's two dumps give one table."""
    import subprocess

    from perfgate_lib.io.git import git_out
    from perfgate_lib.local import evidence
    from perfgate_lib.local.callgrind_profile import stage_delta
    from perfgate_lib.local.corpus import CorpusSpec, write_corpus
    from perfgate_lib.local.ferry_pipeline import add_instructions
    from perfgate_lib.local.pairs import CALLGRIND, FERRY_SCRIPT

    with tempfile.TemporaryDirectory(prefix="bench-attribution-direct-") as name:
        tmp = Path(name)
        box = build_sandbox(tmp / "repo", planted_change(rounds))
        write_corpus(CorpusSpec(docs=40, seed=0, large_docs=0), tmp / "corpus", shards=4)
        trees = {"control": tmp / "control", "treatment": tmp / "treatment"}
        for side, sha in (("control", box.base), ("treatment", box.head)):
            git_out(box.path, "worktree", "add", "--detach", str(trees[side]), sha)
        hunks = evidence.parse_hunks(git_out(box.path, "diff", "-U0", box.base, box.head))
        sources = {side: {p: (trees[side] / p).read_text() for p in hunks} for side in trees}
        procs = {}
        for side, tree in trees.items():
            cg = tmp / f"cg-{side}" / "callgrind.out"
            cg.parent.mkdir()
            procs[side] = subprocess.Popen(
                [*CALLGRIND, f"--callgrind-out-file={cg}", sys.executable, str(FERRY_SCRIPT),
                 "serve", "--corpus", str(tmp / "corpus"), "--work-dir", str(tmp / f"w-{side}"),
                 "--zephyr-src", str(tree / "lib/zephyr/src"), "--callgrind-out", str(cg)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                env={**os.environ, "PYTHONHASHSEED": "0"},
            )  # fmt: skip
        for proc in procs.values():
            ready = json.loads(proc.stdout.readline())
            assert ready.get("ready"), ready
        stages = ["normalize", "minhash"] + [STAGE] * repeats
        for proc in procs.values():  # queued: both sides run at once
            for stage in stages:
                proc.stdin.write(json.dumps({"cmd": "stage", "stage": stage}) + "\n")
            proc.stdin.write('{"cmd": "exit"}\n')
            proc.stdin.flush()
        answers = {
            side: [json.loads(proc.stdout.readline()) for _ in stages]
            for side, proc in procs.items()
        }
        for proc in procs.values():
            proc.wait()
        roots = tuple(str(t) for t in trees.values())
        tops = []
        for i in range(2, len(stages)):
            rows = {side: add_instructions(answers[side][i]["stages"][STAGE]) for side in procs}
            texts = {side: Path(rows[side]["callgrind_dump"]).read_text() for side in procs}
            maps = {side: evidence._perf_map_text(texts[side]) for side in procs}
            profiles = {
                side: evidence.side_profile(texts[side], maps[side], roots) for side in procs
            }
            delta = stage_delta(STAGE, profiles["control"], profiles["treatment"])
            ties = evidence.pr_ties(delta.rows[: delta.listed], hunks, sources)
            top = delta.rows[0]
            record = {
                "variant": "direct",
                "rounds": rounds,
                "repeat": i - 1,
                "ratio": rows["treatment"]["instructions"] / rows["control"]["instructions"],
                "view": delta.view,
                "top": [(r.function.name, r.function.file, r.delta) for r in delta.top()[:3]],
                "top_hunk": (ties.get(0) or {}).get("hunk"),
                "explained_pct": round(delta.explained_pct, 2),
                "listed": delta.listed,
                "delta_pct": round(delta.delta_pct, 2),
            }
            tops.append(record)
            with out.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
            print(
                f"repeat {i - 1}: {STAGE} ×{record['ratio']:.3f}; top {top.function.name} "
                f"({top.function.file}) {top.delta:+,} instr, PR hunk {record['top_hunk']}; "
                f"{delta.listed} rows explain {record['explained_pct']}%",
                flush=True,
            )
        for side in procs:
            Path(f"/tmp/perf-{procs[side].pid}.map").unlink(missing_ok=True)
        git_out(box.path, "worktree", "prune")


def summary(records: list[dict]) -> None:
    direct_rows = [r for r in records if r["variant"] == "direct"]
    if direct_rows:
        top = sum(1 for r in direct_rows if r["top"] and r["top"][0][0] == PLANTED)
        enough = sum(1 for r in direct_rows if (r["explained_pct"] or 0) >= 80)
        print(
            f"direct: {PLANTED} is {STAGE}'s top row in {top} of {len(direct_rows)} "
            f"measurements; the listed rows explain >= 80% in {enough} of {len(direct_rows)}"
        )
    for variant in ("on", "off"):
        rows = [r for r in records if r["variant"] == variant]
        if not rows:
            continue
        seconds = statistics.median(r["seconds"] for r in rows)
        print(f"variant {variant}: {len(rows)} runs, median gate 0 time {seconds:.0f} s")
        if variant == "on":
            top = sum(1 for r in rows if r["top"] and r["top"][0][0] == PLANTED)
            enough = sum(1 for r in rows if (r["explained_pct"] or 0) >= 80)
            print(f"  {PLANTED} is {STAGE}'s top row in {top} of {len(rows)} runs")
            print(f"  listed rows explain >= 80% of the stage's change in {enough} of {len(rows)}")
            prof = [r["profile_s"] for r in rows if r["profile_s"] is not None]
            if prof:
                print(
                    f"  attribution step (read, delta, keep): median {statistics.median(prof):.1f} s"
                )
    on = [r["seconds"] for r in records if r["variant"] == "on"]
    # without attribution: no Python names, and the off run's evidence step taken out
    off = [r["seconds"] - (r["profile_s"] or 0) for r in records if r["variant"] == "off"]
    if on and off:
        m_on, m_off = statistics.median(on), statistics.median(off)
        print(
            f"cost: median gate 0 time {m_on:.0f} s with attribution vs {m_off:.0f} s without "
            f"(no Python names, no evidence step): {(m_on - m_off) / m_off * 100:+.0f}% "
            "(target at most +20%)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--variant", choices=("on", "off"), default="on")
    parser.add_argument("--out", default="runs/bench-attribution.jsonl")
    parser.add_argument("--summary", action="store_true", help="print --out's figures only")
    parser.add_argument(
        "--direct",
        type=int,
        default=0,
        help="instead of gate-0 runs: this many repetitions of the planted stage in one "
        "warmed-up side process per side",
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.direct:
        direct(args.rounds, args.direct, out)
    elif not args.summary:
        with tempfile.TemporaryDirectory(prefix="bench-attribution-repo-") as tmp:
            box = build_sandbox(Path(tmp) / "planted", planted_change(args.rounds))
            repo = {"path": box.path, "base": box.base, "head": box.head}
            for i in range(args.runs):
                record = one_run(repo, args.variant)
                record["rounds"] = args.rounds
                with out.open("a") as handle:
                    handle.write(json.dumps(record) + "\n")
                print(
                    f"run {i + 1} ({args.variant}): {record['seconds']:.0f} s, {record['pairs']} "
                    f"pairs, {STAGE} ×{record['ratio'].get(STAGE, float('nan')):.3f}; top rows "
                    f"{record['top']}; explained {record['explained_pct']}%"
                    + (f"; error {record['error']}" if record["error"] else ""),
                    flush=True,
                )
    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    summary(records)


if __name__ == "__main__":
    main()
