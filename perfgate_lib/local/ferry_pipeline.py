"""The mini ferry's pipeline, standalone (stdlib, Zephyr and its deps only), run by path in
a side environment (:func:`main`). The stages, the serve protocol and how each figure is
taken (seconds, MB, instruction counts): ``docs/gate0.md``; ``docs/attribution.md``.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import logging
import os
import re
import resource
import sys
import time
import traceback
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NotRequired, TextIO, TypedDict

if __package__:
    from perfgate_lib.local import callgrind_client, zephyr_api
else:  # run (or loaded) by path in a side's environment: the modules beside this file
    import importlib.util
    import types

    def _sibling(name: str) -> types.ModuleType:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).resolve().with_name(f"{name}.py")
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    zephyr_api = _sibling("zephyr_api")
    callgrind_client = _sibling("callgrind_client")  # client requests (callgrind_client.py)

STAGES = ("normalize", "minhash", "fuzzy_dups", "consolidate", "tokenize")


class StageRow(TypedDict):
    """One stage's measures: seconds, MB, counts; the last three only under callgrind."""

    wall_s: float
    cpu_s: float
    peak_mb: float
    tasks: int
    records_out: int
    instructions: NotRequired[int]  # allocators left out
    instructions_allocator: NotRequired[int]
    callgrind_dump: NotRequired[str]


# MinHash: word 5-gram shingles, NUM_BANDS bands of ROWS rows (threshold ~ (1/b)^(1/r)).
SHINGLE = 5
NUM_BANDS = 32
ROWS = 2
NUM_PERM = NUM_BANDS * ROWS
_SHINGLE_BLOCK = 4096
VOCAB_SIZE = 50_257
_WS = re.compile(r"\s+")
_TOKEN = re.compile(r"\w+|[^\w\s]")


_API: zephyr_api.ZephyrApi | None = None


def zapi() -> zephyr_api.ZephyrApi:
    """Zephyr's and fray's names, resolved once for this release; ZephyrApiError if missing."""
    global _API
    if _API is None:
        _API = zephyr_api.load()
    return _API


# --- Record functions (pure; run on Zephyr workers) -----------------------------------------------


def normalize_record(record: dict) -> dict:
    """NFKC, lower-case, collapse whitespace; keeps ``id``."""
    text = unicodedata.normalize("NFKC", record["text"]).lower()
    text = _WS.sub(" ", text).strip()
    return {"id": record["id"], "text": text, "n_chars": len(text)}


def _perm_params() -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.Generator(np.random.PCG64(20260101))
    a = rng.integers(1, 2**63, size=(NUM_PERM, 1), dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63, size=(NUM_PERM, 1), dtype=np.uint64)
    return a, b


_PERMS: tuple[Any, Any] | None = None


def minhash_record(record: dict) -> dict:
    """MinHash signature of word 5-gram shingles, cut into ``NUM_BANDS`` band hashes."""
    global _PERMS
    import numpy as np
    import xxhash

    if _PERMS is None:
        _PERMS = _perm_params()
    a, b = _PERMS
    words = record["text"].split(" ")
    hashes = np.fromiter(
        (xxhash.xxh3_64_intdigest(w.encode()) for w in words), dtype=np.uint64, count=len(words)
    )
    if len(hashes) >= SHINGLE:
        n = len(hashes) - SHINGLE + 1
        shingles = hashes[:n].copy()
        for k in range(1, SHINGLE):
            shingles = shingles * np.uint64(1099511628211) ^ hashes[k : k + n]
    else:
        shingles = hashes[:1] if len(hashes) else np.zeros(1, dtype=np.uint64)
    signature = np.full(NUM_PERM, np.iinfo(np.uint64).max, dtype=np.uint64)
    for start in range(0, len(shingles), _SHINGLE_BLOCK):  # bounded memory on mega-docs
        block = shingles[None, start : start + _SHINGLE_BLOCK]
        np.minimum(signature, (a * block + b).min(axis=1), out=signature)
    bands = [
        xxhash.xxh3_64_hexdigest(signature[i * ROWS : (i + 1) * ROWS].tobytes())
        for i in range(NUM_BANDS)
    ]
    return {"id": record["id"], "bands": bands}


def band_entries(record: dict) -> list[dict]:
    """One ``{"bucket", "id"}`` per band: the fuzzy-dup shuffle's input."""
    return [{"bucket": f"{i}:{h}", "id": record["id"]} for i, h in enumerate(record["bands"])]


def _bucket_key(item: dict) -> str:
    return item["bucket"]


def bucket_duplicates(_bucket: str, items: Iterator[dict]) -> Iterator[dict]:
    """Within one LSH bucket, every id but the smallest is a duplicate of the smallest."""
    ids = sorted({item["id"] for item in items})
    for other in ids[1:]:
        yield {"id": other, "keep": ids[0]}


def _id_key(item: dict) -> str:
    return item["id"]


def smallest_keep(doc_id: str, items: Iterator[dict]) -> dict:
    """One row per duplicate id: the smallest id it collides with."""
    return {"id": doc_id, "keep": min(item["keep"] for item in items)}


def not_duplicate(record: dict) -> bool:
    """Filter for ``consolidate``: the duplicate id set comes from ``ctx.put("dup_ids")``."""
    return record["id"] not in zapi().zephyr_worker_ctx().get_shared("dup_ids")


def attach_attributes(record: dict) -> dict:
    """Consolidate's per-document attributes: word and punctuation statistics."""
    text = record["text"]
    words = text.split(" ")
    n_words = len(words)
    mean_len = sum(len(w) for w in words) / n_words if n_words else 0.0
    punct = sum(1 for ch in text if not ch.isalnum() and not ch.isspace())
    return {
        **record,
        "attributes": {
            "n_words": n_words,
            "mean_word_len": round(mean_len, 3),
            "punct_ratio": round(punct / max(1, len(text)), 5),
            "unique_ratio": round(len(set(words)) / max(1, n_words), 5),
        },
    }


def tokenize_record(record: dict) -> dict:
    """Tokenize-like: words and punctuation hashed into a GPT-2-sized vocabulary."""
    import xxhash

    ids = [xxhash.xxh32_intdigest(t.encode()) % VOCAB_SIZE for t in _TOKEN.findall(record["text"])]
    return {"id": record["id"], "input_ids": ids, "n_tokens": len(ids)}


# --- Peak memory ----------------------------------------------------------------------------------


class PeakMemory:
    """Process peak RSS in MB: ``VmHWM`` reset per stage, else ``ru_maxrss`` for the run."""

    def __init__(self) -> None:
        self.resettable = self.reset(first=True)
        self.method = (
            "VmHWM per stage (reset via /proc/self/clear_refs)"
            if self.resettable
            else "ru_maxrss of the ferry process (whole run)"
        )

    def reset(self, first: bool = False) -> bool:
        """Start a new peak window (no-op without clear_refs); whether it could."""
        if not (first or self.resettable):
            return False
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
            return True
        except OSError:
            return False

    def peak_mb(self) -> float:
        """Peak RSS in MB since the last reset (or since start)."""
        if self.resettable:
            with open("/proc/self/status") as handle:
                for line in handle:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024


# The client requests (callgrind_client.py, beside this file), re-exported for the kit and tests.
Callgrind = callgrind_client.Callgrind


# --- The pipeline ---------------------------------------------------------------------------------


def _cpu_seconds() -> float:
    """CPU seconds so far: this process (all threads) plus reaped children."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


_TASKS: dict[tuple[str, str], int] = {}  # (stage, work dir) -> tasks: planned once


def _task_count(dataset: Any) -> int:
    plan = zapi().compute_plan(dataset)
    return sum(s.stage_type.name != "RESHARD" for s in plan.stages) * plan.num_shards


def _count_lines(paths: list[str]) -> int:
    total = 0
    for path in paths:
        with open(path, "rb") as handle:
            total += sum(1 for _ in handle)
    return total


def stage_datasets(corpus_glob: str, work: Path) -> dict[str, Callable[[], Any]]:
    """Builders of each stage's Dataset (built lazily: later stages glob earlier outputs)."""
    Dataset = zapi().Dataset

    def out(stage: str) -> str:
        return str(work / stage / "part-{shard:05d}.jsonl")

    def src(stage: str) -> Any:
        return Dataset.from_files(str(work / stage / "*.jsonl")).load_jsonl()

    return {
        "normalize": lambda: (
            Dataset.from_files(corpus_glob)
            .load_jsonl()
            .map(normalize_record)
            .write_jsonl(out("normalize"))
        ),
        "minhash": lambda: src("normalize").map(minhash_record).write_jsonl(out("minhash")),
        "fuzzy_dups": lambda: (
            src("minhash")
            .flat_map(band_entries)
            .group_by(_bucket_key, reducer=bucket_duplicates)
            .group_by(_id_key, reducer=smallest_keep)
            .write_jsonl(out("fuzzy_dups"))
        ),
        "consolidate": lambda: (
            src("normalize")
            .filter(not_duplicate)
            .map(attach_attributes)
            .write_jsonl(out("consolidate"))
        ),
        "tokenize": lambda: src("consolidate").map(tokenize_record).write_jsonl(out("tokenize")),
    }


def _dup_ids(work: Path) -> frozenset[str]:
    ids: set[str] = set()
    for path in sorted((work / "fuzzy_dups").glob("*.jsonl")):
        with path.open() as handle:
            ids.update(json.loads(line)["id"] for line in handle)
    return frozenset(ids)


def make_context(work: Path, max_workers: int = 2) -> Any:
    """A ``ZephyrContext`` on fray's in-process ``LocalClient``; chunks under ``work``."""
    api = zapi()
    return api.ZephyrContext(
        client=api.LocalClient(),
        max_workers=max_workers,
        chunk_storage_prefix=str(work / "chunks"),
        name="perfgate-miniferry",
    )


def run_stage(
    ctx: Any,
    stage: str,
    builders: dict[str, Callable[[], Any]],
    work: Path,
    memory: PeakMemory,
    callgrind: Callgrind | None = None,
) -> StageRow:
    """Run one stage (its output folder under ``work`` emptied first, its predecessors'
    read): its row, with ``callgrind_dump`` when ``callgrind`` is active."""
    import shutil

    shutil.rmtree(work / stage, ignore_errors=True)
    if stage == "consolidate":
        ctx.put("dup_ids", _dup_ids(work))
    dataset = builders[stage]()
    if (stage, str(work)) not in _TASKS:
        _TASKS[stage, str(work)] = _task_count(dataset)
    gc.collect()
    memory.reset()
    cpu0, wall0 = _cpu_seconds(), time.perf_counter()
    if callgrind is None:
        result, dump = ctx.execute(dataset), None
    else:
        result, dump = callgrind.measure(lambda: ctx.execute(dataset))
    wall, cpu = time.perf_counter() - wall0, _cpu_seconds() - cpu0
    row: StageRow = {
        "wall_s": round(wall, 6),
        "cpu_s": round(cpu, 6),
        "peak_mb": round(memory.peak_mb(), 1),
        "tasks": _TASKS[stage, str(work)],
        "records_out": _count_lines(result.results),
    }
    if dump is not None:  # the driver reads the instructions from it (add_instructions)
        row["callgrind_dump"] = dump
    return row


def add_instructions(row: StageRow) -> StageRow:
    """``row`` with the counts read natively from its ``callgrind_dump`` (if it has one)."""
    dump = row.get("callgrind_dump")
    if dump and "instructions" not in row:
        counts = callgrind_client.read_dump(dump)
        row["instructions"] = counts["collected"] - counts["allocator"]
        row["instructions_allocator"] = counts["allocator"]
    return row


def run_pipeline(
    ctx: Any,
    corpus_glob: str,
    work: Path,
    results: dict[str, StageRow],
    memory: PeakMemory | None = None,
    callgrind: Callgrind | None = None,
) -> str:
    """Run the five stages, filling ``results`` stage by stage; the memory method used."""
    memory = memory or PeakMemory()
    builders = stage_datasets(corpus_glob, work)
    for stage in STAGES:
        results[stage] = run_stage(ctx, stage, builders, work, memory, callgrind)
    return memory.method


def use_zephyr_source(zephyr_src: str | None) -> str:
    """Put ``zephyr_src`` first on ``sys.path`` when it holds a zephyr package."""
    if zephyr_src and (Path(zephyr_src) / "zephyr" / "__init__.py").is_file():
        path = str(Path(zephyr_src).resolve())
        sys.path.insert(0, path)
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (path, os.environ.get("PYTHONPATH")) if p
        )
        return path
    return "installed"


def zephyr_identity() -> dict[str, Any]:
    """Where Zephyr came from and the versions of it, fray and iris, and the interpreter."""
    import platform

    import zephyr

    versions = {d: zephyr_api.dist_version(d) for d in zephyr_api.REPORTED_DISTS}
    return {
        "zephyr_file": str(Path(zephyr.__file__).resolve()),
        "installed_version": versions["marin-zephyr"],
        "versions": versions,
        "python": platform.python_version(),
        "executable": sys.executable,
    }


def quiet_logs() -> None:
    """Silence Zephyr's, fray's and iris's INFO logging (it costs time and floods logs)."""
    for name in ("zephyr", "fray", "iris", "rigging", "finelog"):
        logging.getLogger(name).setLevel(logging.ERROR)


def failure_bucket(exc: BaseException) -> str:
    oom = isinstance(exc, MemoryError) or "MemoryError" in str(exc)
    return "oom" if oom else "application_failure"


def error_line(exc: BaseException) -> str:
    """The exception type and the first and last lines of its message, at most 300 chars."""
    if isinstance(exc, zephyr_api.ZephyrApiError):  # names the API and the supported range
        return f"unsupported Zephyr: {exc}"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [""]
    first, last = lines[0], lines[-1]
    text = first if first == last else f"{first} ... {last}"
    return f"ferry failed: {type(exc).__name__}: {text}"[:300]


def warm_up_corpus(corpus_dir: Path, target: Path, docs: int = 50) -> str:
    """The first ``docs`` documents of the corpus's first file, for the untimed warm-up."""
    target.mkdir(parents=True, exist_ok=True)
    files = sorted(corpus_dir.glob("*.jsonl"))
    lines: list[str] = []
    if files:
        with files[0].open() as handle:
            lines = list(itertools.islice(handle, max(docs, 1)))
    (target / "warmup.jsonl").write_text("".join(lines))
    return str(target / "*.jsonl")


# --- serve: one warmed-up process, stages on request ----------------------------------------------


def _answer(out: TextIO, message: dict[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


def serve(
    corpus_dir: Path,
    work_dir: Path,
    zephyr_src: str | None,
    max_workers: int = 2,
    callgrind_out: str | None = None,
) -> int:
    """Answer stage requests on stdin until ``exit`` or EOF; with ``callgrind_out`` (the
    ``--callgrind-out-file`` it runs under; refused when not under callgrind) counting."""
    # The protocol keeps the real stdout; everything else printed goes to stderr.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    source = use_zephyr_source(zephyr_src)
    callgrind = Callgrind(callgrind_out) if callgrind_out else None
    try:
        if callgrind is not None:
            callgrind.require_active()  # names why not: not under valgrind, no exec memory
        t0 = time.perf_counter()
        identity = {"zephyr_source": source, **zephyr_identity()}
        identity["zephyr_api"] = dict(zapi().where)  # before timing: exit 4 if missing
        identity["execution_paths"] = zephyr_api.execution_paths()
        quiet_logs()
        t1 = time.perf_counter()
        work_dir.mkdir(parents=True, exist_ok=True)
        ctx = make_context(work_dir, max_workers)
        if callgrind is not None:  # count shard work only (see callgrind_client)
            identity["counted"] = callgrind.count_only_shards()
            identity["perf_map"] = callgrind.python_names()  # Python names in the dumps
        memory = PeakMemory()
        t2 = time.perf_counter()
        # first-use costs leave the timed runs; under callgrind 10 documents do that, and
        # uninstrumented: a stage's count is the same whether the warm-up was counted or not
        warm = warm_up_corpus(
            corpus_dir, work_dir / "warmup-corpus", docs=10 if callgrind is not None else 50
        )
        run_pipeline(ctx, warm, work_dir / "warmup", {}, memory)
        if callgrind is not None:
            callgrind.start()  # imports and warm-up ran uninstrumented
        gc.collect()
        gc.freeze()  # start-up's heap: every stage's gc.collect() skips it from here on
        seconds = (
            f"import {t1 - t0:.2f}, context {t2 - t1:.2f}, warm_up {time.perf_counter() - t2:.2f}"
        )
        print(f"start-up seconds: {seconds}", file=sys.stderr, flush=True)
    except Exception as exc:  # noqa: BLE001 - reported to the driver, which stops
        traceback.print_exc()
        _answer(out, {"ready": False, "error": error_line(exc)})
        return 1
    _answer(out, {"ready": True, "identity": identity, "memory_method": memory.method})
    corpus_glob = str(corpus_dir / "*.jsonl")
    builders = stage_datasets(corpus_glob, work_dir / "run")
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("cmd") != "stage":
            break
        stage = str(request["stage"])
        try:
            row = run_stage(ctx, stage, builders, work_dir / "run", memory, callgrind)
            _answer(out, {"status": "succeeded", "stages": {stage: row}})
        except Exception as exc:  # noqa: BLE001 - a failed ferry is an answer, not a crash
            traceback.print_exc()
            failed = {"status": "failed", "stages": {}, "error": error_line(exc)}
            _answer(out, {**failed, "failure_bucket": failure_bucket(exc)})
    return 0


def main(argv: list[str] | None = None) -> int:
    """``ferry_pipeline.py serve --corpus DIR --work-dir DIR [--zephyr-src SRC]``."""
    parser = argparse.ArgumentParser(description="The perfgate mini ferry's pipeline server.")
    sub = parser.add_subparsers(dest="command", required=True)
    srv = sub.add_parser("serve", help="run the pipeline on request (JSON lines on stdin)")
    srv.add_argument("--corpus", required=True, help="folder of *.jsonl documents")
    srv.add_argument("--work-dir", required=True, help="scratch folder (stage outputs)")
    srv.add_argument("--zephyr-src", default=None, help="folder holding zephyr/ to import")
    srv.add_argument("--max-workers", type=int, default=2)
    count = "the --callgrind-out-file this process runs under: count instructions per stage"
    srv.add_argument("--callgrind-out", default=None, help=count)
    args = parser.parse_args(argv)
    corpus, work = Path(args.corpus), Path(args.work_dir)
    return serve(corpus, work, args.zephyr_src, args.max_workers, args.callgrind_out)


if __name__ == "__main__":
    sys.exit(main())
