"""The mini ferry (:mod:`.ferry_pipeline`) run once in this process, and its perf report in
marin's schema with a ``local_run`` block of per-stage figures (seconds, MB, counts).
``python -m perfgate_lib.local.miniferry --zephyr-src PATH --out report.json``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from perfgate_lib.local import ferry_pipeline
from perfgate_lib.local.corpus import CorpusSpec, write_corpus
from perfgate_lib.local.ferry_pipeline import STAGES, PeakMemory  # noqa: F401 - STAGES re-exported
from perfgate_lib.verdict.report import INFRA_BUCKETS

FERRY_MODULE = "perfgate.miniferry"


@dataclass
class StageResult:
    """One stage's wall seconds, peak MB, task count and records out; CPU seconds of the
    whole process (all threads) when measured."""

    seconds: float
    peak_mb: float
    tasks: int
    records_out: int
    cpu_seconds: float | None = None

    @classmethod
    def from_measure(cls, row: ferry_pipeline.StageRow) -> StageResult:
        """From a :func:`ferry_pipeline.run_stage` row."""
        tasks, records = int(row["tasks"]), int(row["records_out"])
        return cls(row["wall_s"], row["peak_mb"], tasks, records, row.get("cpu_s"))


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
    """A perf report in marin's schema; ``wall_seconds_total`` sums the stages' seconds
    (no start-up, imports or corpus generation)."""
    infra = dict.fromkeys(INFRA_BUCKETS, 0)
    if failure_bucket:
        infra[failure_bucket] = 1
    state_counts = {"succeeded": sum(s.tasks for s in stages.values())}
    if status != "succeeded":
        state_counts["failed"] = 1
    peak = max((s.peak_mb for s in stages.values()), default=0.0)
    warnings = [f"local mini ferry run {run_id}: peak memory from {memory_method}"]
    return {
        "iris_job_id": f"local/{run_id}",
        "status": status,
        "marin_prefix": None,
        "wall_seconds_total": round(sum(s.seconds for s in stages.values()), 4),
        "stage_wall_seconds": {name: round(s.seconds, 4) for name, s in stages.items()},
        "sum_task_wall_seconds_total": None,
        "cached_steps": [],
        "ooms": infra["oom"],
        "failed_shards": int(failure_bucket == "application_failure"),
        "peak_worker_memory_mb": int(round(peak)),
        "preemption_count": 0,
        "failure_count": 1 if status != "succeeded" else 0,
        "task_state_counts": state_counts,
        "tree_job_count": len(stages),
        "infra_failures": infra,
        **local_provenance(),
        "warnings": warnings + [error] if error else warnings,
        "local_run": {
            "stage_peak_memory_mb": {n: round(s.peak_mb, 1) for n, s in stages.items()},
            "stage_cpu_seconds": {
                n: round(s.cpu_seconds, 4) for n, s in stages.items() if s.cpu_seconds is not None
            },
            "stage_tasks": {n: s.tasks for n, s in stages.items()},
            "stage_records_out": {n: s.records_out for n, s in stages.items()},
            "memory_method": memory_method,
            **(extra or {}),
        },
    }


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
    """Run the mini ferry once here (a fresh process: it imports Zephyr from ``zephyr_src``)
    and write its perf report JSON to ``out``."""
    spec = spec or CorpusSpec()
    source = ferry_pipeline.use_zephyr_source(zephyr_src)
    run_id = run_id or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with tempfile.TemporaryDirectory(prefix="miniferry-", dir=work_dir) as tmp:
        work = Path(tmp)
        if corpus_dir is None:
            corpus_dir = work / "corpus"
            write_corpus(spec, corpus_dir)
        extra: dict[str, Any] = {"zephyr_source": source, "corpus": _corpus_summary(corpus_dir)}
        stages: dict[str, StageResult] = {}
        try:
            extra.update(ferry_pipeline.zephyr_identity())  # may fail on a broken tree
            ferry_pipeline.quiet_logs()
            method = _run_pipeline(Path(corpus_dir), work, stages, max_workers)
            report = build_report(run_id, stages, memory_method=method, extra=extra)
        except Exception as exc:  # noqa: BLE001 - a failed ferry is a report, not a crash
            error, bucket = ferry_pipeline.error_line(exc), ferry_pipeline.failure_bucket(exc)
            report = build_report(
                run_id, stages, status="failed", error=error, failure_bucket=bucket, extra=extra
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report


def _run_pipeline(
    corpus_dir: Path, work: Path, stages: dict[str, StageResult], max_workers: int
) -> str:
    """One warm-up then the five timed stages; fills ``stages``; returns the memory method."""
    ctx = ferry_pipeline.make_context(work, max_workers)
    memory = PeakMemory()
    warm = ferry_pipeline.warm_up_corpus(Path(corpus_dir), work / "warmup-corpus")
    ferry_pipeline.run_pipeline(ctx, warm, work / "warmup", {}, memory)
    rows: dict[str, ferry_pipeline.StageRow] = {}
    try:
        return ferry_pipeline.run_pipeline(
            ctx, str(Path(corpus_dir) / "*.jsonl"), work, rows, memory
        )
    finally:
        stages.update({name: StageResult.from_measure(row) for name, row in rows.items()})


def _corpus_summary(corpus_dir: Path) -> dict[str, Any]:
    manifest = Path(corpus_dir) / "corpus.json"
    if manifest.is_file():
        data = json.loads(manifest.read_text())
        return {"docs": data.get("docs"), "bytes": data.get("bytes"), "spec": data.get("spec")}
    return {"dir": str(corpus_dir)}


_FOLDER = click.Path(file_okay=False)


@click.command()
@click.option("--zephyr-src", help="Folder holding zephyr/ (a worktree's lib/zephyr/src).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Report JSON path.")
@click.option("--corpus", type=_FOLDER, help="Existing corpus folder (else generated).")
@click.option("--docs", default=CorpusSpec.docs, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=CorpusSpec.seed, show_default=True, type=int)
@click.option("--run-id", help="Local run id (the report's iris_job_id is local/<id>).")
@click.option("--work-dir", type=_FOLDER, help="Parent of the scratch folder.")
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
