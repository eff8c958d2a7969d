"""Local checks on the treatment worktree before any ferry (the skill's step 4): the
``local_checks`` commands in order, the first failure stops the rest; children get no
GitHub tokens, output is redacted and the tail bounded (``docs/running-a-gate.md``)."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import IO

from perfgate_lib.errors import PerfgateError
from perfgate_lib.gate.runparams import LocalCheck
from perfgate_lib.io import storage
from perfgate_lib.io.childenv import child_env
from perfgate_lib.io.limits import load_limits

LOG_FILE = "local-checks.log"
TAIL_FILE = "local-checks-tail.txt"
CHECK_OUTPUT_MAX_BYTES = 8_000_000  # of one check's output read back (its end), in bytes


class LocalChecksFailed(PerfgateError):
    """A local check failed: the gate halts, nothing is submitted (exit 4)."""


@dataclass
class CheckOutcome:
    """One command: exit code (None when it could not start or timed out), seconds taken."""

    name: str
    command: str
    exit_code: int | None
    seconds: float
    problem: str = ""


@dataclass
class ChecksResult:
    passed: bool
    failed_step: str | None = None
    outcomes: list[CheckOutcome] = field(default_factory=list)
    output_tail: str = ""
    log_path: str = ""
    tail_path: str = ""

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "output_tail"}


def bounded_tail(text: str, lines: int, max_bytes: int) -> str:
    """The last ``lines`` lines of ``text``, cut further to its last ``max_bytes`` bytes
    (UTF-8, at a character boundary). ``text`` must be redacted already."""
    tail = "\n".join(text.splitlines()[-lines:])
    data = tail.encode("utf-8")
    return tail if len(data) <= max_bytes else data[-max_bytes:].decode("utf-8", errors="ignore")


def _run(
    check: LocalCheck, worktree: str, out: IO[str], timeout_s: float
) -> tuple[int | None, str]:
    """``(exit code, problem)`` of one check, its output written to ``out``."""
    try:
        proc = subprocess.Popen(
            check.argv,
            cwd=worktree,
            env=child_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    except (FileNotFoundError, PermissionError) as exc:
        return None, f"cannot run {check.argv[0]!r}: {exc.strerror}"
    code, problem = None, ""
    try:
        code = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        problem = f"timed out after {timeout_s:g} s"
    finally:
        if code is None:  # timed out or interrupted: the child does not outlive the check
            proc.kill()
            proc.wait()
    return code, problem


def _output_end(path: str) -> str:
    """The last :data:`CHECK_OUTPUT_MAX_BYTES` of a check's captured output (the PR's code
    prints what it likes), after a line saying how many bytes before them were left out."""
    size = os.path.getsize(path)
    left_out = max(0, size - CHECK_OUTPUT_MAX_BYTES)
    with open(path, "rb") as fh:
        fh.seek(left_out)
        text = fh.read(CHECK_OUTPUT_MAX_BYTES).decode("utf-8", errors="replace")
    note = f"[perfgate] the first {left_out:,} bytes of its output left out\n"
    return note + text if left_out else text


def run_local_checks(
    worktree: str,
    checks: Sequence[LocalCheck],
    out_dir: str,
    *,
    timeout_seconds: float = 3600.0,
    tail_lines: int = 200,
) -> ChecksResult:
    """Run ``checks`` in ``worktree``; the log and tail land in ``out_dir``."""
    from perfgate_lib.audit.scrub import redact  # token-like strings, secret env values

    storage.makedirs(out_dir)
    result = ChecksResult(passed=True)
    log_parts: list[str] = []
    with tempfile.TemporaryDirectory(prefix="perfgate-checks-") as tmp:
        for check in checks:
            capture = os.path.join(tmp, "out.txt")
            started = time.monotonic()
            with open(capture, "w") as out:
                code, problem = _run(check, worktree, out, timeout_seconds)
            output = redact(_output_end(capture)) + (f"\n[perfgate] {problem}\n" if problem else "")
            seconds = round(time.monotonic() - started, 3)
            result.outcomes.append(CheckOutcome(check.name, check.run, code, seconds, problem))
            status = "ok" if code == 0 else (problem or f"exit {code}")
            log_parts.append(f"$ {check.run}\n{output.rstrip()}\n[{check.name}: {status}]\n")
            if code != 0:
                limits = load_limits()
                result.passed, result.failed_step = False, check.run
                result.output_tail = bounded_tail(
                    output,
                    min(tail_lines, limits.local_check_tail_lines),
                    limits.local_check_tail_bytes,
                )
                break
    result.log_path = storage.join(out_dir, LOG_FILE)
    storage.write_text(result.log_path, "\n".join(log_parts))
    if not result.passed:
        result.tail_path = storage.join(out_dir, TAIL_FILE)
        storage.write_text(result.tail_path, result.output_tail + "\n")
    return result
