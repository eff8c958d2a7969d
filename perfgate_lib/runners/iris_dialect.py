"""What each generation of Iris tooling prints, and how to read it (pure; no subprocess):
the ``iris`` CLI's dialects ``json`` (marin-iris 0.2.20) and ``table`` (0.2.227), tabled
in ``docs/iris.md``, ``iris_monitor.py``'s answers, and a refused priority band.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

Dialect = Literal["json", "table"]
DIALECTS: tuple[Dialect, ...] = ("json", "table")
STOP_VERB: dict[Dialect, str] = {"json": "stop", "table": "cancel"}
TABLE_LIST_LIMIT = 10000


class DialectError(ValueError):
    """Output that does not read as the dialect says it should."""


def _commands(help_text: str) -> set[str]:
    """Sub-command names from a click group's ``--help`` (its ``Commands:`` section)."""
    names: set[str] = set()
    in_section = False
    for line in help_text.splitlines():
        if line.strip().lower().startswith("commands:"):
            in_section = True
            continue
        if in_section:
            match = re.match(r"^\s{1,8}([a-z][a-z0-9_-]*)(\s|$)", line)
            if match:
                names.add(match.group(1))
            elif line.strip() and not line.startswith(" "):
                in_section = False
    return names


def detect_dialect(job_help: str, list_help: str) -> Dialect:
    """The CLI generation from ``iris job --help`` and ``iris job list --help``; an unknown
    one raises :class:`DialectError` naming what was seen."""
    commands = _commands(job_help)
    has_json = bool(re.search(r"(^|\s)--json\b", list_help))
    if has_json and "stop" in commands:
        return "json"
    if not has_json and "cancel" in commands and "list" in commands:
        return "table"
    raise DialectError(
        "unknown iris CLI: `iris job --help` lists "
        f"{', '.join(sorted(commands)) or 'no commands'}; `iris job list --help` "
        f"{'offers' if has_json else 'has no'} --json (known: 0.2.20 with `list --json` and "
        "`stop`; 0.2.227 with a table `list` and `cancel`)"
    )


def list_args(dialect: Dialect, prefix: str | None) -> list[str]:
    """``job list`` arguments for one listing under ``prefix`` (all jobs when None)."""
    args = ["job", "list"]
    args += ["--json"] if dialect == "json" else ["--limit", str(TABLE_LIST_LIMIT)]
    return args + (["--prefix", prefix] if prefix else [])


def parse_listing(dialect: Dialect, text: str) -> list[dict[str, Any]]:
    """Job entries (dicts with at least ``job_id`` and ``state``) from ``job list``."""
    return parse_json_listing(text) if dialect == "json" else parse_table_listing(text)


def parse_json_listing(text: str) -> list[dict[str, Any]]:
    """Entries of ``iris job list --json``: a list, or an object holding ``jobs`` (log
    lines before it skipped)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.lstrip().startswith(("[", "{")):
            continue
        try:
            data = json.loads("\n".join(lines[i:]))
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            data = data.get("jobs", [data] if "job_id" in data else [])
        if not isinstance(data, list):
            raise DialectError(f"expected a list of jobs, got {type(data).__name__}")
        return [e for e in data if isinstance(e, dict)]
    if not text.strip() or "no jobs" in text.lower():
        return []
    raise DialectError(f"no JSON in the output: {text.strip()[:200]!r}")


_TABLE_HEAD = re.compile(r"^JOB ID\s{2,}STATE\s{2,}SUBMITTED(\s{2,}REASON)?\s*$")


def parse_table_listing(text: str) -> list[dict[str, Any]]:
    """Entries of the newer ``iris job list`` table (lines around it skipped): ``job_id``,
    ``state`` (as printed), ``submitted_at`` (None for ``-``), and REASON (up to 63
    characters) as ``pending_reason`` while the job waits, else ``error``."""
    lines = text.splitlines()
    head_at = next((i for i, line in enumerate(lines) if _TABLE_HEAD.match(line.rstrip())), None)
    if head_at is None:
        if not text.strip() or "no jobs found" in text.lower():
            return []
        raise DialectError(f"no job table in the output: {text.strip()[:200]!r}")
    head = lines[head_at]
    starts = [head.index("STATE"), head.index("SUBMITTED")]
    reason_at = head.find("REASON")
    entries = []
    for line in lines[head_at + 1 :]:
        if not line.strip():
            break  # the table ends at the first blank line (notes follow)
        job_id = line[: starts[0]].strip()
        state = line[starts[0] : starts[1]].strip()
        submitted = (line[starts[1] : reason_at] if reason_at > 0 else line[starts[1] :]).strip()
        reason = line[reason_at:].strip() if reason_at > 0 else ""
        if not job_id or " " in job_id or not state:
            raise DialectError(f"unreadable row in the job table: {line!r}")
        entry: dict[str, Any] = {
            "job_id": job_id,
            "state": state,
            "submitted_at": None if submitted in ("", "-") else submitted,
        }
        if reason:
            waiting = state.lower() in ("pending", "building", "running")
            entry["pending_reason" if waiting else "error"] = reason
        entries.append(entry)
    return entries


@dataclass(frozen=True)
class MonitorAnswer:
    """What one ``iris_monitor.py`` call said."""

    state: str = ""  # as printed: JOB_STATE_* or RESOURCE_EXHAUSTED; "" when none was
    error: str = ""
    timed_out: bool = False  # a wait that reached its --timeout
    not_found: bool = False  # the job is not in the cluster's list
    exhausted_reason: str = ""  # why the monitor shut the job down for capacity

    @property
    def resource_exhausted(self) -> bool:
        return self.state == "RESOURCE_EXHAUSTED"


def parse_monitor_status(stdout: str, stderr: str = "") -> MonitorAnswer:
    """``iris_monitor.py status``: ``state:`` and ``error:`` lines (a ``LookupError``
    traceback: not found)."""
    if _not_found(stderr):
        return MonitorAnswer(not_found=True)
    fields: dict[str, str] = {}
    for line in stdout.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("job_id", "state", "error"):
            fields[key.strip()] = value.strip()
    if not fields.get("state"):
        raise DialectError(f"iris_monitor.py status printed no state: {stdout.strip()[:200]!r}")
    return MonitorAnswer(state=fields["state"], error=fields.get("error", ""))


_FINISHED = re.compile(r"^Job '?(?P<id>.*?)'? finished with state: (?P<state>[A-Z_]+)\s*$")


def parse_monitor_wait(stderr: str) -> MonitorAnswer:
    """``iris_monitor.py wait``'s stderr: the state of its last ``Job '<id>' finished with
    state: <STATE>`` line (``RESOURCE_EXHAUSTED`` after a ``::warning title=...::<reason>``
    line), else why there is none (``TimeoutError``: past ``--timeout``; ``LookupError``:
    not found)."""
    state, error, exhausted = "", "", ""
    for line in stderr.splitlines():
        match = _FINISHED.match(line.strip())
        if match:
            state = match.group("state")
        elif line.startswith("Error: ") and state:
            error = line.removeprefix("Error: ").strip()
        elif line.startswith("::warning") and "::" in line[2:]:
            exhausted = line.split("::", 2)[-1].replace("%0A", "\n").replace("%0D", "\r")
            exhausted = exhausted.replace("%25", "%").strip()
    if state:
        return MonitorAnswer(state=state, error=error, exhausted_reason=exhausted)
    if _last_exception(stderr) == "TimeoutError":
        return MonitorAnswer(timed_out=True)
    if _not_found(stderr):
        return MonitorAnswer(not_found=True)
    raise DialectError(f"iris_monitor.py wait ended without a state: {stderr.strip()[-300:]!r}")


def _last_exception(text: str) -> str:
    for line in reversed(text.strip().splitlines()):
        match = re.match(r"^([A-Za-z_][\w.]*(Error|Exception)):", line.strip())
        if match:
            return match.group(1).rsplit(".", 1)[-1]
    return ""


def _not_found(text: str) -> bool:
    return _last_exception(text) == "LookupError" and "not found" in text.lower()


@dataclass(frozen=True)
class PriorityRefusal:
    """A submit the cluster refused for its priority band (``PERMISSION_DENIED``)."""

    who: str  # the user or budget identity the cluster named ("" when unnamed)
    band: str  # the band asked for, e.g. PRODUCTION
    max_band: str  # the highest band this user may use, e.g. INTERACTIVE
    resubmit_with: str  # the flag the cluster suggests, e.g. "--priority interactive"

    def explain(self, gate: int) -> str:
        """Who may run this gate, in plain words."""
        who = self.who or "this user"
        band = (self.band or "this").lower()
        return (
            f"the cluster refused gate {gate}'s ferry: {who} may not submit {band}-priority "
            f"jobs (highest allowed: {(self.max_band or '?').lower()}). marin's submit script "
            f"runs tier {gate} at the priority of its tier workflow, so only an admin of the "
            f"cluster, or a user granted the {band} band, can run gate {gate}. Ask one to run "
            f"it, or run a lower gate (gate 2 runs at the default band: --max-gate 2). A "
            f"treatment at a lower priority ({self.resubmit_with or '--priority interactive'}) "
            f"would not be scheduled like its baseline."
        )


_BAND_REFUSAL = re.compile(
    r"(?P<who>\S+) cannot submit (?P<band>[a-z_]+) jobs \(max band: (?P<max>[a-z_]+)\)",
    re.IGNORECASE,
)
_RESUBMIT = re.compile(r"Resubmit with `?(?P<flag>--priority[ =]?[a-z_]+)`?", re.IGNORECASE)


def priority_refusal(text: str) -> PriorityRefusal | None:
    """The priority refusal in a submit's output (``X cannot submit production jobs (max
    band: interactive). Resubmit with `--priority interactive` ...``, or a wrapper's
    ``PERMISSION_DENIED`` and the advice), else None."""
    refusal = _BAND_REFUSAL.search(text)
    resubmit = _RESUBMIT.search(text)
    if refusal is None and not (resubmit and "permission_denied" in text.lower()):
        return None
    return PriorityRefusal(
        who=refusal.group("who") if refusal else "",
        band=refusal.group("band").upper() if refusal else "",
        max_band=refusal.group("max").upper() if refusal else "",
        resubmit_with=resubmit.group("flag") if resubmit else "",
    )
