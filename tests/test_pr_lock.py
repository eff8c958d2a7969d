"""One run per PR (issue 29, problem 4): the lock on local disk and on gs:// (real gcsfs
against the in-process emulator, with GCS's ifGenerationMatch preconditions)."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import threading

import pytest

from perfgate_lib.gate import state as st
from perfgate_lib.io import storage

GS_ROOT = "gs://marin-us-central1/perfgate-lock-test"


@pytest.fixture(params=["local", "gs"])
def root(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "runs")
    from tests.fakes.gcs_preconditions import install

    install()
    request.getfixturevalue("gcs")
    name = request.node.name.replace("[", "-").replace("]", "")
    return f"{GS_ROOT}/{name}"


@pytest.fixture(autouse=True)
def _no_inherited_holder(monkeypatch):
    monkeypatch.delenv(st.HOLDER_ENV, raising=False)


def write_holder(root: str, pr: int, **fields) -> None:
    stamp = st.now_iso()
    holder = {
        "pr": pr,
        "token": "other",
        "host": "elsewhere",
        "pid": 4242,
        "start": "",
        "since": stamp,
        "heartbeat": stamp,
        "run_dir": "",
    } | fields
    path = st.lock_path(root, pr)
    current = storage.read_versioned(path)
    assert storage.write_if_generation(
        path, json.dumps(holder), current.generation if current else None
    )


def test_conditional_writes(root):
    path = storage.join(root, "x.json")
    assert storage.read_versioned(path) is None
    first = storage.write_if_generation(path, "one", None)
    assert first and storage.write_if_generation(path, "two", None) is None, "exists already"
    second = storage.write_if_generation(path, "two", first)
    assert second and second != first
    assert storage.write_if_generation(path, "three", first) is None, "stale generation"
    assert storage.read_versioned(path) == storage.Versioned("two", second)
    assert not storage.delete_if_generation(path, first)
    assert storage.delete_if_generation(path, second)
    assert storage.read_versioned(path) is None


def test_second_holder_is_refused_until_the_first_releases(root):
    first = st.PrLock.acquire(root, 7)
    with pytest.raises(st.PrBusy) as info:
        st.PrLock.acquire(root, 7)
    message = str(info.value)
    assert message.startswith(f"PR 7 is being gated by pid {os.getpid()} on ")
    assert f"since {first.holder['since']}" in message and info.value.exit_code == 4
    assert st.PrLock.acquire(root, 8).held, "another PR is free"
    first.release()
    assert st.PrLock.acquire(root, 7).held


def test_racing_holders_one_wins(root):
    """Eight threads race for the PR; winners hold until every attempt is over."""
    barrier = threading.Barrier(8)
    done = threading.Event()
    results: list[str] = []

    def attempt():
        barrier.wait()
        try:
            lock = st.PrLock.acquire(root, 9)
        except st.PrBusy:
            results.append("busy")
            return
        results.append("won")
        done.wait(60)
        lock.release()

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    while len(results) < 8 and any(t.is_alive() for t in threads):
        threads[0].join(0.05)
    done.set()
    for t in threads:
        t.join()
    assert sorted(results) == ["busy"] * 7 + ["won"]


def test_a_dead_holder_on_this_host_is_taken_over(root):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    write_holder(root, 7, host=socket.gethostname(), pid=gone.pid)
    lock = st.PrLock.acquire(root, 7)
    assert "is gone" in lock.holder["took_over"]["why"]


@pytest.mark.parametrize("pid", [2**31, 10**30, 1e300])
def test_a_holder_pid_no_process_can_have_is_dead(root, pid):
    """A pid past the system's range (a lock file written by hand, say) is no process here:
    taken over, not an OverflowError."""
    write_holder(root, 7, host=socket.gethostname(), pid=pid)
    lock = st.PrLock.acquire(root, 7)
    assert "is gone" in lock.holder["took_over"]["why"]


def test_a_live_holder_elsewhere_blocks_until_released_or_stale(root):
    run_dir = storage.join(root, "pr7", "20261206T000000Z-abc1234")
    state = st.RunState.create(run_dir, pr=7, status="running")
    write_holder(root, 7, run_dir=run_dir)
    with pytest.raises(st.PrBusy, match="PR 7 is being gated by pid 4242 on elsewhere"):
        st.PrLock.acquire(root, 7)
    # the workflow's release step runs where the ladder job's process died ...
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    since = st.now_iso()
    write_holder(root, 7, run_dir=run_dir, host=socket.gethostname(), pid=gone.pid, since=since)
    state.set(status="interrupted")  # what `perfgate trigger --release` does
    state.event("released", reason="the gate job ended without posting a verdict")
    # ... and from any other machine the released run's lock is free at once
    write_holder(root, 7, run_dir=run_dir, since=since)
    lock = st.PrLock.acquire(root, 7)
    assert "released" in lock.holder["took_over"]["why"]
    lock.release()
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=st.LOCK_STALE_HOURS + 1)).isoformat()
    write_holder(root, 7, heartbeat=old)
    assert "no sign of life" in st.PrLock.acquire(root, 7).holder["took_over"]["why"]


def test_a_non_holder_never_rewrites_state(root):
    run_dir = storage.join(root, "pr7", "20261206T000000Z-abc1234")
    st.RunState.create(run_dir, pr=7, status="running")
    before = storage.read_text(storage.join(run_dir, "state.json"))
    write_holder(root, 7, host=socket.gethostname(), pid=os.getppid(), run_dir=run_dir)
    intruder = st.RunState.load(run_dir)
    with pytest.raises(st.PrBusy, match="state.json was not written"):
        intruder.set(status="superseded")
    assert storage.read_text(storage.join(run_dir, "state.json")) == before


def test_a_holder_that_lost_the_lock_stops_without_writing(root):
    lock = st.PrLock.acquire(root, 7)
    state = st.RunState.create(storage.join(root, "pr7", "20261206T000000Z-abc1234"), pr=7)
    lock.adopt(state)
    state.event("working")
    before = storage.read_text(state.path)
    write_holder(root, 7, host="elsewhere")  # taken over (e.g. after 8 h of silence)
    with pytest.raises(st.LockLost, match="lost its lock to pid 4242 on elsewhere"):
        state.event("more work")
    assert storage.read_text(state.path) == before
    lock.release()
    assert json.loads(storage.read_versioned(st.lock_path(root, 7)).text)["token"] == "other"


def test_the_holder_refreshes_its_sign_of_life(root):
    lock = st.PrLock.acquire(root, 7)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=st.HEARTBEAT_SECONDS + 1)
    lock.confirm(now=later)
    on_disk = json.loads(storage.read_versioned(lock.path).text)
    assert on_disk["heartbeat"].startswith(later.strftime("%Y-%m-%dT%H:%M:%S"))
    lock.confirm(now=later)  # still ours after its own refresh


def test_run_folders_listing_skips_the_lock(root):
    lock = st.PrLock.acquire(root, 7)
    st.RunState.create(storage.join(root, "pr7", "20261206T000000Z-abc1234"), pr=7)
    assert [s.run_dir.rsplit("/", 1)[-1] for s in st.unfinished_runs(root, 7)] == [
        "20261206T000000Z-abc1234"
    ]
    lock.release()
