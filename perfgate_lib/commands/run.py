"""``perfgate run --pr N``: assess, confirm, run the gate ladder, post one comment."""

from __future__ import annotations

import signal
import sys

import click

from perfgate_lib.commands.options import gate0_options
from perfgate_lib.gate.run import DEFAULT_REPO


@click.command("run")
@click.option("--pr", type=click.IntRange(min=1), required=True, help="Pull request number.")
@click.option("--repo", default=DEFAULT_REPO, show_default=True, help="OWNER/NAME.")
@click.option(
    "--checkout",
    default=".",
    show_default=True,
    help="The marin checkout (iris runner: worktrees go beside it).",
)
@click.option(
    "--max-gate",
    type=click.Choice(["skip", "1", "2", "3"]),
    default=None,
    help="Highest gate to run (the reviewer's override of the proposal; needs --confirm).",
)
@click.option(
    "--confirm",
    default=None,
    help='The reviewer\'s reply: "go", "max_gate=<skip|1|2|3> [reason]" or "skip". '
    "Without it the assessment is printed and the run waits.",
)
@click.option(
    "--runner",
    type=click.Choice(["iris", "replay", "local"]),
    default="iris",
    show_default=True,
    help="iris: marin's scripts and the iris CLI; replay: recorded reports (--replay-dir); "
    "local: gate 0, the local A/B with real Zephyr on this machine (no cluster).",
)
@gate0_options
@click.option("--replay-dir", default="", help="Recorded treatment reports (replay runner).")
@click.option("--dry-run", is_flag=True, help="Write the comment to the run folder; post nothing.")
@click.option("--runs-root", default=None, help="Runs root (folder or fsspec URL).")
@click.option(
    "--yes-stop-early",
    is_flag=True,
    help="On interrupt, stop the ferry even before its tier wall time.",
)
@click.option(
    "--iris-config", default="", help="Cluster config (default lib/iris/config/marin.yaml)."
)
@click.option(
    "--allow-other-cluster", is_flag=True, help="Allow an --iris-config other than marin.yaml."
)
@click.option(
    "--sha",
    default="",
    help="The commit the reviewer confirmed: the run refuses (exit 4, and says so on the PR) "
    "when the PR head is elsewhere (default: the head GitHub reports).",
)
@click.option(
    "--assessment", default="", help="Use this assessment.json instead of assessing the diff."
)
@click.option("--baseline-dir", default="", help="Local baseline report file/folder (offline).")
@click.option(
    "--mirror", default="", help="GCS mirror root of the baselines (default: parameters)."
)
@click.option("--no-actions", is_flag=True, help="Do not look for baselines on GitHub Actions.")
@click.option("--reviewer", default=None, help="Reviewer login recorded with the confirmation.")
@click.option(
    "--run-params",
    default="",
    help="Run settings file (default parameters/gate_common.yaml): cluster config, "
    "status root, local checks, script paths.",
)
@click.option(
    "--executor",
    type=click.Choice(["notebook", "inprocess"]),
    default="notebook",
    hidden=True,
    help="notebook: papermill (the audit trail); inprocess: the same steps without kernels.",
)
def command(**options):
    """Run the Zephyr perf gate on a PR: assessment, reviewer confirmation, the gate ladder
    (Gate 1, escalating while it passes, up to max_gate), one canonical PR comment.

    Re-running the same command resumes an unfinished run of the PR (never a second ferry
    or comment). Exit code: 0 pass/warn/skip (or waiting for --confirm), 1 fail,
    3 inconclusive, 4 could not run (halted by local checks, no baseline, ...).
    """
    from perfgate_lib.commands.doctor import preflight
    from perfgate_lib.gate.flow import RunOptions, run, validate

    # SIGTERM ends the run like Ctrl-C (KeyboardInterrupt): the worktree is removed, the
    # ferry policy applied
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    opts = RunOptions(**options)  # the options are RunOptions' fields, by name
    validate(opts)  # a usage error (exit 2) is said before anything else
    # The outside contracts first (perfgate doctor): a broken one stops here, in seconds.
    preflight(opts, echo=click.echo)
    outcome = run(opts, echo=click.echo)
    if outcome.verdict:
        click.echo(f"verdict: {outcome.verdict} ({outcome.message})")
    click.echo(f"run folder: {outcome.run_dir}")
    sys.exit(outcome.exit_code)
