#!/usr/bin/env python3
"""Stand-in for marin's ``scripts/ci/iris_monitor.py`` over the fake world (a click CLI,
as marin's is; checked against marin's script, 2026-12). Only what the kit and the tier
workflows use:

* ``status --job-id ID [--iris-config P | --controller-url U]``: prints ``job_id: ID``,
  ``state:  JOB_STATE_*`` and, when set, ``error:  ...``; an unknown job raises
  ``LookupError`` (a traceback, exit 1).
* ``wait --job-id ID ... [--poll-interval S] [--timeout S] [--github-output]
  [--child-wait-timeout S] --resource-exhaustion-policy escalate|shutdown``: polls until
  the job ends; past ``--timeout`` raises ``TimeoutError``. With ``shutdown``, a job whose
  pending reason names a stock-out (``resource_exhausted``, ``quota_exceeded``, ...) is
  terminated and the wait "succeeds" as ``RESOURCE_EXHAUSTED`` after a ``::warning``
  line. Stderr ends with ``Job 'ID' finished with state: STATE`` (and ``Error: ...``);
  exit 1 unless it succeeded. ``--github-output`` appends ``job_id=``, ``state=``,
  ``succeeded=``, ``resource_exhausted=`` to ``$GITHUB_OUTPUT``.

Every call is recorded in the world's ``monitor_calls.jsonl``. Job ids match as printed.
"""

import os
import sys
import time

import click

sys.path.insert(0, os.environ["FAKE_MARIN_SCRIPTS"])
import iris_jobs  # noqa: E402
import world  # noqa: E402

EXHAUSTION_MARKERS = (
    "stockout",
    "quota_exceeded",
    "resource_exhausted",
    "slice couldn't schedule",
    "slice could not schedule",
    "unsatisfied autoscaler demand: tier_blocked:",
)


def _record(verb: str) -> None:
    world.append("monitor_calls.jsonl", {"verb": verb, "args": sys.argv[1:], "cwd": os.getcwd()})


def _observe(job_id: str) -> dict:
    entry = iris_jobs.observe(job_id)
    if entry is None:
        raise LookupError(f"Job not found in Iris job list: {job_id!r}")
    return entry


def _finished(entry: dict) -> bool:
    return iris_jobs.norm(entry["state"]) in iris_jobs.TERMINAL


@click.group()
def cli() -> None:
    pass


@cli.command()
@click.option("--job-id", required=True)
@click.option("--iris-config", default=None)
@click.option("--controller-url", default=None)
def status(job_id, iris_config, controller_url):
    """Print the current state of an Iris job."""
    _record("status")
    entry = _observe(job_id)
    click.echo(f"job_id: {entry['job_id']}")
    click.echo(f"state:  {entry['state']}")
    if entry.get("error"):
        click.echo(f"error:  {entry['error']}")


@cli.command()
@click.option("--job-id", required=True)
@click.option("--iris-config", default=None)
@click.option("--controller-url", default=None)
@click.option("--poll-interval", default=30.0, type=float)
@click.option("--timeout", default=None, type=float)
@click.option("--github-output", is_flag=True, default=False)
@click.option("--child-wait-timeout", default=None, type=float)
@click.option(
    "--resource-exhaustion-policy", required=True, type=click.Choice(["escalate", "shutdown"])
)
def wait(
    job_id,
    iris_config,
    controller_url,
    poll_interval,
    timeout,
    github_output,
    child_wait_timeout,
    resource_exhaustion_policy,
):
    """Poll an Iris job and exit non-zero for failures that require escalation."""
    _record("wait")
    if child_wait_timeout is not None and timeout is not None:
        raise click.UsageError("--child-wait-timeout and --timeout are mutually exclusive")
    click.echo(f"Waiting for {job_id!r} every {poll_interval}s ...", err=True)
    start = time.monotonic()
    exhausted = None
    while True:
        entry = _observe(job_id)
        if _finished(entry):
            break
        reason = entry.get("pending_reason") or ""
        if resource_exhaustion_policy == "shutdown" and any(
            m in reason.lower() for m in EXHAUSTION_MARKERS
        ):
            iris_jobs.stop([job_id], reason="Terminated by user")
            exhausted = f"{job_id}: {reason}"
            break
        if timeout is not None and time.monotonic() - start >= timeout:
            raise TimeoutError(f"Timed out waiting for job {job_id!r} after {timeout}s")
        time.sleep(poll_interval)
    if exhausted is not None:
        state, succeeded, flag = "RESOURCE_EXHAUSTED", "true", "true"
        click.echo(f"::warning title=Canary resource exhaustion::{exhausted}", err=True)
    else:
        state = entry["state"]
        succeeded, flag = ("true" if state == "JOB_STATE_SUCCEEDED" else "false"), "false"
    if github_output and os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a") as fh:
            fh.write(
                f"job_id={job_id}\nstate={state}\nsucceeded={succeeded}\nresource_exhausted={flag}\n"
            )
    click.echo(f"Job {job_id!r} finished with state: {state}", err=True)
    if entry.get("error") and exhausted is None:
        click.echo(f"Error: {entry['error']}", err=True)
    if succeeded != "true":
        sys.exit(1)


if __name__ == "__main__":
    cli()
