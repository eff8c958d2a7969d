"""Bounded work (issue 29, problem 8): limits.yaml, reports past a bound stop at once with
exit 4 naming the limit and the file."""

from __future__ import annotations

import json

import pytest

from perfgate_lib.errors import ConfigError
from perfgate_lib.io.limits import LimitExceeded, check, load_limits, parse_limits
from tests.cli_helpers import perfgate
from tests.conftest import REPO_ROOT

EXAMPLE = REPO_ROOT / "parameters" / "examples" / "tier1_baseline.json"


def test_limits_file_has_every_bound():
    lim = load_limits()
    assert lim.report_max_stages >= 100 and lim.diff_max_files == 3000
    assert lim.local_check_tail_lines > 0 and lim.artifact_max_bytes > 0


def test_a_bad_limits_file_names_the_field():
    with pytest.raises(ConfigError, match="limits.yaml: field 'report_max_bytes'"):
        parse_limits({"report_max_bytes": -1}, "limits.yaml")


def test_check_names_limit_value_and_file():
    with pytest.raises(LimitExceeded) as info:
        check("diff_max_files", 20000, "PR 7", "changed files:")
    assert info.value.exit_code == 4
    assert "diff_max_files=3000" in str(info.value) and "20000" in str(info.value)
    assert "PR 7" in str(info.value) and "limits.yaml" in str(info.value)


@pytest.mark.parametrize(
    "change, limit",
    [
        (
            lambda d: d.update(stage_wall_seconds={f"s{i}": 1.0 for i in range(100_000)}),
            "report_max_stages",
        ),
        (lambda d: d.update(stage_wall_seconds={"x" * 1_000_000: 1.0}), "stage_name_max_chars"),
    ],
    ids=["100k-stages", "1MB-stage-name"],
)
def test_compare_stops_at_a_report_bound(tmp_path, change, limit):
    data = json.loads(EXAMPLE.read_text())
    change(data)
    big = tmp_path / "treatment.json"
    big.write_text(json.dumps(data))
    proc = perfgate("compare", str(EXAMPLE), str(big), "--out", str(tmp_path / "out"), timeout=120)
    assert proc.returncode == 4, proc.stderr
    assert limit in proc.stderr and str(big) in proc.stderr
    assert not (tmp_path / "out" / "verdict.json").exists()


def test_report_bytes_bound(tmp_path):
    from perfgate_lib.verdict.report import ReportTooLarge, check_report_bounds

    small = load_limits().__class__(**{**load_limits().__dict__, "report_max_bytes": 10})
    with pytest.raises(ReportTooLarge, match="report_max_bytes=10"):
        check_report_bounds({}, "r.json", 11, small)
    assert check_report_bounds({"a": 1}, "r.json", 10, small) == {"a": 1}


def test_a_check_that_prints_without_end_is_read_within_a_bound(tmp_path):
    """The PR's checks print what they like: one check's output was read whole into memory
    (and into the log), so gigabytes of it exhausted the machine. The log keeps its last
    CHECK_OUTPUT_MAX_BYTES, saying how much was left out; the tail is still its end."""
    import sys

    from perfgate_lib.gate.localchecks import CHECK_OUTPUT_MAX_BYTES, run_local_checks
    from perfgate_lib.gate.runparams import LocalCheck

    script = tmp_path / "flood.py"
    script.write_text(
        "import sys\n"
        f"for i in range({3 * CHECK_OUTPUT_MAX_BYTES // 1_000_000}):\n"
        "    sys.stdout.write(('y' * 99 + '\\n') * 10_000)\n"
        "print('the last line')\n"
        "raise SystemExit(3)\n"
    )
    check = LocalCheck("flood", f"{sys.executable} {script}")
    result = run_local_checks(str(tmp_path), [check], str(tmp_path / "out"))
    assert not result.passed and "the last line" in result.output_tail
    log = (tmp_path / "out" / "local-checks.log").read_text()
    assert len(log) < CHECK_OUTPUT_MAX_BYTES + 1000
    assert "bytes of its output left out" in log and "the last line" in log


def test_a_failed_checks_tail_is_short_and_redacted(tmp_path, monkeypatch):
    """Only the last local_check_tail_lines lines, at most local_check_tail_bytes bytes,
    after redaction, reach the halt comment; the log keeps everything (redacted)."""
    import sys

    from perfgate_lib.gate.localchecks import run_local_checks
    from perfgate_lib.gate.runparams import LocalCheck

    monkeypatch.setenv("DEPLOY_WEBHOOK", "/hooks/abc123secret")
    script = tmp_path / "noisy.py"
    script.write_text(
        "import os\n"
        "for i in range(5000):\n"
        "    print(f'line {i} ' + 'x' * 200 + ' ' + os.environ['DEPLOY_WEBHOOK'])\n"
        "raise SystemExit(1)\n"
    )
    check = LocalCheck("noisy", f"{sys.executable} {script}")
    result = run_local_checks(str(tmp_path), [check], str(tmp_path / "out"), tail_lines=200)
    lim = load_limits()
    assert not result.passed
    tail = result.output_tail
    assert len(tail.encode()) <= lim.local_check_tail_bytes
    assert len(tail.splitlines()) <= lim.local_check_tail_lines
    assert "line 4999" in tail, "the end of the output, where the failure is"
    assert "/hooks/abc123secret" not in tail and "[REDACTED env:DEPLOY_WEBHOOK]" in tail
    log = (tmp_path / "out" / "local-checks.log").read_text()
    assert "line 0 " in log and "/hooks/abc123secret" not in log
