"""The ``perfgate`` command. Sub-commands load lazily so start-up stays fast.

Each sub-command lives in ``perfgate_lib/commands/<name>.py`` as ``command``. A
:class:`~perfgate_lib.errors.PerfgateError` prints one line and exits with its code; any
other exception is a crash (:mod:`perfgate_lib.io.crash`): exit 4, never 1. Everything
the process prints is redacted. Exit codes: README.md.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Any, TextIO

import click

from perfgate_lib.errors import EXIT_COULD_NOT_RUN, PerfgateError
from perfgate_lib.io import crash
from perfgate_lib.io.redaction import redact
from perfgate_lib.io.rundir import utc_stamp
from perfgate_lib.io.runnerlog import RunnerSafe

_MODULES = "assess baseline compare demo doctor explain history local_ab post run runs trigger"
COMMANDS = {module.replace("_", "-"): module for module in _MODULES.split()}
"""Command name -> its module under perfgate_lib.commands (``local-ab``: ``local_ab``)."""


class LazyGroup(click.Group):
    """A click group that imports a sub-command's module only when it runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        return importlib.import_module(f"perfgate_lib.commands.{module}").command


_debug_flag: list[bool] = [False]  # --debug of the command being run


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    _debug_flag[0] = bool(value)
    return value


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="perfgate")
@click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    callback=_set_debug,
    help="Print the full traceback when a command crashes (also PERFGATE_DEBUG=1).",
)
def cli() -> None:
    """Performance-gate Zephyr pull requests: assess, run, compare, comment."""


class RedactingStream:
    """A text stream that redacts every write before passing it on, and keeps it from
    starting a GitHub Actions workflow command (:class:`~perfgate_lib.io.runnerlog.RunnerSafe`)."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner
        self._runner_safe = RunnerSafe()

    def write(self, text: str) -> int:
        self._inner.write(self._runner_safe(redact(text)) if isinstance(text, str) else text)
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _command_name(argv: list[str]) -> str:
    return next((a for a in argv if a in COMMANDS), "")


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None or isinstance(exc.code, int):
        return exc.code or 0
    click.echo(f"perfgate: {exc.code}", err=True)
    return EXIT_COULD_NOT_RUN


def run(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code and never raises (but KeyboardInterrupt)."""
    args = list(sys.argv[1:] if argv is None else argv)
    _debug_flag[0] = False
    crash.forget_run_dir()
    try:
        cli.main(args=args, prog_name="perfgate", standalone_mode=False)
    except SystemExit as exc:  # commands exit with their verdict's code
        return _exit_code(exc)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except PerfgateError as exc:
        click.echo(f"perfgate: {exc}", err=True)
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - a crash: one line, traceback to a file
        debug = _debug_flag[0] or crash.debug_enabled()
        where = crash.write_traceback(exc, utc_stamp())
        if debug:
            traceback.print_exception(exc, file=sys.stderr)
        click.echo(crash.crash_line(exc, _command_name(args), where, debug), err=True)
        return EXIT_COULD_NOT_RUN
    return 0


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the command with stdout and stderr redacted (CI logs are an
    exit too), exits with its code."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(sys.stdout), RedactingStream(sys.stderr)
    try:
        code = run(argv)
    finally:
        sys.stdout, sys.stderr = saved
    sys.exit(code)
