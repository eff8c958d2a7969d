"""The collector stand-in (``tests/fakes/marin_standins/collect_perf_metrics.py``) writes
both lineages' reports, chosen by the PR's scenario, and the kit reads them as it reads
marin's. The stand-in runs as a script, as the cluster tests run it; the ``iris`` next to
its interpreter answers with recorded output shapes of the marin-iris 0.2.20 CLI
(``job list --json``, ``job summary --json``, ``job logs``), so no controller is needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from perfgate_lib.verdict.lineage import CHILD_JOB, STEP_LOG, detect
from perfgate_lib.verdict.report import load_report, parse_report
from perfgate_lib.verdict.rules import GateContext, decide
from perfgate_lib.verdict.thresholds import load_thresholds

STANDIN = Path(__file__).parent / "fakes" / "marin_standins" / "collect_perf_metrics.py"
REPORTS = Path(__file__).parent / "fixtures" / "reports"
JOB = "/perfgate/zephyr-perf-pr5412-g1-treatment-20261205T101500Z"
NON_ADMIN = "iris query task_wall_ms: failed; sum_task_wall_seconds_total unset"
DIALECTS = Path(__file__).parent / "fixtures" / "iris_dialects"
LIST_HELP = (DIALECTS / "0.2.20-job-list-help.txt").read_text()  # recorded: it has --json


def _ms(value: int) -> dict:
    return {"epoch_ms": value}


TREE = [
    {"job_id": JOB, "state": "JOB_STATE_SUCCEEDED", "has_children": True,
     "started_at": _ms(1_000_000), "finished_at": _ms(5_188_904),
     "task_state_counts": {"succeeded": 1}},
    {"job_id": f"{JOB}/zephyr-normalize-a1", "state": "JOB_STATE_SUCCEEDED", "has_children": False,
     "started_at": _ms(1_010_000), "finished_at": _ms(1_822_400),
     "task_state_counts": {"succeeded": 4}},
    {"job_id": f"{JOB}/zephyr-minhash-attrs-a1", "state": "JOB_STATE_SUCCEEDED",
     "has_children": False, "started_at": _ms(1_830_000), "finished_at": _ms(2_232_600),
     "task_state_counts": {"succeeded": 4}},
]  # fmt: skip


def step(name: str, elapsed: str, digest: str = "0a1b2c3d") -> str:
    return (
        f"[10:15:0{len(name) % 10}] task={JOB}/0 attempt=0 | 2026-12-05 10:15:00,001 INFO "
        f"marin.execution.step_runner Step {name}_{digest} succeeded in {elapsed}"
    )


LOG = [
    "[10:15:00] task=/x/0 attempt=0 | 2026-12-05 10:15:00,000 INFO root starting the ferry",
    step("datakit-tier1/normalize", "0:13:32.400000"),
    step("datakit-tier1/tokenize", "0:10:40.200000"),
    step("datakit/embed/fineweb", "0:20:10.700000"),
    step("datakit/quality/fineweb", "0:03:00.000000"),  # two sources of one stage add up
    step("datakit/quality/dclm", "0:02:05.900000"),
    f"[10:16:00] task={JOB}/0 attempt=0 | 2026-12-05 10:16:00,000 INFO "
    "marin.execution.step_runner Skip datakit-tier1/decontam_9f8e7d6c: already succeeded",
    step("datakit-tier1/minhash", "0:06:42.600000"),
    # no line for dedup: it neither ran nor was cached
    step("datakit-tier1/verify_fuzzy_clusters", "0:01:01.800000"),
    step("datakit-tier1/store", "0:01:37.500000"),
    "[10:17:00] task=/x/0 attempt=0 | Step fake_0a1b2c3d succeeded in 9:99:99 (another logger)",
]

FAKE_IRIS = """#!{python}
import json, os, sys
args = sys.argv[2:]  # after --config=...
answers = json.load(open(os.environ["STANDIN_TEST_ANSWERS"]))
if args[:2] == ["job", "list"] and "--help" in args:
    print(answers["list_help"])
elif args[:2] == ["job", "list"]:
    print(json.dumps(answers["tree"]))
elif args[:2] == ["job", "summary"]:
    print(json.dumps(answers["summary"]))
elif args[:2] == ["job", "logs"] and answers["logs"] is not None:
    assert args[args.index("--max-lines") + 1] == "10000"
    print("\\n".join(answers["logs"]))
else:
    print("error: unavailable", file=sys.stderr)
    sys.exit(1)
"""


def collect(tmp_path: Path, scenario: dict, logs: list[str] | None = LOG) -> dict:
    """Run the stand-in as a script with its own ``iris``; the report it wrote."""
    bindir, world = tmp_path / "bin", tmp_path / "world"
    (world / "scenarios").mkdir(parents=True)
    bindir.mkdir()
    python = Path(os.path.realpath(sys.executable))
    (bindir / "python").symlink_to(python)
    iris = bindir / "iris"
    iris.write_text(FAKE_IRIS.format(python=python))
    iris.chmod(0o755)
    (world / "scenarios" / "pr5412.json").write_text(json.dumps(scenario))
    answers = tmp_path / "answers.json"
    summary = {"tasks": [{"duration_ms": 4_188_904, "memory_peak_mb": 13902}]}
    answers.write_text(
        json.dumps({"tree": TREE, "summary": summary, "logs": logs, "list_help": LIST_HELP})
    )
    out = tmp_path / "report.json"
    env = {**os.environ, "STANDIN_WORLD": str(world), "STANDIN_TEST_ANSWERS": str(answers)}
    proc = subprocess.run(
        [str(bindir / "python"), str(STANDIN), "--job-id", JOB, "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())


def test_the_step_log_lineage_of_a_non_admin(tmp_path):
    report = collect(tmp_path, {"lineage": "step-log", "role": "user"})
    assert report["stage_wall_seconds"] == {
        "normalize": 812.4,
        "tokenize": 640.2,
        "embed": 1210.7,
        "quality": 305.9,
        "minhash": 402.6,
        "verify_fuzzy_clusters": 61.8,
        "store": 97.5,
        "decontam": 0.0,
    }
    assert report["cached_steps"] == ["decontam"]
    assert "stage_sum_task_wall_seconds" not in report
    assert report["sum_task_wall_seconds_total"] is None
    assert report["warnings"] == [
        "expected steps neither ran nor were cached: dedup",
        NON_ADMIN,
    ]
    assert report["wall_seconds_total"] == 4188.904
    # the kit reads it as today's lineage: compared, the missing step named, the query a note
    treatment = parse_report(report, "treatment.json")
    assert detect(treatment).lineage is STEP_LOG
    baseline = load_report(str(REPORTS / "lineage_step_log_admin.json"))
    ctx = GateContext(treatment_ferry_module="experiments.ferries.datakit_ferry")
    verdict = decide(baseline, treatment, load_thresholds(), ctx)
    assert verdict.verdict == "inconclusive"
    assert any(
        r.startswith("treatment step dedup did not finish") for r in verdict.inconclusive_reasons
    )
    assert not any("unusable" in r for r in verdict.inconclusive_reasons)
    assert {r.stage: r.verdict for r in verdict.stages}["normalize"] == "pass"


def test_an_unreadable_step_log_is_marins_warning(tmp_path):
    report = collect(tmp_path, {"lineage": "step-log"}, logs=None)
    assert report["stage_wall_seconds"] == {}
    assert report["warnings"] == ["driver step log unavailable; stage_wall_seconds empty"]
    assert report["sum_task_wall_seconds_total"] == 1215.0  # an admin: the leaves


def test_the_child_job_lineage_stays_the_default(tmp_path):
    report = collect(tmp_path, {})
    assert report["stage_wall_seconds"]["normalize"] == 812.4
    assert report["stage_wall_seconds"]["minhash"] == 402.6
    assert report["cached_steps"] == ["fuzzy_dups", "consolidate", "tokenize"]
    assert report["warnings"] == []
    assert detect(parse_report(report, "t")).lineage is CHILD_JOB
