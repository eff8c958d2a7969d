"""``perfgate trigger --event FILE``: handle one PR comment event (GitHub Actions)."""

from __future__ import annotations

import json
import os
import sys

import click


def _run_url() -> str | None:
    """This workflow run's web link, from the Actions environment."""
    server, repo, run_id = (
        os.environ.get("GITHUB_SERVER_URL"),
        os.environ.get("GITHUB_REPOSITORY"),
        os.environ.get("GITHUB_RUN_ID"),
    )
    return f"{server}/{repo}/actions/runs/{run_id}" if server and repo and run_id else None


@click.command("trigger")
@click.option("--event", "event_path", required=True, help="The event JSON ($GITHUB_EVENT_PATH).")
@click.option("--checkout", default=".", show_default=True, help="The marin checkout.")
@click.option("--repo", default=None, help="OWNER/NAME (default: the event's repository).")
@click.option("--runner", type=click.Choice(["iris", "replay"]), default="iris", show_default=True)
@click.option("--replay-dir", default="", help="Recorded treatment reports (replay runner).")
@click.option("--runs-root", default=None, help="Runs root (default $PERFGATE_RUNS_ROOT).")
@click.option("--run-params", default="", help="Run settings file (default gate_common.yaml).")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
def command(event_path, checkout, repo, runner, replay_dir, runs_root, run_params, as_json):
    """Act on a PR comment: `/perf-gate` posts the assessment; a reviewer's `go`,
    `max_gate=K` or `skip` runs the ladder (or waives it). Exit code as `perfgate run`."""
    from perfgate_lib.github import GitHubClient, GitHubSettings
    from perfgate_lib.runflow import RunOptions
    from perfgate_lib.trigger import CommentTrigger, load_event

    event = load_event(event_path)
    repo = repo or (event.get("repository") or {}).get("full_name")
    client = GitHubClient(GitHubSettings.from_env(repo=repo))
    options = RunOptions(
        pr=0,
        repo=client.settings.repo,
        checkout=checkout,
        runner=runner,
        replay_dir=replay_dir,
        runs_root=runs_root,
        common=run_params,
    )
    result = CommentTrigger(client, options, run_url=_run_url()).handle(event)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo(f"{result.action}: {result.message}")
        if result.run_dir:
            click.echo(f"run folder: {result.run_dir}")
    sys.exit(result.exit_code)
