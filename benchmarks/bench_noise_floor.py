"""The machine's own noise floor for gate 0: how much CPU time varies with nothing changed.

Prints three figures that bound what any time-based measurement can resolve here:

* ``loop``: a fixed pure-Python loop (no I/O, no threads) run ``--runs`` times in one
  process: the CV of its CPU time, and the SD of the log ratio of back-to-back runs
  (what a perfect pair of identical code would still show);
* ``concurrent``: the same loop in two processes pinned one per core and started together
  (barrier) each round: the SD of their log ratio, the candidate of measuring both sides at
  once instead of back to back;
* ``stage``: each mini-ferry stage run ``--stage-runs`` times in one warmed-up process
  (``--docs`` documents): the CV of its CPU time.

Percentages. Asserts nothing.

    python benchmarks/bench_noise_floor.py
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _work() -> int:
    table = {}
    for i in range(300_000):
        table[str(i)] = i * i
    return sum(len(k) for k in table)


def _cpu_of_work() -> float:
    start = time.process_time()
    _work()
    return time.process_time() - start


def _cv(values: list[float]) -> float:
    return 100 * statistics.stdev(values) / statistics.mean(values)


def _log_sd(a: list[float], b: list[float]) -> float:
    return statistics.stdev(100 * math.log(y / x) for x, y in zip(a, b, strict=True))


def loop_figures(runs: int) -> tuple[float, float]:
    """(CPU-time CV %, back-to-back pair log-ratio SD %) of the fixed loop."""
    _cpu_of_work()  # warm-up
    values = [_cpu_of_work() for _ in range(runs)]
    return _cv(values), _log_sd(values[0::2], values[1::2])


def _pinned(core: int, barrier, conn, rounds: int) -> None:  # pragma: no cover - a child
    os.sched_setaffinity(0, {core})
    _cpu_of_work()
    out = []
    for _ in range(rounds):
        barrier.wait()
        out.append(_cpu_of_work())
    conn.send(out)


def concurrent_figure(rounds: int) -> float | None:
    """Log-ratio SD % of two pinned processes measured at once (None on one core)."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None
    barrier = multiprocessing.Barrier(2)
    procs, conns = [], []
    for core in cores[:2]:
        parent, child = multiprocessing.Pipe()
        proc = multiprocessing.Process(target=_pinned, args=(core, barrier, child, rounds))
        proc.start()
        procs.append(proc)
        conns.append(parent)
    first, second = (conn.recv() for conn in conns)
    for proc in procs:
        proc.join()
    return _log_sd(first, second)


def stage_figures(docs: int, runs: int) -> dict[str, float]:
    """Stage -> CPU-time CV % over ``runs`` runs in one warmed-up process."""
    from perfgate_lib.local import ferry_pipeline as fp
    from perfgate_lib.local.corpus import CorpusSpec, write_corpus

    with tempfile.TemporaryDirectory(prefix="bench-noise-") as name:
        tmp = Path(name)
        write_corpus(CorpusSpec(docs=docs, seed=0), tmp / "corpus")
        fp.quiet_logs()
        ctx = fp.make_context(tmp / "work", 2)
        memory = fp.PeakMemory()
        fp.run_pipeline(ctx, fp.warm_up_corpus(tmp / "corpus", tmp / "wc"), tmp / "w", {}, memory)
        builders = fp.stage_datasets(str(tmp / "corpus" / "*.jsonl"), tmp / "run")
        cpu: dict[str, list[float]] = {stage: [] for stage in fp.STAGES}
        for _ in range(runs):
            for stage in fp.STAGES:
                cpu[stage].append(fp.run_stage(ctx, stage, builders, tmp / "run", memory)["cpu_s"])
    return {stage: _cv(values) for stage, values in cpu.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="loop runs (even)")
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--stage-runs", type=int, default=6)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    cv, pair_sd = loop_figures(args.runs)
    print(f"loop: CPU-time CV {cv:.1f}%, back-to-back pair log-ratio SD {pair_sd:.1f}%")
    both = concurrent_figure(args.runs // 2)
    if both is not None:
        print(f"concurrent (one process per core, started together): log-ratio SD {both:.1f}%")
    for stage, stage_cv in stage_figures(args.docs, args.stage_runs).items():
        print(f"stage {stage}: CPU-time CV {stage_cv:.1f}% over {args.stage_runs} runs")


if __name__ == "__main__":
    main()
