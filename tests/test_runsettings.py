"""The treatment's and the baseline's ``iris job run`` settings (issue 14): the tier
workflows pass ``--timeout 21600``, marin's submit script passes none."""

from __future__ import annotations

from perfgate_lib.gate.runsettings import (
    parse_flags,
    setting_differences,
    workflow_flags_from_checkout,
    workflow_job_run_flags,
)
from perfgate_lib.verdict.gates import load_gate

WORKFLOW = """\
jobs:
  ferry:
    steps:
      - run: uv sync --all-packages --extra=cpu --no-default-groups
      - run: |
          .venv/bin/iris --config=lib/iris/config/marin.yaml job run --no-wait \\
            --memory=2G --disk=4G --cpu=1 --extra=cpu --priority production \\
            --timeout 7200 -- python -m experiments.ferries.datakit_ferry --timeout 5
"""


def test_the_missing_timeout_is_the_one_difference_the_bundled_tiers_record():
    for gate in (1, 2, 3):
        params = load_gate(gate)
        diffs = setting_differences(
            parse_flags(params.baseline_iris_flags), parse_flags(params.iris_flags)
        )
        assert diffs == ["--timeout: baseline --timeout 21600, treatment not set"]


def test_flags_of_a_workflows_job_run_command(tmp_path):
    flags = workflow_job_run_flags(WORKFLOW)
    assert flags["--timeout"] == "7200", "the ferry's own --timeout after -- is not iris's"
    assert flags["--priority"] == "production" and flags["--memory"] == "2G"
    assert parse_flags("--enable-extra-resources --no-preemptible") == {
        "--enable-extra-resources": "",
        "--no-preemptible": "",
    }
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    (folder / "marin-canary-datakit-tier1.yaml").write_text(WORKFLOW)
    seen = workflow_flags_from_checkout(str(tmp_path), "marin-canary-datakit-tier1.yaml")
    assert seen == flags
    assert workflow_flags_from_checkout(str(tmp_path), "missing.yaml") is None
    assert setting_differences(seen, seen) == []
