"""The doctor's answer: one row per outside contract, each holding, broken or unchecked.

Pure data. A row is ``broken`` only when the doctor saw the contract fail (a verb missing
from a help text that lists verbs, a flag a script does not take, a Python outside the
range); when it could not look (no ``.venv``, a help text it does not recognise, a
subprocess that timed out) the row is ``unchecked``, never ``broken``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from perfgate_lib.errors import EXIT_COULD_NOT_RUN, EXIT_PASS

State = Literal["holds", "broken", "unchecked"]
HOLDS: State = "holds"
BROKEN: State = "broken"
UNCHECKED: State = "unchecked"
STATE_LABEL: dict[State, str] = {
    "holds": "holds",
    "broken": "BROKEN",
    "unchecked": "could not check",
}


@dataclass(frozen=True)
class Row:
    """One contract: ``contract`` names it ("iris job list"), ``reason`` says why the
    state is what it is, in one line a person can act on."""

    contract: str
    state: State
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"contract": self.contract, "state": self.state, "reason": self.reason}


def holds(contract: str, reason: str) -> Row:
    return Row(contract, HOLDS, reason)


def broken(contract: str, reason: str) -> Row:
    return Row(contract, BROKEN, reason)


def unchecked(contract: str, reason: str) -> Row:
    return Row(contract, UNCHECKED, reason)


@dataclass(frozen=True)
class Report:
    """Every row of one ``perfgate doctor`` run, in the order they were checked."""

    checkout: str
    gates: tuple[int, ...]
    rows: tuple[Row, ...]

    @property
    def broken(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.state == BROKEN)

    @property
    def exit_code(self) -> int:
        """0 when nothing is broken, 4 (could not run) otherwise."""
        return EXIT_COULD_NOT_RUN if self.broken else EXIT_PASS

    def summary(self) -> str:
        """One line: how many rows hold, are broken, could not be checked."""
        counts = {s: sum(r.state == s for r in self.rows) for s in (HOLDS, BROKEN, UNCHECKED)}
        return (
            f"{counts[HOLDS]} hold, {counts[BROKEN]} broken, "
            f"{counts[UNCHECKED]} could not be checked"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "checkout": self.checkout,
            "gates": list(self.gates),
            "exit_code": self.exit_code,
            "rows": [r.to_json() for r in self.rows],
        }
