"""Today's ferry and collector on a real Iris controller (issue 28): the stand-in ferry runs
the newest steps in its driver and writes StepRunner lines to the driver's log; the
collector stand-in reads them from the real ``iris job logs`` (the step-log lineage), as a
non-admin, on both marin-iris releases (0.2.20's CLI lists the tree as JSON; with 0.2.227
the stand-in reads it with the iris client, as marin's collector does). The kit's real gate path (``GateSession``) then compares the report with the
bundled tier-1 baseline, which is of the older child-job lineage.
"""

from __future__ import annotations

import pytest

from tests.fakes.iris_cluster import IRIS_VERSIONS
from tests.test_iris_local_cluster import (  # noqa: F401 - fixtures
    cluster_repo,
    cluster_world,
    controller,
    env_bin,
    gate_attempt,
    iris_version,
    outputs,
    rows,
    scenario,
)

pytestmark = pytest.mark.slow

NON_ADMIN = "iris query task_wall_ms: failed; sum_task_wall_seconds_total unset"


@pytest.mark.parametrize("iris_version", IRIS_VERSIONS, indirect=True)
def test_todays_ferry_read_from_its_step_log_by_a_non_admin(
    controller,  # noqa: F811
    cluster_world,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    monkeypatch.setenv("STANDIN_WORLD", str(controller.world))  # the collector's scenario
    # a loaded machine bundles and submits slowly: give each command up to 10 minutes
    cluster_world.write_common(iris_command=str(cluster_world.iris), command_timeout_seconds=600)
    scenario(
        controller,
        1411,
        lineage="step-log",
        role="user",
        light=True,
        cached=["decontam"],
        no_line_at="dedup",
    )
    session, verdict_name = gate_attempt(cluster_world, 1411, tmp_path)
    verdict, report, comment, _tree = outputs(session)
    assert session.record.job.state == "succeeded"
    # the step-log lineage, read from the driver's real log
    assert set(report["stage_wall_seconds"]) == {
        "normalize",
        "tokenize",
        "embed",
        "quality",
        "minhash",
        "verify_fuzzy_clusters",
        "store",
        "decontam",
    }
    assert report["cached_steps"] == ["decontam"] and report["stage_wall_seconds"]["decontam"] == 0
    assert all(report["stage_wall_seconds"][s] > 0 for s in ("normalize", "store"))
    assert "stage_sum_task_wall_seconds" not in report
    warned = [w for w in report["warnings"] if not w.startswith("status file")]
    assert warned == ["expected steps neither ran nor were cached: dedup", NON_ADMIN]
    # the kit: usable (the query warning is a note), but not comparable with the older lineage
    assert verdict_name == "inconclusive"
    reasons = " | ".join(verdict["inconclusive_reasons"])
    assert "unusable" not in reasons
    assert "baseline child-job" in reasons and "treatment step-log" in reasons
    assert "treatment step dedup did not finish" in reasons
    assert rows(verdict)["normalize"]["verdict"] == "not_comparable"
    assert rows(verdict)["dedup"]["verdict"] == "not_finished"
    assert any(NON_ADMIN in n for n in verdict["collector_notes"])
    assert "Note (collector warnings, not counted)" in comment
