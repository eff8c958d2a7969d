"""Perf reports of every era load; bad input names the file and the field."""

from __future__ import annotations

import json

import pytest

from perfgate_lib.errors import ReportError
from perfgate_lib.verdict.report import load_report, loads_report

ERAS = ["era_oldest.json", "era_download.json", "era_newest.json"]


@pytest.mark.parametrize("name", ERAS)
def test_every_era_loads(fixtures_dir, name):
    report = load_report(str(fixtures_dir / "reports" / name))
    assert report.stage_wall_seconds
    assert report.source.endswith(name)


def test_oldest_era_fields(fixtures_dir):
    r = load_report(str(fixtures_dir / "reports" / "era_oldest.json"))
    assert r.ferry_module == "experiments.ferries.datakit_ferry"
    assert "stage0-Map → Scatter" in r.stage_wall_seconds
    assert r.peak_memory_mb is None  # 0 means unknown
    assert r.task_state_counts == {"succeeded": 40}  # states normalised to lower case
    assert r.raw["counters"]["docs_in"] == 1000000  # unknown keys kept
    assert r.status is None


def test_newest_era_nulls_and_unknown_keys(fixtures_dir):
    r = load_report(str(fixtures_dir / "reports" / "era_newest.json"))
    assert r.stage_wall_seconds["store"] is None
    assert r.workflow_run_id == "19900000001"
    assert r.raw["some_future_field"] == {"kept": True}
    assert r.infra_count("oom") == 0


def test_integer_run_ids_become_strings(fixtures_dir):
    r = load_report(str(fixtures_dir / "reports" / "era_download.json"))
    assert r.workflow_run_id == "19001234567"
    assert r.cached_steps == ("download",)


def test_empty_object_is_a_valid_report():
    r = loads_report("{}", "x.json")
    assert r.wall_seconds_total is None and r.stage_wall_seconds == {}


def test_fsspec_url(tmp_path):
    import fsspec

    with fsspec.open("memory://reports/r.json", "w") as fh:
        fh.write(json.dumps({"wall_seconds_total": 5}))
    assert load_report("memory://reports/r.json").wall_seconds_total == 5.0


BAD = [
    ("not json", "{not json", None, "not valid JSON"),
    ("truncated", '{"wall_seconds_total": 12', None, "truncated"),
    ("empty", "", None, "empty file"),
    ("array", "[1, 2]", None, "expected a JSON object"),
    ("string seconds", '{"wall_seconds_total": "31m"}', "wall_seconds_total", "number"),
    ("negative", '{"wall_seconds_total": -3}', "wall_seconds_total", "negative"),
    (
        "negative stage",
        '{"stage_wall_seconds": {"minhash": -1}}',
        "stage_wall_seconds.minhash",
        "negative",
    ),
    ("nan", '{"wall_seconds_total": NaN}', None, "NaN"),
    ("infinity", '{"stage_wall_seconds": {"a": Infinity}}', None, "Infinity"),
    (
        "stage string",
        '{"stage_wall_seconds": {"normalize": "fast"}}',
        "stage_wall_seconds.normalize",
        "number",
    ),
    (
        "stage bool",
        '{"stage_wall_seconds": {"normalize": true}}',
        "stage_wall_seconds.normalize",
        "number",
    ),
    ("stages list", '{"stage_wall_seconds": [1, 2]}', "stage_wall_seconds", "object"),
    ("fractional count", '{"failed_shards": 1.5}', "failed_shards", "whole number"),
    (
        "bad task count",
        '{"task_state_counts": {"succeeded": "many"}}',
        "task_state_counts.succeeded",
        "whole number",
    ),
    ("cached not list", '{"cached_steps": "download"}', "cached_steps", "list"),
    ("job id number", '{"iris_job_id": 12}', "iris_job_id", "string"),
    # JSON holds any integer: one past a float's range stopped the comparison (OverflowError)
    ("huge seconds", '{"wall_seconds_total": 1' + "0" * 400 + "}", "wall_seconds_total", "large"),
    ("huge count", '{"failed_shards": 1' + "0" * 400 + "}", "failed_shards", "large"),
    (
        "huge task count",
        '{"task_state_counts": {"succeeded": 1' + "0" * 400 + "}}",
        "task_state_counts.succeeded",
        "large",
    ),
]


@pytest.mark.parametrize(("case", "text", "field", "problem"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_names_file_and_field(tmp_path, case, text, field, problem):
    path = tmp_path / "treatment-g1-perf-report.json"
    path.write_text(text)
    with pytest.raises(ReportError) as info:
        load_report(str(path))
    err = info.value
    assert str(path) in str(err)
    assert err.field == field
    assert problem in str(err)
    assert err.exit_code == 4


def test_missing_file(tmp_path):
    with pytest.raises(ReportError, match="file not found"):
        load_report(str(tmp_path / "nope.json"))
