"""The run index: register and list runs on a local folder, memory:// and gs://."""

from __future__ import annotations

import json
import logging
import threading

import pytest

from perfgate_lib.audit import runindex
from perfgate_lib.audit.runindex import RunEntry, index_key, list_runs, register_run
from perfgate_lib.io import storage
from tests.cli_helpers import perfgate


def _entry(root: str, pr: int, stamp: str, sha: str = "4f9c2e1", **kw) -> RunEntry:
    return RunEntry(
        path=storage.join(root, f"pr{pr}", f"{stamp}-{sha}"),
        pr=pr,
        gate=kw.pop("gate", 1),
        sha=sha,
        verdict=kw.pop("verdict", "pass"),
        started_at=kw.pop("started_at", f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T10:00:00+00:00"),
        finished_at=kw.pop("finished_at", None),
        **kw,
    )


def _register_three(root: str) -> list[RunEntry]:
    entries = [
        _entry(root, 12, "20260507T100000Z", verdict="warn", gate=2),
        _entry(root, 12, "20260506T100000Z"),
        _entry(root, 34, "20260508T100000Z", sha="abcdef0", verdict="fail"),
    ]
    for e in entries:
        register_run(e, root)
    return entries


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_register_and_list(tmp_path, kind):
    root = str(tmp_path / "runs") if kind == "local" else "memory://perfgate-index-test/runs"
    entries = _register_three(root)
    listed = list_runs(root)
    assert [e.path for e in listed] == [entries[1].path, entries[0].path, entries[2].path]
    assert [e.pr for e in list_runs(root, pr=12)] == [12, 12]
    assert [e.verdict for e in list_runs(root, pr=34)] == ["fail"]
    assert list_runs(root, pr=99) == []
    got = list_runs(root, pr=12)[1]
    assert (got.gate, got.sha, got.verdict) == (2, "4f9c2e1", "warn")
    assert got.registered_at  # stamped on registration
    names = storage.listdir(storage.join(root, "index"))
    assert names == sorted(
        [
            "pr12--20260506T100000Z-4f9c2e1.json",
            "pr12--20260507T100000Z-4f9c2e1.json",
            "pr34--20260508T100000Z-abcdef0.json",
        ]
    )


def test_register_on_gs(gcs):
    root = "gs://marin-us-central1/test-runindex/runs"
    try:
        _register_three(root)
        assert [e.pr for e in list_runs(root)] == [12, 12, 34]
        doc = json.loads(storage.read_text(root + "/index/pr34--20260508T100000Z-abcdef0.json"))
        assert doc["schema"] == 1 and doc["verdict"] == "fail"
    finally:
        fs, inner = storage.filesystem(root)
        fs.rm(inner, recursive=True)


def test_reregistering_updates_the_same_file(tmp_path):
    root = str(tmp_path)
    first = _entry(root, 5, "20260101T000000Z", verdict=None)
    path1 = register_run(first, root)
    done = _entry(
        root, 5, "20260101T000000Z", verdict="fail", finished_at="2026-01-01T01:00:00+00:00"
    )
    path2 = register_run(done, root)
    assert path1 == path2
    (entry,) = list_runs(root)
    assert entry.verdict == "fail" and entry.finished_at == "2026-01-01T01:00:00+00:00"


def test_concurrent_writers(tmp_path):
    root = str(tmp_path)
    entries = [_entry(root, n % 3 + 1, f"202601{n + 1:02d}T000000Z") for n in range(24)]
    threads = [threading.Thread(target=register_run, args=(e, root)) for e in entries]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(e.path for e in list_runs(root)) == sorted(e.path for e in entries)
    assert not [n for n in storage.listdir(storage.join(root, "index")) if not n.endswith(".json")]


def test_index_key_outside_the_root(tmp_path):
    key = index_key(str(tmp_path / "runs"), str(tmp_path / "elsewhere" / "my run"))
    assert key.startswith("elsewhere--my_run--") and len(key.split("--")[-1]) == 12
    assert index_key("gs://b/runs/", "gs://b/runs/pr1/20260101T000000Z") == "pr1--20260101T000000Z"


def test_bad_index_files_are_skipped_with_a_warning(tmp_path, caplog):
    root = str(tmp_path)
    _register_three(root)
    (tmp_path / "index" / "broken.json").write_text("{not json")
    (tmp_path / "index" / "wrong.json").write_text(json.dumps({"path": "x", "pr": "twelve"}))
    (tmp_path / "index" / "deep.json").write_text("[" * 100_000)
    with caplog.at_level(logging.WARNING, logger="perfgate.runindex"):
        assert len(list_runs(root)) == 3
    assert "broken.json" in caplog.text and "wrong.json" in caplog.text and "'pr'" in caplog.text
    assert "deep.json" in caplog.text and "nested too deeply" in caplog.text


def test_no_index_yet(tmp_path):
    assert list_runs(str(tmp_path / "nothing")) == []


def test_default_runs_root(monkeypatch, tmp_path):
    monkeypatch.setenv("PERFGATE_RUNS_ROOT", "gs://bucket/runs")
    assert runindex.default_runs_root() == "gs://bucket/runs"
    monkeypatch.delenv("PERFGATE_RUNS_ROOT")
    monkeypatch.chdir(tmp_path)
    assert runindex.default_runs_root() == str(tmp_path / "runs")


def test_runs_cli(tmp_path):
    root = str(tmp_path / "runs")
    _register_three(root)
    proc = perfgate("runs", "--root", root)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 4 and "verdict" in lines[0]
    assert "pr12" in lines[1] and "pass" in lines[1] and "pr34" in lines[3] and "fail" in lines[3]
    proc = perfgate("runs", "--pr", "34", "--json", env={"PERFGATE_RUNS_ROOT": root})
    assert proc.returncode == 0, proc.stderr
    assert [e["pr"] for e in json.loads(proc.stdout)] == [34]
    proc = perfgate("runs", "--pr", "7", "--root", root)
    assert proc.returncode == 0 and "no runs indexed" in proc.stdout


def test_runs_cli_shows_a_demo_run_as_gate_0_in_start_order(tmp_path):
    """A demo run (no PR) used to have no start time (listed first) and gate 1."""
    from perfgate_lib.audit.archive import archive_run

    root = tmp_path / "runs"
    _register_three(str(root))
    demo = root / "demo" / "20260507T120000Z"
    storage.write_text(str(demo / "verdict.json"), json.dumps({"gate": 0, "verdict": "fail"}))
    archive_run(str(demo), gate=0, verdict="fail", environ={})
    proc = perfgate("runs", "--root", str(root))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()[1:]
    assert "demo" in lines[2] and "pr34" in lines[3], lines  # between May 7 10:00 and May 8
    assert lines[2].split()[1:4] == ["-", "0", "fail"], lines[2]
