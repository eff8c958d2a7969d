"""Gate 0's two sides: each a ``ferry_pipeline.py serve`` process (native, or under
callgrind for instruction counts), JSON lines over pipes (``docs/gate0.md``). Seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import select
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from perfgate_lib.errors import PerfgateError
from perfgate_lib.local import callgrind_client, ferry_pipeline
from perfgate_lib.local.sideenv import SideEnv

# instrumentation and collection start off; the side counts shard work (callgrind_client)
CALLGRIND = ("valgrind", *callgrind_client.VALGRIND_ARGS, "-q")
FERRY_SCRIPT = Path(ferry_pipeline.__file__).resolve()
SIDES = ("control", "treatment")


class LocalRunError(PerfgateError):
    """A side's ferry process did not start, timed out or crashed (git failures: GitError); exit 4."""


class SideServer:
    """One side's ``ferry_pipeline.py serve`` process; JSON lines over its pipes."""

    def __init__(
        self,
        side: str,
        launch: SideEnv,
        *,
        corpus_dir: Path,
        work_dir: Path,
        zephyr_src: str | None,
        log: Path,
        max_workers: int,
        pycache: Path | None = None,
        callgrind_out: Path | None = None,
    ) -> None:
        self.side = side
        self.log = log
        cmd = [*launch.python, str(FERRY_SCRIPT), "serve", "--corpus", str(corpus_dir),
               "--work-dir", str(work_dir), "--max-workers", str(max_workers)]  # fmt: skip
        if zephyr_src:
            cmd += ["--zephyr-src", zephyr_src]
        if callgrind_out is not None:
            # imports and warm-up run uninstrumented; the server turns instrumentation on
            # before its first stage and dumps the counters around every stage (.<n>)
            callgrind_out.parent.mkdir(parents=True, exist_ok=True)
            out_file = f"--callgrind-out-file={callgrind_out}"
            cmd = [*CALLGRIND, out_file, *cmd, "--callgrind-out", str(callgrind_out)]
        # launch.env sets PYTHONPATH to the worktree's own sources only (not the kit's)
        env = {**os.environ, **launch.env, "PYTHONHASHSEED": "0"}
        if pycache is not None:
            # bytecode of the worktree's and the environment's modules, compiled by the
            # first process and read by every later one (restarts start in ~1 s instead of
            # recompiling Zephyr each time); nothing is written into a worktree or an env
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(pycache)
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = log.open("w")
        try:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._log,
                cwd=launch.cwd or str(work_dir.parent),
                env=env,
            )
        except OSError as exc:
            self._log.close()
            raise LocalRunError(f"{side}: could not start {cmd[0]}: {exc}") from exc
        self.identity: dict[str, Any] = {}
        self.memory_method = ""

    @property
    def pid(self) -> int:
        """The server process's id (pairs.json records which process measured a pair)."""
        return self.proc.pid

    def _tail(self) -> str:
        self._log.flush()
        lines = self.log.read_text(errors="replace").strip().splitlines()[-3:]
        return " | ".join(lines) or "no output"

    def _read(self, timeout_s: float, what: str) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        if not ready:
            self.close()
            raise LocalRunError(f"{self.side}: {what} timed out after {timeout_s:g} s ({self.log})")
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=10)
            raise LocalRunError(
                f"{self.side}: the ferry process exited ({self.proc.returncode}) during "
                f"{what} ({self.log}): {self._tail()}"
            )
        return json.loads(line)

    def wait_ready(self, timeout_s: float) -> dict[str, Any]:
        """Block until the server warmed up; its identity."""
        answer = self._read(timeout_s, "start-up and warm-up")
        if not answer.get("ready"):
            raise LocalRunError(
                f"{self.side}: the mini ferry could not start: {answer.get('error')} ({self.log})"
            )
        self.identity = dict(answer.get("identity") or {})
        self.memory_method = str(answer.get("memory_method") or "")
        return self.identity

    def send_stage(self, stage: str) -> None:
        """Ask the server to run one stage (its answer: :meth:`stage_answer`)."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps({"cmd": "stage", "stage": stage}) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError as exc:
            raise LocalRunError(f"{self.side}: the ferry process is gone ({self.log})") from exc

    def stage_answer(self, stage: str, timeout_s: float) -> dict[str, Any]:
        """The server's answer to :meth:`send_stage`, instruction counts read from the dumps."""
        answer = self._read(timeout_s, f"stage {stage}")
        for row in (answer.get("stages") or {}).values():
            try:
                ferry_pipeline.add_instructions(row)
            except (OSError, RuntimeError) as exc:
                raise LocalRunError(f"{self.side}: stage {stage}'s callgrind dump: {exc}") from exc
        return answer

    def run_stage(self, stage: str, timeout_s: float) -> dict[str, Any]:
        """Run one stage; the server's answer (status, stages, error)."""
        self.send_stage(stage)
        return self.stage_answer(stage, timeout_s)

    def kill(self) -> None:
        """Stop the server now (queued stage requests are dropped)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        """Ask the server to exit; kill it if it does not within 10 s."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                assert self.proc.stdin is not None
                self.proc.stdin.write(b'{"cmd": "exit"}\n')
                self.proc.stdin.flush()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        for pipe in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError, ValueError):
                pipe and pipe.close()
        self._log.close()


class SideProcesses:
    """Both sides' ferry processes, replaced by fresh ones every ``per_process`` pairs; a
    generation's two start (``start(side, generation)``) and warm up at once, untimed."""

    def __init__(
        self, start: Callable[[str, int], SideServer], per_process: int, timeout_s: float
    ) -> None:
        self.start, self.per_process, self.timeout_s = start, per_process, timeout_s
        self.current: dict[str, SideServer] = {}
        self.generation = -1
        self.restart_seconds = 0.0

    def launch(self) -> dict[str, SideServer]:
        """Start a new generation of both sides (closing the old one); not yet ready."""
        self.close()
        self.generation += 1
        self.current = {side: self.start(side, self.generation) for side in SIDES}
        return self.current

    def ready(self) -> dict[str, SideServer]:
        """Wait for the current generation to warm up; raises LocalRunError."""
        for side in SIDES:
            self.current[side].wait_ready(self.timeout_s)
        return self.current

    def __call__(self, number: int) -> dict[str, SideServer]:
        """The servers of pair ``number`` (1-based): generation ``(number - 1) // per``."""
        if (number - 1) // self.per_process > self.generation:
            t = time.perf_counter()
            self.launch()
            self.ready()
            self.restart_seconds += time.perf_counter() - t
        return self.current

    def close(self) -> None:
        for server in self.current.values():
            server.close()
        self.current = {}


def compile_natively(start: Callable[[str, int | str], SideServer], timeout_s: float) -> None:
    """Start and stop one native process per side at once (generation ``compile``): they
    fill the shared bytecode cache, sparing callgrind about 9 s each. A failure here is
    left to recur, and be reported, when the side starts for real."""
    servers = [start(side, "compile") for side in SIDES]
    for server in servers:
        with contextlib.suppress(LocalRunError):
            server.wait_ready(timeout_s)
    for server in servers:
        server.close()


def require_callgrind() -> None:
    """Raise LocalRunError (exit 4) unless valgrind can count instructions here."""
    if platform.machine() not in ("x86_64", "AMD64"):
        raise LocalRunError(
            f"gate 0's metric 'instructions' needs an x86-64 machine (this is "
            f"{platform.machine()}): run with --metric cpu"
        )
    if not shutil.which(CALLGRIND[0]):
        raise LocalRunError(
            "gate 0's metric 'instructions' needs valgrind on PATH (Debian/Ubuntu: apt-get "
            "install valgrind), or run with --metric cpu"
        )
