"""What gate 0 (the local A/B) ran, as facts for its comment's notes: never markdown.

It travels in ``compare_context.json`` (``comment.ab``); ``templates/_ab_notes.md.j2``
escapes every string (the sides run the PR's code)."""

from __future__ import annotations

from dataclasses import dataclass, field

from perfgate_lib.typed import Number, Whole


@dataclass(frozen=True)
class SideFacts:
    """One side's environment, as its process reported it."""

    side: str  # control | treatment
    mode: str = "?"  # uv (the worktree's own project) | kit (this kit's venv)
    digest: str = ""  # the environment's dependency digest
    python: str = "?"  # the interpreter's version
    executable: str = "?"  # the interpreter's path
    zephyr: str = "?"  # marin-zephyr's version
    fray: str = "?"  # marin-fray's version
    iris: str = "?"  # marin-iris's version


@dataclass(frozen=True)
class ABFacts:
    """Gate 0's run: what was compared, how it was judged, what it could not see."""

    control_sha: str  # the merge-base
    treatment_sha: str  # the PR head
    pairs: Whole  # pairs measured
    stop_reason: str  # why it stopped adding pairs
    metric: str  # the decision metric: instructions | cpu | wall
    confidence: Number  # two-sided, e.g. 0.95
    total_interval: str = ""  # the whole pipeline's paired interval, e.g. ``instructions ×1.32 …``
    sides: list[SideFacts] = field(default_factory=list)
    resolution_pct: Number | None = None  # set while a stage is undecided: ± % reached
    dependency_changes: list[str] = field(default_factory=list)  # from the PR's pyproject
    missing_sources: list[str] = field(default_factory=list)  # sides without lib/zephyr/src
    limitations: list[str] = field(default_factory=list)  # what the mini ferry cannot see
