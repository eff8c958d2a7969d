"""Two ``perfgate run`` processes on one PR (issue 29, problem 4) and planted secrets
(problem 5), with the real CLI against the fake marin world and the fake GitHub.

The winner's local check waits for a file the test writes only once the other run has
ended, so the two runs always overlap: the outcome never depends on timing. The two runs
are the CLI's ``main`` in two long-lived worker processes (imports paid once).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import select
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from tests.fakes.marin_world import PASS_PR, assessment_json
from tests.gate_checks import sentinel_comments

pytest_plugins = ("tests.fakes.marin_world_fixtures", "tests.fakes.github_fixtures")

PERFGATE = str(Path(sys.executable).with_name("perfgate"))
WAIT_FOR = """\
import os, sys, time
deadline = time.monotonic() + 300
while not os.path.exists(sys.argv[1]):
    if time.monotonic() > deadline:
        sys.exit("the test never released this check")
    time.sleep(0.02)
os.unlink(sys.argv[1])
"""


def gate_args(world, tmp_path: Path) -> list[str]:
    assessment = tmp_path / "assessment.json"
    assessment.write_text(json.dumps(assessment_json("1")))
    return [
        PERFGATE, "run", "--pr", str(PASS_PR), "--checkout", str(world.checkout),
        "--confirm", "go", "--sha", world.sha(PASS_PR), "--assessment", str(assessment),
        "--run-params", str(world.common), "--runs-root", str(world.root / "runs"),
        "--executor", "inprocess",
    ]  # fmt: skip


def start(args: list[str], out: Path, env: dict | None = None) -> subprocess.Popen:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "stdout").open("w") as stdout, (out / "stderr").open("w") as stderr:
        return subprocess.Popen(
            args, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )  # fmt: skip


def run_folders(world) -> list[Path]:
    group = world.root / "runs" / f"pr{PASS_PR}"
    return sorted(p for p in group.iterdir() if p.is_dir()) if group.exists() else []


@pytest.fixture
def cpu_burner():
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield burner
    burner.kill()
    burner.wait()


WORKER = """\
import contextlib, json, sys
from perfgate_lib import cli
import perfgate_lib.gate.flow, perfgate_lib.verdict.compare  # imports paid once
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    job = json.loads(line)
    with open(job["stdout"], "w") as out, open(job["stderr"], "w") as err:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main(job["argv"])
            except SystemExit as exc:
                code = exc.code
    print(json.dumps({"code": code}), flush=True)
"""


class Worker:
    """A long-lived process that runs ``perfgate`` commands (the CLI's ``main``) one at a
    time on request: two of them are two ``perfgate run`` processes, without paying the
    kit's imports twenty times."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, env=dict(os.environ),
        )  # fmt: skip
        assert json.loads(self.proc.stdout.readline()) == {"ready": True}

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, argv: list[str], out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        job = {"argv": argv, "stdout": str(out / "stdout"), "stderr": str(out / "stderr")}
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()

    def result(self) -> int:
        line = self.proc.stdout.readline()
        assert line, "the worker died"
        return int(json.loads(line)["code"])

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


def first_answer(workers: list[Worker], limit_s: float = 300) -> Worker:
    ready, _, _ = select.select([w.proc.stdout for w in workers], [], [], limit_s)
    assert ready, "neither perfgate run ended"
    return next(w for w in workers if w.proc.stdout is ready[0])


@pytest.mark.slow
def test_two_runs_on_one_pr_twenty_times(world_env, github_env, tmp_path, cpu_burner):
    world = world_env
    release = tmp_path / "release-the-check"
    (tmp_path / "wait_for.py").write_text(WAIT_FOR)
    world.write_common(
        "local_checks:\n  - name: hold\n"
        f"    run: {sys.executable} {tmp_path / 'wait_for.py'} {release}\n",
    )
    world.scenario({"default": {"states": ["JOB_STATE_SUCCEEDED"], "report": "pass"}})
    argv = gate_args(world, tmp_path)[1:]
    workers = [Worker(), Worker()]
    try:
        for i in range(20):
            submitted, folders = len(world.submissions()), run_folders(world)
            writes = comment_writes(github_env)
            for name, worker in zip("ab", workers, strict=True):
                worker.send(argv, tmp_path / f"i{i}" / name)
            loser = first_answer(workers)
            (winner,) = [w for w in workers if w is not loser]
            stderr = (tmp_path / f"i{i}" / "ab"[workers.index(loser)] / "stderr").read_text()
            assert loser.result() == 4, f"iteration {i}: {stderr}"
            assert f"PR {PASS_PR} is being gated by pid {winner.pid} on " in stderr
            assert " since 20" in stderr and "nothing was done" in stderr
            release.write_text("go")
            assert winner.result() == 0, f"iteration {i}"
            assert len(world.submissions()) == submitted + 1, f"iteration {i}: one ferry"
            new = [p for p in run_folders(world) if p not in folders]
            assert len(new) == 1, f"iteration {i}: one run folder"
            state = json.loads((new[0] / "state.json").read_text())
            assert state["status"] == "finished" and state["pid"] == winner.pid
            assert state["events"][0]["event"] == "created"
            assert state["events"][-1]["event"] == "archived"
            assert len(sentinel_comments(github_env, PASS_PR)) == 1, f"iteration {i}"
            after = comment_writes(github_env)
            assert after - writes <= 1 and (i or after == 1), f"iteration {i}: one comment"
    finally:
        for worker in workers:
            worker.close()
    assert not (world.root / "runs" / ".locks" / f"pr{PASS_PR}.json").exists()


def comment_writes(fake) -> int:
    return len(fake.requests_matching("POST", "/repos/*/issues/*/comments")) + len(
        fake.requests_matching("PATCH", "/repos/*/issues/comments/*")
    )


# ---------------------------------------------------------------------- planted secrets
WORDS = ("TOKEN", "KEY", "SECRET", "PASS", "CREDENTIAL", "AUTH", "COOKIE", "SESSION",
         "WEBHOOK", "DSN", "PRIVATE")  # fmt: skip


def planted_env() -> dict[str, str]:
    """Every name pattern, its value plain (some look like paths) and base64-shaped."""
    env = {}
    for n, word in enumerate(WORDS):
        plain = ("/" if n % 2 == 0 else "") + "v" + secrets.token_hex(10)
        env[f"PLANTED_{word}_PLAIN"] = plain
        env[f"PLANTED_{word}_B64"] = base64.b64encode(secrets.token_bytes(24)).decode()
    return env


def forms(value: str) -> list[str]:
    raw = value.encode()
    core = base64.b64encode(raw[: len(raw) // 3 * 3]).decode()
    return [
        value,
        core,  # the start of any base64 of the value (padded, + newline, ...)
        base64.urlsafe_b64encode(raw[: len(raw) // 3 * 3]).decode(),
        urllib.parse.quote(value, safe=""),
        raw.hex(),
    ]


PRINTER = """\
import base64, os, urllib.parse
for name, value in sorted(os.environ.items()):
    if name.startswith("PLANTED_"):
        raw = value.encode()
        print(name, "=", value)
        print("b64", base64.b64encode(raw).decode(), base64.b64encode(raw + b"\\n").decode())
        print("url", base64.urlsafe_b64encode(raw).decode().rstrip("="))
        print("quoted", urllib.parse.quote(value, safe=""), "hex", raw.hex())
raise SystemExit("a PR's test printed the environment")
"""


def test_planted_secrets_reach_no_output(world_env, github_env, tmp_path):
    world = world_env
    (tmp_path / "printer.py").write_text(PRINTER)
    world.write_common(
        f"local_checks:\n  - name: leaky test\n    run: {sys.executable} {tmp_path / 'printer.py'}\n",
    )
    world.scenario({"default": {"states": ["JOB_STATE_SUCCEEDED"], "report": "pass"}})
    env = planted_env()
    out = tmp_path / "out"
    proc = start(gate_args(world, tmp_path), out, env)
    assert proc.wait(timeout=300) == 4
    assert world.submissions() == [], "halted: nothing submitted"
    (comment,) = sentinel_comments(github_env, PASS_PR)
    assert "halted (local tests failed)" in comment["body"]
    assert "[REDACTED env:PLANTED_" in comment["body"], "the tail is shown, redacted"
    texts = {"stdout": (out / "stdout").read_text(), "stderr": (out / "stderr").read_text()}
    for path in (world.root / "runs").rglob("*"):
        if path.is_file():
            texts[str(path)] = path.read_bytes().decode("latin-1")
    for i, request in enumerate(github_env.requests):
        texts[f"request {i} {request.method} {request.path}"] = request.body
    assert any("local-checks.log" in name for name in texts)
    found = [
        (where, name)
        for name, value in env.items()
        for form in forms(value)
        for where, text in texts.items()
        if form in text or form in text.replace("\n", "")
    ]
    assert found == []
