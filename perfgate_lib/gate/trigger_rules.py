"""Comment-triggered gate: what a PR comment asks for, and who may ask (pure).

- A request: ``/perf-gate`` at the start of a line, or an @-mention of the kit's account.
- A reply to the posted assessment: ``go``, ``max_gate=<skip|1|2|3>`` or ``skip``
  (whitespace and case tolerant), from a reviewer: an account with write access (write,
  maintain or admin) that is not the PR author. Anyone else is ignored with a note.
- The kit keeps its stage in a hidden marker inside the sentinel comment, so the next
  event knows whether an assessment awaits confirmation or a gate is running.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from perfgate_lib.timeutil import parse_time

REQUEST = re.compile(r"^\s*/perf-gate\b", re.I | re.M)
REPLY = re.compile(r"^(go|skip)\b|^max_gate\b", re.I)
MARKER = re.compile(r"<!-- perfgate-state: (\{.*?\}) -->")
WRITE_PERMISSIONS = {"admin", "maintain", "write"}
RUNNING_LOCK_HOURS = 8.0  # a "running" marker older than this is stale (Actions jobs stop at 6 h)


def is_request(body: str, bot_login: str | None = None) -> bool:
    """``/perf-gate`` at a line start, or an @-mention of ``bot_login``."""
    if REQUEST.search(body or ""):
        return True
    if bot_login:
        mention = re.compile(rf"(?<![\w@])@{re.escape(bot_login)}\b", re.I)
        return bool(mention.search(body or ""))
    return False


def reply_text(body: str) -> str | None:
    """The body when it looks like a reply to the assessment (starts with ``go``, ``skip``
    or ``max_gate``, any case); :func:`perfgate_lib.assess.confirm.parse_reply` reads it fully."""
    text = (body or "").strip()
    return text if REPLY.match(text) else None


@dataclass(frozen=True)
class Authorization:
    allowed: bool
    reason: str


def authorize(commenter: str, pr_author: str, permission: str | None) -> Authorization:
    """A reviewer is an account with write access that is not the PR author."""
    if commenter.lower() == (pr_author or "").lower():
        return Authorization(
            False, f"@{commenter} is the PR author; a reviewer with write access must confirm"
        )
    if (permission or "none").lower() not in WRITE_PERMISSIONS:
        return Authorization(
            False, f"@{commenter} has {permission or 'no'} access; confirming needs write access"
        )
    return Authorization(True, f"@{commenter} has {permission} access")


def marker(state: dict[str, Any]) -> str:
    """The hidden marker line carrying the kit's stage (JSON without ``--``)."""
    text = json.dumps(state, sort_keys=True, separators=(",", ":")).replace("--", "-\\u002d")
    return f"<!-- perfgate-state: {text} -->"


def read_marker(body: str | None) -> dict[str, Any] | None:
    """The state in a comment's marker, or None."""
    match = MARKER.search(body or "")
    if not match:
        return None
    try:
        data = json.loads(match.group(1))
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def lock_is_fresh(since: Any, now: dt.datetime) -> bool:
    """A lock taken at ``since`` (any timestamp form) is younger than RUNNING_LOCK_HOURS."""
    taken = parse_time(since)
    return taken is not None and (now - taken).total_seconds() < RUNNING_LOCK_HOURS * 3600


def running_elsewhere(state: dict[str, Any] | None, now: dt.datetime) -> bool:
    """True when the marker says a gate is running and the lock is not stale."""
    return bool(
        state and state.get("stage") == "running" and lock_is_fresh(state.get("since"), now)
    )
