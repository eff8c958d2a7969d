"""The Iris runner (docs/iris.md): marin's own scripts submit and collect; the checkout's
own ``iris`` CLI (in the dialect its ``--help`` shows) and ``scripts/ci/iris_monitor.py``
wait, read states and stop. Children get the environment without GitHub tokens. Seconds
for every timeout.
"""

from __future__ import annotations

import functools
import math
import os
import re
import shlex
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from perfgate_lib.io.childenv import child_env
from perfgate_lib.io.redaction import redact
from perfgate_lib.runners.base import (
    JobState,
    RunnerError,
    Submission,
    normalise_state,
    parse_json_line,
)
from perfgate_lib.runners.iris_dialect import (
    STOP_VERB,
    Dialect,
    DialectError,
    MonitorAnswer,
    detect_dialect,
    list_args,
    parse_json_listing,
    parse_listing,
    parse_monitor_status,
    parse_monitor_wait,
    priority_refusal,
)
from perfgate_lib.timeutil import iso, parse_time

DEFAULT_CLUSTER_CONFIG = "lib/iris/config/marin.yaml"
SUBMIT_SCRIPT = "scripts/ci/submit_perf_run.py"
COLLECT_SCRIPT = "scripts/ci/collect_perf_metrics.py"
MONITOR_SCRIPT = "scripts/ci/iris_monitor.py"
SUBMISSION_TEXT_FIELDS = ("ferry_module", "status_path", "run_id", "cwd")
"""The submit line's optional fields, each text or null (the line: ``docs/contracts.md``)."""


class PriorityRefused(RunnerError):
    """The cluster refused the tier's priority band for this user (exit 4); the message
    says who may run the gate."""


def run_tool(
    argv: list[str], cwd: str, what: str, timeout_seconds: float, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run one tool call; :class:`RunnerError` when it cannot start or does not answer."""
    try:
        return subprocess.run(
            argv,
            cwd=cwd,
            env=child_env(env),
            capture_output=True,
            text=True,
            timeout=timeout_seconds,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError as exc:
        raise RunnerError(
            f"{what}: cannot run {argv[0]!r} ({exc.strerror}); is it installed and on PATH?"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise RunnerError(f"{what}: no answer after {timeout_seconds:g} s") from exc


def uv_python(uv_command: str, script: str, *args: str) -> list[str]:
    """``uv run python SCRIPT ARGS``, ``uv_command`` split like a shell would."""
    return [*shlex.split(uv_command), "run", "python", script, *args]


def _tail(proc: subprocess.CompletedProcess[str], n: int = 500) -> str:
    return (proc.stderr or proc.stdout or "").strip()[-n:]


@dataclass
class IrisCli:
    """One ``iris`` CLI against one cluster config, in the dialect it speaks."""

    command: list[str]
    config_path: str
    cwd: str
    timeout_seconds: float = 900.0
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [*self.command, f"--config={self.config_path}", *args]
        what = "iris " + " ".join(args[:2])
        return run_tool(argv, self.cwd, what, self.timeout_seconds, self.env)

    @functools.cached_property
    def dialect(self) -> Dialect:
        """The CLI's generation, from ``iris job --help`` and ``iris job list --help``."""
        helps = []
        for args in (("job", "--help"), ("job", "list", "--help")):
            argv = [*self.command, *args]
            proc = run_tool(argv, self.cwd, "iris --help", self.timeout_seconds, self.env)
            if proc.returncode != 0:
                raise RunnerError(f"`{shlex.join(argv)}` exited {proc.returncode}: {_tail(proc)}")
            helps.append(proc.stdout)
        try:
            return detect_dialect(*helps)
        except DialectError as exc:
            raise RunnerError(f"{shlex.join(self.command)}: {exc}") from exc

    def list_jobs(self, prefix: str | None) -> list[dict[str, Any]]:
        """Entries of ``job list`` under ``prefix`` (every job when None)."""
        dialect = self.dialect
        proc = self.run(*list_args(dialect, prefix))
        if proc.returncode != 0:
            raise RunnerError(f"iris job list exited {proc.returncode}: {_tail(proc)}")
        try:
            return parse_listing(dialect, proc.stdout)
        except DialectError as exc:
            raise RunnerError(f"iris job list ({dialect} dialect): {exc}") from exc


def status_url(status_root: str, pr: int, gate: int, attempt: int) -> str:
    """``<root>/<PR>/treatment-g<N>.json``; attempts after the first get ``-attempt<K>``."""
    suffix = "" if attempt == 1 else f"-attempt{attempt}"
    return f"{status_root.rstrip('/')}/{pr}/treatment-g{gate}{suffix}.json"


def _job_key(job_id: str) -> str:
    """One spelling of a job id: ``/alice/ferry-1``, ``alice/ferry-1`` and ``alice/ferry-1/``
    are the same job."""
    return job_id.strip().strip("/")


def _same_job(a: str, b: str) -> bool:
    return _job_key(a) == _job_key(b)


def in_tree(job_id: str, root: str) -> bool:
    """True when ``job_id`` is ``root`` or one of its descendants (either id shape)."""
    a, b = _job_key(job_id), _job_key(root)
    return a == b or a.startswith(b + "/")


def job_entries(text: str, source: str = "iris job list") -> list[dict[str, Any]]:
    """Entries of ``iris job list --json`` output (marin-iris 0.2.20)."""
    try:
        return parse_json_listing(text)
    except DialectError as exc:
        raise RunnerError(f"{source}: {exc}") from exc


def job_state_from_monitor(job_id: str, answer: MonitorAnswer) -> JobState:
    """A :class:`JobState` from what ``iris_monitor.py`` said. A capacity shutdown (its
    ``RESOURCE_EXHAUSTED``) is a killed job whose error says why."""
    if answer.not_found:
        return JobState(job_id=job_id, state="unknown", found=False)
    if answer.resource_exhausted:
        policy = "iris_monitor.py --resource-exhaustion-policy shutdown"
        reason = answer.exhausted_reason or "no capacity"
        error = f"shut down for lack of capacity ({policy}): {reason}"
        return JobState(job_id=job_id, state="killed", raw_state=answer.state, error=error)
    state = normalise_state(answer.state)
    return JobState(job_id=job_id, state=state, raw_state=answer.state, error=answer.error)


def job_state_from_entry(job_id: str, entry: Mapping[str, Any]) -> JobState:
    """A :class:`JobState` from one job-list entry (lenient about field names)."""
    raw = str(entry.get("state") or entry.get("status") or "")

    def when(*keys: str) -> str | None:
        times = (parse_time(entry.get(key)) for key in keys)
        return iso(next((t for t in times if t is not None), None), ms=True)

    return JobState(
        job_id=str(entry.get("job_id") or job_id),
        state=normalise_state(raw),
        raw_state=raw,
        error=str(entry.get("error") or ""),
        pending_reason=str(entry.get("pending_reason") or ""),
        submitted_at=when("submitted_at", "submitted_at_ms", "submit_time"),
        started_at=when("started_at", "started_at_ms", "start_time"),
        finished_at=when("finished_at", "finished_at_ms", "end_time"),
    )


@dataclass
class IrisRunner:
    """Runner over marin's scripts and the iris CLI. The PR head's worktree
    (``last_worktree``) has its ``.venv/bin/iris`` and ``iris_monitor.py`` used first, the
    checkout's next; ``iris_command`` when neither has its own ``.venv``."""

    checkout: str  # the marin checkout: cwd of the iris CLI and, by default, of collect
    scratch_dir: str  # a local folder for the scripts' raw outputs
    status_root: str
    iris_config: str = DEFAULT_CLUSTER_CONFIG  # --config; absolute or checkout-relative
    pass_config_to_submit: bool = False  # --iris-config to the scripts (a non-default cluster)
    uv_command: str = "uv"
    iris_command: str = "iris"
    submit_script: str = SUBMIT_SCRIPT
    collect_script: str = COLLECT_SCRIPT
    collect_from: str = "checkout"  # "checkout" | "worktree"
    timeout_seconds: float = 900.0
    env: dict[str, str] = field(default_factory=dict)
    # (pid, output path) once the submit process runs; the caller records it before waiting
    on_submit_started: Callable[[int, str], None] | None = None
    name: str = "iris"
    last_worktree: str | None = field(default=None, repr=False)
    # how wait() waits without a monitor (tests pass a fake clock's)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    _cli_ids: dict[str, str] = field(default_factory=dict, repr=False)
    _ended_listing: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)

    @property
    def config_path(self) -> str:
        """``iris_config``, relative to the checkout unless absolute."""
        return os.path.join(self.checkout, self.iris_config)

    @functools.cached_property
    def cli(self) -> IrisCli:
        """The first ``.venv/bin/iris`` of the worktree and the checkout, else
        ``iris_command`` (resolved once, its dialect cached)."""
        folders = (self.last_worktree, self.checkout)
        own = [os.path.join(f, ".venv", "bin", "iris") for f in folders if f]
        found = next((path for path in own if os.path.exists(path)), None)
        command = [found] if found else shlex.split(self.iris_command or "iris")
        return IrisCli(command, self.config_path, self.checkout, self.timeout_seconds, self.env)

    @functools.cached_property
    def monitor(self) -> str | None:
        """The first folder of the worktree and the checkout with ``iris_monitor.py``, run
        there as marin's workflows run it (docs/iris.md); None without."""
        for folder in (self.last_worktree, self.checkout):
            if folder and os.path.isfile(os.path.join(folder, MONITOR_SCRIPT)):
                return folder
        return None

    def _monitor(self, verb: str, job_id: str, *extra: str, timeout: float) -> MonitorAnswer:
        """``iris_monitor.py <verb>`` read by its parser; unreadable output is a RunnerError."""
        argv = uv_python(self.uv_command, MONITOR_SCRIPT, verb, "--job-id", job_id)
        argv += ["--iris-config", self.config_path, *extra]
        proc = run_tool(argv, str(self.monitor), f"iris_monitor.py {verb}", timeout, self.env)
        try:
            if verb == "status":
                return parse_monitor_status(proc.stdout, proc.stderr)
            return parse_monitor_wait(proc.stderr)
        except DialectError as exc:
            tail = f": {_tail(proc)}" if verb == "status" else ""
            raise RunnerError(f"{exc} (exit {proc.returncode}{tail})") from exc

    def _monitor_wait(self, job_id: str, seconds: float) -> MonitorAnswer:
        """The monitor's ``wait`` for at most ``seconds``, polling every ``min(30, seconds)``
        s; a job stuck on capacity is shut down, as the tier workflows do."""
        seconds = max(0.0, seconds)
        poll = min(30.0, max(seconds, 0.001))
        extra = ["--poll-interval", f"{poll:g}", "--timeout", f"{seconds:g}"]
        extra += ["--resource-exhaustion-policy", "shutdown"]
        limit = self.timeout_seconds + math.ceil(seconds)
        return self._monitor("wait", job_id, *extra, timeout=limit)

    def _config_args(self) -> list[str]:
        return ["--iris-config", self.config_path] if self.pass_config_to_submit else []

    def _script(self, where: str, script: str) -> str:
        if not os.path.isfile(os.path.join(where, script)):
            raise RunnerError(f"{script} not found in {where}: is this a marin checkout?")
        return script

    # ------------------------------------------------------------------ submit
    def submit(self, gate: int, pr: int, worktree: str, attempt: int) -> Submission:
        """Run the worktree's submit script; its stdout goes to ``submit-output.txt`` in
        ``scratch_dir`` (one per gate attempt), so the job id survives a crash of ours."""
        script = self._script(worktree, self.submit_script)
        self.last_worktree = worktree
        status = status_url(self.status_root, pr, gate, attempt)
        argv = uv_python(self.uv_command, script, "--gate", str(gate), "--pr", str(pr))
        argv += ["--cwd", worktree, "--status-out", status, *self._config_args()]
        os.makedirs(self.scratch_dir, exist_ok=True)
        out_path = os.path.join(self.scratch_dir, "submit-output.txt")
        err_path = os.path.join(self.scratch_dir, "submit-stderr.txt")
        what = f"gate {gate} submit ({self.submit_script})"
        try:
            with open(out_path, "w") as out, open(err_path, "w") as err:
                proc = subprocess.Popen(
                    argv, cwd=worktree, env=child_env(self.env), stdout=out, stderr=err, text=True
                )
                if self.on_submit_started:
                    self.on_submit_started(proc.pid, out_path)
                try:
                    code = proc.wait(timeout=self.timeout_seconds)
                except subprocess.TimeoutExpired as exc:
                    proc.kill()
                    raise RunnerError(
                        f"{what}: no answer after {self.timeout_seconds:g} s"
                    ) from exc
        except FileNotFoundError as exc:
            raise RunnerError(f"{what}: cannot run {argv[0]!r}; is uv installed?") from exc
        text = _read(out_path)
        if code != 0:
            err_text = _read(err_path)
            refusal = priority_refusal(err_text + "\n" + text)
            if refusal is not None:
                raise PriorityRefused(refusal.explain(gate))
            raise RunnerError(f"{what} exited {code}: {(err_text or text).strip()[-2000:]}")
        submission = self.submission_from_output(text, gate, attempt, status)
        if submission is None:
            raise RunnerError(f"{what}: no JSON line with a job_id in its output: {text[-500:]!r}")
        return submission

    @staticmethod
    def submission_from_output(
        text: str, gate: int, attempt: int, status: str | None = None
    ) -> Submission | None:
        """Parse a submit script's stdout (None when no JSON line with a job_id);
        RunnerError naming a field that is not text (the script is the PR's own)."""
        obj = parse_json_line(text or "")
        if obj is None or not str(obj.get("job_id") or "").strip():
            return None
        fields = ("job_id", *SUBMISSION_TEXT_FIELDS)
        bad = next((key for key in fields if not isinstance(obj.get(key), str | None)), None)
        if bad is not None:
            raise RunnerError(f"submit output: field '{bad}' must be text, got {obj[bad]!r:.200}")
        if str(obj["job_id"]) == "DRY-RUN":
            raise RunnerError("the submit script ran in --dry-run mode: no job was submitted")
        return Submission(
            job_id=str(obj["job_id"]),
            gate=gate,
            attempt=attempt,
            ferry_module=obj.get("ferry_module"),
            status_path=obj.get("status_path") or status,
            run_id=obj.get("run_id"),
            cwd=obj.get("cwd"),
            raw=obj,
        )

    # ------------------------------------------------------------------ poll / find
    def _id_forms(self, job_id: str) -> tuple[str, ...]:
        """The form of ``job_id`` the tools answered to; else as given, then (for an
        unrooted ``marin-prod/zephyr-perf-...``) rooted."""
        known, given = self._cli_ids.get(job_id), job_id.strip()
        if known:
            return (known,)
        return (given,) if given.startswith("/") else (given, "/" + given)

    def _job_listing(self, job_id: str) -> list[dict[str, Any]]:
        """The listing under the first id form that lists the job itself (that form is
        remembered); [] when none does."""
        for form in self._id_forms(job_id):
            entries = self.cli.list_jobs(form)
            if any(_same_job(str(e.get("job_id", "")), job_id) for e in entries):
                self._cli_ids[job_id] = form
                return entries
        return []

    def cli_job_id(self, job_id: str) -> str:
        """The form of ``job_id`` the iris CLI answers to (as given when the cluster lists
        neither form): marin's collector fails quietly on a form the CLI refuses."""
        if job_id not in self._cli_ids:
            self._job_listing(job_id)
        return self._cli_ids.get(job_id, job_id)

    def poll(self, job_id: str) -> JobState:
        """The job's state now: ``iris_monitor.py status`` where the checkout has it, else
        the CLI's listing."""
        if self.monitor is not None:
            status = functools.partial(self._monitor, "status", timeout=self.timeout_seconds)
            return self._monitor_call(job_id, status)
        entries = self._job_listing(job_id)
        for entry in entries:
            if _same_job(str(entry.get("job_id", "")), job_id):
                job = job_state_from_entry(job_id, entry)
                if job.terminal:  # the listing that shows it ended also shows its tree
                    self._ended_listing[job_id] = entries
                return job
        return JobState(job_id=job_id, state="unknown", found=False)

    def wait(self, job_id: str, seconds: float) -> JobState:
        """Wait at most ``seconds`` for the job to end; its state then: the monitor's
        ``wait``, then ``status`` if it still runs; without a monitor, sleep and poll."""
        if self.monitor is None:
            if seconds > 0:
                self.sleep(seconds)
            return self.poll(job_id)
        job = self._monitor_call(job_id, lambda form: self._monitor_wait(form, seconds))
        return self.poll(job_id) if job.raw_state == "timed out" else job

    def _monitor_call(self, job_id: str, call: Callable[[str], MonitorAnswer]) -> JobState:
        """``call`` with each id form until one is known."""
        for form in self._id_forms(job_id):
            answer = call(form)
            if answer.not_found:
                continue
            self._cli_ids[job_id] = form
            if answer.timed_out:
                return JobState(job_id=job_id, state="unknown", raw_state="timed out")
            return job_state_from_monitor(job_id, answer)
        return JobState(job_id=job_id, state="unknown", found=False)

    def job_tree(self, job_id: str) -> list[JobState]:
        """The job and its descendants: from the poll that saw the job end, else listed
        now ([] when unknown)."""
        entries = self._ended_listing.get(job_id) or self._job_listing(job_id)
        return [
            job_state_from_entry(str(e.get("job_id")), e)
            for e in entries
            if in_tree(str(e.get("job_id") or ""), job_id)
        ]

    def _job_command(self, verb: str, job_id: str, *extra: str) -> subprocess.CompletedProcess[str]:
        """``iris job <verb> <id> ...`` with each id form until one is accepted (exit 0);
        the last answer otherwise."""
        proc = None
        for form in self._id_forms(job_id):
            proc = self.cli.run("job", verb, form, *extra)
            if proc.returncode == 0:
                self._cli_ids[job_id] = form
                return proc
        assert proc is not None
        return proc

    def find(
        self,
        gate: int,
        pr: int,
        attempt: int,
        since: str | None,
        exclude: tuple[str, ...] = (),
        user_prefix: str | None = None,
    ) -> Submission | None:
        """The earliest job named like this PR/gate's treatment submitted at or after
        ``since`` (60 s slack), not in ``exclude``. ``user_prefix`` (``/alice/``) narrows
        the listing when known."""
        name = f"zephyr-perf-pr{pr}-g{gate}-treatment-"  # the run-id prefix (docs/contracts.md)
        pattern = re.compile(re.escape(name) + r"(\d{8}T\d{6}Z)")
        floor = parse_time(since)
        prefix = f"{user_prefix.rstrip('/')}/{name}" if user_prefix else None
        found: list[tuple[str, str]] = []
        for entry in self.cli.list_jobs(prefix):
            job_id = str(entry.get("job_id") or "")
            match = pattern.match(job_id.rstrip("/").rsplit("/", 1)[-1])
            if not match or any(_same_job(job_id, e) for e in exclude):
                continue
            stamp = parse_time(match.group(1))  # the compact 20261206T101500Z
            if stamp is None:  # no calendar's time (month 99): not a run id the kit made
                continue
            if floor is not None and (floor - stamp).total_seconds() > 60:
                continue
            found.append((match.group(1), job_id))
        if not found:
            return None
        first_stamp, job_id = sorted(found)[0]
        run_id = name + first_stamp
        return Submission(
            job_id=job_id,
            gate=gate,
            attempt=attempt,
            status_path=status_url(self.status_root, pr, gate, attempt),
            run_id=run_id,
            raw={"job_id": job_id, "run_id": run_id, "recovered": True},
        )

    # ------------------------------------------------------------------ collect / stop
    def collect(self, submission: Submission, out: str) -> str:
        """The collect script, in the checkout (as the scheduled baselines run it) or the
        worktree (``collect_from``); its output goes to ``collect.log``, redacted."""
        where = (self.collect_from == "worktree" and self.last_worktree) or self.checkout
        script = self._script(where, self.collect_script)
        argv = uv_python(self.uv_command, script, "--job-id", self.cli_job_id(submission.job_id))
        if submission.status_path:
            argv += ["--status", submission.status_path]
        argv += ["--out", out, *self._config_args()]
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        what = f"collect ({self.collect_script})"
        proc = run_tool(argv, where, what, self.timeout_seconds, self.env)
        os.makedirs(self.scratch_dir, exist_ok=True)
        with open(os.path.join(self.scratch_dir, "collect.log"), "w") as fh:
            fh.write(redact(proc.stdout + "\n--- stderr ---\n" + proc.stderr))
        if proc.returncode != 0 or not os.path.isfile(out):
            detail = (proc.stderr or proc.stdout).strip()[-1000:]
            raise RunnerError(
                f"collect for job {submission.job_id} exited {proc.returncode}: {detail}"
            )
        return out

    def logs(self, job_id: str, max_lines: int = 2000) -> str:
        """``iris job logs JOB --tail --max-lines N``; "" when the CLI fails (logs expire)."""
        try:
            proc = self._job_command("logs", job_id, "--tail", "--max-lines", str(max_lines))
        except RunnerError:
            return ""
        return proc.stdout if proc.returncode == 0 else ""

    def stop(self, job_id: str) -> None:
        """``iris job stop`` (0.2.20) or ``cancel`` (0.2.227): the job and its descendants."""
        verb = STOP_VERB[self.cli.dialect]
        proc = self._job_command(verb, job_id)
        if proc.returncode != 0:
            raise RunnerError(
                f"iris could not stop {job_id} (`iris job {verb}`): "
                f"{(proc.stderr or proc.stdout).strip()[-500:]}"
            )


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except FileNotFoundError:
        return ""
