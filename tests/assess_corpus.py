"""The labeled assessment corpus (``tests/assess_corpus.yaml``) and its score.

Each label is one file changed between two consecutive published ``marin-zephyr``
releases, with the hand-given answers to the skill's five questions and ``max_gate``.
:func:`score_corpus` rebuilds the releases as a git history, assesses every release pair
with ``perfgate assess``'s code path and compares each file's ``max_gate`` with its label.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from perfgate_lib.assess.assessment import FileAssessment, assess_source, decide_max_gate
from perfgate_lib.assess.diffsource import LocalGitDiffSource
from tests.marin_layout import ZSRC
from tests.zephyr_releases import release_repo

CORPUS = Path(__file__).resolve().parent / "assess_corpus.yaml"
GATE_ORDER = {"skip": 0, "1": 1, "3": 3}


@dataclass(frozen=True)
class Label:
    """The hand label of one changed file."""

    base: str
    head: str
    file: str
    yes: tuple[str, ...]
    max_gate: str
    why: str

    @property
    def path(self) -> str:
        return f"{ZSRC}/{self.file}"


@dataclass(frozen=True)
class Outcome:
    """One label against the kit's answer for the same file."""

    label: Label
    got: str
    answers: tuple[str, ...]

    @property
    def agrees(self) -> bool:
        return self.got == self.label.max_gate

    @property
    def false_skip(self) -> bool:
        return self.got == "skip" and self.label.max_gate != "skip"


@dataclass
class Score:
    """Agreement figures over the corpus."""

    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.outcomes)

    @property
    def agreement(self) -> float:
        return 100.0 * sum(o.agrees for o in self.outcomes) / max(1, self.total)

    @property
    def false_skips(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.false_skip]

    @property
    def over_gated(self) -> list[Outcome]:
        return [o for o in self.outcomes if GATE_ORDER[o.got] > GATE_ORDER[o.label.max_gate]]

    @property
    def under_gated(self) -> list[Outcome]:
        return [o for o in self.outcomes if GATE_ORDER[o.got] < GATE_ORDER[o.label.max_gate]]


def load_labels(path: Path = CORPUS) -> list[Label]:
    """The corpus labels, in file order."""
    rows = yaml.safe_load(path.read_text())
    return [
        Label(
            str(r["base"]),
            str(r["head"]),
            str(r["file"]),
            tuple(r["yes_to"]),
            str(r["max_gate"]),
            str(r["why"]),
        )
        for r in rows
    ]


def file_gate(f: FileAssessment) -> str:
    """The ``max_gate`` one file alone would propose."""
    return decide_max_gate([f])


def score_corpus(root: Path, labels: Iterable[Label] | None = None) -> Score:
    """Assess every release pair of the labels in a release repository built at ``root``."""
    labels = list(labels if labels is not None else load_labels())
    repo = release_repo(root)
    score = Score()
    pairs = sorted(
        {(lb.base, lb.head) for lb in labels},
        key=lambda p: labels.index(next(lb for lb in labels if (lb.base, lb.head) == p)),
    )
    for base, head in pairs:
        a = assess_source(LocalGitDiffSource(repo.root, base, head))
        for lb in (x for x in labels if (x.base, x.head) == (base, head)):
            f = a.per_file[lb.path]
            yes = tuple(q for q, v in f.answers().items() if v)
            score.outcomes.append(Outcome(lb, file_gate(f), yes))
    return score
