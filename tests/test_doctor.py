"""``perfgate doctor``: every outside contract, checked against a marin-shaped checkout.

The checkout is the sandbox repository built from the installed (real) marin-zephyr
0.2.227 source (:func:`perfgate_lib.local.sandbox.build_sandbox`), plus marin's scripts
(the stand-ins with marin's command lines), the three tier workflows, and a ``.venv``
whose ``python`` is a real interpreter and whose ``iris`` replays the ``--help`` texts
recorded from real marin-iris releases (``tests/fixtures/contracts/``; a cluster CLI is
the one part not run for real). Each broken way fails its own row, with exit 4; ``perfgate
run`` stops on a broken contract before it assesses anything.

``-m contracts`` selects the contract tests; ``make contracts`` reruns them against the
newest published releases (``PERFGATE_CONTRACTS``, see benchmarks/contracts.py).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from perfgate_lib.gate.doctor import checks, diagnose, helptext, probe
from perfgate_lib.gate.runsettings import parse_flags
from perfgate_lib.verdict.gates import load_gate
from tests.cli_helpers import perfgate
from tests.conftest import FIXTURES, REPO_ROOT

CONTRACTS = FIXTURES / "contracts"
IRIS_OLD = CONTRACTS / "marin-iris-0.2.20.dev202606180959"
IRIS_NEW = CONTRACTS / "marin-iris-0.2.227.dev40316220070"
STANDINS = REPO_ROOT / "tests" / "fakes" / "marin_standins"
PY312 = Path(sys.executable)
PY311 = Path(shutil.which("python3.11") or "/usr/bin/python3.11")

EVERY_ROW = [
    "kit Python",
    "checkout .venv Python",
    "Python for gate 0's uv environments",
    "Zephyr API (mini ferry)",
    "iris CLI",
    "iris job list",
    "iris job logs",
    "iris job stop|cancel",
    "iris job summary|describe|wait",
    "iris job run",
    "scripts/ci/iris_monitor.py",
    "uv",
    "submit script flags",
    "collect script flags",
    "collector lineage",
    *(
        f"gate {g} {what}"
        for g in (1, 2, 3)
        for what in ("submit flags", "workflow flags", "priority")
    ),
]


def workflow_text(gate: int, flags: str) -> str:
    """A tier workflow shaped like marin's: one ``iris job run`` across continuation lines."""
    return (
        f"name: Marin - Canary - Datakit - Tier {gate}\n"
        "jobs:\n  canary:\n    steps:\n      - name: Submit\n        run: |\n"
        "          .venv/bin/iris --config=lib/iris/config/marin.yaml job run --no-wait \\\n"
        f"            {flags} \\\n"
        "            -- python -m experiments.ferries.datakit_ferry\n"
    )


def install_iris(venv_bin: Path, folder: Path) -> Path:
    """``.venv/bin/iris`` replaying ``folder``'s help texts, shaped like a console script."""
    iris = venv_bin / "iris"
    iris.write_text(
        f"#!{PY312}\nimport sys\nsys.path.insert(0, {str(CONTRACTS)!r})\n"
        f"import recorded_iris\nrecorded_iris.FOLDER = {str(folder)!r}\n"
        "from recorded_iris import main\n"
        "if __name__ == '__main__':\n    sys.exit(main())\n"
    )
    iris.chmod(0o755)
    return iris


@pytest.fixture(autouse=True)
def uv_on_path(monkeypatch):
    """The kit's uv on PATH, as in an activated environment (the runner calls `uv run`)."""
    monkeypatch.setenv("PATH", f"{PY312.parent}{os.pathsep}{os.environ['PATH']}")


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    from perfgate_lib.local.sandbox import build_sandbox

    return build_sandbox(tmp_path_factory.mktemp("doctor") / "marin").path


def make_checkout(template: Path, root: Path, iris: Path = IRIS_NEW, python: Path = PY312) -> Path:
    """A copy of the sandbox with marin's scripts, workflows and a ``.venv`` (see above)."""
    co = root / "marin"
    shutil.copytree(template, co, symlinks=True)
    ci = co / "scripts" / "ci"
    ci.mkdir(parents=True)
    for name in ("submit_perf_run.py", "collect_perf_metrics.py"):
        shutil.copy(STANDINS / name, ci / name)
    workflows = co / ".github" / "workflows"
    workflows.mkdir(parents=True)
    for gate in (1, 2, 3):
        params = load_gate(gate)
        (workflows / params.workflow).write_text(workflow_text(gate, params.baseline_iris_flags))
    venv_bin = co / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").symlink_to(python)
    install_iris(venv_bin, iris)
    bands = iris / "admin_bands.txt"
    if bands.exists():
        rpc = co / ".venv/lib/python3.12/site-packages/iris/rpc"
        rpc.mkdir(parents=True)
        (rpc / "proto_display.py").write_text(bands.read_text())
    return co


def rows_of(report) -> dict[str, tuple[str, str]]:
    return {r.contract: (r.state, r.reason) for r in report.rows}


# ---------------------------------------------------------------------- whole checkout
@pytest.mark.slow
def test_todays_checkout_holds_and_names_every_contract(template, tmp_path):
    co = make_checkout(template, tmp_path)
    proc = perfgate("doctor", "--checkout", str(co))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for contract in EVERY_ROW:
        assert contract in proc.stdout, contract
    assert "0 broken" in proc.stdout and "BROKEN" not in proc.stdout
    data = json.loads(perfgate("doctor", "--checkout", str(co), "--json").stdout)
    states = {r["contract"]: r["state"] for r in data["rows"]}
    assert list(states) == EVERY_ROW
    assert states["Zephyr API (mini ferry)"] == "holds"
    assert states["iris job list"] == "holds" and states["iris job run"] == "holds"
    # gates 1 and 3 submit at an admin band of 0.2.227: who may run them is said
    reasons = {r["contract"]: r["reason"] for r in data["rows"]}
    assert states["gate 1 priority"] == "unchecked"
    assert "only Iris admins can run gate 1" in reasons["gate 1 priority"]
    assert states["gate 2 priority"] == "holds"
    assert "a table, no --json: marin-iris 0.2.227" in reasons["iris job list"]


def test_june_iris_holds_with_its_own_verbs(template, tmp_path):
    co = make_checkout(template, tmp_path, iris=IRIS_OLD)
    rows = rows_of(diagnose(co, (1,)))
    assert rows["iris job list"] == ("holds", "takes --prefix, --json (JSON, marin-iris 0.2.20)")
    assert rows["iris job stop|cancel"][1] == "`iris job stop`"
    assert rows["iris job summary|describe|wait"][1] == "`iris job summary`"
    # 0.2.20 has no admin-only bands: anyone may submit at production
    assert rows["gate 1 priority"][0] == "holds"
    assert all(state != "broken" for state, _ in rows.values()), rows


def test_june_zephyr_source_is_not_broken_by_the_kits_environment(tmp_path):
    """0.2.20's source (defining ZephyrContext in zephyr.execution) has every name the mini
    ferry needs; if the kit's environment cannot import it (newer rigging), that is not
    the contract: gate 0 gives each side its own uv environment."""
    from tests.zephyr_releases import release_repo

    repo = release_repo(tmp_path / "releases")
    repo.git("checkout", "-q", "0.2.20")
    report = diagnose(repo.root, (0,))
    state, reason = rows_of(report)["Zephyr API (mini ferry)"]
    assert report.exit_code == 0, reason
    assert state == "holds" or reason.startswith("the source defines every name"), reason


def test_the_zephyr_api_read_from_source():
    from perfgate_lib.local.zephyr_api import NEEDED

    today = {
        "zephyr.context": "class ZephyrContext:\n    pass\n",
        "zephyr.dataset": "from zephyr.reader import Reader\nclass Dataset:\n    pass\n",
        "zephyr.plan": "def compute_plan(ds):\n    return ds\n",
        "zephyr.worker_context": "zephyr_worker_ctx = None\n",
        "zephyr": '"""Import from the defining submodule."""\n',
    }
    assert checks.static_missing(NEEDED, today) == ()  # fray is not in the checkout: not judged
    june = {
        "zephyr.execution": "class ZephyrContext: ...\n",
        "zephyr": "from .dataset import Dataset\n",
    }
    june |= {"zephyr.plan": "def compute_plan(): ...\n", "zephyr.worker_context": None}
    june["zephyr"] += "from .worker_context import zephyr_worker_ctx as zephyr_worker_ctx\n"
    assert checks.static_missing(NEEDED, june) == ()
    renamed = dict(today, **{"zephyr.plan": "def compute_plan_v2(ds): ...\n"})
    assert checks.static_missing(NEEDED, renamed) == ("zephyr.plan.compute_plan",)
    row = checks.check_zephyr_api("z", False, ("zephyr.plan.compute_plan",), "d", ())
    assert row.state == "unchecked" and row.reason.startswith("the source defines every name")
    row = checks.check_zephyr_api("z", False, ("zephyr.plan.compute_plan",), "d", ("x.y",))
    assert (row.state, row.reason) == ("broken", "the source lacks x.y: d")


# ---------------------------------------------------------------------- broken, one way each
def _wrong_python(co: Path) -> None:
    python = co / ".venv" / "bin" / "python"
    python.unlink()
    python.symlink_to(PY311)


def _missing_zephyr_api(co: Path) -> None:
    plan = co / "lib/zephyr/src/zephyr/plan.py"
    plan.write_text(plan.read_text().replace("def compute_plan(", "def compute_plan_v2("))


def _iris_without_logs(co: Path) -> None:
    folder = co.parent / "iris-no-logs"
    shutil.copytree(IRIS_NEW, folder)
    (folder / "iris_job_logs.txt").unlink()
    job = folder / "iris_job.txt"
    job.write_text("".join(line for line in job.read_text().splitlines(True) if "logs" not in line))
    install_iris(co / ".venv" / "bin", folder)


def _submit_without_status_out(co: Path) -> None:
    script = co / "scripts/ci/submit_perf_run.py"
    text = script.read_text()
    assert '"--status-out"' in text
    script.write_text(text.replace('"--status-out"', '"--status-path"'))


def _workflow_timeout_disagrees(co: Path) -> None:
    params = load_gate(1)
    flags = params.baseline_iris_flags.replace("--timeout 21600", "--timeout 3600")
    assert flags != params.baseline_iris_flags
    (co / ".github/workflows" / params.workflow).write_text(workflow_text(1, flags))


BROKEN_WAYS = [
    (_wrong_python, 1, "checkout .venv Python", "does not satisfy Zephyr's requires-python"),
    (_missing_zephyr_api, 0, "Zephyr API (mini ferry)", "zephyr.plan.compute_plan"),
    (_iris_without_logs, 1, "iris job logs", "lists no `logs`"),
    (_submit_without_status_out, 1, "submit script flags", "takes no --status-out"),
]


@pytest.mark.slow
def test_a_workflow_that_differs_from_the_fallback_is_named_but_not_broken(template, tmp_path):
    """A gate reads the tier workflow's flags from the checkout (gate/runsettings.py), so a
    stale ``baseline_iris_flags`` in parameters/ is reported, never a reason to stop."""
    co = make_checkout(template, tmp_path)
    _workflow_timeout_disagrees(co)
    proc = perfgate("doctor", "--checkout", str(co), "--gate", "1", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {r["contract"]: r for r in json.loads(proc.stdout)["rows"]}
    row = rows["gate 1 workflow flags"]
    assert row["state"] == "holds"
    assert "the checkout's flags are used" in row["reason"]
    assert "--timeout: workflow 3600" in row["reason"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("breakage", "gate", "row", "why"), BROKEN_WAYS, ids=[b[0].__name__ for b in BROKEN_WAYS]
)
def test_each_broken_contract_exits_4_naming_its_row(template, tmp_path, breakage, gate, row, why):
    co = make_checkout(template, tmp_path)
    healthy = rows_of(diagnose(co, (gate,)))
    assert healthy[row][0] == "holds", healthy[row]
    breakage(co)
    proc = perfgate("doctor", "--checkout", str(co), "--gate", str(gate), "--json")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    broken = {r["contract"]: r["reason"] for r in data["rows"] if r["state"] == "broken"}
    assert list(broken) == [row], broken
    assert why in broken[row]


@pytest.mark.slow
def test_run_stops_on_a_broken_contract_before_assessing(template, tmp_path):
    co = make_checkout(template, tmp_path)
    _submit_without_status_out(co)
    runs = tmp_path / "runs"
    proc = perfgate(
        "run", "--pr", "7", "--checkout", str(co), "--runner", "iris", "--max-gate", "1",
        "--confirm", "go", "--sha", "a" * 40, "--runs-root", str(runs), "--dry-run",
    )  # fmt: skip
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "submit script flags" in proc.stderr and "takes no --status-out" in proc.stderr
    assert "nothing was run" in proc.stderr
    assert not runs.exists(), "no run folder: nothing was assessed or submitted"


@pytest.mark.slow
def test_a_usage_error_of_run_comes_before_the_doctor(template, tmp_path):
    co = make_checkout(template, tmp_path)
    _submit_without_status_out(co)
    proc = perfgate(
        "run", "--pr", "7", "--checkout", str(co), "--runner", "iris", "--max-gate", "1",
        "--confirm", "max_gate=2", "--sha", "a" * 40, "--runs-root", str(tmp_path / "runs"),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "disagree" in proc.stderr and "submit script flags" not in proc.stderr


MONITOR = (
    "import click\n{extra}\n@click.group()\ndef cli():\n    pass\n\n"
    "@cli.command()\n@click.option('--job-id', required=True)\n"
    "@click.option('--iris-config', default=None)\ndef status(job_id, iris_config):\n    pass\n\n"
    "@cli.command()\n@click.option('--job-id', required=True)\n"
    "@click.option('--iris-config', default=None)\n@click.option('--poll-interval', default=30.0)\n"
    "@click.option('--timeout', default=None)\n"
    "@click.option('--resource-exhaustion-policy', required=True)\n"
    "def wait(job_id, iris_config, poll_interval, timeout, resource_exhaustion_policy):\n"
    "    pass\n\nif __name__ == '__main__':\n    cli()\n"
)


@pytest.mark.parametrize(
    ("extra", "state", "said"),
    [
        ("", "holds", "starts in the checkout's environment"),
        (
            "import no_such_iris_client_module",
            "broken",
            "ModuleNotFoundError: No module named 'no_such_iris_client_module'",
        ),
    ],
    ids=["starts", "cannot-start"],
)
def test_iris_monitor_must_start_in_the_checkouts_environment(tmp_path, extra, state, said):
    co = tmp_path / "marin"
    (co / "scripts" / "ci").mkdir(parents=True)
    (co / "scripts/ci/iris_monitor.py").write_text(MONITOR.format(extra=extra))
    (co / ".venv").symlink_to(Path(sys.prefix))  # an environment with click, as marin's has
    params = _params_without_iris(tmp_path)
    row = next(r for r in diagnose(co, (2,), str(params)).rows if "iris_monitor" in r.contract)
    assert row.state == state and said in row.reason, row


def test_unchecked_rows_do_not_stop_anything(template, tmp_path):
    """A checkout without .venv, workflows or iris: rows say so; nothing is broken."""
    co = make_checkout(template, tmp_path)
    shutil.rmtree(co / ".venv")
    shutil.rmtree(co / ".github")
    report = diagnose(co, (2,), run_params=str(_params_without_iris(tmp_path)))
    rows = rows_of(report)
    assert report.exit_code == 0, rows
    assert rows["checkout .venv Python"][0] == "unchecked"
    assert rows["iris CLI"] == (
        "unchecked",
        "no iris CLI found (no .venv/bin/iris, no iris_command on PATH)",
    )
    assert rows["gate 2 workflow flags"][0] == "unchecked"


def _params_without_iris(tmp_path: Path, **more: str) -> Path:
    import yaml

    doc = yaml.safe_load((REPO_ROOT / "parameters" / "gate_common.yaml").read_text())
    doc["iris_command"] = "no-such-iris-for-perfgate-tests"
    doc.update(more)
    path = tmp_path / "gate_common.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_no_uv_on_path_is_broken(template, tmp_path):
    co = make_checkout(template, tmp_path)
    params = _params_without_iris(tmp_path, uv_command="no-such-uv-for-perfgate-tests")
    report = diagnose(co, (2,), run_params=str(params))
    assert [r.contract for r in report.broken] == ["uv"]
    assert report.broken[0].reason.startswith("`no-such-uv-for-perfgate-tests` is not on PATH")
    assert rows_of(diagnose(co, (2,)))["uv"][0] == "holds"


def test_a_stand_in_iris_that_is_not_a_click_cli_gets_no_verbs(tmp_path):
    """Only ``iris --help`` is asked of a program that does not answer it as click does."""
    ledger = tmp_path / "calls.txt"
    iris = tmp_path / "iris"
    iris.write_text(f'#!/bin/sh\necho "$@" >> {ledger}\necho "unsupported $*" >&2\nexit 2\n')
    iris.chmod(0o755)
    helps = probe.iris_helps([str(iris)])
    assert ledger.read_text().splitlines() == ["--help"]
    rows = checks.check_iris(helps, None, "", {})
    assert [(r.contract, r.state) for r in rows] == [("iris CLI", "unchecked")]
    assert "exited 2: unsupported --help" in rows[0].reason


def test_a_crashing_iris_is_broken(tmp_path):
    iris = tmp_path / "iris"
    iris.write_text(
        f"#!{PY312}\nimport sys\nfrom no_such_iris_module.cli import main\n"
        "if __name__ == '__main__':\n    sys.exit(main())\n"
    )
    iris.chmod(0o755)
    helps = probe.iris_helps([str(iris)])
    (row,) = checks.check_iris(helps, None, "", {})
    assert row.state == "broken"
    assert "ModuleNotFoundError: No module named 'no_such_iris_module'" in row.reason


def test_recorded_outcomes_keep_a_crash(tmp_path):
    """What ``make contracts`` records is read back as it was seen, a crash included."""
    iris = tmp_path / "iris"
    iris.write_text(
        f"#!{PY312}\nimport sys\nfrom no_such_iris_module.cli import main\n"
        "if __name__ == '__main__':\n    sys.exit(main())\n"
    )
    iris.chmod(0o755)
    seen = probe.iris_helps([str(iris)])
    probe.save_helps(seen, tmp_path / "recorded")
    again = probe.helps_from_folder(tmp_path / "recorded")
    assert again == seen
    assert checks.check_iris(again, None, "", {}) == checks.check_iris(seen, None, "", {})
    probe.save_helps(probe.helps_from_folder(IRIS_OLD), tmp_path / "old")
    assert probe.helps_from_folder(tmp_path / "old") == probe.helps_from_folder(IRIS_OLD)


def test_one_process_and_one_process_per_call_read_the_same_texts(tmp_path):
    """The console-script shortcut (one interpreter) prints what separate calls print."""
    venv_bin = tmp_path / "bin"
    venv_bin.mkdir()
    script = install_iris(venv_bin, IRIS_NEW)
    wrapper = tmp_path / "iris-wrapper"
    wrapper.write_text(f'#!/bin/sh\nexec {script} "$@"\n')
    wrapper.chmod(0o755)
    assert probe.console_script_python(str(script)) == str(PY312)
    assert probe.console_script_python(str(wrapper)) is None
    one = probe.iris_helps([str(script)])
    each = probe.iris_helps([str(wrapper)])
    assert set(one) == set(each) == {"", "job", "job list", "job logs", "job run"}
    for key in one:
        assert (one[key].exit_code, one[key].stdout) == (each[key].exit_code, each[key].stdout)
        assert one[key].stdout == (IRIS_NEW / probe._help_file(tuple(key.split()))).read_text()


# ---------------------------------------------------------------------- pure, on recorded texts
@pytest.mark.contracts
@pytest.mark.parametrize("folder", [IRIS_OLD, IRIS_NEW], ids=["0.2.20", "0.2.227"])
def test_recorded_iris_generation_meets_every_cli_contract(folder):
    rows = _iris_rows(folder)
    assert [r.contract for r in rows] == EVERY_ROW[4:10]
    assert all(r.state == "holds" for r in rows), rows


def _iris_rows(folder: Path) -> list:
    from perfgate_lib.gate.doctor import _dialect

    helps = probe.helps_from_folder(folder)
    dialect, error = _dialect(helps)
    flags: dict[str, str] = {}
    for gate in (1, 2, 3):
        flags.update(parse_flags(load_gate(gate).iris_flags))
    return checks.check_iris(helps, dialect, error, flags)


def test_help_readers_on_both_generations():
    old_job = (IRIS_OLD / "iris_job.txt").read_text()
    new_job = (IRIS_NEW / "iris_job.txt").read_text()
    assert {"list", "logs", "stop", "summary", "run"} <= helptext.help_commands(old_job)
    assert {"cancel", "describe", "wait"} & helptext.help_commands(old_job) == set()
    assert {"list", "logs", "cancel", "describe", "wait", "run"} <= helptext.help_commands(new_job)
    logs = helptext.help_options((IRIS_NEW / "iris_job_logs.txt").read_text())
    assert {"--tail", "--no-tail", "--max-lines", "--follow"} <= logs
    run_help = (IRIS_NEW / "iris_job_run.txt").read_text()
    assert "--enable-extra-resources" in helptext.help_options(run_help)
    assert helptext.help_choices(run_help, "--priority") == (
        "system",
        "production",
        "interactive",
        "batch",
    )
    old_run = (IRIS_OLD / "iris_job_run.txt").read_text()
    assert helptext.help_choices(old_run, "--priority") == ("production", "interactive", "batch")
    assert helptext.help_options("not a help text\n--json") is None
    assert helptext.help_commands((IRIS_NEW / "iris_job_list.txt").read_text()) is None


def test_a_band_this_iris_lacks_breaks_job_run():
    helps = probe.helps_from_folder(IRIS_OLD)
    rows = {r.contract: r for r in checks.check_iris(helps, "json", "", {"--priority": "system"})}
    assert rows["iris job run"].state == "broken"
    assert "--priority system is not a band of this Iris (production|interactive|batch)" in (
        rows["iris job run"].reason
    )


def test_static_flags_of_argparse_and_click_scripts():
    submit = (STANDINS / "submit_perf_run.py").read_text()
    assert set(checks.SUBMIT_FLAGS) <= helptext.source_options(submit)
    monitor = (
        "import click\n@click.group()\ndef cli():\n    pass\n"
        "@cli.command()\n@click.option('--job-id', required=True)\n"
        "@click.option('--iris-config', default=None)\n"
        "@click.option('--poll-interval', default=30.0)\n@click.option('--timeout', default=None)\n"
        "@click.option('--resource-exhaustion-policy', required=True)\ndef wait(job_id):\n    pass\n"
        "@cli.command()\n@click.option('--job-id')\n@click.option('--iris-config')\n"
        "def status(job_id):\n    pass\n"
    )
    assert helptext.source_click_commands(monitor) == {
        "wait": frozenset(checks.MONITOR_COMMANDS["wait"]),
        "status": frozenset({"--job-id", "--iris-config"}),
    }
    assert checks.check_iris_monitor(monitor).state == "holds"
    no_status = monitor.split("@cli.command()\n@click.option('--job-id')")[0]
    row = checks.check_iris_monitor(no_status)
    assert (row.state, row.reason) == ("broken", "no `status` command")
    assert helptext.source_options("def broken(:\n") is None


def test_collector_lineage_from_its_source():
    step_log = (
        'logger = logging.getLogger("marin.execution.step_runner")\n'
        'EXPECTED_STEPS = ("normalize", "tokenize", "embed", "quality", "decontam",\n'
        '                  "minhash", "dedup", "verify_fuzzy_clusters", "store")\n'
    )
    known = ("normalize", "tokenize", "embed", "quality", "decontam", "minhash", "dedup")
    row = checks.check_lineage(step_log, known)
    assert row.state == "holds" and row.reason.startswith("step-log (driver's step_runner log")
    assert "steps the kit does not know: store, verify_fuzzy_clusters" in row.reason
    child = (STANDINS / "collect_perf_metrics.py").read_text()
    assert checks.check_lineage(child, known).reason.startswith("child-job")
    assert checks.check_lineage("print('hello')\n", known).state == "unchecked"


def test_submit_tiers_of_both_shapes_against_the_parameters():
    marin_shape = (
        "TIERS: dict[str, TierConfig] = {\n"
        '    "1": TierConfig(ferry_module="m", extra="cpu", memory="2G", disk="4G", cpu="1",\n'
        '                    priority="production"),\n'
        '    "2": TierConfig(ferry_module="m2", extra="cpu", memory="2G"),\n'
        "}\n"
    )
    tiers = helptext.source_tiers(marin_shape)
    assert tiers == {
        "1": "--extra=cpu --memory=2G --disk=4G --cpu=1 --priority=production",
        "2": "--extra=cpu --memory=2G",
    }
    assert checks.check_submit_tier(1, tiers, load_gate(1).iris_flags).state == "holds"
    row = checks.check_submit_tier(2, tiers, "--memory=4G --extra=cpu")
    assert (row.state, row.reason) == (
        "broken",
        "--memory: submit script 2G, parameters/gate2.yaml 4G (update iris_flags)",
    )
    assert checks.check_submit_tier(3, tiers, "").reason == (
        "the submit script has no tier 3 (it has 1, 2)"
    )
    standin = helptext.source_tiers((STANDINS / "submit_perf_run.py").read_text())
    for gate in (1, 2, 3):
        assert checks.check_submit_tier(gate, standin, load_gate(gate).iris_flags).state == "holds"
    assert checks.check_submit_tier(1, None, "").state == "unchecked"


def test_workflow_and_priority_rows():
    recorded = "--memory=2G --priority production --timeout 21600"
    ok = checks.check_workflow(1, "t1.yaml", parse_flags(recorded), recorded)
    assert ok.state == "holds" and "--timeout 21600" in ok.reason
    row = checks.check_workflow(
        1, "t1.yaml", parse_flags("--memory=4G --priority production"), recorded
    )
    assert row.state == "holds"  # the checkout's workflow wins; the fallback is stale
    assert row.reason == (
        "t1.yaml: the checkout's flags are used; the fallback differs: "
        "--timeout: workflow not set, parameters/gate1.yaml 21600; "
        "--memory: workflow 4G, parameters/gate1.yaml 2G (update baseline_iris_flags)"
    )
    bands = frozenset({"production", "system"})
    assert checks.check_priority(3, "--priority production", bands).reason.startswith(
        "submits with --priority production, an admin band"
    )
    assert checks.check_priority(3, "--priority batch", bands).state == "holds"
    assert checks.check_priority(2, "--memory=2G", None).state == "holds"
    assert checks.check_priority(1, "--priority production", None).state == "unchecked"


def test_the_table_prints_tool_output_literally():
    import io

    from perfgate_lib.commands.doctor import render
    from perfgate_lib.gate.doctor.checks import Report, broken, unchecked

    hostile = "[bold red]not markup[/] [Errno 2] [link=http://x]y[/link]"
    report = Report("/co[1]", (1,), (broken("iris CLI", hostile), unchecked("[x]", "[/]")))
    out = io.StringIO()
    render(report, file=out)
    text = out.getvalue()
    assert "[bold red]not markup[/]" in text and "[Errno 2]" in text and "/co[1]" in text
    assert "0 hold, 1 broken, 1 could not be checked; exit 4" in text


def test_tools_asked_for_help_get_no_tokens(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_doctor_test_secret")
    monkeypatch.setenv("HF_TOKEN", "hf_doctor_test_secret")
    monkeypatch.setenv("PERFGATE_DOCTOR_PLAIN", "kept")
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\nenv\n")
    tool.chmod(0o755)
    seen = probe.run_help([str(tool), "--help"]).stdout
    assert "PERFGATE_DOCTOR_PLAIN=kept" in seen
    assert "doctor_test_secret" not in seen


def test_a_tool_that_does_not_answer_is_unchecked_not_waited_for(tmp_path):
    tool = tmp_path / "iris"
    tool.write_text("#!/bin/sh\nexec sleep 600\n")
    tool.chmod(0o755)
    helps = probe.iris_helps([str(tool)], timeout_s=1.0)
    assert helps[""].exit_code is None and helps[""].error == "no answer within 1 s"
    (row,) = checks.check_iris(helps, None, "", {})
    assert (row.state, row.reason) == (
        "unchecked",
        "`iris --help` did not finish: no answer within 1 s",
    )


def test_a_checkout_that_is_not_a_folder_is_a_usage_error(tmp_path, capsys):
    from perfgate_lib.cli import run

    assert run(["doctor", "--checkout", str(tmp_path / "nowhere")]) == 2
    assert f"--checkout {tmp_path / 'nowhere'}: no such folder" in capsys.readouterr().err


def test_the_gates_a_run_relies_on():
    from perfgate_lib.commands.doctor import gates_for

    assert gates_for("local", "3") == (0,)
    assert gates_for("iris", None) == (1, 2, 3)
    assert gates_for("iris", "2") == (1, 2)
    assert gates_for("iris", "skip") == gates_for("replay", "3") == ()


@pytest.mark.parametrize(
    ("confirm", "max_gate"),
    [("skip", "skip"), ("max_gate=skip — docs only", "skip"), ("max_gate=1 — smoke", "1"),
     ("max_gate=2 fork", "2"), ("go", None), (None, None)],
)  # fmt: skip
def test_a_run_relies_on_the_gates_its_confirmation_names(confirm, max_gate):
    """``--confirm skip`` (a waiver, no ferry) relied on all three gates, so a broken tier-3
    contract stopped it; ``--confirm max_gate=1`` relied on gates 2 and 3 too."""
    from perfgate_lib.commands.doctor import relied_max_gate
    from perfgate_lib.gate.flow import RunOptions

    assert relied_max_gate(RunOptions(pr=7, confirm=confirm)) == max_gate
    assert relied_max_gate(RunOptions(pr=7, confirm=confirm, max_gate="3")) == "3"


def test_python_rows():
    assert checks.check_python("p", "3.11.9", ">=3.12,<3.14", "").state == "broken"
    assert checks.check_python("p", "3.13.0", ">=3.12,<3.14", "").state == "holds"
    assert checks.check_python("p", "3.14.0", ">=3.12,<3.14", "").state == "broken"
    assert checks.check_python("p", None, ">=3.12", "no .venv").reason == "no .venv"


# ---------------------------------------------------------------------- newest releases
def _newest() -> dict:
    """What ``make contracts`` recorded from the newest published releases (or skip)."""
    path = os.environ.get("PERFGATE_CONTRACTS")
    if not path:
        pytest.skip("PERFGATE_CONTRACTS not set: `make contracts` runs these")
    return json.loads(Path(path).read_text())


@pytest.mark.contracts
def test_newest_iris_meets_every_cli_contract():
    newest = _newest()
    rows = _iris_rows(Path(newest["iris_help"]))
    broken = [f"{r.contract}: {r.reason}" for r in rows if r.state != "holds"]
    assert not broken, f"marin-iris {newest['versions']['marin-iris']}: {broken}"


@pytest.mark.contracts
def test_newest_zephyr_meets_the_mini_ferry_api():
    newest = _newest()
    from perfgate_lib.local.zephyr_api import probe_zephyr_api

    checkout = Path(newest["zephyr_checkout"])
    found = probe_zephyr_api(sys.executable, str(checkout / "lib/zephyr/src"))
    assert found.ok, f"marin-zephyr {newest['versions']['marin-zephyr']}: {found.detail}"
    requires = probe.zephyr_requires_python(checkout)
    row = checks.check_python("kit Python", probe.kit_python_version(), requires, "")
    assert row.state == "holds", row.reason
