"""A whole gate run whose runs root is gs:// (real gcsfs on the emulator): state, outputs,
the archive (HTML, provenance, index) all land in the bucket, and a re-run resumes there."""

from __future__ import annotations

import json
import os

import pytest

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


def test_a_second_run_on_a_gcs_runs_root_is_refused_while_the_lock_is_held(gcs, tmp_path):
    """The PR's lock lives in the bucket (ifGenerationMatch): a run while another live
    run holds it exits 4 naming the holder and creates nothing; after release it runs."""
    from perfgate_lib.gate.state import HOLDER_ENV, PrBusy, PrLock, lock_path
    from tests.fakes.gcs_preconditions import install

    install()
    root = ROOT + "-locked"
    holder = PrLock.acquire(root, 4321)
    os.environ.pop(HOLDER_ENV, None)  # as if another live process held it
    with pytest.raises(PrBusy) as info:
        run(replay_options(tmp_path, runs_root=root))
    assert info.value.exit_code == 4
    assert str(info.value).startswith(f"PR 4321 is being gated by pid {os.getpid()} on ")
    assert storage.listdir(storage.join(root, "pr4321")) == []
    holder.release()
    assert not storage.exists(lock_path(root, 4321))
    assert run(replay_options(tmp_path, runs_root=root)).verdict == "fail"
