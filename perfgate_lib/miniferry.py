"""The mini ferry: a datakit-like pipeline on the real Zephyr API, on this machine.

Stages (each one ``ZephyrContext.execute``, output as JSONL files the next stage reads,
like datakit steps): ``normalize`` -> ``minhash`` -> ``fuzzy_dups`` -> ``consolidate``
-> ``tokenize``. Only ``fuzzy_dups`` shuffles (two ``group_by``); the others are
map-only, so a change to Zephyr's scatter/shuffle path shows up in that stage.

Workers run as threads of this process (fray ``LocalClient`` + Zephyr's ``InlineRunner``),
so the process's peak resident set *is* the worker peak. Memory is read from the kernel's
high-water mark ``VmHWM`` in ``/proc/self/status``, reset before each stage through
``/proc/self/clear_refs`` (value 5), which gives a per-stage peak at no run-time cost.
Where that is unavailable the whole-run ``resource.getrusage(RUSAGE_SELF).ru_maxrss``
is used. tracemalloc was rejected (it slows the hot paths 2-4x and misses native
buffers such as numpy and zstd); psutil sampling misses short spikes.

Run as ``python -m perfgate_lib.miniferry --zephyr-src PATH --out report.json``; with a
``--zephyr-src`` holding ``zephyr/__init__.py`` that source is imported instead of the
installed package (the A/B runner passes each worktree's ``lib/zephyr/src``).
Times are seconds, memory MB.
"""

from __future__ import annotations

import json
import logging
import os
import re
import resource
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from perfgate_lib.corpus import CorpusSpec, write_corpus
from perfgate_lib.report import INFRA_BUCKETS

FERRY_MODULE = "perfgate.miniferry"
STAGES = ("normalize", "minhash", "fuzzy_dups", "consolidate", "tokenize")

# MinHash: word 5-gram shingles, NUM_BANDS bands of ROWS rows (threshold ~ (1/b)^(1/r)).
SHINGLE = 5
NUM_BANDS = 32
ROWS = 2
NUM_PERM = NUM_BANDS * ROWS
_SHINGLE_BLOCK = 4096
VOCAB_SIZE = 50_257
_WS = re.compile(r"\s+")
_TOKEN = re.compile(r"\w+|[^\w\s]")


# ---------------------------------------------------------------------------
# Record functions (pure; run on Zephyr workers)
# ---------------------------------------------------------------------------


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
    from zephyr import zephyr_worker_ctx

    return record["id"] not in zephyr_worker_ctx().get_shared("dup_ids")


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


# ---------------------------------------------------------------------------
# Peak memory
# ---------------------------------------------------------------------------


class PeakMemory:
    """Process peak RSS in MB: ``VmHWM`` reset per stage, else ``ru_maxrss`` for the run."""

    def __init__(self) -> None:
        self.resettable = self._try_reset()
        self.method = (
            "VmHWM per stage (reset via /proc/self/clear_refs)"
            if self.resettable
            else "ru_maxrss of the ferry process (whole run)"
        )

    @staticmethod
    def _try_reset() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
            return True
        except OSError:
            return False

    def reset(self) -> None:
        """Start a new peak window (no-op without clear_refs)."""
        if self.resettable:
            self._try_reset()

    def peak_mb(self) -> float:
        """Peak RSS in MB since the last reset (or since start)."""
        if self.resettable:
            with open("/proc/self/status") as handle:
                for line in handle:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024


# ---------------------------------------------------------------------------
# The pipeline
# ---------------------------------------------------------------------------


@dataclass
class StageResult:
    """One stage's wall seconds, peak MB, task count and records out."""

    seconds: float
    peak_mb: float
    tasks: int
    records_out: int


def _task_count(dataset: Any) -> int:
    from zephyr import compute_plan

    plan = compute_plan(dataset)
    worker_stages = [s for s in plan.stages if s.stage_type.name != "RESHARD"]
    return len(worker_stages) * plan.num_shards


def _count_lines(paths: list[str]) -> int:
    total = 0
    for path in paths:
        with open(path, "rb") as handle:
            total += sum(1 for _ in handle)
    return total


def _stage_datasets(corpus_glob: str, work: Path) -> dict[str, Callable[[], Any]]:
    """Builders of each stage's Dataset (built lazily: later stages glob earlier outputs)."""
    from zephyr import Dataset

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


def _warm_up_items(shard: int) -> list[dict]:
    return [{"bucket": str(i % 7), "id": f"{shard}-{i}"} for i in range(32)]


def _warm_up(ctx: Any, work: Path) -> None:
    """A tiny untimed pipeline so lazy imports and first-use costs leave stage one."""
    from zephyr import Dataset

    ds = (
        Dataset.from_list([0, 1])  # two shards
        .flat_map(_warm_up_items)
        .group_by(_bucket_key, reducer=bucket_duplicates)
        .write_jsonl(str(work / "warmup" / "part-{shard:05d}.jsonl"))
    )
    ctx.execute(ds)


def run_stage(ctx: Any, stage: str, corpus_dir: Path, work: Path) -> tuple[Any, list[str]]:
    """Run one stage on ``ctx`` (its inputs are the earlier stages' outputs under
    ``work``); returns (the stage's Dataset, its output paths). A stage per process works
    too: the cluster stand-in ferry runs each as its own Iris child job."""
    if stage == "consolidate":
        ctx.put("dup_ids", _dup_ids(work))
    dataset = _stage_datasets(str(corpus_dir / "*.jsonl"), work)[stage]()
    return dataset, ctx.execute(dataset).results


def run_pipeline(
    corpus_dir: Path,
    work: Path,
    results: dict[str, StageResult],
    max_workers: int = 2,
) -> str:
    """Run the five stages over ``corpus_dir/*.jsonl``; outputs under ``work``.

    Fills ``results`` stage by stage (a failure leaves the finished stages in it) and
    returns the memory method used.
    """
    from fray.local_backend import LocalClient
    from zephyr import ZephyrContext

    memory = PeakMemory()
    ctx = ZephyrContext(
        client=LocalClient(),
        max_workers=max_workers,
        chunk_storage_prefix=str(work / "chunks"),
        name="perfgate-miniferry",
    )
    _warm_up(ctx, work)
    for stage in STAGES:
        memory.reset()
        start = time.perf_counter()
        dataset, paths = run_stage(ctx, stage, corpus_dir, work)
        seconds = time.perf_counter() - start
        results[stage] = StageResult(
            seconds=seconds,
            peak_mb=memory.peak_mb(),
            tasks=_task_count(dataset),
            records_out=_count_lines(paths),
        )
    return memory.method


# ---------------------------------------------------------------------------
# The report (marin's perf report schema)
# ---------------------------------------------------------------------------


def _zephyr_identity() -> dict[str, str | None]:
    import zephyr

    try:
        from importlib.metadata import version

        installed = version("marin-zephyr")
    except Exception:  # noqa: BLE001 - metadata is optional
        installed = None
    return {"zephyr_file": str(Path(zephyr.__file__).resolve()), "installed_version": installed}


def local_provenance() -> dict[str, Any]:
    """The report fields of a local (non-Actions) treatment run: no workflow, now."""
    return {
        "workflow_run_id": None,
        "workflow_run_attempt": None,
        "workflow_name": None,
        "commit_sha": None,
        "collected_at_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "ferry_module": FERRY_MODULE,
    }


def build_report(
    run_id: str,
    stages: dict[str, StageResult],
    *,
    status: str = "succeeded",
    error: str | None = None,
    failure_bucket: str | None = None,
    memory_method: str = "unknown",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A perf report dict in marin's current schema from per-stage results.

    ``wall_seconds_total`` is the sum of the stage wall times (the pipeline's wall time,
    excluding interpreter start-up, imports and corpus generation).
    """
    infra = dict.fromkeys(INFRA_BUCKETS, 0)
    failed = 0
    if failure_bucket:
        infra[failure_bucket] = 1
        failed = 1 if failure_bucket == "application_failure" else 0
    tasks = sum(s.tasks for s in stages.values())
    state_counts = {"succeeded": tasks}
    if status != "succeeded":
        state_counts["failed"] = 1
    peak = max((s.peak_mb for s in stages.values()), default=0.0)
    warnings = [f"local mini ferry run {run_id}: peak memory from {memory_method}"]
    if error:
        warnings.append(error)
    return {
        "iris_job_id": f"local/{run_id}",
        "status": status,
        "marin_prefix": None,
        "wall_seconds_total": round(sum(s.seconds for s in stages.values()), 4),
        "stage_wall_seconds": {name: round(s.seconds, 4) for name, s in stages.items()},
        "sum_task_wall_seconds_total": None,
        "cached_steps": [],
        "ooms": infra["oom"],
        "failed_shards": failed,
        "peak_worker_memory_mb": int(round(peak)),
        "preemption_count": 0,
        "failure_count": 1 if status != "succeeded" else 0,
        "task_state_counts": state_counts,
        "tree_job_count": len(stages),
        "infra_failures": infra,
        **local_provenance(),
        "warnings": warnings,
        "local_run": {
            "stage_peak_memory_mb": {n: round(s.peak_mb, 1) for n, s in stages.items()},
            "stage_tasks": {n: s.tasks for n, s in stages.items()},
            "stage_records_out": {n: s.records_out for n, s in stages.items()},
            "memory_method": memory_method,
            **(extra or {}),
        },
    }


def _use_zephyr_source(zephyr_src: str | None) -> str:
    """Put ``zephyr_src`` first on ``sys.path`` when it holds a zephyr package."""
    if zephyr_src and (Path(zephyr_src) / "zephyr" / "__init__.py").is_file():
        path = str(Path(zephyr_src).resolve())
        sys.path.insert(0, path)
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (path, os.environ.get("PYTHONPATH")) if p
        )
        return path
    return "installed"


def _quiet_logs() -> None:
    for name in ("zephyr", "fray", "iris", "rigging", "finelog"):
        logging.getLogger(name).setLevel(logging.ERROR)


def run_ferry(
    out: Path,
    *,
    zephyr_src: str | None = None,
    corpus_dir: Path | None = None,
    spec: CorpusSpec | None = None,
    run_id: str | None = None,
    work_dir: Path | None = None,
    max_workers: int = 2,
) -> dict[str, Any]:
    """Run the mini ferry once in this process and write its perf report JSON to ``out``.

    Call this in a fresh process (it imports Zephyr from ``zephyr_src`` when given);
    the A/B runner does so through ``python -m perfgate_lib.miniferry``.
    """
    spec = spec or CorpusSpec()
    source = _use_zephyr_source(zephyr_src)
    run_id = run_id or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with tempfile.TemporaryDirectory(prefix="miniferry-", dir=work_dir) as tmp:
        work = Path(tmp)
        if corpus_dir is None:
            corpus_dir = work / "corpus"
            write_corpus(spec, corpus_dir)
        extra: dict[str, Any] = {
            "zephyr_source": source,
            "corpus": _corpus_summary(corpus_dir),
        }
        stages: dict[str, StageResult] = {}
        try:
            extra.update(_zephyr_identity())  # the import itself may fail on a broken tree
            _quiet_logs()
            method = run_pipeline(Path(corpus_dir), work, stages, max_workers=max_workers)
            report = build_report(run_id, stages, memory_method=method, extra=extra)
        except Exception as exc:  # noqa: BLE001 - a failed ferry is a report, not a crash
            oom = isinstance(exc, MemoryError) or "MemoryError" in str(exc)
            report = build_report(
                run_id,
                stages,
                status="failed",
                error=_error_line(exc),
                failure_bucket="oom" if oom else "application_failure",
                extra=extra,
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report


def _error_line(exc: BaseException) -> str:
    """The exception type and the last non-empty line of its message, at most 300 chars."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    last = lines[-1] if lines else ""
    text = first if first == last else f"{first} ... {last}"
    return f"ferry failed: {type(exc).__name__}: {text}"[:300]


def _corpus_summary(corpus_dir: Path) -> dict[str, Any]:
    manifest = Path(corpus_dir) / "corpus.json"
    if manifest.is_file():
        data = json.loads(manifest.read_text())
        return {"docs": data.get("docs"), "bytes": data.get("bytes"), "spec": data.get("spec")}
    return {"dir": str(corpus_dir)}


@click.command()
@click.option(
    "--zephyr-src", default=None, help="Folder holding zephyr/ (a worktree's lib/zephyr/src)."
)
@click.option(
    "--out", "out", required=True, type=click.Path(dir_okay=False), help="Report JSON path."
)
@click.option(
    "--corpus",
    "corpus",
    default=None,
    type=click.Path(file_okay=False),
    help="Existing corpus folder (else generated).",
)
@click.option("--docs", default=CorpusSpec.docs, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=CorpusSpec.seed, show_default=True, type=int)
@click.option(
    "--run-id", default=None, help="Local run id (the report's iris_job_id is local/<id>)."
)
@click.option(
    "--work-dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Parent of the scratch folder.",
)
@click.option("--max-workers", default=2, show_default=True, type=click.IntRange(min=1))
def main(
    zephyr_src: str | None,
    out: str,
    corpus: str | None,
    docs: int,
    seed: int,
    run_id: str | None,
    work_dir: str | None,
    max_workers: int,
) -> None:
    """Run the mini ferry once and write its perf report."""
    report = run_ferry(
        Path(out),
        zephyr_src=zephyr_src,
        corpus_dir=Path(corpus) if corpus else None,
        spec=CorpusSpec(docs=docs, seed=seed),
        run_id=run_id,
        work_dir=Path(work_dir) if work_dir else None,
        max_workers=max_workers,
    )
    click.echo(json.dumps({k: report[k] for k in ("iris_job_id", "status", "wall_seconds_total")}))
    if report["status"] != "succeeded":
        sys.exit(1)


if __name__ == "__main__":
    main()


__all__ = [
    "FERRY_MODULE",
    "STAGES",
    "PeakMemory",
    "StageResult",
    "build_report",
    "run_ferry",
    "run_pipeline",
]
