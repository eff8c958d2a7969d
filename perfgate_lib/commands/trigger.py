"""``perfgate trigger``: handle one PR comment event, or clear a crashed ladder job's lock."""

from __future__ import annotations

import json
import os
import secrets
import sys

import click

from perfgate_lib.errors import UsageError


def _run_url() -> str | None:
    """This workflow run's web link, from the Actions environment."""
    names = ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    server, repo, run_id = (os.environ.get(name) for name in names)
    return f"{server}/{repo}/actions/runs/{run_id}" if server and repo and run_id else None


def write_outputs(path: str | None, plan: dict | None) -> None:
    """Step outputs in $GITHUB_OUTPUT's multi-line syntax (a random delimiter, so a reply
    cannot forge another output)."""
    if not path:
        return
    values = {"run": "true" if plan else "false", **{k: str(v) for k, v in (plan or {}).items()}}
    with open(path, "a", encoding="utf-8") as fh:
        for key, value in values.items():
            delimiter = f"PERFGATE_{secrets.token_hex(8)}"
            fh.write(f"{key}<<{delimiter}\n{value}\n{delimiter}\n")


@click.command("trigger")
@click.option("--event", "event_path", default="", help="The event JSON ($GITHUB_EVENT_PATH).")
@click.option("--checkout", default=".", show_default=True, help="The marin checkout.")
@click.option("--repo", default=None, help="OWNER/NAME (default: the event's repository).")
@click.option("--runner", type=click.Choice(["iris", "replay"]), default="iris", show_default=True)
@click.option("--replay-dir", default="", help="Recorded treatment reports (replay runner).")
@click.option("--runs-root", default=None, help="Runs root (default $PERFGATE_RUNS_ROOT).")
@click.option("--run-params", default="", help="Run settings file (default gate_common.yaml).")
@click.option(
    "--plan-only",
    is_flag=True,
    help="On a confirmed reply, set the PR's lock and write the plan (run, pr, sha, confirm, "
    "reviewer) to $GITHUB_OUTPUT instead of running the ladder here.",
)
@click.option(
    "--release", "release_pr", type=click.IntRange(min=1), default=None, help="Clear PR N's lock."
)
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
def command(event_path, repo, plan_only, release_pr, as_json, **run_options):
    """Act on a PR comment: `/perf-gate` posts the assessment; a reviewer's `go`,
    `max_gate=K` or `skip` runs the ladder on the assessed commit (or waives it). Exit code
    as `perfgate run`. Needs GITHUB_TOKEN and the kit's account (PERFGATE_GITHUB_LOGIN, or
    github-actions[bot] under GitHub Actions); refuses to run without them."""
    from perfgate_lib.gate.flow import RunOptions
    from perfgate_lib.gate.trigger import CommentTrigger, load_event
    from perfgate_lib.io.github import GitHubClient, GitHubSettings

    if bool(event_path) == (release_pr is not None):
        raise UsageError("give either --event FILE or --release PR")
    event = load_event(event_path) if event_path else {}
    repo = repo or (event.get("repository") or {}).get("full_name")
    client = GitHubClient(GitHubSettings.from_env(repo=repo))
    # checkout, runner, replay_dir, runs_root, run_params: RunOptions' fields, by name
    options = RunOptions(pr=0, repo=client.settings.repo, **run_options)
    trigger = CommentTrigger(client, options, run_url=_run_url(), plan_only=plan_only)
    if release_pr is not None:
        trigger.release(release_pr, "the gate job ended without posting a verdict")
        click.echo(f"released PR {release_pr}")
        return
    result = trigger.handle(event)
    if plan_only:
        write_outputs(os.environ.get("GITHUB_OUTPUT"), result.plan)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo(f"{result.action}: {result.message}")
        if result.run_dir:
            click.echo(f"run folder: {result.run_dir}")
    sys.exit(result.exit_code)
