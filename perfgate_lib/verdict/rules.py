"""The verdict engine: a pure function of (baseline, treatment, context, thresholds); no I/O.

Every rule, its precedence (``decided_by``) and where it lives: ``docs/verdict-rules.md``.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, fields
from fractions import Fraction
from typing import Any

from perfgate_lib.errors import UsageError, usage_at
from perfgate_lib.mdtext import fmt_pct
from perfgate_lib.timeutil import parse_time
from perfgate_lib.typed import FORBID_EXTRA, read_model
from perfgate_lib.verdict import lineage as lineages
from perfgate_lib.verdict.collector_warnings import WarningSummary, summarize
from perfgate_lib.verdict.paired import StageInterval
from perfgate_lib.verdict.report import PerfReport, collector_problems
from perfgate_lib.verdict.thresholds import Band, Thresholds

SCHEMA = 1

# Tier map: gate -> ferry module (docs/contracts.md). Reports of the current era carry no
# ferry_module, so the baseline's comes from here.
TIER_FERRY_MODULES = {
    1: "experiments.ferries.datakit_ferry",
    2: "experiments.ferries.datakit_tier2_skewed_ferry",
    3: "experiments.ferries.datakit_nemotron_ferry",
}

_FAILED_JOB_STATES = {"failed", "killed", "worker_failed", "unschedulable"}


@dataclass(frozen=True)
class GateContext:
    """What the caller knows beyond the two reports (:meth:`from_dict` reads it from JSON);
    ``within_noise``, ``intervals``, ``treatment_unfinished_steps``: ``docs/verdict-rules.md``."""

    gate: int = 1
    treatment_ferry_module: str | None = None
    baseline_ferry_module: str | None = None
    treatment_job_state: str | None = None
    contention: bool = False
    contention_reason: str = ""
    baseline_cluster_generation: str | None = None
    treatment_cluster_generation: str | None = None
    # provenance: source, run_id, run_url, sha, created_at, age_hours
    baseline: dict[str, Any] = field(default_factory=dict)
    # ISO-8601 UTC; gives the age from created_at (else the report's collected_at_utc)
    # when age_hours is absent
    now: str | None = None
    # signal or stage -> note: a delta inside the run-to-run noise; fail becomes warn
    within_noise: dict[str, str] = field(default_factory=dict)
    # gate 0: stage or wall_seconds_total -> its paired interval (the row's call and pct)
    intervals: dict[str, StageInterval] = field(default_factory=dict)
    # stage -> note for steps whose child jobs did not succeed
    treatment_unfinished_steps: dict[str, str] = field(default_factory=dict)
    # job_state, queue_wait_seconds, job_error, attempt: copied to verdict.json, not judged
    treatment_job: dict[str, Any] = field(default_factory=dict)

    __pydantic_config__ = FORBID_EXTRA

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, source: str = "context") -> GateContext:
        """Build from JSON-like data (pydantic); a bad or unknown key is a UsageError naming
        the key: ``ctx.json: intervals.fuzzy_dups.call: input should be ...``."""
        ctx = read_model(cls, dict(data or {}), lambda key, problem: usage_at(source, key, problem))
        if ctx.gate not in (1, 2, 3):
            raise UsageError(f"{source}: gate: must be 1, 2 or 3, got {ctx.gate!r}")
        age = ctx.baseline.get("age_hours")
        if age is not None and not _is_hours(age):
            problem = f"expected hours (a finite number, not negative), got {age!r}"
            raise usage_at(source, "baseline.age_hours", problem)
        return ctx


def _is_hours(value: Any) -> bool:
    """A number of hours: not a bool, not negative, finite (NaN compares false)."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and 0 <= value <= sys.float_info.max


@dataclass
class SignalRow:
    """One whole-run signal. Values in the signal's unit (seconds, MB or a count)."""

    signal: str
    baseline: float | None
    treatment: float | None
    delta_pct: float | None
    verdict: str  # pass | warn | fail | undecided | n/a
    note: str = ""


@dataclass
class StageRow:
    """One stage; seconds."""

    stage: str
    baseline_s: float | None
    treatment_s: float | None
    delta_pct: float | None
    verdict: str  # pass | warn | fail | undecided | cached | not_finished | not_comparable | n/a
    note: str = ""


@dataclass
class Verdict:
    """The outcome of one gate comparison; ``to_json`` gives verdict.json."""

    gate: int
    verdict: str
    hard_fails: list[str]
    warns: list[str]
    inconclusive_reasons: list[str]
    signals: list[SignalRow]
    stages: list[StageRow]
    self_check: list[str]
    baseline: dict[str, Any]
    treatment: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    contention: str | None = None
    collector_notes: list[str] = field(default_factory=list)
    decided_by: str = ""
    lineages: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """verdict.json: ``schema``, then every field in order (rows as objects)."""
        return {"schema": SCHEMA, **asdict(self)}


def delta_fraction(baseline: float | None, treatment: float | None) -> float | None:
    """(treatment - baseline) / baseline, or None when either is missing or baseline is 0."""
    if baseline is None or treatment is None or baseline == 0:
        return None
    return (treatment - baseline) / baseline


def band_verdict(delta: float, band: Band) -> str:
    """Band for a delta fraction; each band includes its upper bound."""
    if delta <= band.pass_pct / 100:
        return "pass"
    if delta <= band.warn_pct / 100:
        return "warn"
    return "fail"


def _pct(delta: float | None) -> float | None:
    return None if delta is None else round(delta * 100, 4)


def _na_reason(baseline: float | None, treatment: float | None, what: str) -> str:
    if baseline is None and treatment is None:
        return f"{what} missing in both reports"
    if baseline is None:
        return f"{what} missing in the baseline"
    if treatment is None:
        return f"{what} missing in the treatment"
    return f"baseline {what} is 0"


def _judged(
    b: float | None, t: float | None, band: Band, what: str
) -> tuple[float | None, str, str]:
    """(delta_pct, verdict, note) of two figures under ``band``; ``n/a`` saying what is missing."""
    delta = delta_fraction(b, t)
    if delta is None:
        return None, "n/a", _na_reason(b, t, what)
    return _pct(delta), band_verdict(delta, band), ""


def _band_row(name: str, b: float | None, t: float | None, band: Band, unit: str) -> SignalRow:
    return SignalRow(name, b, t, *_judged(b, t, band, unit))


def _stage_rows(
    base: PerfReport,
    treat: PerfReport,
    band: Band,
    unfinished: dict[str, str],
    two_lineages: str | None = None,
) -> list[StageRow]:
    """One row per stage of either report (report order). ``two_lineages``: the note for
    stages both reports name but measure differently (never compared)."""
    cached = set(base.cached_steps) | set(treat.cached_steps)
    names = list(base.stage_wall_seconds)
    names += [s for s in treat.stage_wall_seconds if s not in base.stage_wall_seconds]
    names += [s for s in unfinished if s not in names]
    reports = (("baseline", base), ("treatment", treat))
    rows = []
    for stage in names:
        b = base.stage_wall_seconds.get(stage)
        t = treat.stage_wall_seconds.get(stage)
        in_b, in_t = stage in base.stage_wall_seconds, stage in treat.stage_wall_seconds
        if stage in unfinished:
            listed = " (listed as cached)" if stage in treat.cached_steps else ""
            note = f"did not finish in the treatment{listed}: {unfinished[stage]}"
            rows.append(StageRow(stage, b, t, None, "not_finished", note))
        elif stage in cached:
            sides = " and ".join(side for side, r in reports if stage in r.cached_steps)
            rows.append(StageRow(stage, b, t, None, "cached", f"cache hit in {sides}"))
        elif not (in_b and in_t):
            side = "baseline" if in_b else "treatment"
            rows.append(StageRow(stage, b, t, None, "not_comparable", f"only in the {side}"))
        elif two_lineages:
            rows.append(StageRow(stage, b, t, None, "not_comparable", two_lineages))
        else:
            rows.append(StageRow(stage, b, t, *_judged(b, t, band, "stage time")))
    return rows


def _downgrade_within_noise(rows: list[SignalRow | StageRow], within: dict[str, str]) -> None:
    """Fail-band rows whose delta the caller measured inside the noise become warn."""
    for row in rows:
        note = within.get(_row_name(row))
        if row.verdict == "fail" and note is not None:
            row.verdict = "warn"
            row.note = note if note.startswith("within noise") else f"within noise ({note})"


def _apply_intervals(rows: list[SignalRow | StageRow], intervals: dict[str, StageInterval]) -> None:
    """Rows compared on both sides take the paired interval's call and estimate."""
    for row in rows:
        item = intervals.get(_row_name(row))
        if item is None or row.verdict not in ("pass", "warn", "fail"):
            continue
        row.delta_pct = round(item.pct, 2)
        row.verdict = item.call
        row.note = f"paired {item.metric_words}: {item.text}".strip()
        if item.shows_no_change:
            row.note = f"within noise (no change shown); {row.note}"


def _interval_text(name: str, item: StageInterval) -> str:
    """``+32.0% [+27.1%, +39.3%], 8 pairs of cpu time`` for a reason line."""
    high = item.high_pct
    span = f"[{fmt_pct(item.low_pct)}, {fmt_pct(high) if high != float('inf') else '∞'}]"
    return f"{name}: {fmt_pct(item.pct)} {span}, {item.pairs} pairs of {item.metric_words}"


def _not_compared(rows: list[SignalRow | StageRow], note: str) -> None:
    """Rows of a comparison that must not be made: ``n/a`` with ``note``."""
    for row in rows:
        row.delta_pct, row.verdict, row.note = None, "n/a", note


def _count_signal(name: str, base: PerfReport, treat: PerfReport) -> SignalRow:
    if name == "failed_shards":
        b, t = base.failed_shards, treat.failed_shards
        if b is None or t is None:
            return SignalRow(name, b, t, None, "n/a", _na_reason(b, t, "failed_shards"))
    else:
        bucket = name.split(".", 1)[1]
        b, t = base.infra_count(bucket), treat.infra_count(bucket)
    return SignalRow(name, b, t, None, "fail" if t > b else "pass")


def baseline_provenance(
    base: PerfReport, context: GateContext, thresholds: Thresholds
) -> dict[str, Any]:
    """Baseline provenance with ``age_hours`` and ``stale`` filled in where knowable."""
    prov: dict[str, Any] = {
        "source": "file",
        "run_id": base.workflow_run_id,
        "sha": base.commit_sha,
        **context.baseline,
    }
    age = prov.get("age_hours")
    if age is None:
        created = parse_time(prov.get("created_at")) or parse_time(base.collected_at_utc)
        now = parse_time(context.now)
        if created and now:  # a creation after now (clock skew) is 0 hours old
            age = round(max(0.0, (now - created).total_seconds() / 3600), 2)
    prov["age_hours"] = age
    limit = thresholds.max_age_hours(context.gate)
    prov["max_age_hours"] = limit
    prov["stale"] = bool(age is not None and limit is not None and age > limit)
    return prov


def _diverges(baseline_total: int, treatment_total: int, limit_pct: float) -> bool:
    """Task totals (counts) differ by more than ``limit_pct`` percent of the baseline's;
    exact, so totals past the largest float compare too."""
    change_pct = Fraction(abs(treatment_total - baseline_total) * 100, baseline_total)
    return change_pct > Fraction(limit_pct)


def _self_check(
    base: PerfReport, treat: PerfReport, context: GateContext, thresholds: Thresholds
) -> tuple[list[str], list[str]]:
    """(mis-wiring problems that decide the verdict, flags that only inform)."""
    miswired, flags = [], []
    t_mod = context.treatment_ferry_module or treat.ferry_module
    b_mod = (
        context.baseline_ferry_module or base.ferry_module or TIER_FERRY_MODULES.get(context.gate)
    )
    if t_mod and b_mod and t_mod != b_mod:
        miswired.append(f"ferry_module differs: baseline {b_mod}, treatment {t_mod}")
    if base.iris_job_id and base.iris_job_id == treat.iris_job_id:
        miswired.append(f"both reports have iris_job_id {base.iris_job_id}: a run against itself")
    bt, tt = base.task_total, treat.task_total
    if bt and tt and _diverges(bt, tt, thresholds.task_total_divergence_pct):
        flags.append(
            f"task totals differ: baseline {bt}, treatment {tt} "
            f"(> {thresholds.task_total_divergence_pct:g}%): one side may have done less work"
        )
    if not t_mod:
        flags.append("treatment ferry_module unknown: could not check the wiring")
    if treat.status is None and context.treatment_job_state is None:
        flags.append("treatment status unknown (no status in the report)")
    if base.status not in (None, "succeeded"):
        flags.append(f"baseline status is {base.status!r}, not 'succeeded'")
    return miswired, flags


def _inconclusive_evidence(
    base: PerfReport, treat: PerfReport, context: GateContext, thresholds: Thresholds
) -> list[str]:
    reasons = []
    bp, tp = base.preemption_count or 0, treat.preemption_count or 0
    margin = thresholds.preemption_margin
    if tp > bp + margin or (bp == 0 and tp > 0):
        reasons.append(f"preemptions: treatment {tp} vs baseline {bp}")
    preempted = treat.task_state_counts.get("preempted", 0)
    if preempted > thresholds.preempted_tasks_max:
        reasons.append(f"treatment had {preempted} preempted task(s)")
    faults = treat.infra_count("hardware_fault")
    if faults > thresholds.hardware_faults_max:
        reasons.append(f"treatment hit {faults} hardware fault(s) (bad-node retries)")
    b_gen = context.baseline_cluster_generation or base.cluster_generation
    t_gen = context.treatment_cluster_generation or treat.cluster_generation
    if b_gen and t_gen and b_gen != t_gen:
        reasons.append(f"different cluster generations: baseline {b_gen}, treatment {t_gen}")
    state = (context.treatment_job_state or "").lower().removeprefix("job_state_")
    if treat.status not in (None, "succeeded"):
        reasons.append(f"treatment ferry did not succeed (status {treat.status!r})")
    elif state in _FAILED_JOB_STATES:
        reasons.append(f"treatment job ended {state}")
    return reasons


_COMPARED = ("pass", "warn", "fail", "undecided")  # row verdicts that compared two values


def _row_name(row: SignalRow | StageRow) -> str:
    """The name a row goes by in ``within_noise`` and ``intervals``: its signal or stage."""
    return row.signal if isinstance(row, SignalRow) else row.stage


def _row_key(row: SignalRow | StageRow) -> tuple[str, str]:
    """A row's identity within one verdict: its kind and name (names are unique per kind)."""
    return ("signal", row.signal) if isinstance(row, SignalRow) else ("stage", row.stage)


def _row_label(row: SignalRow | StageRow) -> str:
    """How a reason line names a row: ``wall_seconds_total`` or ``stage minhash``."""
    return row.signal if isinstance(row, SignalRow) else f"stage {row.stage}"


def _row_band(row: SignalRow | StageRow, bands: dict[str, Band]) -> Band:
    """The band a row is judged by: its signal's, or the one band of every stage."""
    return bands[row.signal] if isinstance(row, SignalRow) else bands["stage_wall_seconds"]


@dataclass
class _Claims:
    """What the rows claim, as reason lines in row order."""

    hard_fails: list[str] = field(default_factory=list)  # count-based
    band_fails: list[str] = field(default_factory=list)  # time or memory fail band
    warns: list[str] = field(default_factory=list)
    undecided: list[str] = field(default_factory=list)  # paired intervals (gate 0)

    def extend(self, other: _Claims) -> None:
        for kind in fields(self):
            getattr(self, kind.name).extend(getattr(other, kind.name))


def _signal_rows(
    base: PerfReport, treat: PerfReport, thresholds: Thresholds, said: dict[str, WarningSummary]
) -> list[SignalRow]:
    """Whole-run rows: wall time (s), peak memory (MB), then the hard-fail counts."""
    wall, memory = "wall_seconds_total", "peak_worker_memory_mb"
    b_wall, t_wall = base.wall_seconds_total, treat.wall_seconds_total
    b_mem, t_mem = base.peak_memory_mb, treat.peak_memory_mb
    signals = [
        _band_row(wall, b_wall, t_wall, thresholds.bands[wall], "wall time"),
        _band_row(memory, b_mem, t_mem, thresholds.bands[memory], "peak memory (0 = unknown)"),
    ]
    signals += [_count_signal(name, base, treat) for name in thresholds.hard_fail_counts]
    _not_read(signals, said)
    return signals


def _interval_claims(
    rows: list[SignalRow | StageRow], intervals: dict[str, StageInterval], bands: dict[str, Band]
) -> _Claims:
    """Rows with a paired interval (gate 0): where the interval lies against the band."""
    claims = _Claims()
    for row in rows:
        item = intervals.get(_row_name(row))
        if item is None or row.verdict not in _COMPARED:
            continue
        band = _row_band(row, bands)
        text = _interval_text(_row_label(row), item)
        if row.verdict == "fail":
            claims.band_fails.append(f"{text} (wholly above +{band.warn_pct:g}%)")
        elif row.verdict == "warn":
            claims.warns.append(f"{text} (wholly in +{band.pass_pct:g}% to +{band.warn_pct:g}%)")
        elif row.verdict == "undecided" and item.high_pct > band.warn_pct:
            claims.undecided.append(f"{text}: undecided, may exceed +{band.warn_pct:g}%")
        elif row.verdict == "undecided":
            claims.undecided.append(
                f"{text}: undecided between pass and warn (+{band.pass_pct:g}% edge), "
                f"cannot exceed +{band.warn_pct:g}%"
            )
    return claims


def _band_claims(
    rows: list[SignalRow | StageRow], paired: set[tuple[str, str]], bands: dict[str, Band]
) -> _Claims:
    """Rows their band or count decided (not those a paired interval decided)."""
    claims = _Claims()
    for row in rows:
        if _row_key(row) in paired or row.verdict not in ("fail", "warn"):
            continue
        label = _row_label(row)
        if isinstance(row, SignalRow) and row.verdict == "fail" and row.delta_pct is None:
            claims.hard_fails.append(
                f"{label}: {row.baseline:g} -> {row.treatment:g} (treatment > baseline)"
            )
            continue
        band, delta = _row_band(row, bands), fmt_pct(row.delta_pct)
        if row.verdict == "fail":
            claims.band_fails.append(f"{label}: {delta} (> +{band.warn_pct:g}%)")
        elif row.note.startswith("within noise"):
            claims.warns.append(f"{label}: {delta} (> +{band.warn_pct:g}%) but {row.note}")
        else:
            claims.warns.append(f"{label}: {delta} (+{band.pass_pct:g}% to +{band.warn_pct:g}%)")
    return claims


def _nothing_comparable(timing_rows: list[SignalRow | StageRow]) -> list[str]:
    """Evidence 7 (kit): not a single timing signal (wall time or a stage) was compared."""
    if any(r.verdict in _COMPARED for r in timing_rows):
        return []
    return ["nothing comparable: no wall time or stage time on both sides"]


def _unusable_reasons(base: PerfReport, treat: PerfReport) -> list[str]:
    """Why a report is unusable (its collector's problems), treatment first."""
    return [
        f"{side} report unusable: {problem}"
        for side, report in (("treatment", treat), ("baseline", base))
        for problem in collector_problems(report)
    ]


def _row_notes(signals: list[SignalRow], stages: list[StageRow]) -> list[str]:
    """Rows that count for nothing or carry a note, and why."""
    notes = [f"{r.signal}: n/a ({r.note})" for r in signals if r.verdict == "n/a"]
    notes += [f"stage {r.stage}: {r.verdict} ({r.note})" for r in stages if r.note]
    return notes


def _contended(contention: str | None, claims: _Claims) -> list[str]:
    """Rule 5: contention makes a warn (with no fail band) inconclusive."""
    if contention and claims.warns and not claims.band_fails:
        return [f"contention: {contention}; warn-band deltas are within cluster noise"]
    return []


@dataclass(frozen=True)
class _Call:
    """The final call: verdict, the rule that won, and what is listed beside it."""

    verdict: str
    decided_by: str
    reasons: list[str]  # inconclusive_reasons
    fails: list[str]  # hard_fails: count-based, then bands
    warns: list[str]


def _final_call(
    miswired: list[str],
    claims: _Claims,
    unusable: list[str],
    evidence: list[str],
    contended: list[str],
) -> _Call:
    """The first rule of the precedence (docs/verdict-rules.md) that fired decides; every
    other rule that fired is listed (a mis-wired one claims nothing)."""
    precedence = (
        (miswired, "inconclusive", "1 self-check: the comparison is mis-wired"),
        (claims.hard_fails, "fail", "2 count-based hard fail"),
        (unusable, "inconclusive", "3 unusable report"),
        (evidence, "inconclusive", "3 inconclusive evidence"),
        (claims.band_fails, "fail", "4 time or memory fail band"),
        (claims.undecided, "inconclusive", "paired interval undecided"),
        (contended, "inconclusive", "5 contention and a warn"),
        (claims.warns, "warn", "6 warn band"),
    )
    fired = ((call, rule) for found, call, rule in precedence if found)
    verdict, decided_by = next(fired, ("pass", "7 pass"))
    if miswired:
        return _Call(verdict, decided_by, [f"self-check: {m}" for m in miswired], [], [])
    reasons = [*unusable, *evidence, *claims.undecided, *contended]
    warns = claims.warns
    if claims.undecided and verdict == "fail":
        warns = warns + claims.undecided  # shown, never dropped, though a fail already decides
        reasons = [r for r in reasons if r not in claims.undecided]
    return _Call(verdict, decided_by, reasons, claims.hard_fails + claims.band_fails, warns)


def decide(
    baseline: PerfReport,
    treatment: PerfReport,
    thresholds: Thresholds,
    context: GateContext | None = None,
) -> Verdict:
    """Compare two reports under docs/verdict-rules.md and return the verdict (pure)."""
    context = context or GateContext()
    said = {"baseline": summarize(baseline.warnings), "treatment": summarize(treatment.warnings)}
    signals = _signal_rows(baseline, treatment, thresholds, said)
    found = {"baseline": lineages.detect(baseline), "treatment": lineages.detect(treatment)}
    mixed = _mixed_lineages(found)
    # treatment steps that did not finish (stage -> note): from the report and the job tree
    unfinished = {
        **lineages.missing_steps(treatment, found["treatment"]),
        **context.treatment_unfinished_steps,
    }
    band = thresholds.bands["stage_wall_seconds"]
    stages = _stage_rows(
        baseline, treatment, band, unfinished, f"not compared: {mixed}" if mixed else None
    )
    timing_rows: list[SignalRow | StageRow] = [signals[0], *stages]
    all_rows: list[SignalRow | StageRow] = [*signals, *stages]

    _downgrade_within_noise([*signals[:2], *stages], context.within_noise)
    _apply_intervals(timing_rows, context.intervals)
    # the rows a paired interval decided, by kind and name: their band claims nothing
    paired = {_row_key(r) for r in timing_rows if _row_name(r) in context.intervals}
    claims = _interval_claims(all_rows, context.intervals, thresholds.bands)
    claims.extend(_band_claims(all_rows, paired, thresholds.bands))

    miswired, flags = _self_check(baseline, treatment, context, thresholds)
    evidence = _inconclusive_evidence(baseline, treatment, context, thresholds)
    evidence += _same_work_evidence(stages, mixed) + _nothing_comparable(timing_rows)
    unusable = _unusable_reasons(baseline, treatment)
    notes = _row_notes(signals, stages)  # before an unusable report's rows are blanked
    if unusable and not miswired:  # an unusable report's time and memory are never compared
        claims.band_fails, claims.warns = [], []
        _not_compared([signals[0], signals[1], *stages], "not compared: a report is unusable")
    contention = (
        (context.contention_reason or "contention reported") if context.contention else None
    )
    call = _final_call(miswired, claims, unusable, evidence, _contended(contention, claims))

    return Verdict(
        gate=context.gate,
        verdict=call.verdict,
        hard_fails=call.fails,
        warns=call.warns,
        inconclusive_reasons=call.reasons,
        signals=signals,
        stages=stages,
        self_check=[*(f"mis-wired: {m}" for m in miswired), *flags],
        baseline=baseline_provenance(baseline, context, thresholds),
        treatment=_treatment_info(treatment, context),
        notes=notes,
        contention=contention,
        collector_notes=_collector_notes(said),
        decided_by=call.decided_by,
        lineages={side: f"{d.name} ({d.evidence})" for side, d in found.items()},
    )


def _treatment_info(treat: PerfReport, context: GateContext) -> dict[str, Any]:
    """The treatment side of verdict.json: which job, which ferry, how it ended."""
    return {
        "iris_job_id": treat.iris_job_id,
        "ferry_module": context.treatment_ferry_module or treat.ferry_module,
        "status": treat.status,
        "job_state": context.treatment_job_state,
        **context.treatment_job,
    }


def _not_read(signals: list[SignalRow], said: dict[str, WarningSummary]) -> None:
    """Signal rows a collector warning says it could not read (fully) become ``n/a``.

    One exception: a count the treatment's collector read only in part (launcher only) is
    a lower bound, so a rise over a fully read baseline is real and stays a fail."""
    for row in signals:
        sides = {side for side, summary in said.items() if row.signal in summary.unread}
        if not sides or row.verdict == "n/a":
            continue
        why = "; ".join(
            f"the {side} collector warned: {reading.warning}"
            for side in sorted(sides)
            for reading in said[side].unread[row.signal]
        )
        if sides == {"treatment"} and row.delta_pct is None and row.verdict == "fail":
            row.note = f"a lower bound, still above the baseline ({why})"
            continue
        row.delta_pct, row.verdict = None, "n/a"
        row.note = f"not compared: {why}"


def _mixed_lineages(found: dict[str, lineages.Detection]) -> str | None:
    """Why two reports' stage times are different quantities, or None."""
    base, treat = found["baseline"].lineage, found["treatment"].lineage
    if base is None or treat is None or base is treat:
        return None
    return (
        f"different collector lineages: baseline {base.name} ({base.measures}), "
        f"treatment {treat.name} ({treat.measures})"
    )


def _same_work_evidence(stages: list[StageRow], mixed: str | None) -> list[str]:
    """Evidence 6: the two runs did not do the same work, or measured it differently."""
    reasons = [
        f"treatment step {r.stage} did not finish ({r.note.split(': ', 1)[-1]}): "
        "its time is not comparable"
        for r in stages
        if r.verdict == "not_finished"
    ]
    one_side = {
        side: [r.stage for r in stages if r.note == f"only in the {side}" and r.stage != "download"]
        for side in ("baseline", "treatment")
    }
    parts = [f"only in the {side}: {', '.join(names)}" for side, names in one_side.items() if names]
    if parts:
        reasons.append(
            "the runs did not do the same work (stage sets differ; " + "; ".join(parts) + ")"
        )
    if mixed:
        shared = [r.stage for r in stages if r.note == f"not compared: {mixed}"]
        listed = f"; same-named stages not compared: {', '.join(shared)}" if shared else ""
        reasons.append(f"{mixed}{listed}")
    return reasons


def _collector_notes(said: dict[str, WarningSummary]) -> list[str]:
    """The collectors' warnings that did not make a report unusable, with their meaning."""
    out = [
        f"{side} collector: {reading.warning} ({reading.rule.meaning})"
        for side, summary in said.items()
        for reading in summary.notes
    ]
    steps = said["baseline"].missing_steps
    if steps:
        out.append(
            "baseline collector: expected steps neither ran nor were cached: " + ", ".join(steps)
        )
    return out
