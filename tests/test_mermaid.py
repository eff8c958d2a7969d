"""Mermaid stage chart labels keep their text, and distinct stages keep distinct labels."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from perfgate_lib.verdict.render import MAX_LABEL, labels, stage_xychart
from perfgate_lib.verdict.rules import StageRow, Verdict

UNSAFE = re.compile(r'["`;<>&#\\]|[\x00-\x1f\x7f]')


def _verdict(names: list[str]) -> Verdict:
    rows = [StageRow(n, 10.0, 11.0, 10.0, "pass", "") for n in names]
    return Verdict(1, "pass", [], [], [], [], rows, [], {}, {})


def test_unicode_and_punctuation_survive():
    """The issue's case: ``ünï✓段`` became ``_n___`` on main."""
    block = stage_xychart(_verdict(["ünï✓段", "fuzzy_dups", "a.b:c/d+e-f"]))
    assert '"ünï✓段"' in block and '"fuzzy_dups"' in block and '"a.b:c/d+e-f"' in block


def test_quotes_and_fence_breakers_are_entity_codes():
    (quote, tick, newline) = labels(['say "hi"', "x```y", "a\nb"])
    assert quote == "say #34;hi#34;" and tick == "x#96;#96;#96;y" and newline == "a#10;b"


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.lists(st.text(min_size=0, max_size=30), min_size=1, max_size=12, unique=True))
def test_distinct_stages_keep_distinct_safe_labels(names):
    got = labels(names)
    assert len(set(got)) == len(got) == len(names)
    for label in got:
        assert not UNSAFE.search(re.sub(r"#\d+;", "", label)), label
    block = stage_xychart(_verdict(names))
    axis = next(line for line in block.splitlines() if "x-axis" in line)
    assert axis.count('"') == 2 * len(names)
    assert all(
        len(name.strip()) <= MAX_LABEL or "…" in label
        for name, label in zip(names, got, strict=True)
    )
