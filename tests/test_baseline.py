"""Baselines: Actions artifacts via real PyGithub + fake GitHub, the mirror via real gcsfs."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import uuid

import pytest

from perfgate_lib import SENTINEL
from perfgate_lib.errors import ReportError
from perfgate_lib.gate.baseline import (
    NoBaseline,
    find_baseline,
    parse_time,
    render_unavailable,
)
from perfgate_lib.io import storage
from perfgate_lib.io.github import GitHubClient
from perfgate_lib.verdict.gates import load_gate
from tests.cli_helpers import perfgate_here
from tests.conftest import REPO_ROOT
from tests.fakes.github_kit import fast_settings
from tests.fakes.github_server import DEFAULT_REPO, make_zip

pytest_plugins = ("tests.fakes.github_fixtures",)

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "github"
WF1 = "marin-canary-datakit-tier1.yaml"
ART1 = "datakit-tier1-perf-report"
NOW = dt.datetime(2026, 5, 6, 12, 0, tzinfo=dt.UTC)


def report(**fields) -> dict:
    data = json.loads((FIXTURES / "tier1-perf-report.json").read_text())
    data.update(fields)
    return data


def artifact(data: dict | bytes | str) -> dict[str, bytes]:
    body = data if isinstance(data, bytes | str) else json.dumps(data)
    return {ART1: make_zip({"perf-report.json": body})}


def at(hours_before_now: float) -> dt.datetime:
    return NOW - dt.timedelta(hours=hours_before_now)


def add_run(fake, hours_ago, *, art=None, wf=WF1, **kw):
    return fake.add_run(DEFAULT_REPO, wf, created_at=at(hours_ago), artifacts=art, **kw)


@pytest.fixture
def mirror(gcs):
    """A fresh mirror root on the GCS emulator (real gcsfs)."""
    return f"gs://marin-us-central1/infra/datakit/ferry_perf-{uuid.uuid4().hex[:8]}/"


def put_mirror(root: str, stamp: str, data: dict | str, tier: int = 1) -> str:
    url = storage.join(root.rstrip("/"), f"report_{stamp}_tier{tier}", "perf_report.json")
    storage.write_text(url, data if isinstance(data, str) else json.dumps(data))
    return url


# ---------------------------------------------------------------------- Actions
def test_newest_run_lacking_the_artifact_falls_to_the_next(fake_github, kit_client):
    older = add_run(fake_github, 30, art=artifact(report(wall_seconds_total=1.0)))
    wanted = add_run(
        fake_github, 5, art=artifact(report(wall_seconds_total=2.0)), head_sha="9" * 40
    )
    newest = add_run(fake_github, 1, art={"some-other-artifact": make_zip({"x": "y"})})

    found = find_baseline(1, client=kit_client, mirror=None, now=NOW)

    prov = found.provenance
    assert found.report.wall_seconds_total == 2.0
    assert (prov.source, prov.run_id, prov.sha) == ("actions", str(wanted["id"]), "9" * 40)
    assert prov.run_url == f"{fake_github.origin}/{DEFAULT_REPO}/actions/runs/{wanted['id']}"
    assert prov.created_at == "2026-05-06T07:00:00Z"
    assert prov.age_hours == pytest.approx(5.0) and prov.stale is False
    assert prov.notes == (f"run #{newest['id']}: no artifact {ART1}",)
    assert json.loads(found.data)["wall_seconds_total"] == 2.0
    assert len(fake_github.storage_requests) == 1  # the older run was never downloaded
    assert f"/runs/{older['id']}/" not in " ".join(r.path for r in fake_github.requests)


def test_expired_artifact_is_skipped(fake_github, kit_client):
    add_run(fake_github, 20, art=artifact(report(wall_seconds_total=3.0)))
    expired_run = add_run(fake_github, 2)
    fake_github.add_artifact(expired_run["id"], ART1, artifact(report())[ART1], expired=True)
    found = find_baseline(1, client=kit_client, mirror=None, now=NOW)
    assert found.report.wall_seconds_total == 3.0
    assert found.provenance.notes == (f"run #{expired_run['id']}: artifact {ART1} expired",)


def test_non_schedule_non_main_and_failed_runs_are_skipped(fake_github, kit_client):
    good = add_run(fake_github, 10, art=artifact(report(wall_seconds_total=4.0)))
    add_run(fake_github, 3, art=artifact(report()), event="workflow_dispatch")
    add_run(fake_github, 2, art=artifact(report()), branch="feature")
    add_run(fake_github, 1, art=artifact(report()), conclusion="failure")
    add_run(fake_github, 1, art=artifact(report()), wf="marin-canary-datakit-tier2.yaml")
    found = find_baseline(1, client=kit_client, mirror=None, now=NOW)
    assert found.provenance.run_id == str(good["id"])
    assert found.report.wall_seconds_total == 4.0
    (listing,) = fake_github.requests_matching("GET", f"/repos/*/actions/workflows/{WF1}/runs")
    assert (listing.query["branch"], listing.query["event"], listing.query["status"]) == (
        "main",
        "schedule",
        "success",
    )


def test_a_500_then_success(fake_github, kit_client):
    add_run(fake_github, 4, art=artifact(report(wall_seconds_total=5.0)))
    fake_github.inject("GET", f"/repos/*/actions/workflows/{WF1}/runs", 500)
    fake_github.inject("GET", "/repos/*/actions/runs/*/artifacts", 503)
    fake_github.inject("GET", "/repos/*/actions/artifacts/*/zip", 502)
    found = find_baseline(1, client=kit_client, mirror=None, now=NOW)
    assert found.report.wall_seconds_total == 5.0
    assert len(fake_github.requests_matching("GET", "/repos/*/actions/artifacts/*/zip")) == 2


def test_malformed_artifact_tries_the_next_run_and_says_why(fake_github, kit_client):
    add_run(fake_github, 8, art=artifact(report(wall_seconds_total=6.0)))
    bad = add_run(
        fake_github, 4, art=artifact((FIXTURES / "malformed-perf-report.json").read_text())
    )
    empty = add_run(fake_github, 2, art={ART1: make_zip({"readme.txt": "nothing"})})
    found = find_baseline(1, client=kit_client, mirror=None, now=NOW)
    assert found.report.wall_seconds_total == 6.0
    notes = found.provenance.notes
    assert notes[0].startswith(f"run #{empty['id']}:") and "no perf-report.json" in notes[0]
    assert notes[1].startswith(f"run #{bad['id']}:") and "JSON" in notes[1]


def test_staleness_follows_the_gate_parameters(fake_github, kit_client):
    add_run(fake_github, 30, art=artifact(report()))
    assert find_baseline(1, client=kit_client, mirror=None, now=NOW).provenance.stale is True
    fake_github.add_run(
        DEFAULT_REPO,
        "marin-canary-datakit-tier3.yaml",
        created_at=at(150),
        artifacts={
            "datakit-tier3-perf-report": make_zip({"perf-report.json": json.dumps(report())})
        },
    )
    prov = find_baseline(3, client=kit_client, mirror=None, now=NOW).provenance
    assert (prov.stale, prov.max_age_hours, round(prov.age_hours)) == (False, 168.0, 150)
    assert find_baseline(
        3, client=kit_client, mirror=None, now=NOW + dt.timedelta(hours=20)
    ).provenance.stale


def test_gate_parameters_are_complete():
    names = {
        1: ("smoke", 10, 60, 24),
        2: ("long-tail stress", 15, 150, 24),
        3: ("nemotron", 20, 180, 168),
    }
    for gate, (name, poll, wall, age) in names.items():
        params = load_gate(gate)
        assert (params.name, params.poll_interval_minutes, params.wall_time_minutes) == (
            name,
            poll,
            wall,
        )
        assert params.max_baseline_age_hours == age
        assert params.workflow == f"marin-canary-datakit-tier{gate}.yaml"
        assert params.artifact == f"datakit-tier{gate}-perf-report"
        assert params.mirror_glob == f"report_*_tier{gate}/perf_report.json"
    assert load_gate(3).env == {"FERRY_TEST_MAX_FILES": "1000"}


# ---------------------------------------------------------------------- mirror
def test_github_down_falls_back_to_the_gcs_mirror(fake_github, kit_client, mirror):
    fake_github.down = True
    put_mirror(mirror, "20260506T090000Z", report(wall_seconds_total=7.0))  # manual run: no id
    put_mirror(
        mirror,
        "20260506T071500Z",
        report(wall_seconds_total=8.0, workflow_run_id="777", commit_sha="ab" * 20),
    )
    put_mirror(mirror, "20260505T071500Z", report(workflow_run_id="776"))

    found = find_baseline(1, client=kit_client, mirror=mirror, now=NOW)

    prov = found.provenance
    assert found.report.wall_seconds_total == 8.0
    assert (prov.source, prov.run_id, prov.sha, prov.scheduled) == (
        "gcs-mirror",
        "777",
        "ab" * 20,
        None,
    )
    assert prov.location == storage.join(
        mirror.rstrip("/"), "report_20260506T071500Z_tier1", "perf_report.json"
    )
    assert prov.created_at == "2026-05-06T07:22:41Z" and prov.age_hours == pytest.approx(
        4.62, abs=0.01
    )
    assert any("could not be confirmed" in n for n in prov.notes)
    assert len(fake_github.requests_matching("GET", "/repos/*/actions/workflows/*/runs")) == 3


def test_mirror_prefers_a_scheduled_main_run_over_a_newer_manual_one(
    fake_github, kit_client, mirror
):
    scheduled = add_run(fake_github, 6, head_sha="5" * 40)  # succeeded, no artifact
    manual = add_run(fake_github, 1, event="workflow_dispatch")
    put_mirror(
        mirror,
        "20260506T110000Z",
        report(wall_seconds_total=1.0, workflow_run_id=str(manual["id"])),
    )
    put_mirror(
        mirror,
        "20260506T063000Z",
        report(wall_seconds_total=9.0, workflow_run_id=str(scheduled["id"])),
    )

    found = find_baseline(1, client=kit_client, mirror=mirror, now=NOW)

    prov = found.provenance
    assert found.report.wall_seconds_total == 9.0
    assert (prov.source, prov.scheduled, prov.sha) == ("gcs-mirror", True, "5" * 40)
    assert prov.run_url == f"{fake_github.origin}/{DEFAULT_REPO}/actions/runs/{scheduled['id']}"
    assert prov.created_at == "2026-05-06T06:00:00Z"  # the run's creation time
    assert f"run #{scheduled['id']}: no artifact {ART1}" in prov.notes


def test_provenance_renders_in_the_comment_baseline_line(fake_github, kit_client, mirror):
    from perfgate_lib.verdict.render import baseline_line

    fake_github.down = True
    old = report(
        workflow_run_id="4321", commit_sha="d" * 40, collected_at_utc="2026-05-01T07:20:00Z"
    )
    put_mirror(mirror, "20260501T071500Z", old)
    prov = find_baseline(1, client=kit_client, mirror=mirror, now=NOW).provenance
    line = baseline_line(prov.to_json())
    assert prov.stale and "#4321" in line and "from the GCS mirror" in line and "Stale" in line
    assert prov.run_url == f"{fake_github.url}/{DEFAULT_REPO}/actions/runs/4321"


def test_mirror_takes_a_manual_report_as_last_resort_and_says_so(fake_github, kit_client, mirror):
    put_mirror(mirror, "20260506T110000Z", report(wall_seconds_total=1.5))
    put_mirror(mirror, "20260506T120000Z", "{not json")
    found = find_baseline(1, client=kit_client, mirror=mirror, now=NOW)
    assert found.report.wall_seconds_total == 1.5 and found.provenance.scheduled is False
    assert any("not valid JSON" in n for n in found.provenance.notes)
    assert any("no report from a scheduled main run" in n for n in found.provenance.notes)


def test_mirror_on_any_fsspec_url_and_a_local_folder(tmp_path, fake_github, kit_client):
    fake_github.down = True
    memory_root = f"memory://mirror-{uuid.uuid4().hex[:8]}"
    put_mirror(
        memory_root, "20260506T071500Z", report(workflow_run_id="1", wall_seconds_total=11.0)
    )
    assert (
        find_baseline(1, client=kit_client, mirror=memory_root, now=NOW).report.wall_seconds_total
        == 11.0
    )
    put_mirror(
        str(tmp_path), "20260506T071500Z", report(workflow_run_id="1", wall_seconds_total=12.0)
    )
    assert (
        find_baseline(1, use_actions=False, mirror=str(tmp_path), now=NOW).report.wall_seconds_total
        == 12.0
    )


def test_mirror_empty_gives_a_clear_error_and_the_gap_comment(fake_github, kit_client, mirror):
    fake_github.down = True
    with pytest.raises(NoBaseline) as err:
        find_baseline(1, client=kit_client, mirror=mirror, now=NOW)
    message = str(err.value)
    assert err.value.exit_code == 4
    assert "no baseline for gate 1" in message and "GitHub Actions" in message
    assert "503" in message and f"no report matches {mirror.rstrip('/')}/report_*_tier1" in message
    assert fake_github.token not in message

    attempts = [*err.value.attempts, ("mirror <b>|`x`", "evil | <script>alert(1)</script> @all")]
    body = render_unavailable(load_gate(1), attempts, reviewer="rev-1", sha="abc1234")
    assert body.startswith(
        SENTINEL + "\n🤖 ## Zephyr perf gate — Gate 1 (smoke): baseline unavailable"
    )
    assert "<script>" not in body and "| <" not in body and "@all" not in body
    assert "@rev-1" in body and "baseline ferry" in body
    assert render_unavailable(load_gate(1), attempts, reviewer="x y").count("@") == 0


def test_local_baseline_file_and_folder(tmp_path):
    path = tmp_path / "perf-report.json"
    path.write_text(json.dumps(report(workflow_run_id="55", commit_sha="c" * 40)))
    for target in (str(path), str(tmp_path)):
        prov = find_baseline(2, local=target, now=NOW).provenance
        assert (prov.source, prov.run_id, prov.sha, prov.location) == (
            "local",
            "55",
            "c" * 40,
            str(path),
        )
        assert prov.age_hours == pytest.approx(4.62, abs=0.01)


def test_a_local_folder_without_a_report_is_named_not_a_crash(tmp_path):
    """``--local`` on a folder holding neither report name: a one-line error naming the
    folder (exit 4, no traceback file), not an IsADirectoryError."""
    with pytest.raises(
        ReportError, match="a folder with no perf-report.json or perf_report.json"
    ) as err:
        find_baseline(2, local=str(tmp_path), now=NOW)
    assert str(tmp_path) in str(err.value)
    code, out, errtext = perfgate_here("baseline", "--gate", "1", "--local", str(tmp_path))
    assert code == 4 and str(tmp_path) in errtext and "Traceback" not in errtext + out
    assert "IsADirectoryError" not in errtext


@pytest.mark.parametrize("option", ["--out", "--gap-comment"])
def test_an_output_path_that_is_a_folder_is_named_before_fetching(tmp_path, option):
    """``--out`` (or ``--gap-comment``) naming a folder was an IsADirectoryError crash
    (exit 4) after the baseline was found; now a usage error naming it (exit 2)."""
    local = str(REPO_ROOT / "parameters" / "examples" / "tier1_baseline.json")
    code, out, err = perfgate_here(
        "baseline", "--gate", "1", "--local", local, option, str(tmp_path)
    )
    assert code == 2 and err == f"perfgate: {option} {tmp_path}: a folder, not a file\n", err


def test_parse_time_formats():
    assert parse_time("20260506T071500Z") == dt.datetime(2026, 5, 6, 7, 15, tzinfo=dt.UTC)
    assert parse_time("2026-05-06T07:15:00Z") == dt.datetime(2026, 5, 6, 7, 15, tzinfo=dt.UTC)
    assert parse_time("2026-05-06T09:15:00+02:00") == dt.datetime(2026, 5, 6, 7, 15, tzinfo=dt.UTC)
    assert parse_time("yesterday") is None and parse_time(None) is None


@pytest.mark.parametrize(
    "stamp",
    [1e300, 10**30, "99999999999999999999", float("nan"), float("inf"), {"epoch_ms": 1e30}]
    + [{"epoch_ms": float("inf")}, "1e300", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00+23:59"]
    + [10**400, "1" * 400, "9" * 5000, "²", "٣", "２０２６"],  # past a float; digits not ASCII
)
def test_a_time_past_the_calendar_is_unparsable_not_an_error(stamp):
    """A report's ``collected_at_utc`` is the PR's text: a number past year 9999 is None
    (no time), as any other unparsable stamp, not an OverflowError or OSError."""
    assert parse_time(stamp) is None


# ---------------------------------------------------------------------- CLI
def test_cli_baseline_json_saves_the_report_and_never_leaks_the_token(
    github_env, mirror, tmp_path, capsys
):
    run = add_run(github_env, 3, art=artifact(report(wall_seconds_total=13.0)))
    out_url = mirror + "saved/baseline.json"
    code, out, err = perfgate_here("baseline", "--gate", "1", "--json", "--out", out_url)
    assert code == 0, err
    prov = json.loads(out)
    assert (prov["source"], prov["run_id"], prov["report_path"]) == (
        "actions",
        str(run["id"]),
        out_url,
    )
    assert json.loads(storage.read_text(out_url))["wall_seconds_total"] == 13.0

    local_out = tmp_path / "b.json"
    code, out, err2 = perfgate_here("baseline", "--gate", "1", "--out", str(local_out))
    assert code == 0 and f"run #{run['id']}" in out and str(local_out) in out
    token = github_env.token
    assert token not in out + err + err2
    assert token not in storage.read_text(out_url) and token not in local_out.read_text()
    assert all("Authorization" not in r.headers for r in github_env.storage_requests)


def test_cli_baseline_unavailable_exits_4_with_gap_comment(github_env, mirror, tmp_path, capsys):
    gap = tmp_path / "gap.md"
    github_env.add_workflow(DEFAULT_REPO, "marin-canary-datakit-tier2.yaml")
    code, out, err = perfgate_here(
        *[
            "baseline",
            "--gate",
            "2",
            "--json",
            "--mirror",
            mirror,
            "--gap-comment",
            str(gap),
            "--reviewer",
            "rev",
        ]
    )
    assert code == 4
    assert json.loads(out)["available"] is False
    assert "no baseline for gate 2" in err and "no successful schedule run" in err
    text = gap.read_text()
    assert text.startswith(SENTINEL) and "Gate 2 (long-tail stress)" in text and "@rev" in text
    assert github_env.token not in out + err + text


def test_cli_baseline_honours_repo_and_api_url(github_env, monkeypatch, tmp_path, capsys):
    github_env.add_repo("me/fork")
    github_env.add_run(
        "me/fork", WF1, created_at=at(1), artifacts=artifact(report(wall_seconds_total=14.0))
    )
    code, out, err = perfgate_here(
        *[
            "baseline",
            "--gate",
            "1",
            "--repo",
            "me/fork",
            "--mirror",
            "",
            "--out",
            str(tmp_path / "r.json"),
        ]
    )
    assert code == 0, err
    assert json.loads((tmp_path / "r.json").read_text())["wall_seconds_total"] == 14.0
    monkeypatch.setenv("GITHUB_API_URL", "ftp://nowhere")
    code, out, err = perfgate_here("baseline", "--gate", "1")
    assert code == 2 and "GITHUB_API_URL" in err


def test_client_from_env_uses_gh_token(github_env, monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN")
    monkeypatch.setenv("GH_TOKEN", github_env.token)
    client = GitHubClient()
    assert (
        client.settings.token_var == "GH_TOKEN" and client.authenticated_login() == "perfgate-bot"
    )
    assert isinstance(fast_settings(github_env).retries, int)


# ---------------------------------------------------------------------- issue 29, problem 9
def test_two_report_members_are_an_error_naming_both(fake_github, kit_client):
    add_run(fake_github, 8, art=artifact(report(wall_seconds_total=6.0)))
    two = make_zip(
        {
            "a/perf-report.json": json.dumps(report(wall_seconds_total=1.0)),
            "b/perf-report.json": json.dumps(report(wall_seconds_total=2.0)),
        }
    )
    both = add_run(fake_github, 2, art={ART1: two})
    found = find_baseline(1, client=kit_client, mirror=None, now=NOW)
    assert found.report.wall_seconds_total == 6.0, "never a guess between the two"
    (note,) = found.provenance.notes
    assert note.startswith(f"run #{both['id']}:")
    assert "'a/perf-report.json'" in note and "'b/perf-report.json'" in note


def test_an_artifact_over_the_size_limit_is_not_downloaded(fake_github, kit_client, monkeypatch):
    from dataclasses import replace

    from perfgate_lib.gate import baseline as baseline_mod
    from perfgate_lib.io.limits import load_limits

    small = replace(load_limits(), artifact_max_bytes=200)
    monkeypatch.setattr(baseline_mod, "load_limits", lambda: small)
    big = add_run(fake_github, 2, art=artifact(report(warnings=["x" * 5000])))
    with pytest.raises(NoBaseline) as info:
        find_baseline(1, client=kit_client, mirror=None, now=NOW)
    assert f"run #{big['id']}:" in str(info.value) and "artifact_max_bytes=200" in str(info.value)
    assert fake_github.requests_matching("GET", "/repos/*/actions/artifacts/*/zip") == []
    assert fake_github.storage_requests == [], "nothing downloaded"


def test_an_artifact_larger_than_declared_stops_downloading_at_the_limit(
    fake_github, kit_client, monkeypatch
):
    """GitHub's declared size may be wrong: the body itself is streamed and capped."""
    from dataclasses import replace

    from perfgate_lib.gate import baseline as baseline_mod
    from perfgate_lib.io.limits import load_limits

    cap = 2000
    monkeypatch.setattr(
        baseline_mod, "load_limits", lambda: replace(load_limits(), artifact_max_bytes=cap)
    )
    body = artifact(report(warnings=[uuid.UUID(int=n).hex for n in range(0, 10**9, 10**6)]))
    assert len(body[ART1]) > cap  # incompressible enough
    run = add_run(fake_github, 2, art=body)
    for art in fake_github.artifacts.values():
        if art["run_id"] == run["id"]:
            art["declared_size"] = 100  # under the cap: the download starts
    with pytest.raises(NoBaseline) as info:
        find_baseline(1, client=kit_client, mirror=None, now=NOW)
    assert f"run #{run['id']}:" in str(info.value)
    assert "artifact_max_bytes" in str(info.value) and "stopped" in str(info.value)
    assert fake_github.requests_matching("GET", "/repos/*/actions/artifacts/*/zip") != []


def test_report_from_zip_bounds_the_zip_and_the_member(monkeypatch):
    from dataclasses import replace

    from perfgate_lib.gate import baseline as baseline_mod
    from perfgate_lib.io.limits import load_limits
    from perfgate_lib.verdict.report import ReportTooLarge

    data = make_zip({"perf-report.json": json.dumps(report(warnings=["x" * 5000]))})
    monkeypatch.setattr(
        baseline_mod, "load_limits", lambda: replace(load_limits(), artifact_max_bytes=100)
    )
    with pytest.raises(ReportTooLarge, match="artifact_max_bytes=100"):
        baseline_mod.report_from_zip(data, "perf-report.json", "artifact x")
    monkeypatch.setattr(
        baseline_mod,
        "load_limits",
        lambda: replace(load_limits(), artifact_member_max_bytes=1000),
    )
    with pytest.raises(ReportTooLarge, match="artifact_member_max_bytes=1000"):
        baseline_mod.report_from_zip(data, "perf-report.json", "artifact x")
