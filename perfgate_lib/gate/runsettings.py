"""The ``iris job run`` flags the treatment and the baseline ran with; a difference is noted,
never judged (``docs/running-a-gate.md``). Pure but :func:`workflow_flags_from_checkout`."""

from __future__ import annotations

import re
from pathlib import Path

# ``--flag``, ``--flag=value`` or ``--flag value`` (a value never starts with "-")
_FLAG = re.compile(r"(--[a-z][a-z-]*)(?:(?:=|[ \t]+)([^\s\\\"'-][^\s\\\"']*))?")
# flags that shape a run (not output or plumbing)
RUN_FLAGS = (
    "--timeout",
    "--memory",
    "--disk",
    "--cpu",
    "--priority",
    "--region",
    "--zone",
    "--extra",
    "--preemptible",
    "--no-preemptible",
    "--enable-extra-resources",
    "--max-retries",
)


def parse_flags(text: str) -> dict[str, str]:
    """Run-shaping flags in ``text`` -> value ("" for a switch); later ones win."""
    return {flag: value or "" for flag, value in _FLAG.findall(text or "") if flag in RUN_FLAGS}


def workflow_job_run_flags(text: str) -> dict[str, str]:
    """Flags of the ``iris ... job run`` command(s) in a workflow file (continuation lines
    joined); {} when there is none."""
    joined = re.sub(r"\\\s*\n\s*", " ", text or "")
    lines = [line for line in joined.splitlines() if re.search(r"\bjob\s+run\b", line)]
    return parse_flags(" ".join(line.split(" -- ", 1)[0] for line in lines))


def workflow_flags_from_checkout(checkout: str, workflow: str) -> dict[str, str] | None:
    """The tier workflow's ``job run`` flags from ``<checkout>/.github/workflows/<workflow>``;
    None when the file is missing or holds no ``job run``."""
    path = Path(checkout or ".") / ".github" / "workflows" / workflow
    try:
        flags = workflow_job_run_flags(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    return flags or None


def _shown(flag: str, value: str | None) -> str:
    if value is None:
        return "not set"
    return flag if value == "" else f"{flag} {value}"


def setting_differences(baseline: dict[str, str], treatment: dict[str, str]) -> list[str]:
    """One line per flag the two runs differ in, e.g. ``--timeout: baseline --timeout 21600,
    treatment not set``."""
    sides = ((flag, baseline.get(flag), treatment.get(flag)) for flag in RUN_FLAGS)
    return [
        f"{f}: baseline {_shown(f, b)}, treatment {_shown(f, t)}" for f, b, t in sides if b != t
    ]
