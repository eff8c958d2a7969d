"""Gate 0's evidence kept in a run folder, and ``perfgate explain`` reading it back.

Real callgrind dumps and perf maps (tests/fixtures/callgrind/), real files, the real
CLI in a subprocess; nothing is re-run."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from perfgate_lib.local import evidence
from tests.cli_helpers import perfgate

FIXTURES = Path(__file__).parent / "fixtures" / "callgrind"


def _side_files(tmp: Path) -> dict[str, str]:
    """Each side's dump as the ferry leaves it, and its perf map where the side wrote it."""
    maps = tmp / "maps"
    maps.mkdir()
    dumps = {}
    for side in ("control", "treatment"):
        text = gzip.decompress((FIXTURES / f"{side}.callgrind.gz").read_bytes()).decode()
        path = tmp / f"callgrind-{side}" / "callgrind.out.3"
        path.parent.mkdir()
        path.write_text(text)
        pid = evidence.dump_pid(text)
        (maps / f"perf-{pid}.map").write_bytes(
            gzip.decompress((FIXTURES / f"{side}.perf.map.gz").read_bytes())
        )
        dumps[side] = str(path)
    return dumps


def _pairs(dumps: dict[str, str]) -> list[dict]:
    row = {"instructions": 9_974_794, "callgrind_dump": dumps["control"]}
    planted = {"instructions": 57_377_974, "callgrind_dump": dumps["treatment"]}
    calm = {"instructions": 100, "callgrind_dump": dumps["control"]}
    return [
        {"pair": 1, "control": {"fuzzy_dups": row, "normalize": calm},
         "treatment": {"fuzzy_dups": planted, "normalize": calm}},
    ]  # fmt: skip


TABLE = [
    {"stage": "normalize", "call": "pass", "ratio": 1.0},
    {"stage": "fuzzy_dups", "call": "fail", "ratio": 5.75},
    {"stage": "wall_seconds_total", "call": "undecided", "ratio": 1.2},  # not a stage
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("explain")
    dumps = _side_files(tmp)
    out = tmp / "run"
    result = evidence.keep_profiles(
        _pairs(dumps), TABLE, out, perf_map_dir=tmp / "maps", budget_mb=8
    )
    assert list(result["stages"]) == ["fuzzy_dups"]  # normalize passed: not kept
    assert result["notes"] == []  # the whole run's row is no stage: no "no dumps" note
    return out


def test_the_flagged_stage_keeps_both_dumps_and_flame_graphs_within_budget(run_dir):
    attribution = json.loads((run_dir / "profile" / "attribution.json").read_text())
    stage = attribution["stages"]["fuzzy_dups"]
    assert stage["pair"] == 1 and stage["view"] == "python"
    kept = [run_dir / f for f in stage["files"]]
    assert {p.name for p in kept} == {
        "control.callgrind.gz", "treatment.callgrind.gz",
        "control.perf.map.gz", "treatment.perf.map.gz",
    }  # fmt: skip
    assert attribution["kept_bytes"] == sum(p.stat().st_size for p in kept) <= 8 * 1024 * 1024
    flames = {Path(f).name for f in stage["flame"]}
    assert flames == {f"flame-{b}.{e}" for b in ("treatment", "control") for e in ("png", "svg")}
    assert all((run_dir / f).stat().st_size > 1000 for f in stage["flame"])
    top = stage["rows"][0]
    assert top["function"] == "key_hash" and top["python"] and top["delta"] > 0
    assert stage["explained_pct"] >= 80


def test_the_kept_dumps_give_the_same_table_again(run_dir):
    """The evidence suffices: the table recomputed from the kept files is the same."""
    stage = json.loads((run_dir / "profile" / "attribution.json").read_text())["stages"][
        "fuzzy_dups"
    ]
    texts = {
        side: {
            kind: gzip.decompress(
                (run_dir / "profile" / "fuzzy_dups" / f"{side}.{kind}.gz").read_bytes()
            ).decode()
            for kind in ("callgrind", "perf.map")
        }
        for side in ("control", "treatment")
    }
    profiles = {
        s: evidence.side_profile(t["callgrind"], t["perf.map"], ()) for s, t in texts.items()
    }
    from perfgate_lib.local.callgrind_profile import stage_delta

    again = evidence.delta_json(
        stage_delta("fuzzy_dups", profiles["control"], profiles["treatment"]), {}
    )
    assert [r["delta"] for r in again["rows"]] == [r["delta"] for r in stage["rows"]]


def test_a_budget_too_small_keeps_the_table_but_not_the_dumps(tmp_path):
    dumps = _side_files(tmp_path)
    result = evidence.keep_profiles(
        _pairs(dumps), TABLE, tmp_path / "run", perf_map_dir=tmp_path / "maps", budget_mb=0.01
    )
    stage = result["stages"]["fuzzy_dups"]
    assert stage["files"] == [] and stage["rows"][0]["function"] == "key_hash"
    assert any("budget" in n for n in result["notes"])
    assert not list((tmp_path / "run" / "profile" / "fuzzy_dups").glob("*.gz"))


def _explain(*args: str) -> subprocess.CompletedProcess:
    return perfgate("explain", *args, timeout=120)


def test_explain_prints_the_same_table_twice_without_rerunning(run_dir):
    first, second = _explain(str(run_dir)), _explain(str(run_dir), "--stage", "fuzzy_dups")
    assert first.returncode == second.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    lines = first.stdout.splitlines()
    assert lines[0] == "fuzzy_dups (Python functions, exclusive instructions)"
    assert "rows explain 100% of the stage's +" in lines[1]
    assert "key_hash" in lines[3] and "instr" in lines[3]


def test_explain_names_what_is_missing(run_dir, tmp_path):
    unknown = _explain(str(run_dir), "--stage", "tokenize")
    assert unknown.returncode == 2 and "kept: fuzzy_dups" in unknown.stderr
    empty = _explain(str(tmp_path))
    assert empty.returncode == 2 and "attribution.json" in empty.stderr


def test_explain_holds_the_profile_against_the_run_folders_assessment(run_dir, tmp_path):
    import shutil

    row = json.loads((run_dir / "profile" / "attribution.json").read_text())["stages"][
        "fuzzy_dups"
    ]["rows"][0]
    assert row["function"] == "key_hash"
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    assessed = {"per_file": {f"lib/{row['file']}": {"cpu": False, "evidence": {}}}}
    (copy / "assessment.json").write_text(json.dumps(assessed))
    said = _explain(str(copy))
    assert said.returncode == 0, said.stderr
    line = next(x for x in said.stdout.splitlines() if "assessment vs profile:" in x)
    assert f"lib/{row['file']}: assessment said CPU: no; profile disagrees:" in line
    assert "most: key_hash +" in line
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"per_file": {f"lib/{row['file']}": {"cpu": True}}}))
    agreed = _explain(str(copy), "--assessment", str(other))
    assert "CPU: yes; profile agrees:" in agreed.stdout, agreed.stderr
    missing = _explain(str(copy), "--assessment", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "--assessment" in missing.stderr
    assert "assessment vs" not in _explain(str(run_dir)).stdout


PLANT_OLD = "    key = key_fn(item)\n"
PLANT_NEW = PLANT_OLD + "    for _ in range(40):  # planted: re-hash the routing key\n"
PLANT_NEW += "        hash(repr(key))\n"


@pytest.mark.slow
@pytest.mark.skipif(sys.version_info < (3, 12), reason="perf trampolines need Python 3.12+")
def test_gate0_keeps_the_evidence_and_names_the_planted_function(tmp_path):
    """Real gate 0 under valgrind on the sandbox with a planted re-hash in the scatter
    writer's routing (``_item_routing``): one pair, so no stage is decided and every
    stage is kept; fuzzy_dups' top row is the planted function under its Python name,
    tied to the PR's hunk, the listed rows explain >= 80% of the stage's change, the
    comment has the folded section, and explain prints it from the run folder."""
    import shutil

    if not shutil.which("valgrind"):
        pytest.skip("valgrind is not installed")
    from perfgate_lib.local import ab as local
    from perfgate_lib.local.sandbox import ZEPHYR_PKG, Change, build_sandbox, replace_once

    change = Change(
        branch="test/rehash",
        message="zephyr: re-hash each routing key",
        edits={str(ZEPHYR_PKG / "shuffle.py"): replace_once(PLANT_OLD, PLANT_NEW, "no plant site")},
    )
    box = build_sandbox(tmp_path / "repo", change)
    settings = local.Gate0Settings.load(  # stage_timeout_s: a hang guard on a loaded host
        max_pairs=1, docs=10, max_workers=1, env="kit", stage_timeout_s=1500
    )
    out = tmp_path / "ab"
    result = local.run_local_ab(
        box.path, box.base, box.head, out_dir=out, settings=settings, progress=None
    )
    assert not result.errors, result.errors
    attribution = evidence.load_attribution(out)
    assert "error" not in attribution, attribution.get("error")
    stage = attribution["stages"]["fuzzy_dups"]
    top = stage["rows"][0]
    assert (top["function"], top["file"], top["origin"]) == (
        "_item_routing",
        "zephyr/shuffle.py",
        "Zephyr",
    )
    assert top["pr"]["file"] == "lib/zephyr/src/zephyr/shuffle.py" and top["pr"]["hunk"].startswith(
        "@@"
    )
    assert stage["explained_pct"] >= 80
    assert stage["gate0_treatment"] - stage["gate0_control"] == stage["delta"]
    assert set(attribution["stages"]) == {
        "normalize",
        "minhash",
        "fuzzy_dups",
        "consolidate",
        "tokenize",
    }
    where = result.compare_context()["comment"]["where"]
    assert where["attribution"]["stages"]["fuzzy_dups"]["rows"][0]["function"] == "_item_routing"
    for pid in result.pairs[0]["pids"].values():  # the side processes' perf maps are gone
        assert not Path(f"/tmp/perf-{pid}.map").exists()
    shown = _explain(str(out), "--stage", "fuzzy_dups")
    assert shown.returncode == 0 and "_item_routing" in shown.stdout.splitlines()[3]


@pytest.mark.parametrize("name", ["../../escaped", "/abs/escaped", "..", "a\0b", "x" * 300])
def test_a_stage_name_never_leaves_the_profile_folder(tmp_path, name):
    """Gate 0's stage names come back from the side processes, which run the PR's code:
    the kept dumps and flame graphs of a stage named ``../../escaped`` (or an absolute
    path, a NUL, 300 characters) stay in the run's profile folder."""
    if name.startswith("/"):
        name = str(tmp_path / "abs" / "escaped")
    dumps = _side_files(tmp_path)
    pairs = _pairs(dumps)
    for side in ("control", "treatment"):
        pairs[0][side][name] = pairs[0][side].pop("fuzzy_dups")
    table = [{**row, "stage": name} if row["stage"] == "fuzzy_dups" else row for row in TABLE]
    out = tmp_path / "deep" / "er" / "run"
    result = evidence.keep_profiles(pairs, table, out, perf_map_dir=tmp_path / "maps")
    entry = result["stages"][name]
    written = {p for p in tmp_path.rglob("*") if p.is_file()} - {
        p for p in tmp_path.rglob("*") if p.is_file() and "deep" not in p.parts
    }
    assert written and all((out / "profile") in p.parents for p in written)
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "abs").exists()
    assert all((out / f).is_file() for f in entry["files"] + entry["flame"])


def test_stage_names_differing_only_in_case_keep_their_own_folders():
    """On a case-insensitive disk (macOS, Windows) ``shuffle`` and ``Shuffle`` would share one
    folder, the second stage's dumps over the first's: a name with a capital gets a digest."""
    names = ("shuffle", "Shuffle", "SHUFFLE", "sHuffle")
    folders = {evidence.stage_folder(name).casefold() for name in names}
    assert len(folders) == len(names)
    assert evidence.stage_folder("fuzzy_dups") == "fuzzy_dups"  # a plain name is its own


@pytest.mark.parametrize(
    "text",
    [
        "[1]",
        '{"stages": 5}',
        '{"stages": {"s": 3}}',
        '{"stages": {"s": {"rows": [5]}}}',
        '{"stages": {"s": {"rows": [{"function": "f", "listed": true}]}}}',
        '{"stages": {"s": {}}, "notes": 5}',
    ],
)
def test_explain_names_a_malformed_attribution_file(tmp_path, text):
    """An attribution.json of another shape is a usage error naming the file (exit 2), not
    a crash, nor a bare missing key ("perfgate: delta_pct")."""
    from tests.cli_helpers import perfgate_here

    path = tmp_path / "profile" / "attribution.json"
    path.parent.mkdir()
    path.write_text(text)
    code, _, err = perfgate_here("explain", str(tmp_path))
    assert code == 2 and f"{path}: malformed attribution" in err, err
