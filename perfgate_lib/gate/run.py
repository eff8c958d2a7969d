"""One gate attempt end to end (baseline, local checks, ferry, babysitting, comparison,
comment), one idempotent step per ``notebooks/gate.ipynb`` cell, recorded in ``state.json``.
Resuming and the attempt's files: ``docs/running-a-gate.md``."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Annotated, Any

import pydantic

from perfgate_lib import PROJECT_ROOT
from perfgate_lib.errors import PerfgateError, UsageError, usage_at
from perfgate_lib.gate import sections
from perfgate_lib.gate.babysit import BabysitPolicy, ProgressPrinter, Watch, babysit, may_stop
from perfgate_lib.gate.ladder import GateResult, ladder_notes, parse_max_gate
from perfgate_lib.gate.localchecks import LocalChecksFailed, run_local_checks
from perfgate_lib.gate.runparams import RunParams, load_run_params
from perfgate_lib.gate.state import AttemptRecord, RunState, alive_here, gate_folder
from perfgate_lib.io import storage
from perfgate_lib.io.rundir import default_runs_root, new_run_dir, public_url
from perfgate_lib.runners.base import Runner, RunnerError, Submission
from perfgate_lib.runners.iris import IrisRunner
from perfgate_lib.timeutil import iso, utc_now
from perfgate_lib.typed import FORBID_EXTRA, one_of, read_model
from perfgate_lib.verdict.gates import GateParams, load_gate

DEFAULT_REPO = "marin-community/marin"
FINAL_COMMENT = "comment.md"
STEPS = ("fetch_baseline", "run_local_checks", "submit", "babysit", "collect", "compare", "post")
"""The steps in order: :meth:`GateSession.run_all` and the gate notebook's cells run them."""


def _max_gate(value: Any) -> str:
    """``skip``, ``1``..``3`` as a string (``max_gate=2`` and ``3`` taken too)."""
    try:
        return str(parse_max_gate(value))
    except UsageError:
        raise ValueError("expected skip, 1, 2 or 3") from None


@dataclass
class GateJob:
    """The gate notebook's parameters, parsed (each field explained in its parameters cell);
    paths may be local or fsspec URLs."""

    __pydantic_config__ = FORBID_EXTRA

    run_dir: str = ""
    gate: Annotated[int, pydantic.Field(ge=1, le=3)] = 1
    attempt: Annotated[int, pydantic.Field(ge=1)] = 1
    pr: int = 0
    repo: str = DEFAULT_REPO
    sha: str = ""
    runner: Annotated[str, one_of("iris", "replay")] = "replay"
    replay: str = ""
    checkout: str = ""
    worktree: str = ""
    baseline: str = ""
    mirror: str = ""
    use_actions: bool = True
    assessment: str = ""
    max_gate: Annotated[str, pydantic.BeforeValidator(_max_gate)] = "1"
    local_checks: bool = False
    iris_config: str = ""
    allow_other_cluster: bool = False
    yes_stop_early: bool = False
    post: Annotated[str, one_of("github", "file")] = "file"
    thresholds: str = ""
    poll_seconds: float = 0.0
    run_params: str = ""  # the run settings file; "" = the bundled gate_common.yaml

    @classmethod
    def from_parameters(cls, **params: Any) -> GateJob:
        """From notebook parameters (``-r`` strings parsed); a bad or unknown one: UsageError."""
        from perfgate_lib.io.paramfile import kit_path  # repo-root defaults, any cwd

        job = read_model(cls, params, lambda key, problem: usage_at("gate", key, problem))
        job.replay, job.baseline = kit_path(job.replay), kit_path(job.baseline)
        return job


def resolve_cluster_config(
    checkout: str, iris_config: str, allow_other: bool, default: str
) -> tuple[str, bool]:
    """(config path for ``iris --config``, is it another cluster?); anything but ``default``
    (the checkout's marin.yaml) needs ``allow_other`` (the reviewer said yes)."""
    default_path = os.path.realpath(os.path.join(checkout or ".", default))
    if not iris_config:
        return default_path, False
    given = os.path.realpath(os.path.join(checkout or ".", iris_config))  # as given if absolute
    if given == default_path:
        return default_path, False
    if not allow_other:
        raise UsageError(
            f"--iris-config {iris_config} is not the marin cluster ({default}); "
            "re-running on another cluster needs --allow-other-cluster"
        )
    return given, True


def local_scratch(run_dir: str, folder: str) -> str:
    """A local folder for raw script outputs: the gate folder itself when the run folder
    is local, else a folder under the temp dir that survives a crash of this process."""
    if not storage.is_url(run_dir):
        return os.path.join(run_dir, folder)
    digest = hashlib.sha256(run_dir.encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), "perfgate-scratch", digest, folder)


def local_baseline(path: str, gate: int) -> str:
    """A local baseline for ``gate``: a report file as given, or in a folder
    ``gate<N>/baseline-report.json`` (an earlier run folder), ``tier<N>_baseline.json``
    (the bundled examples) or ``baseline-g<N>.json``; else the folder itself."""
    if not path or path.endswith(".json"):
        return path
    names = (
        f"gate{gate}/baseline-report.json",
        f"tier{gate}_baseline.json",
        f"baseline-g{gate}.json",
    )
    candidates = (storage.join(path, name) for name in names)
    return next((c for c in candidates if storage.exists(c)), path)


def recorded_watch(rec: AttemptRecord, job_id: str) -> Watch:
    """The watch an attempt record holds; submitted now when the record has no time."""
    submitted = rec.submitted_at or str(iso(utc_now()))
    if rec.job is None:
        return Watch(job_id=job_id, submitted_at=submitted)
    return replace(rec.job, job_id=job_id, submitted_at=submitted)


_JOB_PR = re.compile(r"-pr([0-9]+)-g[0-9]")


def check_job_pr(job_id: str, pr: int) -> None:
    """UsageError when a treatment job's id names another PR than ``pr`` (a recorded
    report replayed for the wrong PR): a comment must never speak of another PR's data.
    The numbers are compared as digits: the id can hold more than ``int`` reads."""
    named = _JOB_PR.search(job_id or "")
    if named and (named.group(1).lstrip("0") or "0") != str(int(pr)):
        raise UsageError(
            f"pr {pr} does not match the treatment: job {job_id} ran for PR "
            f"#{named.group(1)}; pass pr={named.group(1)} or that PR's own report"
        )


class GateSession:
    """One gate attempt over a run folder. Each public step is idempotent."""

    def __init__(
        self, job: GateJob, runner: Runner | None = None, state: RunState | None = None
    ) -> None:
        self.job = job
        self.made_folder = not job.run_dir  # archived and indexed at the end (standalone)
        if not job.run_dir:  # run by papermill directly: a run folder like the CLI's
            env_root = os.environ.get("PERFGATE_RUNS_ROOT")
            root = default_runs_root() if env_root else str(PROJECT_ROOT / "runs")
            job.run_dir = new_run_dir(root, job.pr or None, job.sha or None, kind="gate")
        self.run_dir = job.run_dir
        self.folder = gate_folder(job.gate, job.attempt)
        self.out_dir = storage.join(self.run_dir, self.folder)
        storage.makedirs(self.out_dir)
        if state is None and storage.exists(storage.join(self.run_dir, "state.json")):
            state = RunState.load(self.run_dir)
        self.state = state or RunState.create(
            self.run_dir,
            pr=job.pr,
            repo=job.repo,
            sha=job.sha,
            status="running",
            runner=job.runner,
            standalone=True,
        )
        self.params: GateParams = load_gate(job.gate)
        self.common: RunParams = load_run_params(job.run_params or None)
        self.runner = runner or self._make_runner()
        rec = self.record
        if rec.error:  # an earlier try of this attempt failed: keep it as history
            rec.previous_errors.append(rec.error)
            rec.error = None
            self.state.save()
        self.baseline_path = storage.join(self.out_dir, "baseline-report.json")
        self.treatment_path = storage.join(self.out_dir, "treatment-report.json")

    def archive_standalone(self) -> str | None:
        """Archive and index the run folder this session made (no ``run_dir`` given); the
        index file, or None for a folder its owner archives."""
        if not (self.made_folder and self.state.record.standalone):
            return None
        from perfgate_lib.audit.archive import archive_run

        job = self.job
        return archive_run(
            self.run_dir,
            pr=job.pr or None,
            gate=job.gate,
            sha=job.sha[:7] or None,
            verdict=self.record.verdict,
        ).index_file

    @property
    def record(self) -> AttemptRecord:
        return self.state.attempt(self.job.gate, self.job.attempt)

    def _update(self, event: str | None = None, **fields: Any) -> None:
        self.state.update_attempt(self.job.gate, self.job.attempt, event, **fields)

    @contextlib.contextmanager
    def _step(self, name: str) -> Iterator[None]:
        """Record a failing step's error (type, message, exit code) before it propagates."""
        try:
            yield
        except PerfgateError as exc:
            status = "halted" if self.record.status == "halted" else "error"
            error: dict[str, Any] = {"step": name, "type": type(exc).__name__, "message": str(exc)}
            error["exit_code"] = exc.exit_code
            self._update(f"{self.folder}:{name}-error", status=status, error=error)
            raise

    def _write_json(self, name: str, data: Any) -> None:
        storage.write_text(storage.join(self.out_dir, name), json.dumps(data, indent=2) + "\n")

    def _make_runner(self) -> Runner:
        job = self.job
        if job.runner == "replay":
            from perfgate_lib.runners.replay import ReplayRunner, parse_source

            return ReplayRunner(parse_source(job.replay))
        if not job.checkout:
            raise UsageError("the iris runner needs the marin checkout (--checkout)")
        config, other = resolve_cluster_config(
            job.checkout, job.iris_config, job.allow_other_cluster, self.common.cluster_config
        )
        settings = ("status_root", "uv_command", "iris_command", "submit_script", "collect_script")
        return IrisRunner(
            **{name: getattr(self.common, name) for name in (*settings, "collect_from")},
            checkout=job.checkout,
            scratch_dir=local_scratch(self.run_dir, self.folder),
            iris_config=config,
            pass_config_to_submit=other,
            last_worktree=job.worktree or None,  # its own iris tools come first
            timeout_seconds=self.common.command_timeout_seconds,
            on_submit_started=lambda pid, out: self._update(submit_pid=pid, submit_output=out),
        )

    def fetch_baseline(self) -> dict[str, Any]:
        """The gate's baseline's provenance (recorded one on resume); with none, the gap
        comment is posted and :class:`BaselineUnavailable` raised (exit 4)."""
        rec = self.record
        if rec.baseline and storage.exists(self.baseline_path):
            return rec.baseline
        from perfgate_lib.gate.baseline import NoBaseline, find_baseline, render_unavailable

        with self._step("baseline"):
            try:
                found = find_baseline(
                    self.params,
                    repo=self.job.repo,
                    mirror=(self.job.mirror or self.common.mirror) or None,
                    local=local_baseline(self.job.baseline, self.job.gate) or None,
                    use_actions=self.job.use_actions,
                )
            except NoBaseline as exc:
                body = render_unavailable(self.params, exc.attempts, sha=self.job.sha or None)
                try:
                    self.post_body("baseline-unavailable", self.folder, body)
                except PerfgateError as post_exc:  # keep the real cause as the error
                    self.state.event(f"{self.folder}:gap-comment-failed", error=str(post_exc))
                raise
            found.save(self.baseline_path)
            prov = found.provenance.to_json()
            self._write_json("baseline-provenance.json", prov)
            self._update(status="baseline", baseline=prov, baseline_path=self.baseline_path)
        return prov

    def run_local_checks(self) -> dict[str, Any] | None:
        """The local checks in the worktree (first gate attempt only); None when skipped. A
        failure posts the halt comment, halts the run, raises :class:`LocalChecksFailed`."""
        done = self.state.record.local_checks or {}
        if not self.job.local_checks or done.get("passed"):
            return done or None
        if not self.job.worktree:
            raise UsageError("local checks need the treatment worktree")
        self.prepare_environment()
        with self._step("local-checks"):
            minutes = self.common.local_checks_timeout_minutes
            result = self._run_commands(self.common.local_checks, "local-checks", minutes)
            summary = result.to_json()
            self.state.set(local_checks=summary)
            if not result.passed:
                from perfgate_lib.verdict.render import render_halt

                body = render_halt(
                    self.job.sha or "unknown", result.failed_step or "?", result.output_tail
                )
                self.post_body("halt", "local-checks", body)
                self._update(status="halted")
                self.state.set(status="halted")
                raise LocalChecksFailed(
                    f"local check failed: {result.failed_step} (output tail: {result.tail_path}); "
                    "no ferry was submitted"
                )
        return summary

    def prepare_environment(self) -> None:
        """Run ``prepare_env`` (gate_common.yaml) in the treatment worktree, once per worktree,
        iris runner only. A failure is a RunnerError."""
        if self.job.runner != "iris" or not self.common.prepare_env or not self.job.worktree:
            return
        done = self.state.record.prepared_env or {}
        if done.get("passed") and done.get("worktree") == self.job.worktree:
            return
        with self._step("prepare-env"):
            minutes = self.common.prepare_env_timeout_minutes
            result = self._run_commands(self.common.prepare_env, "prepare-env", minutes)
            self.state.set(prepared_env={**result.to_json(), "worktree": self.job.worktree})
            if not result.passed:
                raise RunnerError(
                    f"preparing the treatment worktree's environment failed at "
                    f"{result.failed_step!r} (output tail: {result.tail_path}); nothing was "
                    f"submitted:\n{result.output_tail[-1500:]}"
                )

    def _run_commands(self, commands: Any, folder: str, timeout_minutes: float) -> Any:
        """``commands`` in the worktree, their output under the run folder's ``folder``."""
        return run_local_checks(
            self.job.worktree,
            commands,
            storage.join(self.run_dir, folder),
            timeout_seconds=timeout_minutes * 60,
            tail_lines=self.common.output_tail_lines,
        )

    def submit(self) -> Submission:
        """Submit the treatment ferry once per (PR, gate, attempt); see state.py."""
        rec = self.record
        if rec.job_id:  # never a second ferry for this attempt
            return Submission.from_json(rec.submission or {})
        self.prepare_environment()
        with self._step("submit"):
            if rec.status == "submitting":
                recovered = self._recover_submission(rec)
                if recovered is not None:
                    return recovered
            started = iso(utc_now())
            self._update(status="submitting", submit_started_at=started, runner=self.runner.name)
            job = self.job
            submission = self.runner.submit(job.gate, job.pr, job.worktree, job.attempt)
            check_job_pr(submission.job_id, job.pr)
            return self._record_submission(submission, "submitted", started)

    def _record_submission(self, sub: Submission, how: str, started: str | None) -> Submission:
        self._update(
            status="submitted",
            job_id=sub.job_id,
            submission=sub.to_json(),
            ferry_module=sub.ferry_module,
            submitted_at=started or iso(utc_now()),
            submit_recorded_by=how,
        )
        self._write_json("submission.json", sub.to_json())
        out, kept = self.record.submit_output, storage.join(self.out_dir, "submit-output.txt")
        if out and os.path.isfile(out) and kept != out:
            storage.write_text(kept, Path(out).read_text(encoding="utf-8", errors="replace"))
        return sub

    def _recover_submission(self, rec: AttemptRecord) -> Submission | None:
        """After a crash between "submitting" and the job id: find the job, never guess."""
        deadline = time.monotonic() + self.common.command_timeout_seconds
        while alive_here(rec.submit_pid) and time.monotonic() < deadline:
            time.sleep(0.2)  # the submit script outlived us: let it finish
        job, out, sub = self.job, rec.submit_output, None
        how = "recovered from the submit output"
        if out and os.path.isfile(out):
            text = Path(out).read_text(encoding="utf-8", errors="replace")
            sub = IrisRunner.submission_from_output(text, job.gate, job.attempt)
        if sub is None:
            how = "recovered from the cluster's job list"
            started, known = rec.submit_started_at, self.state.job_ids()
            sub = self.runner.find(job.gate, job.pr, job.attempt, started, exclude=known)
        if sub is not None:
            return self._record_submission(sub, how, rec.submit_started_at)
        self.state.event(
            f"{self.folder}:submit-not-found",
            detail="the interrupted submission left no job on the cluster; submitting again",
        )
        return None

    def watch(self) -> Watch:
        rec = self.record
        return recorded_watch(rec, str(rec.job_id))

    def babysit(self) -> Watch:
        """Poll the job until terminal (resumes the recorded watch)."""
        watch = self.watch()
        if watch.terminal:
            return watch
        policy = BabysitPolicy.for_gate(
            self.params.poll_interval_minutes,
            self.params.wall_time_minutes,
            overrun_factor=self.common.overrun_stop_factor,
            error_limit=self.common.poll_error_limit,
            stop_early_confirmed=self.job.yes_stop_early,
            interval_override=self.job.poll_seconds or None,
        )
        with self._step("babysit"):
            try:
                result = babysit(
                    self.runner,
                    watch,
                    policy,
                    on_observation=lambda w: self._update(
                        f"{self.folder}:poll",
                        status="terminal" if w.terminal else "running",
                        job=replace(w, history=list(w.history)),
                    ),
                    progress=ProgressPrinter(self.out_dir, gate=self.job.gate),
                )
            except KeyboardInterrupt:  # stop the ferry only when the policy allows
                handle_interrupt(self.state, self.runner, self.job.gate, self.job.attempt, policy)
                raise
        return result.watch

    def collect(self) -> str:
        """The treatment report in the gate folder; a job that did not succeed and left none
        gets a minimal one (status failed), so the gate is judged inconclusive."""
        rec = self.record
        if rec.report_path and storage.exists(self.treatment_path):
            return self.treatment_path
        from perfgate_lib.verdict.report import load_report

        sub = Submission.from_json(rec.submission or {})
        watch = self.watch()
        self.record_job_tree(sub.job_id)
        with self._step("collect"):
            scratch = local_scratch(self.run_dir, self.folder)
            os.makedirs(scratch, exist_ok=True)
            local_out = self.treatment_path
            if storage.is_url(local_out):
                local_out = os.path.join(scratch, "treatment-report.json")
            synthesized = False
            try:
                self.runner.collect(sub, local_out)
                load_report(local_out)
            except PerfgateError as exc:
                if watch.state == "succeeded":
                    raise
                synthesized = True
                report = {
                    "iris_job_id": sub.job_id,
                    "status": "failed",
                    "warnings": [f"perfgate: no usable report from the collector ({exc})"],
                }
                Path(local_out).write_text(json.dumps(report, indent=2))
            if local_out != self.treatment_path:
                storage.write_bytes(self.treatment_path, Path(local_out).read_bytes())
            self._update(
                status="collected", report_path=self.treatment_path, report_synthesized=synthesized
            )
        return self.treatment_path

    def record_job_tree(self, job_id: str) -> None:
        """Record the steps of the ended job's tree (``job-tree.json``) that did not finish
        (stage -> note), once per attempt; an event when the listing fails."""
        if self.record.unfinished_steps is not None:
            return
        from perfgate_lib.gate.steptree import unfinished_steps

        try:
            tree = [j.to_json() for j in self.runner.job_tree(job_id)]
        except RunnerError as exc:
            self.state.event(f"{self.folder}:job-tree-unavailable", error=str(exc))
            return
        self._write_json("job-tree.json", tree)
        self._update(unfinished_steps=unfinished_steps(job_id, tree), job_tree_size=len(tree))

    def compare(self) -> Any:
        """Verdict, charts and comment for this attempt (:class:`CompareResult`)."""
        from perfgate_lib.assess.render import assessment_table_md
        from perfgate_lib.verdict.compare import run_compare

        rec = self.record
        watch = self.watch()
        with self._step("compare"):
            context = {
                "treatment_ferry_module": rec.ferry_module,
                "treatment_job_state": watch.state if watch.state != "unknown" else None,
                "treatment_unfinished_steps": dict(rec.unfinished_steps or {}),
                "baseline": dict(rec.baseline or {}),
                "treatment_job": {
                    "queue_wait_seconds": watch.queue_wait_seconds,
                    "job_state": watch.state,
                    "job_error": watch.error or None,
                    "attempt": self.job.attempt,
                },
            }
            result = run_compare(
                self.baseline_path,
                self.treatment_path,
                gate=self.job.gate,
                assessment_md=assessment_table_md(self.job.assessment or None),
                thresholds=self.job.thresholds or None,
                out_dir=self.out_dir,
                context=context,
                extras_for=lambda verdict: self._comment_extras(verdict, rec, watch),
            )
            verdict = result.verdict.verdict
            outcome = {
                "gate": self.job.gate,
                "attempt": self.job.attempt,
                "folder": self.folder,
                "verdict": verdict,
                "job_id": rec.job_id,
                "ferry_module": rec.ferry_module,
                "job_state": watch.state,
                "job_raw_state": watch.raw_state,
                "job_error": watch.error or None,
                "queue_wait_seconds": watch.queue_wait_seconds,
                "queue_wait_source": watch.queue_wait_source,
                "run_seconds": watch.run_seconds(utc_now()),
                "polls": watch.polls,
                "stopped": watch.stopped,
                "stop_reason": watch.stop_reason or None,
                "report_synthesized": rec.report_synthesized,
                "baseline": rec.baseline,
            }
            self._write_json("gate.json", outcome)
            self._update(status="compared", verdict=verdict)
        return result

    def _comment_extras(self, verdict: Any, rec: AttemptRecord, watch: Watch) -> Any:
        """What the cluster gate adds to the comment (:mod:`perfgate_lib.gate.sections`)."""
        from perfgate_lib.verdict.render import CommentExtras

        job = self.job
        this = (job.gate, job.attempt)  # the ladder so far, then this attempt
        ladder = [r for r in self.state.record.ladder if (r["gate"], r["attempt"]) != this]
        history = [*map(GateResult.from_json, ladder), GateResult(*this, verdict.verdict)]
        tier_names = {n: load_gate(n).name for n in (1, 2, 3)}  # parameters/gate<N>.yaml
        notes = ladder_notes(job.max_gate, history, tier_names)
        notes += [n for n in (sections.queue_wait_note(watch.queue_wait_seconds),) if n]
        diffs, where = sections.run_setting_differences(
            job.runner, job.checkout, job.gate, self.params
        )
        if diffs:
            self._update(run_setting_differences=diffs)
        notes += sections.run_settings_note(diffs, where, self.common)
        gate_job_ids = [
            str(a.job_id) for a in self.state.attempts() if a.gate == job.gate and a.job_id
        ]
        config = getattr(self.runner, "config_path", None) or self.common.cluster_config
        evidence = sections.evidence_sections(
            verdict, rec.job_id or "", self.runner, job.max_gate, history, gate_job_ids, config
        )
        mirror = job.mirror or (self.common.mirror if job.runner == "iris" else "")
        return CommentExtras(
            top_notes=notes,
            sections=[*sections.job_section(rec, watch), *evidence],
            run_link=public_url(self.run_dir, f"{self.folder}/gate.html"),
            **sections.noise_context(verdict, job.gate, mirror, job.thresholds or None),
        )

    def post(self) -> dict[str, Any]:
        """Post (or, dry run, write) this attempt's comment; once per body."""
        with self._step("post"):
            body = storage.read_text(storage.join(self.out_dir, "comment.md"))
            record = self.post_body("verdict", self.folder, body)
            self._update(status="posted", posted=record)
            # the ladder moves on only once the gate's comment is out
            job, ladder = self.job, self.state.record.ladder
            entry = {"gate": job.gate, "attempt": job.attempt, "verdict": self.record.verdict}
            ladder = [r for r in ladder if r.get("folder") != self.folder]
            self.state.set(ladder=[*ladder, {**entry, "folder": self.folder}])
        return record

    def post_body(self, kind: str, key: str, body: str) -> dict[str, Any]:
        return post_comment(
            self.state, kind, key, body, mode=self.job.post, repo=self.job.repo, pr=self.job.pr
        )

    def describe(self) -> str:
        """What this attempt is and where its outputs go."""
        j = self.job
        where = "posted to the PR" if j.post == "github" else "written to the run folder (dry run)"
        lines = [
            f"Gate {j.gate} ({self.params.name}), attempt {j.attempt}, PR #{j.pr} ({j.repo})",
            f"runner: {self.runner.name}; comment: {where}",
            f"run folder: {self.run_dir}",
            f"outputs: {self.out_dir}",
        ]
        status = self.record.status
        if status and status != "new":
            lines.append(f"resuming: this attempt was at step {status!r}")
        return "\n".join(lines)

    def run_all(self) -> str:
        """Every step of :data:`STEPS` in order; returns the verdict."""
        for step in STEPS:
            getattr(self, step)()
        return str(self.record.verdict)


def post_comment(
    state: RunState, kind: str, key: str, body: str, *, mode: str, repo: str, pr: int
) -> dict[str, Any]:
    """Upsert ``body`` as the PR's perf-gate comment (``mode="github"``) or only write it
    (``file``); the run's ``comment.md`` holds the latest body. Once per (kind, key, body)."""
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    storage.write_text(storage.join(state.run_dir, FINAL_COMMENT), body)
    done = state.posted(kind, key, digest)
    if done is not None:
        return done
    record: dict[str, Any] = {"kind": kind, "key": key, "sha256": digest, "mode": mode}
    if mode == "github":
        from perfgate_lib.io.github import GitHubClient, GitHubSettings, upsert_comment

        client = GitHubClient(GitHubSettings.from_env(repo=repo))
        record.update(upsert_comment(client, pr, body, source=f"{kind} comment").to_json())
    else:
        record["path"] = storage.join(state.run_dir, FINAL_COMMENT)
    state.record_post(**record)
    return record


def handle_interrupt(
    state: RunState, runner: Runner, gate: int, attempt: int, policy: BabysitPolicy
) -> str:
    """An interrupted gate: stop its ferry only if allowed (confirmed, or past its wall
    time); otherwise leave it running for a resume. Returns what was done."""
    rec = state.attempt(gate, attempt)
    job_id = rec.job_id
    if not job_id or (rec.job is not None and rec.job.terminal):
        return "nothing in flight"
    if rec.status == "stopped":
        return f"stopped {job_id}"  # handled already (in-process sessions see it first)
    run = recorded_watch(rec, job_id).run_seconds(dt.datetime.now(dt.UTC))
    if may_stop(run, policy):
        try:
            runner.stop(job_id)
        except RunnerError as exc:
            state.update_attempt(
                gate, attempt, f"gate{gate}-attempt{attempt}:stop-failed", stop_error=str(exc)
            )
            return f"could not stop {job_id}: {exc}"
        state.update_attempt(gate, attempt, status="stopped")  # event gate<N>-attempt<K>:stopped
        return f"stopped {job_id}"
    state.event(
        f"gate{gate}-attempt{attempt}:left-running",
        job_id=job_id,
        detail="interrupted before the tier wall time; the ferry keeps running (resume with the same command)",
    )
    return f"left {job_id} running (re-run the same command to resume)"


def open_gate(namespace: Mapping[str, Any]) -> GateSession:
    """The gate notebook's session, from :class:`GateJob`'s fields in its namespace."""
    names = {f.name for f in fields(GateJob)}
    return GateSession(GateJob.from_parameters(**{k: namespace[k] for k in names & set(namespace)}))
