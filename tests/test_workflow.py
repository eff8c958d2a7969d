"""The comment-trigger workflow (.github/workflows/perf-gate.yml) is valid and calls the kit:
a dispatch job serialised per PR, then a ladder job fed through the environment only."""

from __future__ import annotations

import yaml

from tests.conftest import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "perf-gate.yml"


def test_workflow_dispatches_per_pr_then_runs_the_ladder():
    doc = yaml.safe_load(WORKFLOW.read_text())
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` as True
    assert on == {"issue_comment": {"types": ["created"]}}
    assert doc["permissions"]["pull-requests"] == "write"
    # the kit's own account: the author of GITHUB_TOKEN's comments unless configured
    login = "${{ vars.PERFGATE_GITHUB_LOGIN || 'github-actions[bot]' }}"
    assert doc["env"]["PERFGATE_GITHUB_LOGIN"] == login
    dispatch, ladder = doc["jobs"]["dispatch"], doc["jobs"]["ladder"]
    assert "github.event.issue.pull_request" in dispatch["if"] and "/perf-gate" in dispatch["if"]
    assert dispatch["concurrency"]["group"].endswith("${{ github.event.issue.number }}")
    decide = next(s for s in dispatch["steps"] if s.get("id") == "decide")
    assert 'perfgate trigger --event "$GITHUB_EVENT_PATH"' in decide["run"]
    assert "--plan-only" in decide["run"]
    assert decide["env"]["GITHUB_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"
    assert set(dispatch["outputs"]) == {"run", "pr", "sha", "confirm", "reviewer"}
    assert ladder["needs"] == "dispatch" and "outputs.run == 'true'" in ladder["if"]
    runs = " ".join(s.get("run", "") for s in ladder["steps"])
    assert (
        'perfgate run --pr "$PR" --sha "$SHA" --confirm "$CONFIRM" --reviewer "$REVIEWER"' in runs
    )
    assert ladder["env"]["SHA"] == "${{ needs.dispatch.outputs.sha }}"
    assert "${{" not in runs.replace("${{ vars.PERFGATE_PIP_SPEC || 'perfgate[local]' }}", "")
    release = ladder["steps"][-1]
    assert release["if"] == "failure() || cancelled()"
    assert release["run"] == 'perfgate trigger --release "$PR"'
    assert any("fetch-depth" in str(step.get("with", {})) for step in ladder["steps"])
