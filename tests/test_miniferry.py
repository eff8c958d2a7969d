"""The generated corpus and the mini ferry (real Zephyr, fray LocalClient)."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from perfgate_lib.errors import UsageError
from perfgate_lib.local.corpus import CorpusSpec, generate, write_corpus
from perfgate_lib.verdict.report import parse_report

pytest.importorskip("zephyr")

from perfgate_lib.local import miniferry  # noqa: E402
from perfgate_lib.local.sandbox import installed_zephyr_dir  # noqa: E402

TINY = CorpusSpec(docs=120, seed=3, large_docs=1, large_doc_bytes=60_000)


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "perfgate_lib.local.miniferry", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )


def test_corpus_is_deterministic_and_tier2_shaped():
    spec = CorpusSpec(docs=400, seed=7, large_docs=2, large_doc_bytes=50_000)
    first = list(generate(spec))
    assert first == list(generate(spec))
    assert first != list(generate(CorpusSpec(docs=400, seed=8)))
    sizes = [len(r["text"].encode()) for r in first]
    # log-normal bodies around 5 KB, a tail, and the large documents
    assert 3_000 < statistics.median(sizes) < 7_000
    assert sum(s >= 50_000 for s in sizes) >= 2
    assert max(sizes) >= 50_000
    assert len({r["id"] for r in first}) == 400
    # near-duplicates share most of their text with an earlier document
    words = [frozenset(r["text"].split()) for r in first if len(r["text"]) < 20_000]
    pairs = sum(
        1 for i, a in enumerate(words) for b in words[:i] if len(a & b) > 0.8 * max(len(a), len(b))
    )
    assert pairs >= 10  # about a tenth of the documents are near-copies of another


def test_write_corpus_reuses_matching_files(tmp_path):
    paths = write_corpus(TINY, tmp_path / "c", shards=3)
    assert [p.name for p in paths] == ["part-00000.jsonl", "part-00001.jsonl", "part-00002.jsonl"]
    manifest = json.loads((tmp_path / "c" / "corpus.json").read_text())
    assert manifest["docs"] == 120 and manifest["spec"]["seed"] == 3
    stamp = paths[0].stat().st_mtime_ns
    write_corpus(TINY, tmp_path / "c", shards=3)
    assert paths[0].stat().st_mtime_ns == stamp
    write_corpus(CorpusSpec(docs=121, seed=3), tmp_path / "c", shards=3)
    assert json.loads((tmp_path / "c" / "corpus.json").read_text())["docs"] == 121


def test_corpus_spec_rejects_bad_values():
    with pytest.raises(UsageError, match="docs"):
        CorpusSpec(docs=0)
    with pytest.raises(UsageError, match="near_dup_fraction"):
        CorpusSpec(near_dup_fraction=1.5)


def test_build_report_is_marin_shaped():
    stages = {
        "normalize": miniferry.StageResult(1.25, 200.4, 8, 100),
        "minhash": miniferry.StageResult(2.5, 250.6, 8, 100),
    }
    report = miniferry.build_report("r1", stages, memory_method="test")
    parsed = parse_report(report, "report")
    assert parsed.iris_job_id == "local/r1"
    assert parsed.status == "succeeded"
    assert parsed.wall_seconds_total == pytest.approx(3.75)
    assert parsed.stage_wall_seconds == {"normalize": 1.25, "minhash": 2.5}
    assert parsed.peak_worker_memory_mb == 251
    assert parsed.task_state_counts == {"succeeded": 16}
    assert parsed.failed_shards == 0 and parsed.preemption_count == 0
    assert parsed.cached_steps == ()
    assert parsed.ferry_module == "perfgate.miniferry"
    assert set(report["infra_failures"]) == set(miniferry.INFRA_BUCKETS)
    failed = miniferry.build_report(
        "r2", stages, status="failed", error="boom", failure_bucket="application_failure"
    )
    assert failed["failed_shards"] == 1 and failed["infra_failures"]["application_failure"] == 1
    assert "boom" in failed["warnings"]


def test_peak_memory_is_positive_megabytes():
    memory = miniferry.PeakMemory()
    memory.reset()
    assert 5 < memory.peak_mb() < 100_000
    assert memory.method


def test_mini_ferry_on_tiny_corpus(tmp_path):
    """The whole pipeline once, as the A/B runner runs it (CI runs this)."""
    corpus = tmp_path / "corpus"
    write_corpus(TINY, corpus)
    out = tmp_path / "report.json"
    done = _run(tmp_path, "--out", str(out), "--corpus", str(corpus), "--run-id", "ci")
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    report = json.loads(out.read_text())
    parsed = parse_report(report, str(out))
    assert parsed.status == "succeeded"
    assert parsed.iris_job_id == "local/ci"
    assert list(parsed.stage_wall_seconds) == list(miniferry.STAGES)
    assert all(v > 0 for v in parsed.stage_wall_seconds.values())
    assert parsed.wall_seconds_total == pytest.approx(
        sum(parsed.stage_wall_seconds.values()), abs=0.01
    )
    assert parsed.peak_worker_memory_mb > 0
    local = report["local_run"]
    assert local["zephyr_source"] == "installed"
    records = local["stage_records_out"]
    assert records["normalize"] == records["minhash"] == 120
    assert records["fuzzy_dups"] >= 1  # the corpus has near-duplicates
    assert records["consolidate"] < 120 and records["tokenize"] == records["consolidate"]
    assert local["corpus"]["docs"] == 120


def test_zephyr_comes_from_the_given_source_and_a_broken_one_fails(tmp_path):
    corpus = tmp_path / "corpus"
    write_corpus(CorpusSpec(docs=40, seed=1, large_docs=0), corpus)
    src = tmp_path / "tree" / "lib" / "zephyr" / "src"
    shutil.copytree(installed_zephyr_dir(), src / "zephyr", ignore=shutil.ignore_patterns("*.pyc"))
    out = tmp_path / "ok.json"
    done = _run(tmp_path, "--out", str(out), "--corpus", str(corpus), "--zephyr-src", str(src))
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["local_run"]["zephyr_file"] == str((src / "zephyr" / "__init__.py").resolve())

    shuffle = src / "zephyr" / "shuffle.py"
    shuffle.write_text(shuffle.read_text() + "\ndef broken(:\n")
    bad = tmp_path / "bad.json"
    done = _run(tmp_path, "--out", str(bad), "--corpus", str(corpus), "--zephyr-src", str(src))
    assert done.returncode == 1
    report = json.loads(bad.read_text())
    assert report["status"] == "failed"
    assert report["failed_shards"] == 1
    assert any("SyntaxError" in w for w in report["warnings"])
