"""What a cluster gate adds to its verdict comment beside the comparison (context only,
never judged): the job's end, OOM evidence, queue wait, debugging commands, run-setting
differences, each stage's baseline spread. Strings from logs are untrusted: fenced only."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from typing import Any

from perfgate_lib.gate import runsettings
from perfgate_lib.gate.babysit import Watch
from perfgate_lib.gate.ladder import GateResult, plan_next
from perfgate_lib.gate.runparams import RunParams
from perfgate_lib.gate.state import AttemptRecord
from perfgate_lib.mdtext import fmt_duration, md_code, md_escape, md_fence
from perfgate_lib.runners.base import Runner
from perfgate_lib.runners.iris import DEFAULT_CLUSTER_CONFIG
from perfgate_lib.verdict.gates import GateParams

QUEUE_WAIT_NOTABLE_S = 30 * 60  # the skill: note queue waits over 30 minutes

_OOM = re.compile(
    r"out of memory|outofmemory|memoryerror|\boom\b|oom[-_ ]?kill|killed process"
    r"|exit(ed)? (with )?(code|status) 137|signal 9\b|sigkill",
    re.I,
)
_WORKER_POOL = re.compile(r"worker[ _-]?pool", re.I)
_WORKER = re.compile(r"worker ", re.I)
_DEATH = re.compile(r"died|dead|lost|exited|failed", re.I)


def run_setting_differences(
    runner: str, checkout: str, gate: int, params: GateParams
) -> tuple[list[str], str]:
    """(differences, where the baseline's settings were read) between the treatment's
    ``iris job run`` settings and the baseline's; none for a runner other than iris."""
    if runner != "iris":
        return [], ""
    seen = runsettings.workflow_flags_from_checkout(checkout, params.workflow)
    baseline = seen if seen is not None else runsettings.parse_flags(params.baseline_iris_flags)
    if not baseline:
        return [], ""
    where = (
        f"`.github/workflows/{md_escape(params.workflow)}` in the checkout"
        if seen is not None
        else f"`parameters/gate{gate}.yaml` (marin as checked 2026-12)"
    )
    treatment = runsettings.parse_flags(params.iris_flags)
    return runsettings.setting_differences(baseline, treatment), where


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
    if (wait := watch.queue_wait_seconds) is not None:
        lines.append(f"| Queue wait (not a perf signal) | {fmt_duration(wait)} |")
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


def _worker_death(line: str) -> bool:
    """``worker[ _-]?pool``, or ``worker `` with a death word after it: two linear searches
    (one regex backtracks, docs/security.md)."""
    if _WORKER_POOL.search(line):
        return True
    worker = _WORKER.search(line)
    return bool(worker and _DEATH.search(line, worker.end()))


def oom_lines(log_text: str, limit: int = 20) -> list[str]:
    """Lines that show an OOM, plus worker-pool death lines when an OOM is present."""
    lines = log_text.splitlines()
    ooms = [i for i, line in enumerate(lines) if _OOM.search(line)]
    if not ooms:
        return []
    picked = set(ooms) | {i for i, line in enumerate(lines) if _worker_death(line)}
    return [lines[i].rstrip()[:400] for i in sorted(picked)][-limit:]


def oom_section(job_id: str, lines: Sequence[str]) -> tuple[str, str]:
    """("### OOM evidence", markdown) for a treatment that OOMed."""
    if not lines:
        body = (
            f"The treatment job {md_code(job_id)} reported OOMs, but its logs held no OOM "
            "line (logs expired or were not reachable)."
        )
    else:
        body = (
            f"Worker-pool death / OOM lines from the treatment job {md_code(job_id)} "
            "(`iris job logs`):\n\n" + md_fence("\n".join(lines))
        )
    return "### OOM evidence", body


def queue_wait_note(seconds: float | None) -> str | None:
    """A note when the treatment waited over 30 minutes in PENDING/BUILDING."""
    if seconds is None or seconds <= QUEUE_WAIT_NOTABLE_S:
        return None
    return (
        f"⏱ The treatment waited {fmt_duration(seconds)} in the queue (PENDING/BUILDING) "
        "before it ran. Queue wait is not a perf signal and does not affect the verdict."
    )


def debug_commands(job_ids: Sequence[str], config: str = DEFAULT_CLUSTER_CONFIG) -> list[str]:
    """Commands that start a debugging session on the inconclusive treatment jobs; the job
    ids (printed by the PR worktree's submit script) and the config quoted for the shell."""
    verbs = (
        "job list --json --prefix {}",
        "job summary {}",
        "job logs {} --tail --max-lines 500 --level warning",
    )
    iris = f"iris {shlex.quote(f'--config={config}')}"
    return [f"{iris} {verb.format(shlex.quote(job))}" for job in job_ids for verb in verbs]
