"""The ladder planner (docs/verdict-rules.md), pure."""

from __future__ import annotations

import pytest

from perfgate_lib.errors import UsageError
from perfgate_lib.gate.ladder import GateResult, ladder_notes, parse_max_gate, plan_next, run_ladder

R = GateResult


@pytest.mark.parametrize(
    ("max_gate", "history", "expected"),
    [
        ("1", [], ("run", 1, 1)),
        ("3", [], ("run", 1, 1)),
        ("3", [R(1, 1, "pass")], ("run", 2, 1)),
        ("3", [R(1, 1, "warn")], ("run", 2, 1)),
        ("2", [R(1, 1, "pass"), R(2, 1, "pass")], ("stop", "pass", 0)),
        ("1", [R(1, 1, "warn")], ("stop", "warn", 0)),
        ("3", [R(1, 1, "fail")], ("stop", "fail", 1)),
        ("3", [R(1, 1, "pass"), R(2, 1, "fail")], ("stop", "fail", 1)),
        ("3", [R(1, 1, "inconclusive")], ("run", 1, 2)),
        ("3", [R(1, 1, "inconclusive"), R(1, 2, "pass")], ("run", 2, 1)),
        ("3", [R(1, 1, "inconclusive"), R(1, 2, "inconclusive")], ("stop", "inconclusive", 3)),
        ("3", [R(1, 1, "pass"), R(2, 1, "inconclusive"), R(2, 2, "fail")], ("stop", "fail", 1)),
        ("skip", [], ("stop", "skip", 0)),
    ],
)
def test_plan_next(max_gate, history, expected):
    step = plan_next(max_gate, history)
    if expected[0] == "run":
        assert (step.action, step.gate, step.attempt) == expected
    else:
        assert (step.action, step.verdict, step.exit_code) == expected


def test_second_inconclusive_says_escalate_to_debug():
    step = plan_next(3, [R(2, 1, "inconclusive"), R(2, 2, "inconclusive")])
    assert "escalate to debug" in step.reason
    notes = ladder_notes(3, [R(2, 1, "inconclusive"), R(2, 2, "inconclusive")])
    assert any("escalate to debug" in n for n in notes)


def test_notes_say_what_comes_next():
    names = {2: "long-tail stress"}
    assert "escalating to Gate 2 (long-tail stress)" in "".join(
        ladder_notes(3, [R(1, 1, "pass")], names)
    )
    assert "re-submitting the Gate 1 treatment once" in "".join(
        ladder_notes(3, [R(1, 1, "inconclusive")])
    )
    assert ladder_notes(1, [R(1, 1, "pass")]) == []


@pytest.mark.parametrize("value", ["skip", "1", 2, "max_gate=3", " 3 "])
def test_parse_max_gate(value):
    assert parse_max_gate(value) in ("skip", 1, 2, 3)


@pytest.mark.parametrize("value", ["4", "0", "all", "", None])
def test_parse_max_gate_rejects(value):
    with pytest.raises(UsageError, match="max_gate"):
        parse_max_gate(value)


def test_run_ladder_resumes_from_history_and_records_results():
    ran, recorded = [], []
    verdicts = {(2, 1): "inconclusive", (2, 2): "pass", (3, 1): "warn"}

    def execute(gate, attempt):
        ran.append((gate, attempt))
        return verdicts[(gate, attempt)]

    outcome = run_ladder("3", execute, [R(1, 1, "pass")], recorded.append)
    assert ran == [(2, 1), (2, 2), (3, 1)]
    assert [r.verdict for r in recorded] == ["inconclusive", "pass", "warn"]
    assert (outcome.final.verdict, outcome.exit_code) == ("warn", 0)
    assert outcome.to_json()["history"][0] == {"gate": 1, "attempt": 1, "verdict": "pass"}
