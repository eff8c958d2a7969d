"""``perfgate run``: assess -> confirm -> gates (the ladder) -> post; the same command resumes
(``docs/running-a-gate.md``). Exit codes: 0 pass / warn / skip / waiting, 1 fail, 3
inconclusive, 4 could not run."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from rich.console import Console
from rich.text import Text

from perfgate_lib.errors import EXIT_COULD_NOT_RUN, EXIT_PASS, PerfgateError, UsageError
from perfgate_lib.gate.ladder import GateResult, LadderOutcome, parse_max_gate, run_ladder
from perfgate_lib.gate.run import (
    DEFAULT_REPO,
    GateJob,
    GateSession,
    handle_interrupt,
    post_comment,
    resolve_cluster_config,
)
from perfgate_lib.gate.runparams import load_run_params
from perfgate_lib.gate.state import (
    LockLost,
    PrLock,
    RunState,
    find_unfinished,
    gate_folder,
    hold_pr,
    unfinished_runs,
)
from perfgate_lib.io import storage
from perfgate_lib.io.rundir import absolute, default_runs_root, utc_stamp
from perfgate_lib.mdtext import plain

RUNNERS = ("iris", "replay", "local")
EXECUTORS = ("notebook", "inprocess")
COMMIT_SHA = re.compile(r"[0-9a-f]{7,64}")
"""A commit as ``--sha`` gives it: 7 to 64 lower-case hex digits (it names the run folder)."""


class GateStepFailed(PerfgateError):
    """A gate notebook stopped on a recorded error; carries that error's exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_COULD_NOT_RUN) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class RunOptions:
    """``perfgate run`` options. ``executor``: ``notebook`` (papermill, the audit trail)
    or ``inprocess`` (the same steps without kernels; tests and quick audits)."""

    pr: int
    repo: str = DEFAULT_REPO
    checkout: str = "."
    max_gate: str | None = None
    confirm: str | None = None
    runner: str = "iris"
    replay_dir: str = ""
    dry_run: bool = False
    runs_root: str | None = None
    yes_stop_early: bool = False
    iris_config: str = ""
    allow_other_cluster: bool = False
    sha: str = ""
    assessment: str = ""
    baseline_dir: str = ""
    mirror: str = ""
    no_actions: bool = False
    reviewer: str | None = None
    executor: str = "notebook"
    run_params: str = ""  # the run settings file (default parameters/gate_common.yaml)
    # local runner: Gate0Settings fields overriding parameters/gate0.yaml (max_pairs,
    # budget_s in seconds, docs, env, metric)
    gate0: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunOutcome:
    exit_code: int
    message: str
    run_dir: str
    verdict: str | None = None


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def reply_from_options(confirm: str | None, max_gate: str | None) -> str:
    """The reviewer's reply implied by ``--confirm`` and ``--max-gate`` ("" = none yet)."""
    from perfgate_lib.assess.confirm import parse_reply

    if not confirm:
        return ""
    reply = parse_reply(confirm)
    if max_gate is None:
        return confirm
    wanted = str(parse_max_gate(max_gate))
    if reply.action == "override" and reply.max_gate != wanted:
        raise UsageError(
            f"--max-gate {max_gate} and --confirm {confirm!r} disagree; give one max_gate"
        )
    fork = " fork" if reply.fork_ok else ""
    reason = f" — {reply.reason}" if reply.reason else ""
    return f"max_gate={wanted}{fork}{reason}"


def validate(opts: RunOptions) -> None:
    """Refuse bad combinations before anything runs (exit 2)."""
    if opts.runner not in RUNNERS:
        raise UsageError(f"--runner must be one of {', '.join(RUNNERS)}")
    if opts.executor not in EXECUTORS:
        raise UsageError(f"executor must be one of {', '.join(EXECUTORS)}")
    if opts.sha and not COMMIT_SHA.fullmatch(opts.sha):
        raise UsageError(f"--sha {opts.sha!r}: not a commit (7 to 64 lower-case hex digits)")
    root = opts.runs_root or default_runs_root()
    if storage.exists(root) and not storage.isdir(root):
        given = f"--runs-root {root}" if opts.runs_root else f"$PERFGATE_RUNS_ROOT ({root})"
        raise UsageError(f"{given}: a file, not a folder")
    if opts.runner == "replay" and not opts.replay_dir:
        raise UsageError("--runner replay needs --replay-dir DIR (recorded treatment reports)")
    if opts.max_gate is not None:
        parse_max_gate(opts.max_gate)
    reply_from_options(opts.confirm, opts.max_gate)
    if opts.runner == "iris":
        from perfgate_lib.gate.worktree import repo_root

        top = str(repo_root(opts.checkout))
        cluster = load_run_params(opts.run_params or None).cluster_config
        resolve_cluster_config(top, opts.iris_config, opts.allow_other_cluster, cluster)


class HeadMoved(PerfgateError):
    """The PR head is no longer the commit the reviewer confirmed (``--sha``)."""

    def __init__(self, pr: int, confirmed: str, head: str) -> None:
        super().__init__(
            f"PR #{pr} head moved: confirmed {confirmed[:12]}, now {head[:12]}; nothing was "
            "checked out or run. Ask again with /perf-gate (or re-run without --sha)"
        )


def head_sha(opts: RunOptions) -> str:
    """The PR head SHA from GitHub; :class:`HeadMoved` when ``--sha`` (what the reviewer
    confirmed) is no longer it. Offline (given assessment, dry run) ``--sha`` as it is."""
    if opts.sha and opts.assessment and opts.dry_run:
        return opts.sha
    from perfgate_lib.io.github import GitHubClient, GitHubSettings

    client = GitHubClient(GitHubSettings.from_env(repo=opts.repo))
    head = str(client.pull(opts.pr).head.sha)
    if opts.sha and opts.sha != head:
        from perfgate_lib.gate.trigger import post_head_moved

        if not opts.dry_run:
            post_head_moved(client, opts.pr, opts.sha, head)
        raise HeadMoved(opts.pr, opts.sha, head)
    return head


def open_run(opts: RunOptions, sha: str) -> tuple[RunState, bool]:
    """(state, resumed?): the unfinished run of this PR at ``sha``, or a new one (those at
    another SHA are marked superseded; their ferries are not touched)."""
    root = opts.runs_root or default_runs_root()
    found = find_unfinished(root, opts.pr, sha)
    if found is not None:
        found.event("resumed", pid=os.getpid())
        return found, True
    for old in unfinished_runs(root, opts.pr):
        old.set(status="superseded", superseded_by_sha=sha)
        _say(f"note: earlier unfinished run {old.run_dir} (sha {old.record.sha}) superseded")
    base = storage.join(root, f"pr{opts.pr}", f"{utc_stamp()}-{sha[:7]}")
    run_dir, n = base, 1
    while storage.exists(run_dir):  # two runs in the same second; a folder is never reused
        n += 1
        run_dir = f"{base}-{n}"
    storage.makedirs(run_dir)
    state = RunState.create(
        run_dir,
        pr=opts.pr,
        repo=opts.repo,
        sha=sha,
        runner=opts.runner,
        options={k: v for k, v in asdict(opts).items() if k != "confirm"},  # no secrets
        pid=os.getpid(),
    )
    return state, False


def run_assess_notebook(out_dir: str, parameters: dict) -> str:
    """Execute assess.ipynb into ``out_dir`` (the audit trail); returns assessment.json's path."""
    from perfgate_lib.io.notebook import run_notebook

    params = {**parameters, "out_dir": absolute(out_dir)}
    if params.get("checkout"):
        params["checkout"] = absolute(params["checkout"])
    run_notebook("assess", out_dir, params)
    return storage.join(out_dir, "assessment.json")


def assess(opts: RunOptions, state: RunState, reply: str) -> str:
    """assessment.json in the run folder (made once per run); returns its path."""
    path = storage.join(state.run_dir, "assessment.json")
    if state.record.assessment and storage.exists(path):
        return path
    if opts.assessment:
        from perfgate_lib.assess.confirm import apply_reply
        from perfgate_lib.assess.run import assessment_text, load_assessment

        assessment = load_assessment(opts.assessment)
        if reply and not assessment.confirmation:
            assessment = apply_reply(assessment, reply, reviewer=opts.reviewer)
        storage.write_text(path, assessment_text(assessment))
    elif opts.executor == "notebook":
        params = {"pr": opts.pr, "repo": opts.repo, "checkout": "", "base": "", "head": ""}
        run_assess_notebook(state.run_dir, {**params, "reply": reply})
    else:
        from perfgate_lib.assess.run import run_assess

        run_assess(pr=opts.pr, repo=opts.repo, reply=reply, out_dir=state.run_dir)
    state.set(assessment=path, status="assessed")
    return path


def confirm(opts: RunOptions, state: RunState, path: str, reply: str) -> Any:
    """The confirmed assessment, or None when still waiting for the reviewer."""
    from perfgate_lib.assess.confirm import apply_reply
    from perfgate_lib.assess.run import assessment_text, load_assessment

    assessment = load_assessment(path)
    if opts.sha and assessment.head_sha and assessment.head_sha != opts.sha:
        raise HeadMoved(opts.pr, opts.sha, assessment.head_sha)  # assessed another commit
    confirmed = assessment.confirmation
    new_reply = bool(reply) and (not confirmed or confirmed.get("reply") != reply)
    if new_reply and confirmed and state.attempts():
        _say(
            f"note: this run was confirmed with {confirmed.get('reply')!r} and "
            f"has gates in flight; --confirm {reply!r} is ignored"
        )
    elif new_reply:
        if confirmed:  # a new reply before any gate ran: start from the proposal
            assessment = replace(
                assessment, max_gate=assessment.proposed_max_gate, confirmation=None
            )
        assessment = apply_reply(assessment, reply, reviewer=opts.reviewer)
        storage.write_text(path, assessment_text(assessment))
    if not assessment.confirmation:
        return None
    state.set(confirmation=assessment.confirmation, max_gate=assessment.max_gate)
    return assessment


def gate_job(opts: RunOptions, state: RunState, gate: int, attempt: int, worktree: str) -> GateJob:
    """The gate notebook's parameters for one attempt."""
    checks_done = bool((state.record.local_checks or {}).get("passed"))
    return GateJob(
        run_dir=absolute(state.run_dir),
        gate=gate,
        attempt=attempt,
        pr=opts.pr,
        repo=opts.repo,
        sha=state.record.sha or "",
        runner=opts.runner,
        replay=absolute(opts.replay_dir) if opts.replay_dir else "",
        checkout=state.record.checkout or "",
        worktree=worktree,
        baseline=absolute(opts.baseline_dir) if opts.baseline_dir else "",
        mirror=opts.mirror,
        use_actions=not opts.no_actions,
        assessment=absolute(storage.join(state.run_dir, "assessment.json")),
        max_gate=str(state.record.max_gate),
        local_checks=opts.runner == "iris" and not checks_done,
        iris_config=opts.iris_config,
        allow_other_cluster=opts.allow_other_cluster,
        yes_stop_early=opts.yes_stop_early,
        post="file" if opts.dry_run else "github",
        thresholds="",
        run_params=absolute(opts.run_params) if opts.run_params else "",
    )


def execute_attempt(
    opts: RunOptions, state: RunState, gate: int, attempt: int, worktree: str
) -> str:
    """Run one gate attempt (notebook or in-process); returns its verdict."""
    job = gate_job(opts, state, gate, attempt, worktree)
    folder = gate_folder(gate, attempt)
    _say(f"gate {gate}, attempt {attempt}: running ({folder}/)")
    if opts.executor == "inprocess":
        return GateSession(job, state=state).run_all()
    from perfgate_lib.io.notebook import NotebookFailed, run_notebook

    out_dir = storage.join(state.run_dir, folder)
    try:
        with progress_watch(storage.join(out_dir, "progress.json")):
            run_notebook("gate", out_dir, asdict(job))
    except NotebookFailed as exc:
        state.reload()
        err = state.attempt(gate, attempt).error
        if err:
            raise GateStepFailed(
                f"gate {gate} attempt {attempt}, step {err.get('step')}: {err.get('message')} "
                f"(executed notebook: {exc.output})",
                int(err.get("exit_code", EXIT_COULD_NOT_RUN)),
            ) from exc
        raise
    state.reload()
    rec = state.attempt(gate, attempt)
    if rec.status != "posted" or not rec.verdict:
        raise GateStepFailed(f"gate {gate} attempt {attempt} ended without a posted verdict")
    return rec.verdict


@contextlib.contextmanager
def progress_watch(path: str, interval: float = 0.5) -> Iterator[None]:
    """Echo the babysitter's progress lines (written by the gate notebook's kernel) to
    this terminal while the notebook runs; a live status line on a TTY."""
    stop = threading.Event()
    console = Console(stderr=True)

    def loop() -> None:
        last = None
        status = None
        try:
            while not stop.wait(interval):
                try:
                    data = json.loads(storage.read_text(path))
                except (FileNotFoundError, json.JSONDecodeError, OSError):
                    continue
                line = plain(data.get("line") or "")
                if not line or line == last:
                    continue
                last = line
                if not console.is_terminal:
                    _say(line)
                elif status is None:  # Text: never read as rich markup
                    status = console.status(Text(line))
                    status.start()
                else:
                    status.update(Text(line))
        finally:
            if status is not None:
                status.stop()

    thread = threading.Thread(target=loop, name="perfgate-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2)


def run_gates(opts: RunOptions, state: RunState, max_gate: str) -> LadderOutcome:
    """The ladder, inside the treatment worktree for the iris runner."""

    @contextlib.contextmanager
    def place() -> Iterator[str]:
        if opts.runner != "iris":
            yield ""
            return
        from perfgate_lib.gate.worktree import repo_root, treatment_worktree

        top = repo_root(opts.checkout)
        common = load_run_params(opts.run_params or None)
        state.set(checkout=str(top))
        with treatment_worktree(
            top,
            opts.pr,
            str(state.record.sha),
            relative_root=common.worktrees_dir,
            remote=common.git_remote,
        ) as wt:
            state.event("worktree-created", path=str(wt.path))
            try:
                yield str(wt.path)
            finally:
                state.reload()  # a gate notebook (another process) may have written it
                state.event("worktree-removed", path=str(wt.path))

    with place() as worktree:
        return run_ladder(
            max_gate,
            lambda g, a: execute_attempt(opts, state, g, a, worktree),
            [GateResult.from_json(r) for r in state.record.ladder],  # comments out so far
        )


def post_and_finish(
    opts: RunOptions,
    state: RunState,
    post: tuple[str, str, str],
    verdict: str,
    exit_code: int,
    message: str,
) -> RunOutcome:
    """Post (kind, key, body) once, or write it on a dry run, then finish the run."""
    kind, key, body = post
    mode = "file" if opts.dry_run else "github"
    post_comment(state, kind, key, body, mode=mode, repo=opts.repo, pr=opts.pr)
    return finish(state, {"exit_code": exit_code, "verdict": verdict, "message": message})


def run_local(opts: RunOptions, state: RunState, assessment: Any) -> RunOutcome:
    """``--runner local``: "gate 0", the local A/B with real Zephyr (merge-base vs the PR
    head on this machine) instead of cluster ferries; one comment, titled Gate 0."""
    from perfgate_lib.errors import EXIT_BY_VERDICT
    from perfgate_lib.gate.worktree import ensure_commit, repo_root
    from perfgate_lib.local.demo import run_local_gate

    top = str(repo_root(opts.checkout))
    sha = str(state.record.sha)
    ensure_commit(top, sha, opts.pr, remote=load_run_params(opts.run_params or None).git_remote)
    base = assessment.base_sha or "main"
    folder = storage.join(state.run_dir, "gate0")
    verdict = state.record.local_verdict
    if verdict is None:
        assess_path = absolute(storage.join(state.run_dir, "assessment.json"))
        data, _notebooks, _timings = run_local_gate(
            top, base, sha, folder, gate0=opts.gate0, assessment=assess_path
        )
        verdict = data["verdict"]
        state.set(local_verdict=verdict)
    body = storage.read_text(storage.join(folder, "comment.md"))
    message = f"gate 0 (local A/B): {verdict}"
    return post_and_finish(
        opts, state, ("verdict", "gate0", body), verdict, EXIT_BY_VERDICT[verdict], message
    )


def finish(state: RunState, outcome: dict[str, Any]) -> RunOutcome:
    """Record the outcome (the run is finished), archive the run folder, say what ended."""
    state.set(status="finished", outcome=outcome, finished_at=utc_stamp())
    archive(state, outcome)
    message = str(outcome.get("message", ""))
    return RunOutcome(int(outcome["exit_code"]), message, state.run_dir, outcome.get("verdict"))


def archive(state: RunState, outcome: dict[str, Any]) -> None:
    """The single archive call site: HTML renders, provenance, scrub, run index."""
    from perfgate_lib.audit.archive import archive_run

    ladder = state.record.ladder
    result = archive_run(
        state.run_dir,
        pr=int(state.record.pr or 0),
        gate=ladder[-1]["gate"] if ladder else None,
        sha=(state.record.sha or "")[:7] or None,
        verdict=outcome.get("verdict"),
    )
    state.event("archived", index=str(getattr(result, "index_file", "")))


def run(opts: RunOptions, echo: Callable[[str], None] = print) -> RunOutcome:
    """The whole ``perfgate run``; see the module docstring."""
    validate(opts)
    reply = reply_from_options(opts.confirm, opts.max_gate)
    sha = head_sha(opts)
    with hold_pr(opts.runs_root or default_runs_root(), opts.pr) as lock:  # one run per PR
        return _run_held(opts, lock, sha, reply, echo)


def _run_held(
    opts: RunOptions, lock: PrLock, sha: str, reply: str, echo: Callable[[str], None]
) -> RunOutcome:
    """:func:`run` while this process holds the PR's lock (state.py)."""
    if reply and not opts.sha:  # a reply confirms the assessment it answers, not a new head
        waiting = find_unfinished(opts.runs_root or default_runs_root(), opts.pr)
        if waiting and waiting.status == "awaiting_confirmation" and waiting.record.sha != sha:
            raise HeadMoved(opts.pr, str(waiting.record.sha), sha)
    state, resumed = open_run(opts, sha)
    lock.adopt(state)
    echo(f"{'resuming' if resumed else 'run folder'}: {state.run_dir}")
    try:
        return _run(opts, state, reply, echo)
    except KeyboardInterrupt:
        _stop_in_flight(opts, state.reload())
        state.event("interrupted")
        raise
    except PerfgateError as exc:
        if isinstance(exc, LockLost):
            raise  # another run holds the PR now: its state.json is not ours to write
        state.reload()
        outcome = {"exit_code": exc.exit_code, "message": str(exc), "verdict": None}
        if state.status in ("halted", "finished"):
            state.set(outcome=outcome)
            with contextlib.suppress(PerfgateError):
                archive(state, outcome)
        else:
            state.set(status="error", outcome=outcome)
        raise


def _stop_in_flight(opts: RunOptions, state: RunState) -> None:
    """On an interrupt: stop the attempt whose job is not yet terminal (if the policy allows)."""
    from perfgate_lib.gate.babysit import BabysitPolicy
    from perfgate_lib.verdict.gates import load_gate

    for rec in state.attempts():
        if rec.job_id and not (rec.job is not None and rec.job.terminal):
            params = load_gate(rec.gate)
            policy = BabysitPolicy.for_gate(
                params.poll_interval_minutes,
                params.wall_time_minutes,
                stop_early_confirmed=opts.yes_stop_early,
            )
            if opts.runner != "iris":
                from perfgate_lib.runners.replay import ReplayRunner

                runner: Any = ReplayRunner(opts.replay_dir or ".")
            else:  # a runner able to stop the job, built without a worktree
                runner = GateSession(gate_job(opts, state, rec.gate, rec.attempt, "")).runner
            _say(f"interrupted: {handle_interrupt(state, runner, rec.gate, rec.attempt, policy)}")
            return


def _run(opts: RunOptions, state: RunState, reply: str, echo: Callable[[str], None]) -> RunOutcome:
    from perfgate_lib.assess.render import render_assessment_block, render_waiver_comment

    path = assess(opts, state, reply)
    assessment = confirm(opts, state, path, reply)
    if assessment is None:
        from perfgate_lib.assess.run import load_assessment

        echo(render_assessment_block(load_assessment(path)))
        state.set(status="awaiting_confirmation")
        echo(
            f"waiting for the reviewer: re-run with --confirm go (or max_gate=<skip|1|2|3>); "
            f"this run folder will be resumed: {state.run_dir}"
        )
        return RunOutcome(EXIT_PASS, "awaiting confirmation", state.run_dir, None)
    echo(render_assessment_block(assessment))
    if not assessment.in_scope and assessment.max_gate == "skip":
        message = "out of scope: no gate runs"
        return finish(
            state, {"exit_code": EXIT_PASS, "verdict": "out_of_scope", "message": message}
        )
    if assessment.max_gate == "skip":
        post = ("waiver", "waiver", render_waiver_comment(assessment, opts.reviewer))
        return post_and_finish(opts, state, post, "skip", EXIT_PASS, "gate waived: no ferry")
    state.set(status="running")
    if opts.runner == "local":
        return run_local(opts, state, assessment)
    outcome = run_gates(opts, state, assessment.max_gate)
    state.reload()
    data = outcome.to_json()
    data["message"] = outcome.final.reason
    return finish(state, data)
