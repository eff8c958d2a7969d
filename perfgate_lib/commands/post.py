"""``perfgate post --pr N --body-file F``: upsert the one canonical perf-gate comment."""

from __future__ import annotations

import json
import sys

import click

from perfgate_lib.errors import UsageError
from perfgate_lib.io import storage


@click.command("post")
@click.option("--pr", type=click.IntRange(min=1), required=True, help="Pull request number.")
@click.option(
    "--body-file", required=True, help="Markdown body (path or fsspec URL; '-' for stdin)."
)
@click.option("--repo", default=None, help="OWNER/NAME (default marin-community/marin).")
@click.option(
    "--login",
    default=None,
    help="The kit's account: only its comment is replaced ('auto': the token's account). "
    "Default: $PERFGATE_GITHUB_LOGIN, else github-actions[bot] under GitHub Actions, else "
    "the token's account. Other accounts' comments are never touched.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def command(pr, body_file, repo, login, as_json):
    """Create or replace the sentinel-marked comment on a PR (race-safe, one comment).

    Uses GITHUB_TOKEN (or GH_TOKEN) and GITHUB_API_URL. Bodies over 65,536 characters
    are refused before anything is sent.
    """
    from perfgate_lib.io.github import GitHubClient, GitHubSettings, upsert_comment

    try:
        body = sys.stdin.read() if body_file == "-" else storage.read_text(body_file)
    except FileNotFoundError as exc:
        raise UsageError(f"--body-file {body_file}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"--body-file {body_file}: not UTF-8 text") from exc
    except IsADirectoryError as exc:
        raise UsageError(f"--body-file {body_file}: a folder, not a file") from exc
    overrides = {"login": login} if login else {}
    client = GitHubClient(GitHubSettings.from_env(repo=repo, **overrides))
    result = upsert_comment(client, pr, body, source=f"--body-file {body_file}")
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    click.echo(f"{result.action} comment {result.comment_id} on PR #{pr}: {result.url}")
    if result.removed:
        ids = ", ".join(str(i) for i in result.removed)
        click.echo(f"removed {len(result.removed)} duplicate comment(s): {ids}")
