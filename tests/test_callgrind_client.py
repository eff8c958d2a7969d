"""Gate 0's instruction counts: which threads and which code callgrind's count holds.

Real valgrind where it is installed; the dumps under tests/fixtures/callgrind/ are real
callgrind outputs (tests/fixtures/callgrind/make_fixtures.py made them).
"""

from __future__ import annotations

import gzip
import json
import mmap
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from perfgate_lib.local import callgrind_client
from perfgate_lib.local.callgrind_client import (
    Callgrind,
    CallgrindUnavailable,
    allocator_cost,
    is_allocator,
)
from perfgate_lib.local.callgrind_profile import parse_dump
from perfgate_lib.local.pairs import CALLGRIND, FERRY_SCRIPT
from tests.cli_helpers import GATE0_HANG_S

FIXTURES = Path(__file__).parent / "fixtures" / "callgrind"
HERE = Path(callgrind_client.__file__).resolve().parent
needs_valgrind = pytest.mark.skipif(
    not shutil.which("valgrind"), reason="valgrind is not installed"
)


def _fixture(name: str) -> str:
    return gzip.decompress((FIXTURES / name).read_bytes()).decode()


@pytest.mark.parametrize("side", ["control", "treatment"])
def test_the_fast_allocator_reading_agrees_with_the_full_parse(side):
    """The side process reads only the allocators' blocks; a full parse of the same real
    dump gives the same instructions, and the allocators are a part of the total."""
    text = _fixture(f"{side}.callgrind.gz")
    dump = parse_dump(text, side)
    full = sum(c for (obj, name), c in dump.self_cost.items() if is_allocator(obj, name))
    assert allocator_cost(text) == full
    assert 0 < full < dump.total


def test_the_driver_adds_each_stage_row_its_count_from_the_dump(tmp_path):
    """The side reports only the dump's path; the driver reads the count from it: the
    dump's total less the allocators', and a missing dump stops with its side named."""
    from perfgate_lib.local import ferry_pipeline
    from perfgate_lib.local.pairs import LocalRunError, SideServer

    text = _fixture("control.callgrind.gz")
    dump = tmp_path / "callgrind.out.3"
    dump.write_text(text)
    total = parse_dump(text, "control").total
    row = ferry_pipeline.add_instructions({"wall_s": 1.0, "callgrind_dump": str(dump)})
    assert row["instructions_allocator"] == allocator_cost(text) > 0
    assert row["instructions"] == total - allocator_cost(text)
    assert ferry_pipeline.add_instructions({"wall_s": 1.0}) == {"wall_s": 1.0}

    server = SideServer.__new__(SideServer)  # only the answer handling, no process
    server.side = "treatment"
    server._read = lambda _timeout, _what: {  # type: ignore[method-assign]
        "status": "succeeded",
        "stages": {"minhash": {"callgrind_dump": str(tmp_path / "gone.out.2")}},
    }
    with pytest.raises(LocalRunError, match=r"treatment: stage minhash's callgrind dump"):
        server.stage_answer("minhash", 1.0)


def test_a_dump_that_is_no_regular_file_is_refused_unread():
    """The side names its dump's path and runs the PR's code: a device or a FIFO (which
    the driver's read would wait on past every stage timeout) is refused, not read."""
    from perfgate_lib.local.pairs import LocalRunError, SideServer

    server = SideServer.__new__(SideServer)  # only the answer handling, no process
    server.side = "control"
    server._read = lambda _timeout, _what: {  # type: ignore[method-assign]
        "status": "succeeded",
        "stages": {"minhash": {"callgrind_dump": "/dev/null"}},
    }
    with pytest.raises(LocalRunError, match=r"control: .*/dev/null is not a regular file"):
        server.stage_answer("minhash", 1.0)


@pytest.mark.parametrize("digits", [400, 5000])
def test_a_dump_total_past_callgrinds_counter_is_refused(tmp_path, digits):
    """A dump is a file at a path the side names: a total no 64-bit counter holds (which
    Python cannot convert, or the statistics cannot make a float of) is refused."""
    dump = tmp_path / "callgrind.out.1"
    dump.write_text(f"events: Ir\nsummary: {'9' * digits}\n")
    with pytest.raises(RuntimeError, match="past callgrind's 64-bit counter"):
        callgrind_client.read_dump(str(dump))


def test_allocators_are_named_by_object_and_prefix():
    assert is_allocator("/usr/lib/x86_64-linux-gnu/libc.so.6", "_int_malloc")
    assert is_allocator("/x/_polars_runtime.abi3.so", "_rjem_je_arena_ptr_array_flush")
    assert not is_allocator("/x/libpython3.12.so.1.0", "free")  # not glibc's
    assert not is_allocator("/usr/lib/x86_64-linux-gnu/libc.so.6", "memcpy")


def _refuse_exec(monkeypatch):
    real = mmap.mmap

    def refusing(*args, **kwargs):
        if kwargs.get("prot", 0) & mmap.PROT_EXEC:
            raise PermissionError(13, "Permission denied")
        return real(*args, **kwargs)

    monkeypatch.setattr(callgrind_client.mmap, "mmap", refusing)


@pytest.mark.skipif(not hasattr(mmap, "PROT_EXEC"), reason="no mmap protections here")
def test_a_host_that_refuses_executable_memory_is_named(monkeypatch, tmp_path):
    """Before: __init__ returned early, so `active` was never set (AttributeError)."""
    _refuse_exec(monkeypatch)
    cg = Callgrind(str(tmp_path / "callgrind.out"))
    assert cg.active is False
    assert "executable memory" in cg.why_inactive
    assert cg.count(lambda: 7) == (7, None)
    with pytest.raises(CallgrindUnavailable, match="refuses executable memory"):
        cg.require_active()


@pytest.mark.skipif(not hasattr(mmap, "PROT_EXEC"), reason="no mmap protections here")
def test_the_side_process_answers_why_it_cannot_count(tmp_path):
    """A ferry started to count instructions on such a host answers not-ready, naming the
    refused executable memory (not a traceback about a missing attribute)."""
    script = tmp_path / "refusing_host.py"
    script.write_text(
        "import mmap, runpy, sys\n"
        "real = mmap.mmap\n"
        "def refusing(*a, **k):\n"
        "    if k.get('prot', 0) & mmap.PROT_EXEC:\n"
        "        raise PermissionError(13, 'Permission denied')\n"
        "    return real(*a, **k)\n"
        "mmap.mmap = refusing\n"
        f"sys.argv = [{str(FERRY_SCRIPT)!r}] + sys.argv[1:]\n"
        f"runpy.run_path({str(FERRY_SCRIPT)!r}, run_name='__main__')\n"
    )
    proc = subprocess.run(
        [sys.executable, str(script), "serve", "--corpus", str(tmp_path), "--work-dir",
         str(tmp_path / "work"), "--callgrind-out", str(tmp_path / "callgrind.out")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    answer = json.loads(proc.stdout.splitlines()[0])
    assert answer["ready"] is False
    assert "refuses executable memory" in answer["error"], answer


def test_count_only_shards_wraps_zephyrs_shard_method_once(monkeypatch):
    from zephyr.worker import ZephyrWorker

    monkeypatch.setattr(ZephyrWorker, "_execute_shard", ZephyrWorker._execute_shard)
    original = ZephyrWorker._execute_shard
    cg = Callgrind(None)
    assert cg.count_only_shards() == "zephyr.worker.ZephyrWorker._execute_shard"
    wrapped = ZephyrWorker._execute_shard
    assert wrapped is not original and wrapped.__wrapped__ is original
    cg.count_only_shards()
    assert ZephyrWorker._execute_shard is wrapped  # not wrapped twice
    assert cg.count_caller is False


def test_a_zephyr_without_the_shard_method_is_named(monkeypatch):
    monkeypatch.setattr(callgrind_client, "SHARD_METHOD_HOMES", ("json", "no_such_module"))
    with pytest.raises(CallgrindUnavailable, match="ZephyrWorker._execute_shard in json"):
        Callgrind(None).count_only_shards()


THREADS_SCRIPT = """
import json, sys, threading, time
sys.path.insert(0, {here!r})
import callgrind_client as cc
cg = cc.Callgrind(sys.argv[1]); cg.start(); cg.count_caller = False
sys.setswitchinterval(cc.SWITCH_INTERVAL_S)  # as count_only_shards sets it for gate 0

def loop(n):
    return sum(i * i for i in range(n))

def idle_poller(stop):  # polls like a heartbeat: as often as the waits allow
    while not stop.wait(0.001):
        loop(2000)

def _periodic_sampler(stop):
    while not stop.wait(0.001):
        loop(2000)

def stage(n, poll, spawn):
    stop = threading.Event()
    poller = threading.Thread(target=idle_poller, args=(stop,))
    if poll:
        poller.start()
    def shard():
        loop(n)
        if spawn:  # a writer thread it starts counts, a sampler it starts does not
            sampler = threading.Thread(target=_periodic_sampler, args=(stop,))
            writer = threading.Thread(target=loop, args=(n,))
            sampler.start(); writer.start(); writer.join(); time.sleep(0.2)
    worker = threading.Thread(target=cg.counted(shard))
    worker.start(); worker.join(); stop.set()
    if poll:
        poller.join()

counts = [
    cg.count(lambda: stage(20000, False, False))[1],
    cg.count(lambda: stage(20000, True, False))[1],
    cg.count(lambda: stage(20000, False, True))[1],
]
print(json.dumps(counts))
"""


@needs_valgrind
def test_only_the_shard_threads_are_counted(tmp_path):
    """A polling thread beside the shard (it runs as often as waits allow: timing-
    dependent) adds nothing to the count; a thread the shard starts is counted (twice the
    work), a sampler it starts is not."""
    script = tmp_path / "threads.py"
    script.write_text(THREADS_SCRIPT.format(here=str(HERE)))
    out = tmp_path / "callgrind.out"
    proc = subprocess.run(
        [*CALLGRIND, f"--callgrind-out-file={out}", sys.executable, str(script), str(out)],
        capture_output=True,
        text=True,
        timeout=GATE0_HANG_S,
    )
    assert proc.returncode == 0, proc.stderr
    alone, beside_poller, with_children = json.loads(proc.stdout.splitlines()[-1])
    assert abs(beside_poller - alone) / alone < 0.01  # the poller ran ~200 loops: +1000% if counted
    assert 1.8 < with_children / alone < 2.2  # the writer's loop, not the sampler's


@pytest.mark.parametrize(
    "body",
    [
        "fn=(5\n0 10\n",  # a compressed name cut short
        "fn=mi_free\n0 ten\n",  # an allocator's cost that is not a number
    ],
)
def test_a_malformed_dump_is_named_not_a_traceback(tmp_path, body):
    """Before: the allocator reading raised a bare ValueError, which the driver does not
    catch (it names a dump's OSError and RuntimeError), so gate 0 stopped on a traceback."""
    from perfgate_lib.local.pairs import LocalRunError, SideServer

    dump = tmp_path / "callgrind.out.4"
    dump.write_text(f"positions: line\nevents: Ir\n{body}totals: 10\n")
    with pytest.raises(RuntimeError, match=re.escape(f"{dump}: malformed")):
        callgrind_client.read_dump(str(dump))
    server = SideServer.__new__(SideServer)  # only the answer handling, no process
    server.side = "control"
    server._read = lambda _timeout, _what: {  # type: ignore[method-assign]
        "status": "succeeded",
        "stages": {"minhash": {"callgrind_dump": str(dump)}},
    }
    with pytest.raises(
        LocalRunError, match=re.escape(f"control: stage minhash's callgrind dump: {dump}")
    ):
        server.stage_answer("minhash", 1.0)


def test_a_malformed_dump_line_is_named_by_the_full_parse():
    """Before: a cost that is not a number raised a ValueError naming neither file nor line."""
    from perfgate_lib.local.callgrind_profile import DumpFormatError

    text = "positions: line\nevents: Ir\nfn=f\n0 ten\ntotals: 10\n"
    with pytest.raises(DumpFormatError, match=r"x\.out, line 4: not a position or cost: 'ten'"):
        parse_dump(text, "x.out")
