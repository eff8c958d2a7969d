"""Storage that cannot be reached fails fast, with one line saying why.

Real fsspec HTTP against a local server (programmable answers, counted requests), real
gcsfs against an endpoint that refuses connections, real google-auth with no credentials.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from perfgate_lib.errors import ReportError, StorageError
from perfgate_lib.io import storage
from perfgate_lib.io.storage import CREDENTIALS, NETWORK, NOT_FOUND, TRANSIENT, classify
from perfgate_lib.verdict.report import load_report
from tests.conftest import REPO_ROOT

REPORT = json.dumps({"iris_job_id": "/j/1", "wall_seconds_total": 10.0}).encode()
FAST = storage.RetryPolicy(attempts=3, first_wait_s=0.01, max_wait_s=0.02)
NO_CREDENTIALS_URL = "gs://nonexistent-bucket-xyz/r.json"


class Answers(http.server.BaseHTTPRequestHandler):
    """Answers GETs with the statuses in ``plan`` (in order), then 200 and a report."""

    plan: list[int] = []
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).seen.append(self.path)
        status = type(self).plan.pop(0) if type(self).plan else 200
        body = REPORT if status == 200 else b"nope"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def retry_waits(monkeypatch) -> list[float]:
    """The waits (seconds) storage retries would sleep, recorded instead of slept."""
    waits: list[float] = []
    monkeypatch.setitem(storage.with_retries.__kwdefaults__, "sleep", waits.append)
    return waits


@pytest.fixture
def server(monkeypatch) -> Iterator[str]:
    monkeypatch.setattr(storage, "retry_policy", lambda: FAST)
    Answers.plan, Answers.seen = [], []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def closed_port():
    """A port that refuses connections: bound and never listening, held for the whole test
    (a port closed again could be taken by another process before the test connects)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def no_credentials_env(tmp_path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("STORAGE_EMULATOR_HOST", "FSSPEC_GS_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS")
    }
    home = {"HOME": str(tmp_path), "CLOUDSDK_CONFIG": str(tmp_path / "gcloud")}
    return {**env, **home, "PERFGATE_DEBUG": ""}


def test_the_retry_bound_lives_in_gate_common():
    storage.retry_policy.cache_clear()
    policy = storage.retry_policy()
    text = storage.GATE_COMMON.read_text()
    assert f"storage_retry_attempts: {policy.attempts} " in text
    assert policy.attempts >= 2 and policy.wait(1) > 0 and policy.wait(10) == policy.max_wait_s
    assert policy.credentials_check_s < 5


def test_transient_answers_are_retried(server):
    Answers.plan = [503, 429]
    assert storage.read_bytes(f"{server}/r.json") == REPORT
    assert len(Answers.seen) == 3


def test_transient_answers_give_up_at_the_bound(server):
    Answers.plan = [503] * 10
    with pytest.raises(StorageError) as info:
        storage.read_bytes(f"{server}/r.json")
    assert info.value.kind == TRANSIENT and len(Answers.seen) == FAST.attempts
    assert f"{server}/r.json" in str(info.value) and "\n" not in str(info.value)


def test_retries_wait_as_the_policy_says_and_name_the_attempts():
    """Each retry waits first_wait_s doubled per retry, capped at max_wait_s; the error
    after the last attempt says how many were made."""
    import aiohttp

    policy = storage.RetryPolicy(attempts=4, first_wait_s=0.5, max_wait_s=1.5)
    waits: list[float] = []
    answers = iter([aiohttp.ServerDisconnectedError(), aiohttp.ServerDisconnectedError(), b"ok"])

    def op() -> bytes:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    url = "gs://bucket/r.json"
    assert storage.with_retries(op, url, policy=policy, sleep=waits.append) == b"ok"
    assert waits == [0.5, 1.0]

    def always() -> bytes:
        raise aiohttp.ServerDisconnectedError()

    waits.clear()
    with pytest.raises(StorageError, match="still failing after 4 attempts") as info:
        storage.with_retries(always, url, policy=policy, sleep=waits.append)
    assert info.value.kind == TRANSIENT and waits == [0.5, 1.0, 1.5]


@pytest.mark.parametrize("status, kind", [(404, NOT_FOUND), (403, CREDENTIALS), (401, CREDENTIALS)])
def test_final_answers_are_not_retried(server, status, kind):
    Answers.plan = [status]
    with pytest.raises(Exception) as info:
        storage.read_bytes(f"{server}/r.json")
    assert len(Answers.seen) == 1 and classify(info.value) == kind
    if status == 404:
        assert isinstance(info.value, FileNotFoundError)
        Answers.plan = [404]
        with pytest.raises(ReportError, match="file not found"):
            load_report(f"{server}/r.json")
    else:
        assert isinstance(info.value, StorageError) and info.value.kind == CREDENTIALS


@pytest.mark.parametrize("host", ["refused", "perfgate-test.invalid"])
def test_unreachable_hosts_fail_at_once_as_network(host, retry_waits, closed_port):
    import aiohttp  # noqa: F401 - imports warm: the time measured is the failing call
    import fsspec.implementations.http  # noqa: F401

    url = f"http://127.0.0.1:{closed_port}/r.json" if host == "refused" else f"https://{host}/r"
    with pytest.raises(StorageError) as info:
        load_report(url)
    assert info.value.kind == NETWORK and url in str(info.value)
    assert "file not found" not in str(info.value)
    assert retry_waits == []  # one attempt: no retry waited for


def test_gs_without_credentials_fails_fast(monkeypatch, tmp_path, retry_waits):
    for name in ("STORAGE_EMULATOR_HOST", "FSSPEC_GS_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    storage._credentials_problem.cache_clear()
    import google.auth  # noqa: F401 - imports warm: the time measured is the check
    import google.auth.compute_engine  # noqa: F401

    with pytest.raises(StorageError) as info:
        load_report(NO_CREDENTIALS_URL)
    assert info.value.kind == CREDENTIALS and NO_CREDENTIALS_URL in str(info.value)
    assert retry_waits == []  # one attempt (the check itself is bounded by a thread join)


def _stderr_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_cli_gs_without_credentials_says_so_in_one_line(tmp_path):
    """The issue's command: was 49 s of retries, two tracebacks and three warnings."""
    base = REPO_ROOT / "parameters" / "examples" / "tier1_baseline.json"
    proc = subprocess.run(
        [sys.executable, "-m", "perfgate_lib", "compare", str(base), NO_CREDENTIALS_URL],
        capture_output=True,
        text=True,
        env=no_credentials_env(tmp_path),
        cwd=tmp_path,
        timeout=120,
    )
    (line,) = _stderr_lines(proc.stderr)  # no retry warnings, no traceback
    assert proc.returncode == 4 and proc.stdout == ""
    assert NO_CREDENTIALS_URL in line and "credentials problem" in line


def test_cli_https_without_network_says_network(tmp_path):
    base = REPO_ROOT / "parameters" / "examples" / "tier1_baseline.json"
    url = "https://perfgate-test.invalid/r.json"
    proc = subprocess.run(
        [sys.executable, "-m", "perfgate_lib", "compare", str(base), url],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    (line,) = _stderr_lines(proc.stderr)
    assert proc.returncode == 4 and url in line and "network problem" in line
    assert "file not found" not in line


GCS_PROBE = """
import json
from perfgate_lib.io import storage
from perfgate_lib.errors import StorageError
import asyncio, gcsfs.retry
backoffs = []  # gcsfs's own back-off sleeps (1 s and up) between its attempts
real_sleep = asyncio.sleep
async def counted_sleep(seconds, *args, **kwargs):
    if seconds >= 1:
        backoffs.append(seconds)
    return await real_sleep(seconds, *args, **kwargs)
gcsfs.retry.asyncio.sleep = counted_sleep
try:
    storage.read_bytes("gs://perfgate-bucket/r.json")
    kind = "read"
except StorageError as exc:
    kind = exc.kind
print(json.dumps({"kind": kind, "backoffs": len(backoffs)}))
"""


def test_gcs_endpoint_that_refuses_is_not_retried(tmp_path, closed_port):
    """gcsfs alone retries a refused connection six times (~30 s); here it is one attempt."""
    env = {
        **os.environ,
        "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{closed_port}",
        "FSSPEC_GS_TOKEN": "anon",
        "PERFGATE_DEBUG": "",
    }
    proc = subprocess.run(
        [sys.executable, "-c", GCS_PROBE],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert proc.stdout, proc.stderr
    result = json.loads(proc.stdout)
    assert result["kind"] == NETWORK, proc.stderr
    assert result["backoffs"] == 0  # one attempt, not gcsfs's six (~30 s of back-off)
    assert "Traceback" not in proc.stderr
