"""The threshold table is data; loading it validates bands, numbers and signals."""

from __future__ import annotations

import pytest
import yaml

from perfgate_lib.errors import ConfigError
from perfgate_lib.verdict.thresholds import DEFAULT_THRESHOLDS, load_thresholds


def test_bundled_table_matches_the_skill():
    th = load_thresholds()
    assert (th.bands["wall_seconds_total"].pass_pct, th.bands["wall_seconds_total"].warn_pct) == (
        5,
        10,
    )
    assert (th.bands["stage_wall_seconds"].pass_pct, th.bands["stage_wall_seconds"].warn_pct) == (
        5,
        10,
    )
    assert (
        th.bands["peak_worker_memory_mb"].pass_pct,
        th.bands["peak_worker_memory_mb"].warn_pct,
    ) == (5, 15)
    assert th.preemption_margin == 3
    assert th.baseline_max_age_hours == {1: 24, 2: 24, 3: 168}


def _write(tmp_path, mutate):
    doc = yaml.safe_load(DEFAULT_THRESHOLDS.read_text())
    mutate(doc)
    path = tmp_path / "thresholds.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(
    ("mutate", "field", "problem"),
    [
        (
            lambda d: d["bands"]["wall_seconds_total"].update({"pass": 12}),
            "bands.wall_seconds_total",
            "out of order",
        ),
        (
            lambda d: d["bands"]["peak_worker_memory_mb"].update({"warn": "15%"}),
            "bands.peak_worker_memory_mb.warn",
            "number",
        ),
        (
            lambda d: d["bands"].update({"cpu_seconds": {"pass": 1, "warn": 2}}),
            "bands.cpu_seconds",
            "unknown signal",
        ),
        (lambda d: d["bands"].pop("stage_wall_seconds"), "bands.stage_wall_seconds", "missing"),
        (
            lambda d: d["hard_fail_counts"].append("infra_failures.cosmic_rays"),
            "hard_fail_counts",
            "unknown signal",
        ),
        (
            lambda d: d["inconclusive"].update({"preemption_margin": -1}),
            "inconclusive.preemption_margin",
            "negative",
        ),
        (lambda d: d.pop("baseline_max_age_hours"), "baseline_max_age_hours", "missing"),
        (
            lambda d: d["inconclusive"].update({"preemption_margin": float("inf")}),
            "inconclusive.preemption_margin",
            "finite",
        ),
        (
            lambda d: d["inconclusive"].update({"hardware_faults_max": float("nan")}),
            "inconclusive.hardware_faults_max",
            "finite",
        ),
        (
            lambda d: d["inconclusive"].update({"preempted_tasks_max": 10**400}),
            "inconclusive.preempted_tasks_max",
            "too large",
        ),
        (
            lambda d: d["inconclusive"].update({"preemption_margin": 2.5}),
            "inconclusive.preemption_margin",
            "whole number",
        ),
        (
            lambda d: d["baseline_max_age_hours"].update({1: float("nan")}),
            "baseline_max_age_hours.1",
            "finite",
        ),
        (
            lambda d: d["self_check"].update({"task_total_divergence_pct": float("nan")}),
            "self_check.task_total_divergence_pct",
            "finite",
        ),
    ],
)
def test_bad_tables_name_the_field(tmp_path, mutate, field, problem):
    path = _write(tmp_path, mutate)
    with pytest.raises(ConfigError) as info:
        load_thresholds(path)
    assert info.value.field == field
    assert problem in str(info.value)
    assert str(path) in str(info.value)


def test_not_yaml(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("bands: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_thresholds(path)


def test_signal_names_of_mixed_types_name_the_first_unknown(tmp_path):
    path = tmp_path / "t.yaml"
    text = DEFAULT_THRESHOLDS.read_text().replace("bands:\n", "bands:\n  1: {}\n  zz: {}\n", 1)
    path.write_text(text)
    with pytest.raises(ConfigError, match="unknown signal") as info:
        load_thresholds(path)
    assert info.value.field == "bands.1"
