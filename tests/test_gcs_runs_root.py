"""A whole gate run whose runs root is gs:// (real gcsfs on the emulator): state, outputs,
the archive (HTML, provenance, index) all land in the bucket, and a re-run resumes there."""

from __future__ import annotations

import json

from perfgate_lib.audit.runindex import list_runs
from perfgate_lib.gate.flow import run
from perfgate_lib.io import storage
from tests.gate_checks import replay_options

ROOT = "gs://marin-us-central1/perfgate-test-runs"


def test_replay_run_into_a_gcs_runs_root(gcs, tmp_path):
    out = run(replay_options(tmp_path, runs_root=ROOT))
    assert (out.exit_code, out.verdict) == (1, "fail")
    assert out.run_dir.startswith(ROOT + "/pr4321/")
    state = json.loads(storage.read_text(storage.join(out.run_dir, "state.json")))
    assert state["status"] == "finished"
    verdict = json.loads(storage.read_text(storage.join(out.run_dir, "gate1", "verdict.json")))
    assert verdict["verdict"] == "fail"
    assert storage.read_text(storage.join(out.run_dir, "comment.md")).startswith(
        "<!-- zephyr-perf-gate -->"
    )
    assert storage.exists(storage.join(out.run_dir, "provenance.json"))
    assert [e.path for e in list_runs(ROOT, pr=4321)] == [out.run_dir]
    again = run(replay_options(tmp_path, runs_root=ROOT))
    assert again.run_dir != out.run_dir  # a finished run is never reopened
