"""What attribution costs gate 0: CPU seconds of a side process with and without Python
names, and the seconds of the evidence step.

Python names cost the side process: CPython's perf trampolines (each Python call goes
through one, and the interpreter stops inlining Python-to-Python calls) and callgrind's
caller contexts (``--separate-callers12=py_trampoline_evaluator``). This runs one side
as gate 0 does (``ferry_pipeline.py serve`` under valgrind with gate 0's arguments, the
shipped 40-document corpus, every stage ``--passes`` times), alternately with Python
names on and off (``PERFGATE_PYTHON_NAMES=0``), ``--repeats`` times each, and prints the
process's CPU seconds (user + system, from ``getrusage`` of the reaped child: unlike wall
time it does not grow with the machine's load). Then it times the evidence step
(:func:`perfgate_lib.local.evidence.keep_profiles`: read both dumps, the delta, the
flame graphs, gzip) on the last "on" run's fuzzy_dups dumps. Asserts nothing.

    python benchmarks/bench_attribution_cost.py --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perfgate_lib.local import callgrind_client, evidence  # noqa: E402
from perfgate_lib.local.corpus import CorpusSpec, write_corpus  # noqa: E402
from perfgate_lib.local.ferry_pipeline import STAGES, add_instructions  # noqa: E402
from perfgate_lib.local.pairs import FERRY_SCRIPT  # noqa: E402


def valgrind_args(names: bool) -> list[str]:
    args = [a for a in callgrind_client.VALGRIND_ARGS if not a.startswith("--separate-callers")]
    if names:
        chain = callgrind_client.CALLER_CHAIN
        args.append(f"--separate-callers{chain}=py_trampoline_evaluator")
    return ["valgrind", *args, "-q"]


def one_side(tmp: Path, corpus: Path, names: bool, passes: int) -> dict:
    out = tmp / "cg" / "callgrind.out"
    out.parent.mkdir(parents=True)
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env[callgrind_client.PYTHON_NAMES_ENV] = "1" if names else "0"
    cmd = [*valgrind_args(names), f"--callgrind-out-file={out}", sys.executable,
           str(FERRY_SCRIPT), "serve", "--corpus", str(corpus), "--work-dir", str(tmp / "w"),
           "--callgrind-out", str(out)]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdin and proc.stdout
    ready = json.loads(proc.stdout.readline())
    if not ready.get("ready"):
        raise SystemExit(f"side did not start: {ready}")
    rows = {}
    for _ in range(passes):
        for stage in STAGES:
            proc.stdin.write(json.dumps({"cmd": "stage", "stage": stage}) + "\n")
            proc.stdin.flush()
            row = json.loads(proc.stdout.readline())["stages"][stage]
            rows[stage] = add_instructions(row)  # the count, read from the dump as gate 0 does
    proc.stdin.write('{"cmd": "exit"}\n')
    proc.stdin.close()
    proc.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    perf_map = ready["identity"].get("perf_map") or ""
    return {"names": names, "cpu_s": round(cpu, 1), "wall_s": round(time.perf_counter() - start, 1),
            "rows": rows, "perf_map": perf_map}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--passes", type=int, default=1)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-attribution-cost-") as name:
        tmp = Path(name)
        corpus = tmp / "corpus"
        write_corpus(CorpusSpec(docs=40, seed=0, large_docs=0), corpus, shards=4)
        last_on = None
        for i in range(args.repeats):
            for names in (True, False):
                record = one_side(tmp / f"r{i}-{int(names)}", corpus, names, args.passes)
                results.append(record)
                print(f"repeat {i + 1}, python names {'on ' if names else 'off'}: "
                      f"{record['cpu_s']:.1f} CPU s, {record['wall_s']:.1f} wall s "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)  # fmt: skip
                if names:
                    last_on = record
        on = statistics.median(r["cpu_s"] for r in results if r["names"])
        off = statistics.median(r["cpu_s"] for r in results if not r["names"])
        print(f"side process CPU seconds, median: {on:.1f} with Python names, {off:.1f} "
              f"without: {(on - off) / off * 100:+.1f}%")  # fmt: skip
        assert last_on is not None
        row = last_on["rows"]["fuzzy_dups"]
        pair = {"pair": 1, "control": {"fuzzy_dups": row}, "treatment": {"fuzzy_dups": row}}
        table = [{"stage": "fuzzy_dups", "call": "fail", "ratio": 1.0}]
        start = time.perf_counter()
        evidence.keep_profiles([pair], table, tmp / "run")
        step = time.perf_counter() - start
        print(f"evidence step for one stage (both dumps read, delta, flame graphs, gzip): "
              f"{step:.1f} s")  # fmt: skip
        for record in results:
            if record["perf_map"]:
                Path(record["perf_map"]).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
