"""Step 1a: the reviewer's reply to the assessment, and what it changes.

The syntax: ``docs/assessment.md`` ("The reviewer's reply"); anything else is a UsageError.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace

from perfgate_lib.assess.assessment import GATES, Assessment
from perfgate_lib.assess.render import FORK_WORD
from perfgate_lib.errors import UsageError
from perfgate_lib.mdtext import plain

_ACCEPTED = (
    'accepted replies: "go", "max_gate=<skip|1|2|3>" (optionally followed by a reason, e.g. '
    '"max_gate=2 — only minhash sensitivity matters"), "skip" (optionally with a reason)'
)
_QUOTES = "\"'`“”‘’"
_SEP = r"(?:\s*[,;]\s*|\s+)"
_GO = re.compile(rf"^go(?:{_SEP}({FORK_WORD}))?$", re.I)
_OVERRIDE = re.compile(
    rf"^(?:max[_ -]?gate\s*[=:]\s*(?P<gate>[^\s,;:—–-]+)|(?P<skip>skip))"
    rf"(?:{_SEP}(?P<fork>{FORK_WORD})\b)?"
    r"(?:\s*[-—–:,;]+\s*|\s+|$)(?P<reason>.*)$",
    re.I | re.S,
)


@dataclass(frozen=True)
class Reply:
    """A parsed reply: ``action`` go | override; ``max_gate`` for an override."""

    action: str
    max_gate: str | None = None
    reason: str = ""
    fork_ok: bool = False
    text: str = ""


def parse_reply(text: str) -> Reply:
    """Parse the reviewer's reply; UsageError listing what is accepted otherwise."""
    raw = plain(text or "")
    norm = unicodedata.normalize("NFKC", raw).strip().strip(_QUOTES).strip()
    norm = re.sub(r"[.!]+$", "", norm).strip()
    if not norm:
        raise UsageError(f"empty reply; {_ACCEPTED}")
    m = _GO.match(norm)
    if m:
        return Reply("go", fork_ok=bool(m.group(1)), text=raw.strip())
    m = _OVERRIDE.match(norm)
    if m:
        gate = "skip" if m.group("skip") else m.group("gate").lower().strip(_QUOTES)
        if gate not in GATES:
            raise UsageError(
                f"reply {raw.strip()!r}: max_gate must be one of {', '.join(GATES)}, "
                f"got {gate!r}; {_ACCEPTED}"
            )
        reason = m.group("reason").strip().strip(_QUOTES).strip()
        return Reply("override", gate, reason, bool(m.group("fork")), raw.strip())
    raise UsageError(f"unrecognised reply {raw.strip()!r}; {_ACCEPTED}")


def apply_reply(
    assessment: Assessment, reply: Reply | str, *, reviewer: str | None = None
) -> Assessment:
    """The confirmed assessment; a fork PR needs ``fork`` in any reply that runs a gate."""
    r = parse_reply(reply) if isinstance(reply, str) else reply
    proposed = assessment.proposed_max_gate or assessment.max_gate
    gate = proposed if r.action == "go" else str(r.max_gate)
    forced = not assessment.in_scope and gate != "skip"
    if assessment.is_fork and gate != "skip" and not r.fork_ok:
        raise UsageError(
            f"reply {r.text!r}: the head of this PR is a fork "
            f"({assessment.fork_repo or 'unknown repository'}); its treatment would run "
            f'untrusted code on the cluster. Confirm explicitly with "go {FORK_WORD}" or '
            f'"max_gate=<1|2|3> {FORK_WORD}", or reply "skip".'
        )
    override = gate != proposed
    rationale = assessment.rationale
    flags = list(assessment.flags)
    if override:
        head = f"reviewer override: max_gate={gate}"
        head += f" — {r.reason}" if r.reason else ""
        rationale = f"{head} (proposed max_gate={proposed}: {assessment.rationale})"
    if forced:
        flags.append(
            "the reviewer forced a gate on a diff the scope rules call out of scope "
            f"({assessment.rationale})"
        )
    confirmation = {
        "reply": r.text,
        "action": r.action,
        "max_gate": gate,
        "override": override,
        "reason": r.reason,
        "forced": forced,
        "fork_confirmed": bool(assessment.is_fork and r.fork_ok and gate != "skip"),
        "reviewer": reviewer,
    }
    return replace(
        assessment, max_gate=gate, rationale=rationale, flags=flags, confirmation=confirmation
    )


def waived(assessment: Assessment) -> bool:
    """True when a confirmed, in-scope (or forced) assessment says skip: post the waiver."""
    conf = assessment.confirmation
    return bool(conf) and assessment.max_gate == "skip" and bool(assessment.in_scope)


def runs_gate(assessment: Assessment) -> bool:
    """True when the confirmed assessment runs at least Gate 1."""
    return bool(assessment.confirmation) and assessment.max_gate != "skip"
