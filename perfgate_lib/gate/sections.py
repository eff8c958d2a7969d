"""The parts a cluster gate adds to its verdict comment, beside the comparison itself:
the treatment job's end, OOM evidence, debugging commands, run-setting differences and
each stage's recent baseline spread. Context only: none of it is judged.
"""

from __future__ import annotations

from typing import Any

from perfgate_lib.gate.babysit import Watch
from perfgate_lib.gate.evidence import debug_commands, oom_lines, oom_section
from perfgate_lib.gate.ladder import GateResult, plan_next
from perfgate_lib.gate.record import AttemptRecord
from perfgate_lib.gate.runparams import RunParams
from perfgate_lib.mdtext import fmt_duration, md_code, md_escape, md_fence
from perfgate_lib.runners.base import Runner
from perfgate_lib.verdict.gates import GateParams


def run_setting_differences(
    runner: str, checkout: str, gate: int, params: GateParams
) -> tuple[list[str], str]:
    """(differences, where the baseline's settings were read) between the treatment's
    ``iris job run`` settings and the baseline's; none for a runner other than iris."""
    if runner != "iris":
        return [], ""
    from perfgate_lib.gate.runsettings import (
        parse_flags,
        setting_differences,
        workflow_flags_from_checkout,
    )

    seen = workflow_flags_from_checkout(checkout, params.workflow)
    baseline = seen if seen is not None else parse_flags(params.baseline_iris_flags)
    if not baseline:
        return [], ""
    where = (
        f"`.github/workflows/{md_escape(params.workflow)}` in the checkout"
        if seen is not None
        else f"`parameters/gate{gate}.yaml` (marin as checked 2026-12)"
    )
    return setting_differences(baseline, parse_flags(params.iris_flags)), where


def run_settings_note(diffs: list[str], where: str, common: RunParams) -> list[str]:
    """The comment's note on :func:`run_setting_differences` (none when there are none)."""
    if not diffs:
        return []
    return [
        "**Run settings differ from the baseline's** (tier workflow per "
        f"{where}; treatment per `{md_escape(common.submit_script)}`): "
        + "; ".join(md_escape(d) for d in diffs)
        + ". Noted, not judged."
    ]


def evidence_sections(
    verdict: Any,
    job_id: str,
    runner: Runner,
    max_gate: str,
    history: list[GateResult],
    gate_job_ids: list[str],
    cluster_config: str,
) -> list[tuple[str, str]]:
    """OOM log lines when the treatment OOMed more than the baseline; the commands to
    start debugging when the ladder stops on a second inconclusive."""
    sections = []
    oom = next((s for s in verdict.signals if s.signal == "infra_failures.oom"), None)
    if oom is not None and oom.verdict == "fail" and job_id:
        sections.append(oom_section(job_id, oom_lines(runner.logs(job_id))))
    step = plan_next(max_gate, history)
    if step.action == "stop" and step.verdict == "inconclusive":
        cmds = debug_commands([j for j in gate_job_ids or [job_id] if j], cluster_config)
        sections.append(("### Debugging", "Start with:\n\n" + md_fence("\n".join(cmds), "bash")))
    return sections


def noise_context(verdict: Any, gate: int, mirror: str, thresholds: str | None) -> dict[str, Any]:
    """Each stage's recent spread across the last scheduled baselines in ``mirror``
    (context only); nothing without a mirror or when it is unreachable."""
    if not mirror:
        return {}
    from perfgate_lib.audit.history import noise_context_for_gate, stage_noise_notes
    from perfgate_lib.verdict.thresholds import load_thresholds

    stages = [r.stage for r in verdict.stages]
    band = load_thresholds(thresholds).bands["stage_wall_seconds"].pass_pct
    noise = noise_context_for_gate(gate, stages, mirror=mirror, too_noisy_above_pct=band)
    return {"stage_context": stage_noise_notes(noise)} if noise else {}


def job_section(rec: AttemptRecord, watch: Watch) -> list[tuple[str, str]]:
    """A "Treatment job" section when the job did not simply succeed."""
    if watch.state == "succeeded" and not rec.report_synthesized:
        return []
    lines = [
        "| | |",
        "|---|---|",
        f"| Iris job | {md_code(rec.job_id or '?')} |",
        f"| Final state | {md_escape(watch.raw_state or watch.state)} |",
    ]
    if watch.queue_wait_seconds is not None:
        lines.append(
            f"| Queue wait (not a perf signal) | {fmt_duration(watch.queue_wait_seconds)} |"
        )
    if watch.stopped:
        lines.append("| Stopped by | perfgate (overran its wall time) |")
    body = "\n".join(lines)
    if watch.error:
        body += "\n\n" + md_fence(watch.error[-3000:])
    if rec.report_synthesized:
        body += (
            "\n\nThe collector gave no usable report; the gate is judged on the job state alone."
        )
    return [("### Treatment job", body)]
