"""Which collector lineage wrote a perf report, and the steps a step-log report is missing.

Read from the report alone (pure); the lineages and their marks: ``docs/verdict-rules.md``
("Collector lineages", "Steps that did not finish")."""

from __future__ import annotations

import re
from dataclasses import dataclass

from perfgate_lib.verdict.collector_warnings import classify
from perfgate_lib.verdict.report import PerfReport


@dataclass(frozen=True)
class Lineage:
    """A collector lineage: what its stage times measure and which steps it expects."""

    name: str
    measures: str
    expected_steps: tuple[str, ...]
    markers: frozenset[str] = frozenset()  # stage names only this lineage writes
    pattern: re.Pattern[str] | None = None  # or: the shape of every stage name it writes

    def marks(self, stage: str) -> bool:
        return bool(self.pattern.match(stage)) if self.pattern else stage in self.markers


# the step-log lineage's steps that no other lineage writes, in its order
_STEP_LOG_ONLY = ("embed", "quality", "decontam", "dedup", "verify_fuzzy_clusters", "store")
CHILD_JOB = Lineage(
    "child-job",
    "the wall time of the ferry's zephyr-<step> child jobs",
    ("normalize", "minhash", "fuzzy_dups", "consolidate", "tokenize"),
    frozenset({"fuzzy_dups", "consolidate"}),
)
STEP_LOG = Lineage(
    "step-log",
    "the ferry driver's step log (StepRunner 'Step ... succeeded in' lines)",
    ("normalize", "tokenize", *_STEP_LOG_ONLY[:3], "minhash", *_STEP_LOG_ONLY[3:]),
    frozenset(_STEP_LOG_ONLY),
)
ZEPHYR_STAGE = Lineage(
    "zephyr-stage",
    "Zephyr's own stage timers (stage0-..., stage1-...)",
    (),
    pattern=re.compile(r"^stage\d+-"),
)
LINEAGES: tuple[Lineage, ...] = (CHILD_JOB, STEP_LOG, ZEPHYR_STAGE)
_BY_NAME = {lineage.name: lineage for lineage in LINEAGES}


@dataclass(frozen=True)
class Detection:
    """The lineage of one report (None when unknown) and what gave it away."""

    lineage: Lineage | None
    evidence: str

    @property
    def name(self) -> str:
        return self.lineage.name if self.lineage else "unknown"


def _names(report: PerfReport) -> list[str]:
    names = [*report.stage_wall_seconds, *report.cached_steps]
    sums = report.raw.get("stage_sum_task_wall_seconds")
    if isinstance(sums, dict):
        names += [str(k) for k in sums]
    for warning in report.warnings:
        names += list(classify(warning).steps)
    return names


def detect(report: PerfReport) -> Detection:
    """The collector lineage that wrote ``report``, from its names, warnings and fields."""
    found: dict[str, list[str]] = {}
    for name in _names(report):
        for lineage in LINEAGES:
            if lineage.marks(name) and name not in found.setdefault(lineage.name, []):
                found[lineage.name].append(name)
    for warning in report.warnings:
        hint = classify(warning).rule.lineage
        if hint:
            found.setdefault(hint, []).append(f"its warning {warning!r}")
    found = {name: marks for name, marks in found.items() if marks}
    if len(found) > 1:
        return Detection(None, "conflicting marks: " + "; ".join(_says(found)))
    if found:
        ((name, marks),) = found.items()
        return Detection(_BY_NAME[name], _says({name: marks})[0])
    if "stage_sum_task_wall_seconds" in report.raw:
        return Detection(CHILD_JOB, "child-job: it carries stage_sum_task_wall_seconds")
    return Detection(None, "no stage name or warning only one lineage writes")


def _says(found: dict[str, list[str]]) -> list[str]:
    return [f"{name}: {', '.join(marks[:4])}" for name, marks in found.items()]


def missing_steps(report: PerfReport, detection: Detection | None = None) -> dict[str, str]:
    """Steps of a step-log report that neither ran nor were cached (stage -> note), from the
    collector's warning or an expected step missing from the report; ``{}`` for other lineages."""
    detection = detection or detect(report)
    if detection.lineage is not STEP_LOG:
        return {}
    said = [step for warning in report.warnings for step in classify(warning).steps]
    note = "no line in the driver's step log (the collector: neither ran nor cached)"
    out = dict.fromkeys(said, note)
    if not report.stage_wall_seconds:
        return out  # an empty report is unusable; its every step need not be named
    seen = set(report.stage_wall_seconds) | set(report.cached_steps)
    for step in STEP_LOG.expected_steps:
        if step not in seen:
            out.setdefault(step, "no line in the driver's step log (not in the report)")
    return out
