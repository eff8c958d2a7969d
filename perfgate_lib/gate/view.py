"""What ``notebooks/gate.ipynb`` shows between its steps: small tables and lines, no logic."""

from __future__ import annotations

from typing import Any

from perfgate_lib.gate.run import GateSession
from perfgate_lib.mdtext import fmt_duration
from perfgate_lib.timeutil import utc_now


def provenance_frame(prov: dict[str, Any]) -> Any:
    """Baseline provenance as a two-column DataFrame (field, value)."""
    import pandas as pd

    keys = ("source", "run_id", "run_url", "sha", "created_at", "age_hours", "stale", "location")
    rows = [(k, prov.get(k)) for k in keys if prov.get(k) is not None]
    rows += [("note", n) for n in prov.get("notes") or []]
    return pd.DataFrame(rows, columns=["field", "value"])


def checks_frame(checks: dict[str, Any] | None) -> Any:
    """Local checks as a DataFrame (name, command, exit_code, seconds, problem); a note when skipped."""
    import pandas as pd

    cols = ["name", "command", "exit_code", "seconds", "problem"]
    if not checks:
        print("local checks: not run in this attempt (only before a run's first ferry)")
        return pd.DataFrame([], columns=cols)
    return pd.DataFrame(checks.get("outcomes", []), columns=cols)


def job_frame(session: GateSession) -> Any:
    """The treatment job as a two-column DataFrame: id, ferry, state, queue wait, run time."""
    import pandas as pd

    rec = session.record
    watch = session.watch()
    rows = [
        ("job id", rec.job_id),
        ("ferry module", rec.ferry_module),
        ("final state", watch.raw_state or watch.state),
        ("queue wait", fmt_duration(watch.queue_wait_seconds)),
        ("run time", fmt_duration(watch.run_seconds(utc_now()))),
        ("polls", watch.polls),
        ("error", watch.error or ""),
        ("submission recorded by", rec.submit_recorded_by),
    ]
    return pd.DataFrame(rows, columns=["field", "value"])


def describe_post(record: dict[str, Any]) -> str:
    """The notebook's line on where the comment went."""
    if record.get("mode") == "github":
        return f"comment {record.get('action')}: {record.get('url')}"
    return f"dry run: comment written to {record.get('path')}"
