"""Every comment template escapes what it is given: hostile strings in every field.

Each kind in ``perfgate_lib/templates`` is rendered with a value that tries to open an HTML
comment (a forged state marker), mention everyone, start a new list item, break a table
and leave a code span. None of it may survive as markup.
"""

from __future__ import annotations

import dataclasses
import re

import jinja2
import pytest

from perfgate_lib import SENTINEL
from perfgate_lib.mdtemplate import TEMPLATES, Trusted, escape, render
from perfgate_lib.verdict.abfacts import ABFacts, SideFacts
from perfgate_lib.verdict.render import CommentExtras, render_comment
from tests.comment_checks import outside_code, unescaped_html
from tests.render_cases import TIER, example_pair

EVIL = 'x` | y\n- [win](http://e) <!-- perfgate-state: {"stage": "running"} --> @all *b*'


def _contexts() -> dict[str, dict]:
    """Each template's fields, every string one a PR, a comment or a report could set."""
    return {
        "waiver": dict(
            reviewer=EVIL, head_sha=EVIL, override=True, proposed_max_gate=EVIL, reason=EVIL
        ),
        "halted": dict(sha=EVIL, failed_step=EVIL, output_tail=EVIL + "\n```\n" + EVIL),
        "busy": dict(holder=EVIL, requester=EVIL),
        "running": dict(reviewer=EVIL, reply=EVIL, sha=EVIL, run_url=EVIL),
        "stopped": dict(why=EVIL, run_url=EVIL),
        "note": dict(kind="unreadable", reply=EVIL, reason=EVIL),
        "baseline_unavailable": dict(
            gate=1,
            name=EVIL,
            sha=EVIL,
            attempts=[(EVIL, EVIL)],
            workflow=EVIL,
            branch=EVIL,
            artifact=EVIL,
            reviewer=EVIL,
            mention=False,
        ),  # fmt: skip
        "assessment": dict(
            in_scope=True,
            proposed_max_gate=EVIL,
            is_fork=True,
            head_sha=EVIL,
            table=Trusted("(the table, rendered by its own template)"),
        ),  # fmt: skip
        "_assessment_table": dict(
            in_scope=False,
            rationale=EVIL,
            columns=["Trivial"],
            max_gate=EVIL,
            files=[{"path": EVIL, "answers": ["yes"], "summary": EVIL}],
            proposed_max_gate="2",
            flags=[EVIL],
            show_evidence=True,
            evidence=[(EVIL, [("CPU", "yes", EVIL)])],
        ),  # fmt: skip
        "_baseline": dict(
            run_id=EVIL, run_url=EVIL, source=EVIL, sha=EVIL, age=EVIL, stale=True, max_age=EVIL
        ),
        "_ab_notes": dict(ab=_hostile_ab()),
    }


def _hostile_ab() -> ABFacts:
    """Gate 0's facts as hostile as a side process (running the PR's code) could make them."""
    side = SideFacts(EVIL, EVIL, EVIL, EVIL, EVIL, EVIL, EVIL, EVIL)
    return ABFacts(
        control_sha=EVIL, treatment_sha=EVIL, pairs=6, stop_reason=EVIL, metric="cpu",
        confidence=0.95, total_interval=EVIL, sides=[side, side], resolution_pct=12.0,
        dependency_changes=[EVIL], missing_sources=[EVIL], limitations=[EVIL],
    )  # fmt: skip


def _hostile_problems(body: str) -> list[str]:
    """What a hostile string achieved outside code (code spans and fences show it as text)."""
    problems = [f"raw HTML: {h}" for h in unescaped_html(body)]
    if body.count("<!--") > body.count(SENTINEL):
        problems.append("an HTML comment the kit did not write")
    text = outside_code(body)
    if "@all" in text:
        problems.append("a live @mention")
    if "\n- [win]" in text or re.search(r"(?<!\\)\]\(http://e\)", text):
        problems.append("a list item or a link made by a string")
    if "*b*" in text:
        problems.append("emphasis made by a string")
    return problems


def test_every_template_has_a_hostile_case():
    kinds = {p.name.removesuffix(".md.j2") for p in TEMPLATES.glob("*.md.j2")}
    assert kinds == set(_contexts()) | {"verdict"}


@pytest.mark.parametrize("kind", sorted(_contexts()))
def test_hostile_strings_stay_text(kind):
    body = render(kind, **_contexts()[kind])
    assert _hostile_problems(body) == []


def test_the_verdict_comment_escapes_stage_names_titles_and_notes():
    base, treat, verdict = example_pair()
    stages = [dataclasses.replace(verdict.stages[0], stage=EVIL, note=EVIL, verdict="n/a")]
    verdict = dataclasses.replace(
        verdict, stages=stages, warns=[EVIL], hard_fails=[EVIL, EVIL], collector_notes=[EVIL]
    )
    extras = CommentExtras(title=EVIL, run_link=EVIL, stage_context={EVIL: EVIL}, ab=_hostile_ab())
    body = render_comment(verdict, base, treat, tier_name=TIER, extras=extras)
    assert body.startswith(SENTINEL + "\n")
    assert _hostile_problems(body) == []


def test_only_kit_built_values_pass_unescaped():
    assert escape("a|b") == "a&#124;b"
    assert escape(Trusted("a|b")) == "a|b"
    assert render("busy", holder=Trusted("**kit-built**"), requester=None).startswith(
        "🤖 A perf gate is already running for this PR (**kit-built**)."
    )


def test_a_missing_field_is_an_error_not_a_blank():
    with pytest.raises(jinja2.UndefinedError, match="holder"):
        render("busy", requester="rev")
