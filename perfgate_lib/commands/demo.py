"""``perfgate demo``: the whole pipeline offline, on its embedded default.

A sandbox marin-shaped repository with a PR that slows a Zephyr hot path; the diff
assessed, a local A/B with real Zephyr (merge-base vs head, paired, adaptive measurement), the
comparison and the comment written into the run folder (never posted). No credentials,
no network. Exits 0 when the demo ran (its verdict is a fail by design).
"""

from __future__ import annotations

import click

from perfgate_lib.commands.options import gate0_options


@click.command("demo")
@click.option("--out", "out_dir", default="", help="Run folder (default: runs/demo/<stamp>).")
@gate0_options
@click.option("--keep-sandbox", is_flag=True, help="Keep the sandbox git repository.")
def command(out_dir, gate0, keep_sandbox):
    """The whole pipeline offline: sandbox PR, assess, local A/B with real Zephyr, compare."""
    from perfgate_lib.local.demo import run_demo, where_to_look

    result = run_demo(out_dir or None, gate0=gate0, keep_sandbox=keep_sandbox)
    for line in where_to_look(result):
        click.echo(line)
