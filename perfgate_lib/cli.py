"""The ``perfgate`` command. Sub-commands load lazily so start-up stays fast.

Each sub-command lives in ``perfgate_lib/commands/<name>.py`` as ``command``.
Errors derived from :class:`perfgate_lib.errors.PerfgateError` print one line
and exit with their code (2 usage, 4 could not run).
"""

from __future__ import annotations

import importlib
import sys

import click

from perfgate_lib.errors import PerfgateError

# command name -> its module under perfgate_lib.commands
COMMANDS: dict[str, str] = {
    name: name
    for name in (
        "assess",
        "baseline",
        "compare",
        "demo",
        "history",
        "post",
        "run",
        "runs",
        "trigger",
    )
}
COMMANDS["local-ab"] = "local_ab"  # gate 0: the local A/B (runners/local.py)


class LazyGroup(click.Group):
    """A click group that imports a sub-command's module only when it runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        return importlib.import_module(f"perfgate_lib.commands.{module}").command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="perfgate")
def cli() -> None:
    """Performance-gate Zephyr pull requests: assess, run, compare, comment."""


def main(argv: list[str] | None = None) -> None:
    """Console entry point: maps PerfgateError to its exit code."""
    try:
        cli.main(args=argv, prog_name="perfgate", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except PerfgateError as exc:
        click.echo(f"perfgate: {exc}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(0)
