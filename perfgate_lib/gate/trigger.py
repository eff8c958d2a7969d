"""The gate from PR comments: one GitHub ``issue_comment`` event in, one action out.

Only ``created`` comments act, and only the kit's own account's comment holds its state;
without a known account (``PERFGATE_GITHUB_LOGIN``) the trigger refuses to run. Who may
ask and confirm, and what each comment does: ``docs/security.md`` ("The comment
trigger"). Decisions live in :mod:`perfgate_lib.gate.trigger_rules` (pure); this module
does the I/O through :mod:`perfgate_lib.io.github` and :mod:`perfgate_lib.gate.flow`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, replace
from typing import Any

from perfgate_lib.errors import EXIT_PASS, PerfgateError, UsageError
from perfgate_lib.gate.flow import RunOptions, run
from perfgate_lib.gate.trigger_rules import (
    authorize,
    head_moved_text,
    is_created,
    is_request,
    kit_body,
    lock_is_fresh,
    may_request,
    read_marker,
    reply_text,
    running_elsewhere,
    standing_verdict,
)
from perfgate_lib.io import storage
from perfgate_lib.io.github import LOGIN_VAR, GitHubClient, kit_comment, upsert_comment
from perfgate_lib.io.paramfile import read_json_object
from perfgate_lib.io.rundir import default_runs_root
from perfgate_lib.mdtemplate import Trusted, render


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


def load_event(path: str) -> dict[str, Any]:
    """The ``$GITHUB_EVENT_PATH`` JSON; UsageError naming the file when it is not one."""
    return read_json_object(path, lambda problem: UsageError(f"--event {path}: {problem}"))


def require_kit_login(client: GitHubClient) -> str:
    """The kit's own account, or a one-line UsageError: without it another account's
    sentinel comment could pass for the kit's (and carry a forged state)."""
    login = client.configured_login()
    if not login:
        raise UsageError(
            f"perfgate trigger refuses to run: the kit's GitHub account is unknown; set "
            f"{LOGIN_VAR} (github-actions[bot] for a workflow's GITHUB_TOKEN), or run under "
            "GitHub Actions"
        )
    return login


def kit_state(client: GitHubClient, pr: int) -> tuple[Any | None, dict[str, Any] | None]:
    """(the kit's canonical comment, the state in its last line); Nones when absent."""
    comment = kit_comment(client, pr)
    return comment, (read_marker(comment.body) if comment is not None else None)


def post_state(client: GitHubClient, pr: int, text: str, state: dict[str, Any]) -> None:
    """Replace the kit's comment with ``text`` and ``state``, keeping the verdict it shows
    folded below (a request, a lock or a refusal never erases a verdict)."""
    comment = kit_comment(client, pr)
    standing = standing_verdict(comment.body) if comment is not None else None
    upsert_comment(client, pr, kit_body(text, state, standing))


def post_head_moved(client: GitHubClient, pr: int, confirmed: str, head: str) -> None:
    """Say on the PR that the confirmed commit is no longer its head (nothing ran)."""
    state = {"stage": "head_moved", "sha": confirmed, "head": head}
    post_state(client, pr, head_moved_text(pr, confirmed, head), state)


def _lock_holder(client: GitHubClient, pr: int, runs_root: str, now: dt.datetime) -> str | None:
    """A link or folder of the gate already running for ``pr``, else None."""
    from perfgate_lib.gate.state import unfinished_runs

    comment, marker = kit_state(client, pr)
    if comment is not None and marker is not None and running_elsewhere(marker, now):
        return marker.get("run_url") or comment.html_url or "the running gate"
    for unfinished in unfinished_runs(runs_root, pr):
        updated = unfinished.record.updated_at
        if unfinished.status == "running" and lock_is_fresh(updated, now):
            return unfinished.run_dir
    return None


class CommentTrigger:
    """Handles events for one repository; ``run_options`` are the ``perfgate run``
    defaults (runner, checkout, runs root, executor...) used for each PR.

    ``plan_only``: a confirmed reply sets the PR's lock and returns the plan instead of
    running the ladder, so a quick dispatch job (serialised per PR) decides and a separate
    long job runs the ladder (see ``.github/workflows/perf-gate.yml``)."""

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
        self.kit = require_kit_login(client)
        self.base_options = run_options
        self.run_url = run_url
        self.now = now or dt.datetime.now(dt.UTC)
        self.runs_root = run_options.runs_root or default_runs_root()

    # ------------------------------------------------------------------ helpers
    def _note(self, pr: int, body: str) -> None:
        """A plain (non-sentinel) reply, a rendered template (``note`` or ``busy``): notes
        never replace the canonical comment."""
        issue = self.client.repo.get_issue(pr)
        self.client.call("posting a note", lambda: issue.create_comment(body.strip()), pr)

    def _options(self, pr: int, **changes: Any) -> RunOptions:
        return replace(self.base_options, pr=pr, repo=self.client.settings.repo, **changes)

    def _busy(self, pr: int, requester: str | None) -> TriggerResult | None:
        """When a gate of ``pr`` already runs: a note linking to it, and the result."""
        holder = _lock_holder(self.client, pr, self.runs_root, self.now)
        if not holder:
            return None
        self._note(pr, render("busy", holder=holder, requester=requester))
        return TriggerResult("busy", pr, f"a gate is already running: {holder}")

    def _pending(self, pr: int) -> dict[str, Any] | None:
        return kit_state(self.client, pr)[1]

    # ------------------------------------------------------------------ events
    def handle(self, event: dict[str, Any]) -> TriggerResult:
        issue = event.get("issue") or {}
        comment = event.get("comment") or {}
        pr = issue.get("number")
        if not issue.get("pull_request") or not comment or pr is None:
            return TriggerResult("ignored", pr, "not a comment on a pull request")
        if not is_created(event):
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
        """``/perf-gate`` from a writer: assess and post the assessment block (or say one is
        running); from anyone else a note, nothing changes."""
        allowed = may_request(requester, self.client.permission(requester))
        if not allowed.allowed:
            self._note(pr, render("note", kind="not_started", reason=allowed.reason))
            return TriggerResult("refused", pr, allowed.reason)
        busy = self._busy(pr, requester)
        if busy:
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
        pending = self._pending(pr)
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
        busy = self._busy(pr, None)
        if busy:
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
        running (a later confirmation resumes them: same ferry, no second one), and a
        ``running`` comment the ladder did not replace says what happened."""
        from perfgate_lib.gate.state import unfinished_runs

        for state in unfinished_runs(self.runs_root, pr):
            if state.status == "running":
                state.set(status="interrupted")
                state.event("released", reason=why[:200])
        pending = self._pending(pr)
        if pending and pending.get("stage") == "running":
            stopped = render("stopped", why=why, run_url=self.run_url)
            post_state(self.client, pr, stopped, {"stage": "stopped", "sha": pending.get("sha")})
