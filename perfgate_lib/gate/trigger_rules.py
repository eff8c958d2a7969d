"""Comment-triggered gate: what a PR comment asks for, and who may ask (pure).

The kit's stage lives in a hidden marker on the LAST line of its own sentinel comment
(:func:`read_marker` reads nowhere else). A comment that is not a verdict keeps the last
verdict folded below it (:func:`kit_body`, :func:`standing_verdict`): a request never
erases a verdict. The rules: ``docs/security.md``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from perfgate_lib import MAX_COMMENT_CHARS, SENTINEL
from perfgate_lib.mdtext import md_code, no_html_comment
from perfgate_lib.timeutil import parse_time

REQUEST = re.compile(r"^\s*/perf-gate\b", re.I | re.M)
REPLY = re.compile(r"^(go|skip)\b|^max_gate\b", re.I)
MARKER_LINE = re.compile(r"<!-- perfgate-state: (\{[^\r\n]*\}) -->")
WRITE_PERMISSIONS = {"admin", "maintain", "write"}
RUNNING_LOCK_HOURS = 8.0  # a "running" marker older than this is stale (Actions jobs stop at 6 h)
CLOCK_SKEW_SECONDS = 300.0  # a lock dated further in the future than this is not a lock
VERDICT_START = "<!-- perfgate-verdict -->"
VERDICT_END = "<!-- /perfgate-verdict -->"
NOT_VERDICTS = ("assessment", "out_of_scope", "running", "stopped", "head_moved")
"""Stages of kit comments that are not verdicts (they fold the standing verdict)."""


def is_created(event: dict[str, Any]) -> bool:
    """Only a newly created comment acts: an edited or deleted one never requests or
    confirms (GitHub sends ``action``: created | edited | deleted)."""
    return event.get("action") == "created"


def is_request(body: str, bot_login: str | None = None) -> bool:
    """``/perf-gate`` at a line start, or an @-mention of ``bot_login``."""
    if REQUEST.search(body or ""):
        return True
    if bot_login:
        mention = re.compile(rf"(?<![\w@])@{re.escape(bot_login)}(?![\w-])", re.I)
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


def _write_access(login: str, permission: str | None, doing: str) -> Authorization:
    if (permission or "none").lower() not in WRITE_PERMISSIONS:
        return Authorization(
            False, f"@{login} has {permission or 'no'} access; {doing} needs write access"
        )
    return Authorization(True, f"@{login} has {permission} access")


def authorize(commenter: str, pr_author: str, permission: str | None) -> Authorization:
    """A reviewer is an account with write access that is not the PR author."""
    if commenter.lower() == (pr_author or "").lower():
        return Authorization(
            False, f"@{commenter} is the PR author; a reviewer with write access must confirm"
        )
    return _write_access(commenter, permission, "confirming")


def may_request(requester: str, permission: str | None) -> Authorization:
    """Asking for a gate (``/perf-gate``) needs write access: a request replaces the
    kit's comment with a new assessment, so an outsider must not be able to make one."""
    return _write_access(requester, permission, "asking for a gate")


def marker(state: dict[str, Any]) -> str:
    """The hidden marker line carrying the kit's stage (one line of JSON without ``--``,
    ``<`` or ``>``, so no value can end the HTML comment or open another)."""
    text = json.dumps(state, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    text = text.replace("--", "-\\u002d").replace("<", "\\u003c").replace(">", "\\u003e")
    return f"<!-- perfgate-state: {text} -->"


def read_marker(body: str | None) -> dict[str, Any] | None:
    """The state in a kit comment's marker, or None. Only the LAST line counts (the kit
    writes the marker there, and nothing after it): a marker anywhere else is text."""
    last = (body or "").rstrip().rpartition("\n")[2].strip()
    match = MARKER_LINE.fullmatch(last)
    if not match:
        return None
    try:
        data = json.loads(match.group(1))
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def kit_body(text: str, state: dict[str, Any], standing: str | None = None) -> str:
    """A kit comment that is not a verdict: the sentinel, ``text`` (markdown the kit built
    with escaped parts), the standing verdict folded below it, the state marker last.

    The fold is cut short (with a note) so that the body stays within GitHub's 65,536
    characters."""
    head = f"{SENTINEL}\n{text.strip()}\n"
    tail = f"\n{marker(state)}\n"
    verdict = _defuse_fold((standing or "").strip().removeprefix(SENTINEL).strip())
    if not verdict:
        return head + tail
    open_fold = (
        "\n<details><summary>Last verdict (it stands until a new verdict replaces it)"
        f"</summary>\n\n{VERDICT_START}\n"
    )
    close_fold = f"\n{VERDICT_END}\n\n</details>\n"
    room = MAX_COMMENT_CHARS - len(head) - len(tail) - len(open_fold) - len(close_fold)
    if len(verdict) > room:
        note = "\n\n_(cut short: the full verdict is in the run folder)_"
        verdict = verdict[: max(room - len(note), 0)].rstrip() + note
    return head + open_fold + verdict + close_fold + tail


def _defuse_fold(verdict: str) -> str:
    """A folded verdict cannot end the fold early or carry a marker: fold delimiters and
    marker lines inside it are defused (:func:`~perfgate_lib.mdtext.no_html_comment`)."""
    out = []
    for line in verdict.splitlines():
        stripped = line.strip()
        if stripped in (VERDICT_START, VERDICT_END) or MARKER_LINE.fullmatch(stripped):
            line = no_html_comment(line)
        out.append(line)
    return "\n".join(out)


def standing_verdict(body: str | None) -> str | None:
    """The verdict a kit comment shows: the whole body of a verdict comment (no marker),
    the folded one of an assessment / running / stopped comment, else None."""
    if not body:
        return None
    state = read_marker(body)
    if state is None:
        return body.strip().removeprefix(SENTINEL).strip() or None
    if state.get("stage") not in NOT_VERDICTS:
        return None
    start = body.find(VERDICT_START)
    end = body.rfind(VERDICT_END)
    if start < 0 or end < start:
        return None
    return body[start + len(VERDICT_START) : end].strip() or None


def head_moved_text(pr: int, confirmed: str, head: str) -> str:
    """What the kit says when the PR head moved after the reviewer confirmed a commit."""
    return (
        "🤖 ## Zephyr perf gate — not run: the PR changed after the confirmation\n\n"
        f"The confirmation was for {md_code(confirmed[:12])}, but PR #{pr} now points at "
        f"{md_code(head[:12])}. Nothing was checked out or run. Ask again with "
        "`/perf-gate` to assess the new head; a reviewer confirms that one."
    )


def lock_is_fresh(since: Any, now: dt.datetime) -> bool:
    """A lock taken at ``since`` (any timestamp form) is younger than RUNNING_LOCK_HOURS
    and not dated in the future (beyond CLOCK_SKEW_SECONDS)."""
    taken = parse_time(since)
    if taken is None:
        return False
    age = (now - taken).total_seconds()
    return -CLOCK_SKEW_SECONDS <= age < RUNNING_LOCK_HOURS * 3600


def running_elsewhere(state: dict[str, Any] | None, now: dt.datetime) -> bool:
    """True when the marker says a gate is running and the lock is not stale."""
    return bool(
        state and state.get("stage") == "running" and lock_is_fresh(state.get("since"), now)
    )
