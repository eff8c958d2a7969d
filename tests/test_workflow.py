"""The comment-trigger workflow (.github/workflows/perf-gate.yml) is valid and calls the kit."""

from __future__ import annotations

import yaml

from tests.conftest import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "perf-gate.yml"


def test_workflow_triggers_on_pr_comments_and_runs_perfgate_trigger():
    doc = yaml.safe_load(WORKFLOW.read_text())
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` as True
    assert on == {"issue_comment": {"types": ["created"]}}
    assert doc["permissions"]["pull-requests"] == "write"
    (job,) = doc["jobs"].values()
    assert "github.event.issue.pull_request" in job["if"] and "/perf-gate" in job["if"]
    runs = [step.get("run", "") for step in job["steps"]]
    assert any('perfgate trigger --event "$GITHUB_EVENT_PATH"' in r for r in runs)
    assert any("fetch-depth" in str(step.get("with", {})) for step in job["steps"])
    env = next(s["env"] for s in job["steps"] if "perfgate trigger" in s.get("run", ""))
    assert env["GITHUB_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"  # from secrets, never inline
