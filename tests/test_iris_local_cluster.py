"""The cluster path against real parts (issue 14): a real Iris controller (marin-iris
0.2.20 ``LocalCluster`` in a helper process, loopback), the real ``iris`` CLI, and
stand-in marin scripts that keep marin's CLI and output contract but submit real jobs:
the mini ferry as a job tree whose direct children are named like marin's steps and run
the stages with real Zephyr. Each test is one gate attempt through ``GateSession`` (the
kit's real code path): prepare the worktree, submit, babysit to a terminal state, read
the job tree, collect, compare against the bundled tier-1 baseline, render.

One controller per test module (per xdist worker); each test uses its own PR number, so
the scenario files (``<world>/scenarios/pr<N>.json``) never collide.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from perfgate_lib.gate.run import GateJob, GateSession
from perfgate_lib.gate.runparams import load_run_params
from tests.fakes.iris_cluster import IRIS_CLI, cluster_template, local_controller
from tests.fakes.marin_world import BASE_REPORT, MarinWorld

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def controller(tmp_path_factory):
    with local_controller(tmp_path_factory.mktemp("iris-controller")) as running:
        yield running


@pytest.fixture(scope="module")
def cluster_repo(controller, tmp_path_factory):
    return cluster_template(tmp_path_factory.mktemp("cluster-marin"), controller)


@pytest.fixture
def cluster_world(controller, cluster_repo, tmp_path, monkeypatch):
    world = MarinWorld(cluster_repo, tmp_path / "w", tools=("uv",))
    world.iris = IRIS_CLI  # `uv sync` installs the real iris CLI into the worktree
    world.write_common(iris_command=str(IRIS_CLI), command_timeout_seconds=180)
    for key, value in world.env(poll_seconds=1.0).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HOME", str(controller.home))
    return world


def scenario(controller, pr: int, **values) -> None:
    (controller.world / "scenarios" / f"pr{pr}.json").write_text(json.dumps(values))


def gate_attempt(world: MarinWorld, pr: int, tmp_path: Path) -> tuple[GateSession, str]:
    """One gate-1 attempt of PR ``pr`` from a fresh worktree at main; (session, verdict)."""
    worktree = tmp_path / f"wt-{pr}"
    subprocess.run(
        ["git", "-C", str(world.checkout), "worktree", "add", "--detach", "-q", str(worktree)],
        check=True,
    )
    job = GateJob(
        run_dir=str(tmp_path / "run"),
        gate=1,
        pr=pr,
        sha=world.template.base_sha,
        runner="iris",
        checkout=str(world.checkout),
        worktree=str(worktree),
        baseline=str(BASE_REPORT),
        use_actions=False,
        post="file",
        poll_seconds=1.0,
        common=str(world.common),
    )
    session = GateSession(job)
    return session, session.run_all()


def outputs(session: GateSession) -> tuple[dict, dict, str, list]:
    out = Path(session.out_dir)
    return (
        json.loads((out / "verdict.json").read_text()),
        json.loads((out / "treatment-report.json").read_text()),
        (out / "comment.md").read_text(),
        json.loads((out / "job-tree.json").read_text()) if (out / "job-tree.json").exists() else [],
    )


def rows(verdict: dict) -> dict[str, dict]:
    return {r["stage"]: r for r in verdict["stages"]}


def test_a_ferry_that_succeeds_is_compared_from_its_real_job_tree(
    controller, cluster_world, tmp_path
):
    scenario(controller, 1401)
    session, verdict_name = gate_attempt(cluster_world, 1401, tmp_path)
    verdict, report, comment, tree = outputs(session)
    assert verdict_name == "pass", verdict["inconclusive_reasons"] + verdict["hard_fails"]
    job_id = session.record["job_id"]
    assert job_id.startswith("/perfgate/zephyr-perf-pr1401-g1-treatment-")
    assert session.record["job"]["state"] == "succeeded" and session.record["job"]["polls"] >= 1
    # the collector read the real tree: five direct children, each step timed, none cached
    children = [j["job_id"].rsplit("/", 1)[-1] for j in tree if j["job_id"].count("/") == 3]
    assert sorted(c.rsplit("-", 1)[0] for c in children) == [
        "zephyr-consolidate-filter",
        "zephyr-fuzzy-dups",
        "zephyr-minhash-attrs",
        "zephyr-normalize",
        "zephyr-tokenize-train",
    ]
    assert report["cached_steps"] == [] and report["status"] == "succeeded"
    steps = ("normalize", "minhash", "fuzzy_dups", "consolidate", "tokenize")
    assert all(report["stage_wall_seconds"][s] > 0 for s in steps)
    assert report["wall_seconds_total"] > 0 and report["warnings"] == []
    assert {rows(verdict)[s]["verdict"] for s in steps} == {"pass"}
    assert rows(verdict)["download"]["verdict"] == "not_comparable"  # optional, baseline only
    assert "✅ pass" in comment and job_id in comment
    # the worktree was prepared (uv sync stand-in) and submitted with its own iris
    assert (Path(session.job.worktree) / ".venv/bin/iris").resolve() == IRIS_CLI.resolve()
    status = json.loads(Path(session.record["submission"]["status_path"]).read_text())
    assert status["status"] == "succeeded", "the ferry wrote its status file when it ended"


def test_a_ferry_that_fails_with_an_unrooted_job_id(
    controller, cluster_world, tmp_path, monkeypatch
):
    monkeypatch.setenv("STANDIN_JOB_ID_SHAPE", "unrooted")  # the older submit script
    scenario(controller, 1402, fail_at="minhash", light=True)
    session, verdict_name = gate_attempt(cluster_world, 1402, tmp_path)
    verdict, report, comment, _tree = outputs(session)
    job_id = session.record["job_id"]
    assert job_id.startswith("perfgate/zephyr-perf-pr1402-g1-treatment-"), "unrooted, as printed"
    assert session.record["job"]["state"] == "failed"
    assert "Exit code" in session.record["job"]["error"]
    # minhash's job ran and failed: it has both times, so the collector timed it; the later
    # steps never ran and read as cached. The kit shows minhash as not finished.
    assert report["status"] == "failed" and "fuzzy_dups" in report["cached_steps"]
    assert report["warnings"] == [], "the collector got the id form the CLI answers to"
    assert rows(verdict)["minhash"]["verdict"] == "not_finished", verdict["stages"]
    assert rows(verdict)["normalize"]["verdict"] == "pass"
    # the failed step is an application failure: more failed shards than the baseline
    assert verdict_name == "fail" and any("failed_shards" in f for f in verdict["hard_fails"])
    assert "### Treatment job" in comment and "not finished ²" in comment
    # the kit reached the job under its rooted name (marin-iris 0.2.20 lists nothing for
    # an unrooted prefix and refuses it in `job logs` / `job stop`)
    assert session.runner._cli_ids[job_id] == "/" + job_id


def test_a_ferry_that_overruns_is_stopped_with_the_real_cli(controller, cluster_world, tmp_path):
    # run time past overrun_stop_factor x the tier wall time (60 min x 0.001 = 3.6 s)
    cluster_world.write_common(
        iris_command=str(IRIS_CLI), command_timeout_seconds=180, overrun_stop_factor=0.001
    )
    scenario(controller, 1403, hold_at="normalize", light=True)
    session, verdict_name = gate_attempt(cluster_world, 1403, tmp_path)
    verdict, report, comment, tree = outputs(session)
    job = session.record["job"]
    assert job["stopped"] and "past 0.001x the tier wall time" in job["stop_reason"]
    assert verdict_name == "inconclusive"
    # the controller killed the whole tree (the ferry, seeing its step killed, may still
    # write "failed" on its way out; a ferry killed outright writes nothing)
    states = {j["job_id"].rsplit("/", 1)[-1]: j["state"] for j in tree}
    assert set(states.values()) == {"killed"}, states
    assert report["status"] in (None, "failed")
    assert rows(verdict)["normalize"]["verdict"] == "not_finished"
    assert "Stopped by | perfgate" in comment
    assert load_run_params(cluster_world.common).overrun_stop_factor == 0.001


def test_a_step_killed_mid_way_in_a_ferry_that_succeeds_is_not_a_cache_hit(
    controller, cluster_world, tmp_path
):
    scenario(controller, 1404, kill_at="fuzzy_dups", light=True)
    session, verdict_name = gate_attempt(cluster_world, 1404, tmp_path)
    verdict, report, comment, _tree = outputs(session)
    assert session.record["job"]["state"] == "succeeded" and report["status"] == "succeeded"
    # marin's collector: the killed step is cached (no finish time) or timed (killed after
    # it started); either way the kit calls it not finished and the gate inconclusive
    row = rows(verdict)["fuzzy_dups"]
    assert row["verdict"] == "not_finished" and "killed" in row["note"]
    assert verdict_name == "inconclusive"
    assert any("fuzzy_dups did not finish" in r for r in verdict["inconclusive_reasons"])
    assert "not finished ²" in comment
