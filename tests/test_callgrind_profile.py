"""Where the instructions went: dump parsing, Python names, the function delta, the PR
tie-in and the comment section, on real callgrind outputs (tests/fixtures/callgrind/,
made by make_fixtures.py: a toy stage whose treatment re-hashes every key 8 more times
in ``route``, through ``key_hash``)."""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

import pytest

from perfgate_lib.local import evidence
from perfgate_lib.local.callgrind_profile import (
    ALLOCATORS,
    OUTSIDE,
    DumpFormatError,
    Function,
    Profile,
    c_profile,
    origin_of,
    parse_dump,
    parse_perf_map,
    python_profile,
    stage_delta,
    strip_path,
)
from perfgate_lib.verdict.where import fmt_instr, where_markdown, where_text

FIXTURES = Path(__file__).parent / "fixtures" / "callgrind"
TOY = str(FIXTURES / "toy_stage.py")


def _text(name: str) -> str:
    return gzip.decompress((FIXTURES / name).read_bytes()).decode()


@functools.cache
def _profiles(view: str = "python") -> dict[str, Profile]:
    out = {}
    for side in ("control", "treatment"):
        dump = parse_dump(_text(f"{side}.callgrind.gz"), side)
        if view == "python":
            out[side] = python_profile(dump, parse_perf_map(_text(f"{side}.perf.map.gz")))
        else:
            out[side] = c_profile(dump)
    return out


def test_exclusive_counts_sum_to_the_dump_total():
    for side in ("control", "treatment"):
        dump = parse_dump(_text(f"{side}.callgrind.gz"))
        assert sum(dump.self_cost.values()) == dump.total > 0
        assert dump.pid and dump.arcs


def test_a_file_that_is_not_a_dump_is_named():
    with pytest.raises(DumpFormatError, match="notes.txt: no summary"):
        parse_dump("hello\nworld\n", "notes.txt")
    with pytest.raises(DumpFormatError, match="x.out, line 3: fn=\\(7\\) used before"):
        parse_dump("events: Ir\nsummary: 5\nfn=(7)\n1 5\n", "x.out")


def test_python_self_counts_sum_to_the_stage_count_gate0_reports():
    """Each side's Python rows (allocators taken out in one row) sum to the count the
    side printed, which is the dump total less the allocators (toy_stage.py's count)."""
    for side, profile in _profiles().items():
        dump = parse_dump(_text(f"{side}.callgrind.gz"))
        assert sum(profile.self_cost.values()) == profile.total
        allocators = -profile.self_cost[Function(ALLOCATORS, "", "system", False)]
        assert profile.total == dump.total - allocators and allocators > 0
        names = {f.name for f in profile.self_cost}
        assert {"route", "key_hash", "normalize", "shard"} <= names


def test_the_planted_function_is_the_top_row_and_the_rows_explain_the_change():
    delta = stage_delta("toy", *_profiles().values())
    top = delta.top()
    assert top[0].function.name == "key_hash" and top[0].function.python
    assert top[1].function.name == "route"
    assert delta.delta == delta.treatment_total - delta.control_total > 0
    assert delta.explained_pct == pytest.approx(100.0, abs=0.5)
    assert sum(r.delta for r in delta.rows) == delta.delta  # exact: self counts sum


def test_the_c_view_is_the_fallback_and_says_so():
    delta = stage_delta("toy", *_profiles("c").values())
    assert delta.view == "c"
    assert any("C names only" in n for n in delta.notes)
    assert all(not r.function.python for r in delta.rows)
    assert sum(r.delta for r in delta.rows) + _dropped(delta) == delta.delta


def _dropped(delta) -> int:
    import re

    notes = [n for n in delta.notes if "denoise" in n]
    return (
        int(re.search(r"\(([-+][\d,]+) instructions", notes[0]).group(1).replace(",", ""))
        if notes
        else 0
    )


def test_per_side_paths_cancel_like_cg_diff_mod_filename():
    a = "/tmp/perfgate-local-ab-x1/control/lib/zephyr/src/zephyr/shuffle.py"
    b = "/tmp/perfgate-local-ab-y2/treatment/lib/zephyr/src/zephyr/shuffle.py"
    assert strip_path(a) == strip_path(b) == "zephyr/shuffle.py"
    assert strip_path("/v/.venv/lib/python3.12/site-packages/fray/actor.py") == "fray/actor.py"
    assert strip_path("/root/.pyenv/versions/3.12.1/lib/python3.12/json/decoder.py") == (
        "<stdlib>/json/decoder.py"
    )
    assert strip_path("/w/t/x.py", roots=("/w/t",)) == "x.py"


@pytest.mark.parametrize(
    ("file", "python", "origin"),
    [
        ("zephyr/shuffle.py", True, "Zephyr"),
        ("fray/local_backend.py", True, "marin library"),
        ("polars/dataframe/frame.py", True, "third-party"),
        ("<stdlib>/json/decoder.py", True, "CPython"),
        ("/x/perfgate_lib/local/ferry_pipeline.py", True, "mini ferry"),
        ("/root/.pyenv/versions/3.12.1/lib/libpython3.12.so.1.0", False, "CPython"),
        ("/usr/lib/x86_64-linux-gnu/libc.so.6", False, "system"),
        ("/v/site-packages/polars/_polars_runtime.abi3.so", False, "third-party"),
    ],
)
def test_each_function_gets_an_origin(file, python, origin):
    assert origin_of(file, python) == origin


def test_perf_map_addresses_resolve_inside_a_trampoline_only():
    perf_map = parse_perf_map("1000 b py::f:/a.py\n100b b py::g:/b.py\nnot a line\n")
    assert perf_map.name_at(0x1000) == perf_map.name_at(0x100A) == "py::f:/a.py"
    assert perf_map.name_at(0x100B) == "py::g:/b.py"
    assert perf_map.name_at(0x1016) is None and perf_map.name_at(0xFFF) is None


def test_functions_that_appear_or_vanish_are_listed_beyond_the_top_n():
    f = {n: Function(n, "zephyr/x.py", "Zephyr", True) for n in "abcdef"}
    control = Profile(100, {f["a"]: 50, f["b"]: 30, f["c"]: 20}, "python")
    treatment = Profile(130, {f["a"]: 90, f["b"]: 30, f["d"]: 9, f["e"]: 1}, "python")
    delta = stage_delta("s", control, treatment, top_n=1)
    listed = [(r.function.name, r.status) for r in delta.top()]
    assert listed == [("a", "changed"), ("c", "vanishes"), ("d", "appears"), ("e", "appears")]
    assert delta.explained_pct == pytest.approx(100.0 * (40 - 20 + 9 + 1) / 30)


def test_stages_and_the_representative_pair():
    table = [
        {"stage": "a", "call": "pass", "ratio": 1.0},
        {"stage": "b", "call": "fail", "ratio": 1.5},
    ]
    assert evidence.stages_to_keep(table) == ["b"]
    assert evidence.stages_to_keep(table, "all") == ["a", "b"]
    with pytest.raises(ValueError, match="profile mode 'some'"):
        evidence.stages_to_keep(table, "some")
    pairs = [
        {"pair": n, "control": {"b": {"instructions": 100, "callgrind_dump": "c"}},
         "treatment": {"b": {"instructions": t, "callgrind_dump": "t"}}}
        for n, t in ((1, 160), (2, 149), (3, 140))
    ]  # fmt: skip
    assert evidence.representative_pair(pairs, "b", 1.5) == 1
    assert evidence.representative_pair(pairs, "a", 1.0) is None


DIFF = """diff --git a/lib/zephyr/src/zephyr/shuffle.py b/lib/zephyr/src/zephyr/shuffle.py
index 1111111..2222222 100644
--- a/lib/zephyr/src/zephyr/shuffle.py
+++ b/lib/zephyr/src/zephyr/shuffle.py
@@ -5,0 +6,2 @@ class ScatterWriter:
+        for _ in range(3):
+            rehash(key)
"""
SOURCE = """class ScatterWriter:
    def write(self, item):
        key = item
        if key:
            pass
        for _ in range(3):
            rehash(key)
        return key

    def close(self):
        return None
"""


def test_rows_defined_in_a_changed_file_name_the_hunk():
    hunks = evidence.parse_hunks(DIFF)
    path = "lib/zephyr/src/zephyr/shuffle.py"
    assert [h.header for h in hunks[path]] == ["@@ -5,0 +6,2 @@"]
    rows = stage_delta(
        "s",
        Profile(10, {Function("ScatterWriter.write", "zephyr/shuffle.py", "Zephyr", True): 5,
                     Function("ScatterWriter.close", "zephyr/shuffle.py", "Zephyr", True): 5}),
        Profile(19, {Function("ScatterWriter.write", "zephyr/shuffle.py", "Zephyr", True): 15,
                     Function("ScatterWriter.close", "zephyr/shuffle.py", "Zephyr", True): 4}),
    ).rows  # fmt: skip
    ties = evidence.pr_ties(rows, hunks, {"treatment": {path: SOURCE}})
    assert ties[0] == {"file": path, "hunk": "@@ -5,0 +6,2 @@"}  # write: lines 2-8
    assert ties[1] == {"file": path, "hunk": ""}  # close: same file, no hunk of its own


def _attribution(function: str = "key_hash") -> dict:
    delta = stage_delta("fuzzy_dups", *_profiles().values())
    entry = evidence.delta_json(delta, {})
    entry.update({"pair": 3, "pair_ratio": 5.75, "estimate": 5.7, "files": []})
    entry["rows"][0]["function"] = function
    return {"schema": 1, "stages": {"fuzzy_dups": entry}, "notes": []}


def test_the_comment_section_is_folded_reconciled_and_escapes_names():
    hostile = "key_hash`|<!-- x -->[a](http://e)\n| row |"
    body = where_markdown(_attribution(hostile))
    assert body.startswith("<details><summary>Where the instructions went (fuzzy\\_dups +")
    assert body.rstrip().endswith("</details>")
    assert "<!--" not in body and "\n| row |" not in body
    table = [line for line in body.splitlines() if line.startswith("| +") or line.startswith("| -")]
    assert 0 < len(table) <= 15
    assert "rows explain 100% of the stage's +" in body


def test_the_comment_section_fits_its_byte_budget():
    attribution = _attribution()
    full = where_markdown(attribution, max_bytes=100_000)
    small = where_markdown(attribution, max_bytes=len(full.encode()) - 300)
    assert len(small.encode()) <= len(full.encode()) - 300
    assert small.count("\n| ") < full.count("\n| ")


def test_terminal_text_shows_no_escape_sequences():
    text = where_text(_attribution("evil\x1b[2J"), "fuzzy_dups")
    assert "\x1b" not in text and "evil?[2J" in text
    with pytest.raises(KeyError, match="kept: fuzzy_dups"):
        where_text(_attribution(), "tokenize")


def test_instruction_counts_say_their_unit():
    assert fmt_instr(257_500_000) == "257.5M instr"
    assert fmt_instr(-1_200) == "-1.2K instr"
    assert fmt_instr(950) == "950 instr"


def test_outside_python_is_a_row_of_its_own():
    profile = _profiles()["control"]
    assert Function(OUTSIDE, "", "CPython", False) in profile.self_cost


def test_calls_deeper_than_the_caller_chain_are_taken_out_once_in_their_own_row():
    """A Python call whose C caller chain is longer than callgrind recorded has an unknown
    Python caller: its cost is in that caller's row and in its own. One labelled row
    takes it out once; "(outside Python)" stays what it says (not negative)."""
    from perfgate_lib.local.callgrind_client import CALLER_CHAIN
    from perfgate_lib.local.callgrind_profile import UNATTRIBUTED, Dump

    outer, inner = ("py", "0x1000"), ("py", "0x2000")
    deep = ("libpython", "py_trampoline_evaluator" + "'c" * CALLER_CHAIN)
    dump = Dump(
        total=100,
        self_cost={("main", "main"): 10, outer: 30, deep: 20, inner: 40},
        arcs={
            (("main", "main"), outer): (1, 90),  # outer: 30 own + 20 in C + inner's 40
            (outer, deep): (1, 60),
            (deep, inner): (1, 40),  # inner's Python caller is past the recorded chain
        },
    )
    perf_map = parse_perf_map("1000 10 py::outer:/x/a.py\n2000 10 py::inner:/x/a.py\n")
    profile = python_profile(dump, perf_map)
    rows = {f.name: cost for f, cost in profile.self_cost.items()}
    assert rows[OUTSIDE] == 10  # main's own instructions
    assert rows["inner"] == 40 and rows["outer"] == 90  # outer keeps the deeper call
    assert rows[UNATTRIBUTED] == -40
    assert sum(profile.self_cost.values()) == profile.total == 100
    assert "40 instructions" in profile.notes[0]
    both = stage_delta("s", profile, profile)
    assert [n.split(":")[0] for n in both.notes] == ["control", "treatment"]


def _stage_entry() -> dict:
    row = {"origin": "Zephyr", "python": True, "status": "changed", "listed": True, "pr": None}
    return {
        "stage": "fuzzy_dups",
        "view": "python",
        "control_total": 1_000_000,
        "treatment_total": 1_200_000,
        "delta": 200_000,
        "delta_pct": 20.0,
        "listed": 3,
        "explained_pct": 100.0,
        "notes": [],
        "pair": 1,
        "pair_ratio": 1.2,
        "estimate": 1.2,
        "rows": [
            {**row, "function": "_item_routing", "file": "zephyr/shuffle.py",
             "control": 10_000, "treatment": 205_000, "delta": 195_000},
            {**row, "function": "Writer.close", "file": "zephyr/shuffle.py",
             "control": 5_000, "treatment": 4_000, "delta": -1_000},
            {**row, "function": "plan", "file": "zephyr/plan.py",
             "control": 20_000, "treatment": 26_000, "delta": 6_000},
        ],
    }  # fmt: skip


def test_the_profile_is_held_against_the_assessments_cpu_answers():
    from perfgate_lib.verdict.where import agreement, where_markdown

    per_file = {
        "lib/zephyr/src/zephyr/shuffle.py": {
            "cpu": True,
            "evidence": {"cpu": ["hot loop in `_item_routing` re-hashes keys"]},
        },
        "lib/zephyr/src/zephyr/plan.py": {"cpu": False, "evidence": {}},
        "lib/zephyr/src/zephyr/readers.py": {"cpu": True, "evidence": {"cpu": []}},
        "docs/zephyr.md": {"cpu": False},
    }
    items = {i["file"].rsplit("/", 1)[-1]: i for i in agreement(_stage_entry(), per_file)}
    assert set(items) == {"shuffle.py", "plan.py", "readers.py"}  # Python files only
    shuffle, plan, readers = items["shuffle.py"], items["plan.py"], items["readers.py"]
    assert (shuffle["status"], shuffle["delta"], shuffle["pct_of_stage"]) == (
        "agrees",
        194_000,
        19.4,
    )
    assert shuffle["top"]["function"] == "_item_routing"
    assert shuffle["named"] == [{"function": "_item_routing", "delta": 195_000}]
    # 6,000 of 1,000,000 control instructions is 0.6%: under the 1% line, so unchanged
    assert (plan["status"], plan["pct_of_stage"]) == ("agrees", 0.6)
    assert (readers["status"], readers["functions"]) == ("not seen", 0)
    entry = _stage_entry()
    entry["rows"][2]["delta"] = 30_000
    flipped = {i["file"]: i for i in agreement(entry, per_file)}
    assert flipped["lib/zephyr/src/zephyr/plan.py"]["status"] == "disagrees"

    body = where_markdown({"stages": {"fuzzy_dups": _stage_entry()}}, per_file=per_file)
    lines = [line for line in body.splitlines() if line.startswith("- `lib/zephyr")]
    assert len(lines) == 3
    assert lines[0].startswith("- `lib/zephyr/src/zephyr/plan.py`: assessment said CPU: no;")
    assert "profile agrees: its 1 function +6.0K instr, +0.60% of the stage's control" in lines[0]
    assert "profile not seen: no function of it ran in this stage" in lines[1]
    assert "said CPU: yes (hot loop in &#96;\\_item\\_routing&#96; re-hashes keys)" in lines[2]
    assert "profile agrees: its 2 functions +194.0K instr, +19.40% of the stage's" in lines[2]
    plain = where_text({"stages": {"fuzzy_dups": _stage_entry()}}, per_file=per_file)
    assert plain.count("assessment vs profile:") == 3
    assert where_markdown({"stages": {"fuzzy_dups": _stage_entry()}}).count("Assessment vs") == 0


def test_the_section_travels_as_facts_and_renders_as_from_the_whole_profile():
    """compare_context.json carries ``comment.where`` (no markdown): the listed rows and
    the rows of assessed files, which render the same section as the whole attribution;
    names from the code under test are escaped when the comment is rendered."""
    import json
    from dataclasses import asdict

    from perfgate_lib.errors import UsageError
    from perfgate_lib.verdict.compare import split_context
    from perfgate_lib.verdict.where import read_where

    per_file = {"lib/zephyr/src/zephyr/plan.py": {"cpu": False, "summary": "x"}}
    for attribution, answers in [
        ({"stages": {"fuzzy_dups": _stage_entry()}}, per_file),
        (_attribution("key_hash`|<!-- x -->"), {}),
    ]:
        facts = read_where(attribution, answers, "attribution.json")
        travelled = json.loads(json.dumps({"comment": {"where": asdict(facts)}}))
        _, extras, _ = split_context(travelled)
        assert extras.where is not None
        rendered = where_markdown(extras.where.attribution, per_file=extras.where.per_file)
        assert rendered == where_markdown(attribution, per_file=answers)
        assert "<!--" not in rendered
    unlisted = _stage_entry()
    unlisted["rows"] = [{**row, "listed": False} for row in unlisted["rows"]]
    kept = read_where({"stages": {"fuzzy_dups": unlisted}}, per_file, "a.json")
    assert [r["function"] for r in kept.attribution["stages"]["fuzzy_dups"]["rows"]] == ["plan"]
    assert kept.per_file == {
        "lib/zephyr/src/zephyr/plan.py": {"cpu": False, "evidence": {"cpu": []}}
    }
    broken = {"stages": {"fuzzy_dups": {**_stage_entry(), "delta": "lots"}}}
    with pytest.raises(UsageError, match="^a.json: attribution.stages.fuzzy_dups.delta: "):
        read_where(broken, {}, "a.json")


def test_equal_deltas_list_in_one_order_whatever_the_hash_seed():
    """Rows whose |Δ|, name and file tie are ordered by origin too, so the table (and the
    comment quoting it) is the same on every run, not in the set's hash order."""
    same = [Function("run", "zephyr/plan.py", f"origin-{i:02d}", True) for i in range(20)]
    control = Profile(total=0, self_cost=dict.fromkeys(reversed(same), 0))
    treatment = Profile(total=100, self_cost=dict.fromkeys(same, 5))
    rows = stage_delta("map", control, treatment).rows
    assert [r.function.origin for r in rows] == [f.origin for f in same]
