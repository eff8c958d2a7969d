"""The cluster path against real parts (issues 14 and 28): a real Iris controller (the
``LocalCluster`` of marin-iris 0.2.20, the oldest supported, and of 0.2.227, the newest
published, each from its own cached environment, in a helper process on loopback), that
release's real ``iris`` CLI, and
stand-in marin scripts that keep marin's CLI and output contract but submit real jobs:
the mini ferry as a job tree whose direct children are named like marin's steps and run
the stages with real Zephyr. Each test is one gate attempt through ``GateSession`` (the
kit's real code path): prepare the worktree, submit, babysit to a terminal state, read
the job tree, collect, compare against the bundled tier-1 baseline, render.

One controller per release and test module (per xdist worker); each test uses its own PR
number, so the scenario files (``<world>/scenarios/pr<N>.json``) never collide. The gate
scenarios run on 0.2.20. Both releases run the runner's own contract against their real
controller and CLI (:func:`test_the_runner_speaks_the_release_s_cli`: states read from a
JSON or a table ``job list``, the job tree, ``job stop`` or ``job cancel``, a refused
production band), which keeps the module's time near what one release took. The stand-in
ferry does not run on 0.2.227 yet: there, Zephyr inside an Iris job asks the cluster for
workers with 64 GB of disk, which the local cluster's 50 GB VMs cannot hold.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from perfgate_lib.gate.run import GateJob, GateSession
from perfgate_lib.gate.runparams import load_run_params
from perfgate_lib.runners.iris import IrisRunner, PriorityRefused
from perfgate_lib.runners.iris_dialect import priority_refusal
from tests.fakes.iris_cluster import (
    IRIS_VERSIONS,
    OLDEST,
    cluster_template,
    iris_env,
    local_controller,
)
from tests.fakes.marin_world import BASE_REPORT, MarinWorld

pytestmark = pytest.mark.slow
BOTH = pytest.mark.parametrize("iris_version", IRIS_VERSIONS, indirect=True)
OLDEST_ONLY = pytest.mark.parametrize("iris_version", [OLDEST], indirect=True)


@pytest.fixture(scope="module")
def iris_version(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def env_bin(iris_version) -> Path:
    """The bin folder of the release's cached environment (python, iris)."""
    return iris_env(iris_version) / "bin"


@pytest.fixture(scope="module")
def controller(env_bin, tmp_path_factory):
    root = tmp_path_factory.mktemp("iris-controller")
    with local_controller(root, python=str(env_bin / "python")) as running:
        yield running


@pytest.fixture(scope="module")
def cluster_repo(controller, tmp_path_factory):
    return cluster_template(tmp_path_factory.mktemp("cluster-marin"), controller)


@pytest.fixture
def cluster_world(controller, cluster_repo, env_bin, tmp_path, monkeypatch):
    world = MarinWorld(cluster_repo, tmp_path / "w", tools=("uv",))
    world.iris = env_bin / "iris"  # `uv sync` installs the release's iris CLI in the worktree
    world.write_common(iris_command=str(world.iris), command_timeout_seconds=180)
    for key, value in world.env(poll_seconds=1.0).items():
        monkeypatch.setenv(key, value)
    # `uv run` runs marin's scripts in the checkout's environment: the release's
    monkeypatch.setenv("FAKE_MARIN_PYTHON", str(env_bin / "python"))
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
        run_params=str(world.common),
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


@OLDEST_ONLY
def test_a_ferry_that_succeeds_is_compared_from_its_real_job_tree(
    controller, cluster_world, tmp_path
):
    scenario(controller, 1401)
    session, verdict_name = gate_attempt(cluster_world, 1401, tmp_path)
    verdict, report, comment, tree = outputs(session)
    assert verdict_name == "pass", verdict["inconclusive_reasons"] + verdict["hard_fails"]
    job_id = session.record.job_id
    assert job_id.startswith("/perfgate/zephyr-perf-pr1401-g1-treatment-")
    assert session.record.job.state == "succeeded" and session.record.job.polls >= 1
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
    own = (Path(session.job.worktree) / ".venv/bin/iris").resolve()
    assert own == cluster_world.iris.resolve()
    status = json.loads(Path(session.record.submission["status_path"]).read_text())
    assert status["status"] == "succeeded", "the ferry wrote its status file when it ended"


@OLDEST_ONLY
def test_a_ferry_that_fails_with_an_unrooted_job_id(
    controller, cluster_world, tmp_path, monkeypatch
):
    monkeypatch.setenv("STANDIN_JOB_ID_SHAPE", "unrooted")  # the older submit script
    scenario(controller, 1402, fail_at="minhash", light=True)
    session, verdict_name = gate_attempt(cluster_world, 1402, tmp_path)
    verdict, report, comment, _tree = outputs(session)
    job_id = session.record.job_id
    assert job_id.startswith("perfgate/zephyr-perf-pr1402-g1-treatment-"), "unrooted, as printed"
    assert session.record.job.state == "failed"
    assert "Exit code" in session.record.job.error
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


@OLDEST_ONLY
def test_a_ferry_that_overruns_is_stopped_with_the_real_cli(
    controller, cluster_world, tmp_path, iris_version
):
    # run time past overrun_stop_factor x the tier wall time (60 min x 0.001 = 3.6 s)
    cluster_world.write_common(
        iris_command=str(cluster_world.iris), command_timeout_seconds=180, overrun_stop_factor=0.001
    )
    scenario(controller, 1403, hold_at="normalize", light=True)
    session, verdict_name = gate_attempt(cluster_world, 1403, tmp_path)
    verdict, report, comment, tree = outputs(session)
    job = session.record.job.to_json()
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


@OLDEST_ONLY
def test_a_step_killed_mid_way_in_a_ferry_that_succeeds_is_not_a_cache_hit(
    controller, cluster_world, tmp_path
):
    scenario(controller, 1404, kill_at="fuzzy_dups", light=True)
    session, verdict_name = gate_attempt(cluster_world, 1404, tmp_path)
    verdict, report, comment, _tree = outputs(session)
    assert session.record.job.state == "succeeded" and report["status"] == "succeeded"
    # marin's collector: the killed step is cached (no finish time) or timed (killed after
    # it started); either way the kit calls it not finished and the gate inconclusive
    row = rows(verdict)["fuzzy_dups"]
    assert row["verdict"] == "not_finished" and "killed" in row["note"]
    assert verdict_name == "inconclusive"
    assert any("fuzzy_dups did not finish" in r for r in verdict["inconclusive_reasons"])
    assert "not finished ²" in comment


def cli_job(world: MarinWorld, name: str, user: str, *command: str, priority: str = "") -> str:
    """Submit ``command`` with the release's own ``iris job run``; its job id (raises with
    the CLI's stderr when refused)."""
    config = world.checkout / "lib/iris/config/marin.yaml"
    argv = [str(world.iris), f"--config={config}", "job", "run", "--no-wait"]
    argv += ["--job-name", name, "--user", user]
    argv += ["--priority", priority] if priority else []
    proc = subprocess.run(
        [*argv, "--", *command], cwd=world.checkout, capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        raise (
            PriorityRefused(proc.stderr)
            if priority_refusal(proc.stderr)
            else AssertionError(proc.stderr[-2000:])
        )
    return proc.stdout.strip().splitlines()[-1]


def poll_until(runner: IrisRunner, job_id: str, states: tuple[str, ...]) -> str:
    """Poll (bounded by the job's own lifetime, no wall-clock assertion) until one of
    ``states``; the state reached."""
    for _ in range(600):
        state = runner.wait(job_id, 0.5).state
        if state in states:
            return state
    raise AssertionError(f"{job_id} never reached {states}")


@BOTH
def test_the_runner_speaks_the_release_s_cli(cluster_world, tmp_path, iris_version):
    world = cluster_world
    runner = IrisRunner(
        checkout=str(world.checkout),
        scratch_dir=str(tmp_path / "scratch"),
        status_root=str(world.status_root),
        iris_command=str(world.iris),
        timeout_seconds=180,
    )
    assert runner.cli.dialect == ("json" if iris_version == OLDEST else "table")
    assert runner.monitor is None  # this checkout has no scripts/ci/iris_monitor.py
    # the tier's production band, granted to the CI user: a job that ends well
    done = cli_job(world, "runner-done", "perfgate", "true", priority="production")
    assert poll_until(runner, done, ("succeeded", "failed", "killed")) == "succeeded"
    # a long job: read as running, its tree listed, stopped with the release's
    # own verb (0.2.20 `job stop`, 0.2.227 `job cancel`), the whole tree killed
    parent = cli_job(world, "runner-held", "perfgate", "sleep", "600")
    assert poll_until(runner, parent, ("running",)) == "running"
    assert [j.job_id for j in runner.job_tree(parent)] == [parent]
    runner.stop(parent)
    assert poll_until(runner, parent, ("killed",)) == "killed"
    stopped = runner.poll(parent)
    assert stopped.terminal and "Terminated" in stopped.error
    # a user without the production band is refused; the kit names the refusal
    with pytest.raises(PriorityRefused) as refused:
        cli_job(world, "runner-refused", "someone", "true", priority="production")
    refusal = priority_refusal(str(refused.value))
    assert refusal is not None and (refusal.who, refusal.band) == ("someone", "PRODUCTION")
    assert "only an admin of the cluster" in refusal.explain(1)
