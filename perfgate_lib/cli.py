"""The ``perfgate`` command; each sub-command is ``command`` in its lazily imported
``perfgate_lib/commands/<name>.py``. A :class:`~perfgate_lib.errors.PerfgateError` prints
one line and exits with its code; any other exception is a crash (exit 4, never 1).
Everything printed is redacted and cannot be a workflow command (docs/security.md).
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import traceback
from typing import Any, TextIO

import click

from perfgate_lib.errors import EXIT_COULD_NOT_RUN, PerfgateError
from perfgate_lib.io import rundir
from perfgate_lib.io.redaction import redact
from perfgate_lib.mdtext import WORD_JOINER

_MODULES = "assess baseline compare demo doctor explain history local_ab post run runs trigger"
COMMANDS = {module.replace("_", "-"): module for module in _MODULES.split()}
"""Command name -> its module under perfgate_lib.commands (``local-ab``: ``local_ab``)."""
_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # where the runner or Python ends a line
_LINE_HEAD = re.compile(rf"([{_BREAKS}][^\S{_BREAKS}]*):")


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
    """A text stream that redacts every write, and puts a word joiner (invisible, not blank
    to the runner) before the ``:`` that opens a line and inside each ``##[``, so no write
    starts a GitHub Actions workflow command. It remembers the end of the last write (two
    characters at most), so a command split over writes is caught too, after any blanks."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner
        self._tail = "\n"  # the stream starts at a line start

    def write(self, text: str) -> int:
        self._inner.write(self._runner_safe(redact(text)) if isinstance(text, str) else text)
        return len(text)

    def _runner_safe(self, text: str) -> str:
        safe = (self._tail + text).replace("##[", "##" + WORD_JOINER + "[")
        safe = _LINE_HEAD.sub(lambda m: m.group(1) + WORD_JOINER + ":", safe)
        out = safe[len(self._tail) :]  # insertions all fall in the new text
        last = max(safe.rfind(c) for c in _BREAKS)
        line = safe[last:] if last >= 0 else ""
        blank = line and not line[1:].strip()  # a line head so far: its break and a blank
        self._tail = line[:2] if blank else safe[-2:]
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None or isinstance(exc.code, int):
        return exc.code or 0
    click.echo(f"perfgate: {exc.code}", err=True)
    return EXIT_COULD_NOT_RUN


def run(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code and never raises (but KeyboardInterrupt)."""
    args = list(sys.argv[1:] if argv is None else argv)
    _debug_flag[0] = False
    rundir.forget_run_dir()
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
        debug = _debug_flag[0] or os.environ.get("PERFGATE_DEBUG", "") not in ("", "0")
        where = rundir.write_traceback(exc, rundir.utc_stamp())
        if debug:
            traceback.print_exception(exc, file=sys.stderr)
        command = next((a for a in args if a in COMMANDS), "")
        click.echo(rundir.crash_line(exc, command, where, debug), err=True)
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
