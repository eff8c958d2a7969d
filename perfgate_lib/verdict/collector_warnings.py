"""What each warning of marin's collector means for the verdict: one table, both lineages.

:data:`TABLE` holds the exact strings (checked against marin's script in 2026-12); their
meanings: ``docs/verdict-rules.md`` ("Usable reports"). Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from perfgate_lib.verdict.thresholds import COUNT_SIGNALS

UNUSABLE, UNREAD, MISSING_STEPS, NOTE = "unusable", "unread", "missing_steps", "note"


@dataclass(frozen=True)
class WarningRule:
    """One known collector warning: its exact shape and what it means for the verdict."""

    name: str
    pattern: re.Pattern[str]
    kind: str
    meaning: str
    signals: tuple[str, ...] = ()
    lineage: str | None = None  # the collector lineage that writes it, when only one does


def _rule(name, regex, kind, meaning, signals=(), lineage=None) -> WarningRule:
    return WarningRule(name, re.compile(regex), kind, meaning, tuple(signals), lineage)


# Order matters only where two patterns could both match; the first match wins.
TABLE: tuple[WarningRule, ...] = (
    _rule(
        "job tree unavailable",
        r"^iris job tree unavailable; stage_wall_seconds empty$",
        UNUSABLE,
        "the job tree could not be read, so no stage was timed",
        lineage="child-job",
    ),
    _rule(
        "job list failed",
        r"^iris job list\b.*\bfailed\b",
        UNUSABLE,
        "the job tree could not be read (counts and, in the child-job lineage, stage times)",
    ),
    _rule(
        "step log unavailable",
        r"^driver step log unavailable; stage_wall_seconds empty$",
        UNUSABLE,
        "the ferry driver's step log could not be read, so no stage was timed",
        lineage="step-log",
    ),
    _rule(
        "every step cached",
        r"^all expected steps cache-hit; pipeline may not have done any work$",
        UNUSABLE,
        "every expected step reads as a cache hit: nothing was timed",
        lineage="child-job",
    ),
    _rule(
        "no step ran",
        r"^no expected step ran; pipeline may not have done any work$",
        UNUSABLE,
        "no expected step has a step-log line that it ran: nothing was timed",
        lineage="step-log",
    ),
    _rule(
        "steps neither ran nor cached",
        r"^expected steps neither ran nor were cached: (?P<steps>\S.*)$",
        MISSING_STEPS,
        "the driver's step log has no line for these steps",
        lineage="step-log",
    ),
    _rule(
        "launcher summary failed",
        r"^iris client (job summary|Job description) failed; wall_seconds_total unavailable$",
        UNREAD,
        "the launcher's summary could not be read: no total wall time",
        signals=("wall_seconds_total",),
    ),
    _rule(
        "launcher duration missing",
        r"^wall_seconds_total: launcher duration_ms missing from iris summary$",
        UNREAD,
        "the launcher's duration is missing: no total wall time",
        signals=("wall_seconds_total",),
    ),
    _rule(
        "no leaf summaries",
        r"^no leaf summaries fetched; peak_worker_memory_mb/infra_failures reflect launcher only$",
        UNREAD,
        "memory and failure counts cover the launcher only, not the workers",
        signals=("peak_worker_memory_mb", *COUNT_SIGNALS),
    ),
    _rule(
        "task wall query failed",
        r"^iris query task_wall_ms: failed; sum_task_wall_seconds_total unset$",
        NOTE,
        "sum_task_wall_seconds_total is not a signal (the raw query needs the admin role)",
    ),
    _rule(
        "by-child query failed",
        r"^iris query by_child: failed; stage_sum_task_wall_seconds empty$",
        NOTE,
        "stage_sum_task_wall_seconds is not a signal (the raw query needs the admin role)",
        lineage="child-job",
    ),
    _rule(
        "status file unreadable",
        r"^ferry_status_path: not readable; status/marin_prefix unset$",
        NOTE,
        "the ferry's status is unknown (the self-check says so)",
    ),
    _rule(
        "preempted tasks",
        r"^task_state_counts\.preempted > 0: stage durations may be split across attempts$",
        NOTE,
        "preempted tasks are judged by the preemption rules",
    ),
    _rule(
        "perfgate synthesized",
        r"^perfgate: no usable report from the collector\b",
        UNUSABLE,
        "the collector gave no report; perfgate wrote this one to record the failed job",
    ),
)

# A warning the table does not know, worded like a failure (the old, loose reading).
_FAILURE_WORDS = re.compile(
    r"\b(fail(s|ed|ure)?|error|exit(ed|s)?|timed? ?out|unavailable|unreachable|"
    r"could not|cannot|unable|refused)\b",
    re.IGNORECASE,
)
UNKNOWN_FAILURE = WarningRule(
    "unknown failure",
    _FAILURE_WORDS,
    UNUSABLE,
    "a warning the kit does not know says something failed; which field it affects is unknown",
)
UNKNOWN_NOTE = WarningRule("unknown note", re.compile(""), NOTE, "a warning the kit does not know")


@dataclass(frozen=True)
class Reading:
    """One warning as the verdict reads it; ``steps``: those a ``missing_steps`` one names."""

    warning: str
    rule: WarningRule
    steps: tuple[str, ...] = ()  # for ``missing_steps``: the steps the warning names

    @property
    def kind(self) -> str:
        return self.rule.kind


def classify(warning: str) -> Reading:
    """The table row a warning matches, else the unknown-failure or unknown-note row."""
    text = str(warning).strip()
    for rule in TABLE:
        match = rule.pattern.search(text)
        if match:
            steps: tuple[str, ...] = ()
            if rule.kind == MISSING_STEPS:
                steps = tuple(s.strip() for s in match["steps"].split(",") if s.strip())
            return Reading(text, rule, steps)
    return Reading(text, UNKNOWN_FAILURE if _FAILURE_WORDS.search(text) else UNKNOWN_NOTE)


@dataclass(frozen=True)
class WarningSummary:
    """A report's warnings sorted by what they mean for the verdict."""

    unusable: list[Reading] = field(default_factory=list)
    unread: dict[str, list[Reading]] = field(default_factory=dict)  # signal -> warnings
    missing_steps: tuple[str, ...] = ()
    notes: list[Reading] = field(default_factory=list)  # unread and note readings, in order


def summarize(warnings: tuple[str, ...] | list[str]) -> WarningSummary:
    """Classify every warning of one report."""
    out = WarningSummary()
    missing: list[str] = []
    for warning in warnings:
        reading = classify(warning)
        if reading.kind == UNUSABLE:
            out.unusable.append(reading)
        elif reading.kind == MISSING_STEPS:
            missing += [s for s in reading.steps if s not in missing]
        else:
            out.notes.append(reading)
            for signal in reading.rule.signals:
                out.unread.setdefault(signal, []).append(reading)
    return WarningSummary(out.unusable, out.unread, tuple(missing), out.notes)
