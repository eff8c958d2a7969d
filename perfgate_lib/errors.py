"""Errors the kit raises, each with the process exit code it maps to.

Exit codes (README.md, "Exit codes"): 0 pass/warn/skip, 1 fail, 2 usage error, 3 inconclusive,
4 could not run (bad input, no baseline, halted by local checks, unreachable storage, and
any unexpected exception: see :mod:`perfgate_lib.io.crash`). 1 is only ever a fail verdict.
"""

from __future__ import annotations

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_INCONCLUSIVE = 3
EXIT_COULD_NOT_RUN = 4

EXIT_BY_VERDICT = {
    "pass": EXIT_PASS,
    "warn": EXIT_PASS,
    "fail": EXIT_FAIL,
    "inconclusive": EXIT_INCONCLUSIVE,
}
"""Exit code of each verdict (a warn passes)."""


class PerfgateError(Exception):
    """Base class: a clear, user-facing message; the run could not proceed."""

    exit_code = EXIT_COULD_NOT_RUN


class UsageError(PerfgateError):
    """A command-line argument or parameter is wrong."""

    exit_code = EXIT_USAGE


def usage_at(source: str, key: str | None, problem: str) -> UsageError:
    """A UsageError naming the input and its key: ``ctx.json: intervals.minhash.call: ...``."""
    return UsageError(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")


def require_valid(obj: object, checks: dict[str, bool], what: str) -> None:
    """Raise :class:`UsageError` naming the first field of ``obj`` whose check is False
    (``checks``: field name -> its value is valid); ``what`` names ``obj`` in the message."""
    for name, ok in checks.items():
        if not ok:
            raise UsageError(f"{what}: invalid {name}={getattr(obj, name)!r}")


class ReportError(PerfgateError):
    """A perf report is unreadable or malformed; names the file and the field."""

    def __init__(self, source: str, field: str | None, problem: str) -> None:
        self.source = source
        self.field = field
        self.problem = problem
        where = f"{source}: field '{field}'" if field else source
        super().__init__(f"bad perf report {where}: {problem}")


class ConfigError(PerfgateError):
    """A parameters file (thresholds.yaml, gate<N>.yaml, ...) is malformed."""

    def __init__(self, source: str, field: str | None, problem: str) -> None:
        self.source = source
        self.field = field
        where = f"{source}: field '{field}'" if field else source
        super().__init__(f"bad parameters file {where}: {problem}")


class GitHubError(PerfgateError):
    """GitHub refused or failed a request; the message never carries the token."""


class BaselineUnavailable(PerfgateError):
    """Neither the Actions artifact nor the GCS mirror gave a baseline report."""


class SecretFound(PerfgateError):
    """The scrubber found a token-like string in a run folder; archiving refused."""


class StorageError(PerfgateError):
    """A ``gs://`` / ``https://`` location could not be used: credentials, network or
    permission. ``kind`` says which; the message is one line with the URL."""

    def __init__(self, url: str, kind: str, detail: str, doing: str = "read") -> None:
        self.url = url
        self.kind = kind
        super().__init__(f"cannot {doing} {url}: {kind} problem: {detail}")
