"""Failure evidence for the comment: OOM log lines, queue wait, what the ladder did.

Pure functions; the logs come from the runner (``Runner.logs``: the iris CLI's
``iris --config=CFG job logs JOB_ID --tail --max-lines N``, or a recorded ``.log`` file
for replays). Every string from logs is untrusted: it goes into fenced blocks only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from perfgate_lib.mdtext import fmt_duration, md_code, md_fence
from perfgate_lib.runners.iris import DEFAULT_CLUSTER_CONFIG

QUEUE_WAIT_NOTABLE_S = 30 * 60  # the skill: note queue waits over 30 minutes

_OOM = re.compile(
    r"out of memory|outofmemory|memoryerror|\boom\b|oom[-_ ]?kill|killed process"
    r"|exit(ed)? (with )?(code|status) 137|signal 9\b|sigkill",
    re.I,
)
_WORKER_POOL = re.compile(r"worker[ _-]?pool", re.I)
_WORKER = re.compile(r"worker ", re.I)
_DEATH = re.compile(r"died|dead|lost|exited|failed", re.I)


def _worker_death(line: str) -> bool:
    """``worker[ _-]?pool``, or ``worker `` with a death word after it. Two linear searches:
    one regex ``worker .*(died|...)`` backtracked from each ``worker `` to the line's end
    (quadratic on a long line of the PR's job's logs)."""
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
    picked = set(ooms)
    picked |= {i for i, line in enumerate(lines) if _worker_death(line)}
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
    """Commands that start a debugging session on the inconclusive treatment jobs."""
    cmds = []
    for job in job_ids:
        cmds += [
            f"iris --config={config} job list --json --prefix {job}",
            f"iris --config={config} job summary {job}",
            f"iris --config={config} job logs {job} --tail --max-lines 500 --level warning",
        ]
    return cmds
