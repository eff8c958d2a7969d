"""Gate 0's paired, adaptive loop: pairs are added until every stage is decided.

:func:`measure_pairs` runs the pairs and :func:`stop_rule` says when to stop: every stage
decided after ``min_pairs``, the time budget spent, or ``max_pairs``. The pair record:
``docs/gate0.md`` (The run folder). Seconds for times.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from perfgate_lib.local import ferry_pipeline
from perfgate_lib.local import stats as abstats
from perfgate_lib.local.settings import Gate0Settings
from perfgate_lib.local.sides import SIDES, LocalRunError


def paired_intervals(
    pairs: list[dict[str, Any]], settings: Gate0Settings, bands: tuple[float, float]
) -> pd.DataFrame:
    """The interval table of ``pairs`` under the stage band (pass %, warn %)."""
    return abstats.paired_table(
        pairs,
        pass_pct=bands[0],
        warn_pct=bands[1],
        confidence=settings.confidence,
        metric=settings.metric,
    )


def first_side(pair: int, stage_index: int) -> str:
    """Control goes first in pair 1's first stage, then the order alternates."""
    return SIDES[(pair + stage_index + 1) % 2]


ServersFor = Callable[[int], Mapping[str, Any]]
"""Pair number -> the ready side servers (``run_stage(stage, timeout_s)``) to measure it."""


def measure_pairs(
    servers_for: ServersFor,
    settings: Gate0Settings,
    *,
    stages: tuple[str, ...] = ferry_pipeline.STAGES,
    bands: tuple[float, float] = (5.0, 10.0),
    progress: Callable[[str], None] = lambda _m: None,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[list[dict[str, Any]], str, list[str]]:
    """Add pairs until every stage is decided, ``max_pairs`` or the budget; returns
    (pairs, why the loop stopped, errors). A failed stage ends the loop after its pair.

    ``servers_for(n)`` gives the servers of pair ``n`` (fresh processes, or the same ones
    again); the time it takes counts in the pair's seconds and so in the budget. With
    instruction counts the servers of pair 1 measure every pair, both sides at once
    (:func:`measure_at_once`); the caller stops them after (they may hold queued
    requests). Time metrics take turns, back to back, the first side alternating.
    """
    if settings.counts_instructions:
        return measure_at_once(servers_for(1), settings, stages, bands, progress, clock)
    pairs: list[dict[str, Any]] = []
    errors: list[str] = []
    started = clock()
    stop = ""
    for number in range(1, settings.max_pairs + 1):
        pair: dict[str, Any] = {"pair": number, "control": {}, "treatment": {}, "first": {}}
        t0 = clock()
        try:
            servers = servers_for(number)
        except LocalRunError as exc:
            errors.append(str(exc))
            stop = f"a side did not start for pair {number}"
            break
        pair["pids"] = {side: getattr(servers[side], "pid", None) for side in SIDES}
        for index, stage in enumerate(stages):
            first = first_side(number, index)
            pair["first"][stage] = first
            for side in (first, SIDES[1 - SIDES.index(first)]):
                answer = servers[side].run_stage(stage, settings.stage_timeout_s)
                pair[side].update(answer.get("stages") or {})
                if answer.get("status") != "succeeded":
                    error = f"{side} {stage}: {answer.get('error') or 'failed'}"
                    pair.setdefault("failed", {})[side] = error
                    errors.append(error)
            if errors:
                break
        pairs.append(pair)
        elapsed, pair_s = clock() - started, clock() - t0
        if errors:
            stop = f"a stage failed in pair {number}"
            break
        # the budget is judged on when one more pair of this length would end
        open_, stop = stop_rule(pairs, settings, bands, elapsed + pair_s)
        progress(pair_message(number, settings.max_pairs, pair_s, open_, settings.metric))
        if stop:
            break
        if elapsed + pair_s > settings.budget_s:
            progress(f"over the {settings.budget_s:g} s budget, continuing to min_pairs")
    return pairs, stop, errors


def pair_message(
    number: int, max_pairs: int, seconds: float, undecided: list[str], metric: str = "instructions"
) -> str:
    """``pair 3 of at most 12 done in 4.1 s; undecided: fuzzy_dups, instructions_total``
    (seconds; the run's total named after its ``metric``)."""
    from perfgate_lib.verdict.measured import UNITS

    names = [UNITS[metric].total if name == abstats.TOTAL else name for name in undecided]
    state = f"undecided: {', '.join(names)}" if names else "every stage decided"
    return f"pair {number} of at most {max_pairs} done in {seconds:.1f} s; {state}"


def stop_rule(
    pairs: list[dict[str, Any]], settings: Gate0Settings, bands: tuple[float, float], elapsed: float
) -> tuple[list[str], str]:
    """(undecided stages, why to stop or "") after ``pairs``, in this order: every stage
    decided (from ``min_pairs`` on), the budget spent (``elapsed`` seconds over
    ``budget_s``, from ``min_pairs`` on), ``max_pairs`` reached. Both loops use it."""
    n = len(pairs)
    open_ = abstats.undecided_stages(paired_intervals(pairs, settings, bands))
    if n >= settings.min_pairs and not open_:
        return open_, f"every stage decided after {n} pairs"
    if n >= settings.min_pairs and elapsed > settings.budget_s:
        return open_, f"time budget ({settings.budget_s:g} s) spent after {n} pairs"
    if n >= settings.max_pairs:
        return open_, f"max_pairs ({settings.max_pairs}) reached"
    return open_, ""


def measure_at_once(
    servers: Mapping[str, Any],
    settings: Gate0Settings,
    stages: tuple[str, ...],
    bands: tuple[float, float],
    progress: Callable[[str], None],
    clock: Callable[[], float],
) -> tuple[list[dict[str, Any]], str, list[str]]:
    """Instruction counts: both sides run every pair's stages at once, each back to back
    with no wait (why: ``docs/gate0.md``).

    Every side gets ``max_pairs`` pairs of stage requests queued up front; pair ``n`` is
    judged by :func:`stop_rule` once both sides answered its stages. The caller stops the
    servers (they may still hold queued requests). ``servers``: side ->
    ``send_stage(stage)``, ``stage_answer(stage, timeout_s)`` and, for select, ``proc.stdout``.
    """
    started = last = clock()
    plan = [stage for _ in range(settings.max_pairs) for stage in stages]
    for side in SIDES:
        for stage in plan:
            servers[side].send_stage(stage)
    pids = {side: getattr(servers[side], "pid", None) for side in SIDES}
    pairs: list[dict[str, Any]] = [
        {
            "pair": n + 1,
            "control": {},
            "treatment": {},
            "first": dict.fromkeys(stages, "both at once"),
            "pids": pids,
        }
        for n in range(settings.max_pairs)
    ]
    answered = dict.fromkeys(SIDES, 0)
    judged, stop, errors = 0, "", []
    while not stop:
        side = _next_answering(servers, [s for s in SIDES if answered[s] < len(plan)], settings)
        number, index = divmod(answered[side], len(stages))
        answer = servers[side].stage_answer(plan[answered[side]], settings.stage_timeout_s)
        answered[side] += 1
        pairs[number][side].update(answer.get("stages") or {})
        if answer.get("status") != "succeeded":
            error = f"{side} {stages[index]}: {answer.get('error') or 'failed'}"
            pairs[number]["failed"] = {side: error}
            errors.append(error)
            return pairs[: number + 1], f"a stage failed in pair {number + 1}", errors
        while not stop and judged < min(answered.values()) // len(stages):
            judged += 1
            now = clock()
            open_, stop = stop_rule(pairs[:judged], settings, bands, now - started)
            progress(pair_message(judged, settings.max_pairs, now - last, open_, settings.metric))
            last = now
    return pairs[:judged], stop, errors


def _next_answering(servers: Mapping[str, Any], sides: list[str], settings: Gate0Settings) -> str:
    """The side whose next answer is ready first (select on their pipes; the first of
    ``sides`` for servers without a pipe, or when none answers within the stage timeout,
    whose read then times out)."""
    pipes: dict[Any, str] = {
        getattr(getattr(servers[s], "proc", None), "stdout", None): s for s in sides
    }
    if None in pipes:
        return sides[0]
    ready, _, _ = select.select(list(pipes), [], [], settings.stage_timeout_s)
    return pipes[ready[0]] if ready else sides[0]
