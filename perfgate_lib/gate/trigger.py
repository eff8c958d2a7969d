"""The gate from PR comments, one ``issue_comment`` event in, one action out: pure rules (what a
comment asks, who may ask, the state marker on the LAST line of the kit's comment, the folded
verdict), then :class:`CommentTrigger` (I/O; no kit account, no run): ``docs/security.md``."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from perfgate_lib import MAX_COMMENT_CHARS, SENTINEL
from perfgate_lib.errors import EXIT_PASS, PerfgateError, UsageError
from perfgate_lib.gate.flow import RunOptions, run
from perfgate_lib.gate.state import unfinished_runs
from perfgate_lib.io import storage
from perfgate_lib.io.github import LOGIN_VAR, GitHubClient, kit_comment, upsert_comment
from perfgate_lib.io.paramfile import read_json_object
from perfgate_lib.io.rundir import default_runs_root
from perfgate_lib.mdtemplate import Trusted, render
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


def is_request(body: str, bot_login: str | None = None) -> bool:
    """``/perf-gate`` at a line start, or an @-mention of ``bot_login``."""
    mention = rf"(?<![\w@])@{re.escape(bot_login or '')}(?![\w-])"
    return bool(REQUEST.search(body or "") or (bot_login and re.search(mention, body or "", re.I)))


def reply_text(body: str) -> str | None:
    """The body when it starts like a reply (``go``, ``skip``, ``max_gate``, any case)."""
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
    """Asking for a gate needs write access (a request replaces the kit's comment)."""
    return _write_access(requester, permission, "asking for a gate")


def marker(state: dict[str, Any]) -> str:
    """The hidden marker line: one line of JSON without ``--``, ``<`` or ``>``, so no value
    can end the HTML comment or open another."""
    text = json.dumps(state, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    text = text.replace("--", "-\\u002d").replace("<", "\\u003c").replace(">", "\\u003e")
    return f"<!-- perfgate-state: {text} -->"


def read_marker(body: str | None) -> dict[str, Any] | None:
    """The state in a kit comment's marker, or None; only the LAST line counts."""
    last = (body or "").rstrip().rpartition("\n")[2].strip()
    match = MARKER_LINE.fullmatch(last)
    if not match:
        return None
    try:
        data = json.loads(match.group(1))
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


TEXT_CUT_NOTE = "\n\n_(cut short to fit in one GitHub comment: the full text is in the run folder)_"
VERDICT_CUT_NOTE = "\n\n_(cut short: the full verdict is in the run folder)_"
OPEN_FOLD = (
    "\n<details><summary>Last verdict (it stands until a new verdict replaces it)"
    f"</summary>\n\n{VERDICT_START}\n"
)
CLOSE_FOLD = f"\n{VERDICT_END}\n\n</details>\n"


def _cut(text: str, room: int, note: str) -> str:
    """``text`` when it has at most ``room`` characters, else its start and ``note`` in
    ``room`` characters (``room`` at least ``len(note)``)."""
    if len(text) <= room:
        return text
    return text[: max(room - len(note), 0)].rstrip() + note


def kit_body(text: str, state: dict[str, Any], standing: str | None = None) -> str:
    """A kit comment that is not a verdict: the sentinel, ``text`` (escaped markdown), the
    standing verdict folded below, the state marker last; the text, then the folded verdict,
    cut short to fit GitHub's limit (the text leaves the verdict a quarter of it at least)."""
    tail = f"\n{marker(state)}\n"
    verdict = _defuse_fold((standing or "").strip().removeprefix(SENTINEL).strip())
    kept = max(min(len(verdict), MAX_COMMENT_CHARS // 4), len(VERDICT_CUT_NOTE))
    fold = len(OPEN_FOLD) + kept + len(CLOSE_FOLD) if verdict else 0
    text_room = MAX_COMMENT_CHARS - len(SENTINEL) - 2 - len(tail) - fold
    head = f"{SENTINEL}\n{_cut(text.strip(), text_room, TEXT_CUT_NOTE)}\n"
    if not verdict:
        return head + tail
    room = MAX_COMMENT_CHARS - len(head) - len(tail) - len(OPEN_FOLD) - len(CLOSE_FOLD)
    return head + OPEN_FOLD + _cut(verdict, room, VERDICT_CUT_NOTE) + CLOSE_FOLD + tail


def _defuse_fold(verdict: str) -> str:
    """Fold delimiters and marker lines inside a folded verdict, defused."""

    def risky(line: str) -> bool:
        return line in (VERDICT_START, VERDICT_END) or bool(MARKER_LINE.fullmatch(line))

    lines = verdict.splitlines()
    return "\n".join(no_html_comment(line) if risky(line.strip()) else line for line in lines)


def standing_verdict(body: str | None) -> str | None:
    """The verdict a kit comment shows: a verdict comment's body, or the folded one."""
    if not body:
        return None
    state = read_marker(body)
    if state is None:
        return body.strip().removeprefix(SENTINEL).strip() or None
    if state.get("stage") not in NOT_VERDICTS:
        return None
    start, end = body.find(VERDICT_START), body.rfind(VERDICT_END)
    if start < 0 or end < start:
        return None
    return body[start + len(VERDICT_START) : end].strip() or None


def lock_is_fresh(since: Any, now: dt.datetime) -> bool:
    """A lock taken at ``since`` is younger than RUNNING_LOCK_HOURS and not dated in the
    future (beyond CLOCK_SKEW_SECONDS)."""
    taken = parse_time(since)
    if taken is None:
        return False
    age = (now - taken).total_seconds()
    return -CLOCK_SKEW_SECONDS <= age < RUNNING_LOCK_HOURS * 3600


def running_elsewhere(state: dict[str, Any] | None, now: dt.datetime) -> bool:
    """The marker says a gate is running, and the lock is fresh."""
    return bool(
        state and state.get("stage") == "running" and lock_is_fresh(state.get("since"), now)
    )


@dataclass
class TriggerResult:
    """What the event led to. ``action``: ignored | assessed | out_of_scope | busy |
    refused | waived | ran | confirmed (plan only: the lock is set, ``plan`` says what to
    run) | bad_reply | reassessed."""

    action: str
    pr: int | None  # reassessed: the PR changed after the assessment
    message: str
    exit_code: int = EXIT_PASS
    run_dir: str | None = None
    plan: dict[str, Any] | None = None  # plan-only: the `perfgate run` a ladder job should do

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


EVENT_OBJECTS = ("repository", "issue", "comment", "issue.user", "comment.user")
"""The event's fields the trigger reads as JSON objects (absent or null: none)."""
EVENT_TEXTS = ("action", "repository.full_name", "comment.body",
               "comment.user.login", "comment.user.type", "issue.user.login")  # fmt: skip
"""The event's fields the trigger reads as strings (absent or null: none)."""


def _event_field(event: dict[str, Any], dotted: str) -> Any:
    """The value at ``issue.user.login`` (None when a step is absent or not an object)."""
    value: Any = event
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def load_event(path: str) -> dict[str, Any]:
    """The ``$GITHUB_EVENT_PATH`` JSON; UsageError naming the file (and the field) when it is
    not one, or a field the trigger reads has another type."""
    event = read_json_object(path, lambda problem: UsageError(f"--event {path}: {problem}"))

    def bad(name: str, problem: str) -> UsageError:
        return UsageError(f"--event {path}: field '{name}': {problem}")

    for name in EVENT_OBJECTS:
        if not isinstance(_event_field(event, name), dict | None):
            raise bad(name, "expected a JSON object")
    for name in EVENT_TEXTS:
        if not isinstance(_event_field(event, name), str | None):
            raise bad(name, "expected a string")
    number = _event_field(event, "issue.number")
    if number is not None and (type(number) is not int or number < 1):
        raise bad("issue.number", f"expected a PR number (1 or more), got {number!r}")
    return event


def kit_state(client: GitHubClient, pr: int) -> tuple[Any | None, dict[str, Any] | None]:
    """(the kit's canonical comment, the state in its last line); Nones when absent."""
    comment = kit_comment(client, pr)
    return comment, (read_marker(comment.body) if comment is not None else None)


def post_state(client: GitHubClient, pr: int, text: str, state: dict[str, Any]) -> None:
    """Replace the kit's comment with ``text`` and ``state``, the verdict it shows folded."""
    comment = kit_comment(client, pr)
    standing = standing_verdict(comment.body) if comment is not None else None
    upsert_comment(client, pr, kit_body(text, state, standing))


def post_head_moved(client: GitHubClient, pr: int, confirmed: str, head: str) -> None:
    """Say on the PR that the confirmed commit is no longer its head (nothing ran)."""
    text = (
        "🤖 ## Zephyr perf gate — not run: the PR changed after the confirmation\n\n"
        f"The confirmation was for {md_code(confirmed[:12])}, but PR #{pr} now points at "
        f"{md_code(head[:12])}. Nothing was checked out or run. Ask again with "
        "`/perf-gate` to assess the new head; a reviewer confirms that one."
    )
    post_state(client, pr, text, {"stage": "head_moved", "sha": confirmed, "head": head})


class CommentTrigger:
    """Handles events for one repository with ``run_options`` as ``perfgate run`` defaults.
    ``plan_only``: a confirmed reply sets the lock and returns the plan for a ladder job."""

    def __init__(
        self,
        client: GitHubClient,
        run_options: RunOptions,
        *,
        run_url: str | None = None,
        now: dt.datetime | None = None,
        plan_only: bool = False,
    ) -> None:
        self.plan_only = plan_only
        self.client = client
        # Without the kit's own account another account's sentinel comment could pass for
        # the kit's (and carry a forged state).
        self.kit = client.configured_login() or ""
        if not self.kit:
            raise UsageError(
                f"perfgate trigger refuses to run: the kit's GitHub account is unknown; set "
                f"{LOGIN_VAR} (github-actions[bot] for a workflow's GITHUB_TOKEN), or run under "
                "GitHub Actions"
            )
        self.base_options = run_options
        self.run_url = run_url
        self.now = now or dt.datetime.now(dt.UTC)
        self.runs_root = run_options.runs_root or default_runs_root()

    def _note(self, pr: int, body: str) -> None:
        """A plain (non-sentinel) reply: notes never replace the canonical comment."""
        issue = self.client.repo.get_issue(pr)
        self.client.call("posting a note", lambda: issue.create_comment(body.strip()), pr)

    def _options(self, pr: int, **changes: Any) -> RunOptions:
        return replace(self.base_options, pr=pr, repo=self.client.settings.repo, **changes)

    def _busy(self, pr: int, requester: str | None) -> TriggerResult | None:
        """When a gate of ``pr`` already runs (the comment's lock, or a running run folder
        with a fresh lock): a note linking to it, and the result."""
        comment, marker = kit_state(self.client, pr)
        if comment is not None and marker is not None and running_elsewhere(marker, self.now):
            holder = marker.get("run_url") or comment.html_url or "the running gate"
        else:
            runs = unfinished_runs(self.runs_root, pr)
            held = (u for u in runs if u.status == "running")
            holder = next(
                (u.run_dir for u in held if lock_is_fresh(u.record.updated_at, self.now)), None
            )
        if not holder:
            return None
        self._note(pr, render("busy", holder=holder, requester=requester))
        return TriggerResult("busy", pr, f"a gate is already running: {holder}")

    def handle(self, event: dict[str, Any]) -> TriggerResult:
        issue = event.get("issue") or {}
        comment = event.get("comment") or {}
        pr = issue.get("number")
        if not issue.get("pull_request") or not comment or pr is None:
            return TriggerResult("ignored", pr, "not a comment on a pull request")
        if event.get("action") != "created":  # an edited or deleted comment never acts
            return TriggerResult(
                "ignored", pr, f"a comment {str(event.get('action'))[:20]!r}, not created"
            )
        user = comment.get("user") or {}
        commenter = user.get("login") or ""
        if user.get("type") == "Bot" or commenter.lower() == self.kit.lower():
            return TriggerResult("ignored", pr, "a comment of a bot (or of the kit itself)")
        body = comment.get("body") or ""
        if is_request(body, self.kit):
            return self.request(int(pr), commenter)
        if reply_text(body) is not None:
            author = ((issue.get("user") or {}).get("login")) or ""
            return self.reply(int(pr), commenter, author, body.strip())
        return TriggerResult("ignored", pr, "neither a gate request nor a reply")

    def request(self, pr: int, requester: str) -> TriggerResult:
        """``/perf-gate``: assess and post the assessment (from a writer; else a note)."""
        allowed = may_request(requester, self.client.permission(requester))
        if not allowed.allowed:
            self._note(pr, render("note", kind="not_started", reason=allowed.reason))
            return TriggerResult("refused", pr, allowed.reason)
        if busy := self._busy(pr, requester):
            return busy
        outcome = run(self._options(pr, confirm=None, reviewer=None), echo=lambda _t: None)
        from perfgate_lib.assess.render import render_assessment_table
        from perfgate_lib.assess.run import load_assessment

        assessment = load_assessment(storage.join(outcome.run_dir, "assessment.json"))
        stage = "assessment" if assessment.in_scope else "out_of_scope"
        state = {
            "stage": stage,
            "sha": assessment.head_sha,
            "max_gate": assessment.proposed_max_gate,
            "requested_by": requester,
        }
        body = render(
            "assessment",
            in_scope=assessment.in_scope,
            proposed_max_gate=assessment.proposed_max_gate,
            is_fork=assessment.is_fork,
            head_sha=assessment.head_sha,
            table=Trusted(render_assessment_table(assessment)),
        )
        post_state(self.client, pr, body, state)
        action = "assessed" if assessment.in_scope else "out_of_scope"
        return TriggerResult(action, pr, f"assessment posted ({stage})", run_dir=outcome.run_dir)

    def reply(self, pr: int, commenter: str, author: str, text: str) -> TriggerResult:
        """A reviewer's ``go`` / ``max_gate=K`` / ``skip``."""
        pending = kit_state(self.client, pr)[1]
        if not pending or pending.get("stage") not in ("assessment", "out_of_scope"):
            return TriggerResult("ignored", pr, "no assessment awaits confirmation")
        auth = authorize(commenter, author, self.client.permission(commenter))
        if not auth.allowed:
            self._note(pr, render("note", kind="ignored", reply=text, reason=auth.reason))
            return TriggerResult("refused", pr, auth.reason)
        from perfgate_lib.assess.confirm import parse_reply

        try:
            decision = parse_reply(text)
        except UsageError as exc:
            self._note(pr, render("note", kind="unreadable", reply=text, reason=str(exc)))
            return TriggerResult("bad_reply", pr, str(exc))
        if busy := self._busy(pr, None):
            return busy
        head = str(self.client.pull(pr).head.sha)
        if pending.get("sha") != head:
            moved = render("note", kind="head_moved", confirmed=str(pending.get("sha")), head=head)
            self._note(pr, moved)
            result = self.request(pr, commenter)
            result.action = "reassessed"
            return result
        skip = decision.action == "override" and decision.max_gate == "skip"
        if not skip:
            lock = {
                "stage": "running",
                "since": self.now.isoformat(),
                "run_url": self.run_url,
                "reviewer": commenter,
                "reply": text[:80],
                "sha": head,
            }
            running = render(
                "running", reviewer=commenter, reply=text, sha=head, run_url=self.run_url
            )
            post_state(self.client, pr, running, lock)
        if self.plan_only and not skip:
            plan = {"pr": pr, "sha": head, "confirm": text, "reviewer": commenter}
            return TriggerResult("confirmed", pr, "lock set; the ladder job runs it", plan=plan)
        try:
            outcome = run(
                self._options(pr, confirm=text, reviewer=commenter, sha=head), echo=lambda _t: None
            )
        except PerfgateError as exc:
            self.release(pr, str(exc))
            raise
        action = "waived" if outcome.verdict == "skip" else "ran"
        return TriggerResult(
            action, pr, outcome.message, exit_code=outcome.exit_code, run_dir=outcome.run_dir
        )

    def release(self, pr: int, why: str) -> None:
        """Clear the PR's lock after a ladder job died: its run folders stop counting as
        running (a confirmation resumes them), a ``running`` comment says what happened."""
        for state in unfinished_runs(self.runs_root, pr):
            if state.status == "running":
                state.set(status="interrupted")
                state.event("released", reason=why[:200])
        pending = kit_state(self.client, pr)[1]
        if pending and pending.get("stage") == "running":
            stopped = render("stopped", why=why, run_url=self.run_url)
            post_state(self.client, pr, stopped, {"stage": "stopped", "sha": pending.get("sha")})
