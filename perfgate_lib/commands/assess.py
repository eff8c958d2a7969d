"""``perfgate assess``: scope, the five questions per file, and the proposed max_gate."""

from __future__ import annotations

import click

from perfgate_lib.assess.diffsource import DEFAULT_REPO
from perfgate_lib.errors import UsageError
from perfgate_lib.io import storage


@click.command("assess")
@click.option("--pr", type=click.IntRange(min=1), default=None, help="Pull request number.")
@click.option("--repo", default=DEFAULT_REPO, show_default=True, help="OWNER/NAME of the PR.")
@click.option("--checkout", default="", help="Local git checkout (instead of --pr).")
@click.option(
    "--base", default="", help="Base revision in --checkout (diffed from the merge base)."
)
@click.option("--head", default="", help="Head revision in --checkout.")
@click.option(
    "--reply", default="", help='Reviewer reply: "go", "max_gate=<skip|1|2|3> [reason]", "skip".'
)
@click.option(
    "--out", "out_dir", default="", help="Folder for assessment.json and the executed notebook."
)
@click.option("--json", "as_json", is_flag=True, help="Print the assessment JSON.")
def command(pr, repo, checkout, base, head, reply, out_dir, as_json):
    """Assess a PR's diff (or base...head of a checkout): scope, five answers per Zephyr
    file with evidence, proposed max_gate. Prints the reviewer confirmation block.

    Out of scope: says so and exits 0; nothing runs. Exit 2 on bad arguments or reply.
    """
    if bool(pr) == bool(checkout):
        raise UsageError("give either --pr N or --checkout PATH --base REV --head REV")
    if checkout and not (base and head):
        raise UsageError("--checkout needs --base REV and --head REV")
    if out_dir and storage.exists(out_dir) and not storage.isdir(out_dir):
        raise UsageError(f"--out {out_dir}: a file, not a folder")
    from perfgate_lib.assess.confirm import parse_reply
    from perfgate_lib.assess.diffsource import open_source
    from perfgate_lib.assess.run import (
        assessment_text,
        load_assessment,
        resolve_checkout,
        run_assess,
    )
    from perfgate_lib.gate.flow import run_assess_notebook

    params = dict(pr=pr or 0, repo=repo, checkout=checkout, base=base, head=head, reply=reply)
    if out_dir:
        # Fail fast on a bad reply or revision (exit 2) before starting a kernel.
        if reply:
            parse_reply(reply)
        if checkout:
            open_source(checkout=resolve_checkout(checkout), base=base, head=head)
        path = run_assess_notebook(out_dir, params)
        from perfgate_lib.assess.confirm import waived
        from perfgate_lib.assess.render import render_assessment_block, render_waiver_comment

        assessment = load_assessment(path)
        block = render_assessment_block(assessment)
        waiver = render_waiver_comment(assessment) if waived(assessment) else None
    else:
        result = run_assess(**params)
        assessment, block, waiver = result.assessment, result.block, result.waiver
    if as_json:
        click.echo(assessment_text(assessment), nl=False)
        return
    click.echo(block)
    if waiver:
        click.echo("\nWaiver comment:")
        click.echo(waiver.rstrip())
    if out_dir:
        click.echo(f"outputs: {out_dir}")
