"""Local checks on the treatment worktree before any ferry (the skill's step 4).

The ``local_checks`` commands run in order; the first failure stops the rest. Children get
no GitHub tokens; output is redacted before it is kept or shown, and the halt comment's
tail is at most ``local_check_tail_lines`` lines and ``local_check_tail_bytes`` bytes.
Files and rules: ``docs/running-a-gate.md``, ``docs/security.md``.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from perfgate_lib.errors import PerfgateError
from perfgate_lib.gate.runparams import LocalCheck
from perfgate_lib.io import storage
from perfgate_lib.io.limits import load_limits
from perfgate_lib.runners.iris import child_env

LOG_FILE = "local-checks.log"
TAIL_FILE = "local-checks-tail.txt"


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

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass
class ChecksResult:
    passed: bool
    outcomes: list[CheckOutcome] = field(default_factory=list)
    failed_step: str | None = None
    output_tail: str = ""
    log_path: str = ""
    tail_path: str = ""

    def to_json(self) -> dict:
        return {
            "passed": self.passed,
            "failed_step": self.failed_step,
            "outcomes": [asdict(o) for o in self.outcomes],
            "log_path": self.log_path,
            "tail_path": self.tail_path,
        }


def bounded_tail(text: str, lines: int, max_bytes: int) -> str:
    """The last ``lines`` lines of ``text``, cut further to its last ``max_bytes`` bytes
    (UTF-8, at a character boundary). ``text`` must be redacted already."""
    tail = "\n".join(text.splitlines()[-lines:])
    data = tail.encode("utf-8")
    if len(data) <= max_bytes:
        return tail
    return data[-max_bytes:].decode("utf-8", errors="ignore")


def run_local_checks(
    worktree: str,
    checks: Sequence[LocalCheck],
    out_dir: str,
    *,
    timeout_seconds: float = 3600.0,
    tail_lines: int = 200,
    env: Mapping[str, str] | None = None,
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
            problem, code = "", None
            with open(capture, "w") as out:
                try:
                    proc = subprocess.Popen(
                        check.argv,
                        cwd=worktree,
                        env=child_env(env),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                    )
                except (FileNotFoundError, PermissionError) as exc:
                    problem = f"cannot run {check.argv[0]!r}: {exc.strerror}"
                else:
                    try:
                        code = proc.wait(timeout=timeout_seconds)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                        problem = f"timed out after {timeout_seconds:g} s"
                    except BaseException:
                        proc.kill()
                        proc.wait()
                        raise
            with open(capture, encoding="utf-8", errors="replace") as fh:
                output = redact(fh.read())
            if problem:
                output += f"\n[perfgate] {problem}\n"
            outcome = CheckOutcome(
                check.name, check.run, code, round(time.monotonic() - started, 3), problem
            )
            result.outcomes.append(outcome)
            status = "ok" if outcome.ok else (problem or f"exit {code}")
            log_parts.append(f"$ {check.run}\n{output.rstrip()}\n[{check.name}: {status}]\n")
            if not outcome.ok:
                result.passed = False
                result.failed_step = check.run
                limits = load_limits()
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
