"""Errors the kit raises, each with the process exit code it maps to (README.md, "Exit
codes"); 1 is only ever a fail verdict.
"""

from __future__ import annotations

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_INCONCLUSIVE = 3
EXIT_COULD_NOT_RUN = 4

EXIT_BY_VERDICT = {  # a warn passes
    "pass": EXIT_PASS,
    "warn": EXIT_PASS,
    "fail": EXIT_FAIL,
    "inconclusive": EXIT_INCONCLUSIVE,
}


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
    """Raise :class:`UsageError` naming the first field of ``obj`` (``what``) whose check
    (``checks``: field name -> valid) is False."""
    for name, ok in checks.items():
        if not ok:
            raise UsageError(f"{what}: invalid {name}={getattr(obj, name)!r}")


class _FileError(PerfgateError):
    """A file is unreadable or malformed: ``bad <what> FILE: field 'F': problem``."""

    what = "file"

    def __init__(self, source: str, field: str | None, problem: str) -> None:
        self.source, self.field, self.problem = source, field, problem
        where = f"{source}: field '{field}'" if field else source
        super().__init__(f"bad {self.what} {where}: {problem}")


class ReportError(_FileError):
    """A perf report is unreadable or malformed; names the file and the field."""

    what = "perf report"


class ConfigError(_FileError):
    """A parameters file (thresholds.yaml, gate<N>.yaml, ...) is malformed."""

    what = "parameters file"


class GitHubError(PerfgateError):
    """GitHub refused or failed a request; the message never carries the token."""


class BaselineUnavailable(PerfgateError):
    """Neither the Actions artifact nor the GCS mirror gave a baseline report."""


class SecretFound(PerfgateError):
    """The scrubber found a token-like string in a run folder; archiving refused."""


class StorageError(PerfgateError):
    """A ``gs://`` / ``https://`` location could not be used; ``kind`` says why."""

    def __init__(self, url: str, kind: str, detail: str, doing: str = "read") -> None:
        self.url = url
        self.kind = kind
        super().__init__(f"cannot {doing} {url}: {kind} problem: {detail}")
