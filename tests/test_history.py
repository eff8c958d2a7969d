"""Baseline history: a year of daily reports for three tiers in the GCS emulator."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import pathlib

import numpy as np
import pandas as pd
import pytest

from perfgate_lib.audit import history
from perfgate_lib.audit.history import (
    change_points,
    noise_context,
    place_treatment,
    scheduled_reason,
)
from perfgate_lib.verdict.report import parse_report
from tests.cli_helpers import perfgate, perfgate_here
from tests.conftest import FIXTURES
from tests.fakes import history as fake

MIRROR = "gs://marin-us-central1/test-history/ferry_perf"
BUNDLED = FIXTURES / "history"
STEP = fake.StepChange(tier=2, stage="normalize", at=dt.date(2025, 11, 3), factor=1.2)
NOISE_KEYS = {"spread_pct", "n", "too_noisy"}


@pytest.fixture(scope="module")
def year(gcs):
    """365 daily reports x 3 tiers (+ malformed + manual), planted step in tier 2 normalize."""
    files, truth = fake.generate_history(
        dt.date(2025, 6, 1), 365, (1, 2, 3), era_switch_day=120, step=STEP
    )
    fake.upload(files, MIRROR)
    yield truth
    fake.remove(MIRROR)


@pytest.fixture(scope="module")
def loaded(year):
    """The three tiers' histories and the warnings logged while loading them."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("perfgate.history")
    handler = Keep(logging.WARNING)
    logger.addHandler(handler)
    try:
        out = {tier: history.load_history(tier, MIRROR) for tier in (1, 2, 3)}
    finally:
        logger.removeHandler(handler)
    return out, [r.getMessage() for r in records]


def _url(rel: str) -> str:
    return f"{MIRROR}/{rel}"


def test_year_of_reports_loads_into_time_by_stage_frame(loaded, year):
    hists, _ = loaded
    for tier, hist in hists.items():
        assert len(hist) == 365 == len(year.scheduled[tier])
        assert hist.listed == 365 + len(year.malformed[tier]) + len(year.manual[tier])
        assert hist.stages.index.name == "time"
        assert str(hist.stages.index.tz) == "UTC"
        assert hist.stages.index.is_monotonic_increasing
        assert list(hist.stages.index) == sorted(
            history.stamp_time(rel) for rel in year.scheduled[tier]
        )
        # both eras' stage names, never merged
        assert {"fuzzy_dups", "consolidate", "dedup", "store"} <= set(hist.stages.columns)
        assert all(dtype == np.float64 for dtype in hist.stages.dtypes)
        assert list(hist.reports.index) == list(hist.stages.index)
        assert {"path", "workflow_run_id", "commit_sha", "wall_seconds_total"} <= set(
            hist.reports.columns
        )


def test_malformed_reports_are_skipped_with_a_warning_naming_the_file(loaded, year):
    hists, messages = loaded
    for tier, hist in hists.items():
        expected = {_url(rel) for rel in year.malformed[tier]}
        assert len(expected) == 5
        assert {s.path for s in hist.skipped} == expected
        for path in expected:
            assert any(path in m for m in messages), path


def test_manual_runs_are_left_out(loaded, year):
    hists, _ = loaded
    for tier, hist in hists.items():
        assert {e.path for e in hist.excluded} == {_url(rel) for rel in year.manual[tier]}
        assert all("workflow_run_id" in e.reason for e in hist.excluded)
        assert hist.reports["workflow_run_id"].notna().all()


def test_cached_stages_are_missing_not_zero(loaded):
    hist = loaded[0][1]
    cached = hist.reports[hist.reports["cached_steps"] != ""]
    assert len(cached), "the generator plants cached steps"
    for when, row in cached.iterrows():
        for stage in row["cached_steps"].split(","):
            assert math.isnan(hist.stages.loc[when, stage])
    assert (hist.stages.fillna(1.0) > 0).all().all()


def test_planted_step_change_is_found_at_its_date(loaded, year):
    points = history.detect_change_points(loaded[0][2].stages)
    assert len(points) == 1
    (point,) = points
    assert point.stage == "normalize"
    assert point.time == history.stamp_time(f"report_{year.step_time[2]}_tier2/perf_report.json")
    assert point.time.date() == STEP.at
    assert 17.0 < point.shift_pct < 23.0


def test_no_change_points_where_none_were_planted(loaded):
    for tier in (1, 3):
        assert history.detect_change_points(loaded[0][tier].stages) == []


def test_noise_context_shape_and_noisy_stage(loaded):
    hist = loaded[0][1]
    ctx = noise_context(hist.stages, ["normalize", "embed", "download", "nope"], last_n=14)
    assert set(ctx) == {"normalize", "embed", "download", "nope"}
    assert all(set(v) == NOISE_KEYS for v in ctx.values())
    assert ctx["embed"]["too_noisy"] is True and ctx["embed"]["spread_pct"] > 5.0
    assert ctx["normalize"]["too_noisy"] is False and ctx["normalize"]["spread_pct"] < 5.0
    assert 12 <= ctx["normalize"]["n"] <= 14
    # old-era stage: no recent data
    assert ctx["download"] == {"spread_pct": None, "n": 0, "too_noisy": False}
    assert ctx["nope"] == {"spread_pct": None, "n": 0, "too_noisy": False}
    json.dumps(ctx)


def test_treatment_is_placed_against_the_history(loaded):
    frame = loaded[0][1].stages
    recent = frame.tail(30).median()
    treatment = parse_report(
        {
            "stage_wall_seconds": {
                "normalize": recent["normalize"] * 1.6,
                "minhash": recent["minhash"],
                "store": 0.0,
                "brand_new": 5.0,
            },
            "cached_steps": ["store"],
        },
        "treatment.json",
    )
    placed = place_treatment(frame, treatment, last_n=30)
    assert list(placed.index) == ["normalize", "minhash", "brand_new"]
    assert placed.loc["normalize", "percentile"] == 100.0
    assert placed.loc["normalize", "robust_z"] > 5
    assert placed.loc["normalize", "delta_pct"] == pytest.approx(60.0)
    assert 35 <= placed.loc["minhash", "percentile"] <= 65
    assert abs(placed.loc["minhash", "robust_z"]) < 0.5
    assert placed.loc["brand_new", "n"] == 0 and math.isnan(placed.loc["brand_new", "percentile"])


def test_noise_context_for_gate_reads_the_mirror(year):
    stages = ["normalize", "embed", "wall_seconds_total"]
    ctx = history.noise_context_for_gate(1, stages, mirror=MIRROR, last_n=14)
    assert ctx["embed"]["too_noisy"] and not ctx["normalize"]["too_noisy"]
    assert ctx["wall_seconds_total"]["n"] == 14 and ctx["wall_seconds_total"]["spread_pct"] < 5


def test_noise_context_for_gate_is_empty_when_the_mirror_is_unreachable(gcs):
    assert history.noise_context_for_gate(1, ["normalize"], mirror="gs://no-such-bucket/x") == {}


def test_history_cli_on_the_emulator(year):
    proc = perfgate("history", "--gate", "2", "--mirror", MIRROR, "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["reports"] == 365
    assert [(c["stage"], c["time"][:10]) for c in summary["change_points"]] == [
        ("normalize", "2025-11-03")
    ]
    assert len(summary["skipped"]) == 5
    for rel in year.malformed[2]:
        assert _url(rel) in proc.stderr


# ---------------------------------------------------------------- pure functions


def _series(values, start="2026-01-01", name="stage"):
    index = pd.date_range(start, periods=len(values), freq="D", tz="UTC", name="time")
    return pd.Series(values, index=index, name=name, dtype=float)


def test_change_point_exact_on_a_clean_step():
    rng = np.random.default_rng(3)
    values = np.r_[np.full(40, 100.0), np.full(30, 112.0)] * np.exp(rng.normal(0, 0.02, 70))
    values[[5, 50]] *= 1.5  # preempted outliers do not move it
    (point,) = change_points(_series(values))
    assert point.time == _series(values).index[40]
    assert point.before_s == pytest.approx(100, rel=0.02)
    assert point.after_s == pytest.approx(112, rel=0.02)


def test_change_points_none_in_noise_and_two_in_a_double_step():
    rng = np.random.default_rng(4)
    noise = 100 * np.exp(rng.normal(0, 0.05, 200))
    assert change_points(_series(noise)) == []
    double = np.r_[np.full(30, 100.0), np.full(30, 120.0), np.full(30, 90.0)]
    double = double * np.exp(rng.normal(0, 0.01, 90))
    points = change_points(_series(double))
    assert [p.time for p in points] == [_series(double).index[30], _series(double).index[60]]
    assert points[1].shift_pct < 0


def test_change_points_ignore_gaps_and_short_series():
    values = [100.0] * 10 + [math.nan] * 5 + [130.0] * 10
    (point,) = change_points(_series(values))
    assert point.time == _series(values).index[15]
    assert change_points(_series([100.0, 200.0] * 3)) == []
    small_shift = [100.0] * 20 + [102.0] * 20
    assert change_points(_series(small_shift), min_shift_pct=3.0) == []


def test_noise_context_by_hand():
    frame = pd.DataFrame(
        {"a": [500.0, 100.0, 102.0, 98.0, 100.0, 130.0], "b": [math.nan] * 4 + [1.0, 1.0]},
        index=_series([0] * 6).index,
    )
    ctx = noise_context(frame, ["a", "b"], last_n=5)
    # last 5 of a: 100, 102, 98, 100, 130 -> median 100, MAD 2 -> 1.4826 * 2 %
    assert ctx["a"] == {"spread_pct": 2.97, "n": 5, "too_noisy": False}
    assert ctx["b"] == {"spread_pct": None, "n": 2, "too_noisy": False}
    assert noise_context(frame, ["a"], 5, too_noisy_above_pct=2.0)["a"]["too_noisy"] is True


def test_rolling_band_is_long_time_by_stage():
    frame = pd.DataFrame({"x": np.linspace(100, 110, 20), "y": [math.nan] * 20})
    frame.index = _series([0] * 20).index
    band = history.rolling_band(frame, window=5, k=2.0, min_periods=5)
    assert band.index.names == ["time", "stage"]
    assert list(band.columns) == ["seconds", "median_s", "sigma_s", "lower_s", "upper_s"]
    x = band.xs("x", level="stage")
    assert x["median_s"].isna().sum() == 4
    assert (x["lower_s"].dropna() <= x["median_s"].dropna()).all()
    assert "y" not in band.index.get_level_values("stage")


@pytest.mark.parametrize(
    ("fields", "kept"),
    [
        ({"workflow_run_id": "1", "workflow_name": "Marin - Canary - Datakit - Tier 1"}, True),
        ({}, True),  # older eras carried no workflow keys
        ({"workflow_run_id": None, "workflow_name": None}, False),
        ({"workflow_run_id": "1", "workflow_name": "Some other workflow"}, False),
        ({"workflow_run_id": "1", "status": "failed"}, False),
    ],
)
def test_scheduled_rule(fields, kept):
    report = parse_report({"stage_wall_seconds": {}, **fields}, "r.json")
    assert (scheduled_reason(report, "Marin - Canary - Datakit - Tier 1") is None) is kept


# ---------------------------------------------------------------- bundled history


def test_bundled_history_is_the_generator_output():
    files, _ = fake.generate_history(**fake.BUNDLED)
    on_disk = {
        p.relative_to(BUNDLED).as_posix(): p.read_bytes() for p in BUNDLED.rglob("*") if p.is_file()
    }
    assert on_disk == files


def test_history_cli_text_on_the_bundled_history():
    proc = perfgate(
        "history",
        "--gate",
        "1",
        "--mirror",
        str(BUNDLED),
        "--treatment",
        str(FIXTURES.parent.parent / "parameters" / "examples" / "tier1_treatment.json"),
    )
    assert proc.returncode == 0, proc.stderr
    assert "2026-04-06  minhash" in proc.stdout
    assert "too noisy to judge" in proc.stdout.splitlines()[4]  # download, first stage
    assert "Treatment" in proc.stdout and "percentile" in proc.stdout
    assert "skipped" in proc.stderr and "tier1/perf_report.json" in proc.stderr


def test_history_cli_unreadable_mirror_exits_4(tmp_path):
    proc = perfgate("history", "--gate", "1", "--mirror", str(tmp_path / "empty"))
    assert proc.returncode == 4
    assert "no scheduled tier-1 baselines" in proc.stderr


@pytest.mark.slow
def test_explore_notebook_runs_offline(tmp_path):
    from perfgate_lib.io.notebook import run_notebook

    out = tmp_path / "explore"
    executed = run_notebook("explore", str(out), {"out_dir": str(out)})
    summary = json.loads((out / "history_summary.json").read_text())
    assert [(c["stage"], c["time"][:10]) for c in summary["change_points"]] == [
        ("minhash", "2026-04-06")
    ]
    assert summary["treatment"]["stages"]["normalize"]["percentile"] is not None
    assert (out / "history_trends.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    nb = json.loads(pathlib.Path(executed).read_text())
    images = [
        o for c in nb["cells"] for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    assert images


def test_an_infinite_shift_is_written_as_strict_json(monkeypatch, tmp_path):
    """A change point from a zero median is a +inf% shift: history_summary.json and `perfgate
    history --json` hold it as null plus ``non_finite`` (strict JSON), not the token Infinity."""
    from perfgate_lib.audit import explore

    def from_zero(frame, **kwargs):
        time = frame.index[len(frame) // 2]
        return [history.ChangePoint(frame.columns[0], time, 0.0, 5.0, math.inf, 9.0)]

    monkeypatch.setattr(history, "detect_change_points", from_zero)
    explore.run_explore(1, str(BUNDLED), out_dir=str(tmp_path))

    def refuse(token: str) -> float:
        raise AssertionError(f"not strict JSON: {token}")

    code, printed, _ = perfgate_here("history", "--gate", "1", "--mirror", str(BUNDLED), "--json")
    assert code == 0
    for text in ((tmp_path / explore.SUMMARY_FILE).read_text(), printed):
        (point,) = json.loads(text, parse_constant=refuse)["change_points"]
        assert point["shift_pct"] is None and point["non_finite"] == {"shift_pct": "+inf"}


def test_a_report_folder_at_an_impossible_time_is_skipped_by_name(tmp_path):
    """A mirror folder named like a report but at a time no calendar has (month 13) is
    listed as skipped with its path; the real reports still load (no crash, exit 0)."""
    files, truth = fake.generate_history(
        dt.date(2025, 6, 1), 3, (1,), malformed_per_tier=0, manual_every_days=0
    )
    real = next(rel for rel in files if rel in truth.scheduled[1])
    files[real.replace(real.split("_")[1], "20251399T999999Z")] = files[real]
    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    hist = history.load_history(1, str(tmp_path))
    assert len(hist) == 3
    assert [s.path for s in hist.skipped] == [
        str(tmp_path / "report_20251399T999999Z_tier1/perf_report.json")
    ]
    assert "not a real time" in hist.skipped[0].reason
    proc = perfgate("history", "--gate", "1", "--mirror", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
