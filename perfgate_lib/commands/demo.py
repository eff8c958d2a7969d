"""``perfgate demo``: the whole pipeline offline on a sandbox PR; exits 0 when it ran (its
verdict is a fail by design). What it does: README.md."""

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

    for line in where_to_look(run_demo(out_dir or None, gate0=gate0, keep_sandbox=keep_sandbox)):
        click.echo(line)
