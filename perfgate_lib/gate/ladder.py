"""The gate ladder: a pure planner, a small driver and the comment's lines on where it stands.
Rules: ``docs/verdict-rules.md`` ("Ladder"); exit codes 0 pass / warn / skip, 1 fail, 3
inconclusive."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from perfgate_lib.errors import EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_PASS, UsageError

MAX_ATTEMPTS = 2
_BADGES = {"pass": "✅ pass", "warn": "⚠ warn", "inconclusive": "⚠ inconclusive", "fail": "❌ fail"}


def parse_max_gate(value: Any) -> str | int:
    """``"skip"`` or 1..3 from ``skip``/``1``/``"3"``/``max_gate=2``; UsageError otherwise."""
    text = str(value).strip().lower().removeprefix("max_gate=").strip().strip("\"'")
    if text == "skip":
        return "skip"
    if text in ("1", "2", "3"):
        return int(text)
    raise UsageError(f"max_gate must be skip, 1, 2 or 3, got {value!r}")


@dataclass(frozen=True)
class GateResult:
    """One finished gate attempt."""

    gate: int
    attempt: int
    verdict: str  # pass | warn | inconclusive | fail

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GateResult:
        return cls(int(data["gate"]), int(data["attempt"]), str(data["verdict"]))


@dataclass(frozen=True)
class Step:
    """What to do next: run (gate, attempt), or stop with a final verdict and exit code."""

    action: str  # "run" | "stop"
    gate: int | None = None
    attempt: int | None = None
    verdict: str | None = None  # final verdict when stopping ("skip" when waived)
    exit_code: int | None = None
    reason: str = ""


def _run(gate: int, attempt: int, reason: str) -> Step:
    return Step("run", gate=gate, attempt=attempt, reason=reason)


def _stop(verdict: str, exit_code: int, reason: str) -> Step:
    return Step("stop", verdict=verdict, exit_code=exit_code, reason=reason)


def plan_next(max_gate: str | int, history: Sequence[GateResult]) -> Step:
    """The next step of the ladder given what has run (pure)."""
    max_gate = parse_max_gate(max_gate)
    if isinstance(max_gate, str):  # "skip", the one word parse_max_gate returns
        return _stop("skip", EXIT_PASS, "gate waived (max_gate=skip): no ferry")
    if not history:
        return _run(1, 1, "Gate 1 always runs first")
    last = history[-1]
    said = f"Gate {last.gate} {last.verdict}"
    if last.verdict == "fail":
        return _stop("fail", EXIT_FAIL, f"Gate {last.gate} failed: not escalating")
    if last.verdict == "inconclusive" and last.attempt < MAX_ATTEMPTS:
        return _run(last.gate, last.attempt + 1, f"{said}: re-submitting once")
    if last.verdict == "inconclusive":
        return _stop("inconclusive", EXIT_INCONCLUSIVE, f"{said} twice: escalate to debug")
    if last.verdict not in ("pass", "warn"):
        raise UsageError(f"unknown verdict {last.verdict!r} for gate {last.gate}")
    if last.gate < max_gate:
        return _run(last.gate + 1, 1, f"{said}: escalating to Gate {last.gate + 1}")
    return _stop(last.verdict, EXIT_PASS, f"{said}: max_gate={max_gate} reached")


def ladder_notes(
    max_gate: str | int, history: Sequence[GateResult], tier_names: dict[int, str] | None = None
) -> list[str]:
    """Trusted markdown lines for the comment: the ladder so far and what happens next
    (``tier_names``: gate -> name, naming the next gate)."""
    notes = []
    if len(history) > 1:
        parts = []
        for r in history:
            tag = f"Gate {r.gate}" + (f" (attempt {r.attempt})" if r.attempt > 1 else "")
            parts.append(f"{tag} {_BADGES.get(r.verdict, r.verdict)}")
        notes.append("**Ladder:** " + " → ".join(parts))
    step = plan_next(max_gate, history)
    if step.action == "run" and step.attempt and step.attempt > 1:
        notes.append(
            f"**Next:** re-submitting the Gate {step.gate} treatment once (inconclusive is "
            "infra noise, not a verdict); this comment will be replaced."
        )
    elif step.action == "run":
        name = (tier_names or {}).get(step.gate or 0, "")
        notes.append(
            f"**Next:** escalating to Gate {step.gate}"
            + (f" ({name})" if name else "")
            + "; this comment will be replaced with its verdict."
        )
    elif step.verdict == "inconclusive":
        notes.append(
            "**Stopped:** two inconclusive runs in a row — **escalate to debug**; "
            "no further ferries were submitted."
        )
    elif step.verdict == "fail":
        notes.append("**Stopped:** a regression at this gate; larger gates were not run.")
    # a blank line first: the line above may be a blockquote (stale baseline)
    return ["\n" + note for note in notes]


@dataclass
class LadderOutcome:
    """Where the ladder stopped and everything that ran."""

    final: Step
    history: list[GateResult] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return int(self.final.exit_code if self.final.exit_code is not None else EXIT_PASS)

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.final.verdict,
            "exit_code": self.exit_code,
            "reason": self.final.reason,
            "history": [r.to_json() for r in self.history],
        }


def run_ladder(
    max_gate: str | int,
    execute: Callable[[int, int], str],
    history: Sequence[GateResult] = (),
    on_result: Callable[[GateResult], None] | None = None,
) -> LadderOutcome:
    """Drive the ladder: ``execute(gate, attempt)`` runs one attempt and returns its verdict;
    ``history`` resumes an interrupted ladder; ``on_result`` records each result."""
    done = list(history)
    while True:
        step = plan_next(max_gate, done)
        if step.action == "stop":
            return LadderOutcome(step, done)
        assert step.gate is not None and step.attempt is not None
        done.append(GateResult(step.gate, step.attempt, execute(step.gate, step.attempt)))
        if on_result:
            on_result(done[-1])
