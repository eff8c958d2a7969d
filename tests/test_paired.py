"""Paired statistics: the signed-rank interval's order statistic, HL estimate, band calls."""

from __future__ import annotations

import json
import math

import pytest

from perfgate_lib.errors import UsageError
from perfgate_lib.verdict.paired import (
    Interval,
    StageInterval,
    band_call,
    could_fail,
    paired_interval,
    signed_rank_k,
)


@pytest.mark.parametrize(
    ("n", "k"),
    # Two-sided 5% critical values of Wilcoxon's signed-rank T (published tables) plus one.
    [(5, 0), (6, 1), (7, 3), (8, 4), (9, 6), (10, 9), (12, 14), (15, 26), (20, 53)],
)
def test_order_statistic_matches_the_published_signed_rank_table(n, k):
    assert signed_rank_k(n, 0.95) == k


def test_too_few_pairs_give_an_unbounded_interval_that_is_undecided():
    interval = paired_interval([1.0] * 5, [3.0] * 5)
    assert interval.ratio == pytest.approx(3.0)
    assert not interval.bounded and math.isinf(interval.high_pct)
    assert band_call(interval, 5, 10) == "undecided" and could_fail(interval, 10)


def test_hodges_lehmann_ratio_and_interval_of_known_pairs():
    control = [1.0] * 6
    treatment = [1.10, 1.20, 1.30, 1.25, 1.15, 1.05]
    interval = paired_interval(control, treatment)
    # k = 1 at n = 6: the extremes of the Walsh averages are the extremes of the values
    assert interval.low == pytest.approx(1.05) and interval.high == pytest.approx(1.30)
    # the median of the Walsh averages of the logs lies between the two middle values
    assert 1.15 < interval.ratio < 1.20
    assert interval.text() == f"×{interval.ratio:.2f} [1.05, 1.30], 6 pairs"
    with pytest.raises(ValueError, match="unpaired"):
        paired_interval([1.0], [1.0, 2.0])


@pytest.mark.parametrize(
    ("control", "treatment", "call"),
    [
        ([1e10] * 8, [1e-320] * 8, "pass"),  # their quotient is below the smallest float
        ([1] * 8, [10**400] * 8, "fail"),  # whole counts past the largest float
        ([1e-300, 1e300] * 4, [1e300, 1e-300] * 4, "undecided"),
    ],
)
def test_pairs_of_extreme_values_give_an_interval_never_a_math_error(control, treatment, call):
    interval = paired_interval(control, treatment)
    assert interval.pairs == 8
    assert band_call(interval, 5, 10) == call


@pytest.mark.parametrize(
    ("low", "high", "call"),
    [
        (0.95, 1.05, "pass"),  # +5.0% belongs to the pass band
        (1.051, 1.10, "warn"),  # wholly in (+5%, +10%]
        (1.101, 1.30, "fail"),  # wholly above +10%
        (1.04, 1.06, "undecided"),  # straddles +5%
        (1.08, 1.12, "undecided"),  # straddles +10%
        (0.80, 0.90, "pass"),  # an improvement
    ],
)
def test_bands_apply_to_the_interval_not_to_a_point(low, high, call):
    interval = Interval((low + high) / 2, low, high, 8, 0.95)
    assert band_call(interval, 5.0, 10.0) == call


# --- what gate 0 hands the verdict rules: typed, read back with the field named ---------
FUZZY = StageInterval(
    pct=79.4, low_pct=78.9, high_pct=80.1, pairs=6, call="fail", metric="instructions",
    confidence=0.95, text="×1.79 [1.79, 1.80], 6 pairs",
)  # fmt: skip


def test_a_stage_interval_survives_compare_context_json():
    unbounded = StageInterval(pct=3.0, low_pct=-100.0, high_pct=math.inf, pairs=5, call="undecided")
    for interval in (FUZZY, unbounded):
        text = json.dumps(interval.to_json())
        assert StageInterval.from_json(json.loads(text), "x") == interval


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"pct": "79.4"}, "ctx.json: intervals.fuzzy_dups.pct: input should be a valid number"),
        ({"pairs": True}, "ctx.json: intervals.fuzzy_dups.pairs: input should be a valid integer"),
        ({"call": "PASS"}, "ctx.json: intervals.fuzzy_dups.call: input should be 'pass', 'warn'"),
        ({"confidence": "high"}, "ctx.json: intervals.fuzzy_dups.confidence: input should be a"),
        ({"verdict": "pass"}, "ctx.json: intervals.fuzzy_dups.verdict: unknown key"),
        ({"pairs": None}, "ctx.json: intervals.fuzzy_dups.pairs: input should be a valid integer"),
        ({"pct": math.nan}, "ctx.json: intervals.fuzzy_dups.pct: value error, expected a number"),
        ({"low_pct": math.nan}, "ctx.json: intervals.fuzzy_dups.low_pct: value error, expected"),
        ({"high_pct": math.nan}, "ctx.json: intervals.fuzzy_dups.high_pct: value error, expected"),
    ],
)
def test_a_bad_interval_names_its_file_entry_and_key(change, named):
    from perfgate_lib.verdict.rules import GateContext

    data = {"intervals": {"fuzzy_dups": {**FUZZY.to_json(), **change}}}
    with pytest.raises(UsageError) as info:
        GateContext.from_dict(data, "ctx.json")
    assert str(info.value).startswith(named)


def test_the_rules_get_typed_intervals():
    from perfgate_lib.verdict.rules import GateContext

    ctx = GateContext.from_dict({"intervals": {"fuzzy_dups": FUZZY.to_json()}}, "ctx.json")
    assert ctx.intervals == {"fuzzy_dups": FUZZY}
    assert not FUZZY.shows_no_change and FUZZY.metric_words == "instruction counts"


def test_measured_survives_json_and_a_bad_one_names_its_key():
    from perfgate_lib.verdict.measured import Measured

    measured = Measured("instructions", {"fuzzy_dups": (1.0e9, 1.8e9), "total": (3, 4)})
    assert Measured.from_json(json.loads(json.dumps(measured.to_json()))) == measured
    bad_figure = {"metric": "cpu", "rows": {"total": {"baseline": 1.0, "treatment": "2"}}}
    with pytest.raises(UsageError, match=r"^context.measured: rows.total.treatment: input sh"):
        Measured.from_json(bad_figure)
    with pytest.raises(UsageError, match=r"^context.measured: metric: input should be 'instr"):
        Measured.from_json({"metric": "ops"})
    with pytest.raises(UsageError, match=r"^context.measured: rows.total.seconds: unknown key"):
        Measured.from_json(
            {"metric": "cpu", "rows": {"total": {"baseline": 1, "treatment": 2, "seconds": 1}}}
        )


@pytest.mark.parametrize("figure", [math.inf, -math.inf, math.nan, -1.0])
def test_a_measured_figure_that_is_not_finite_or_is_negative_names_its_key(figure):
    from perfgate_lib.verdict.measured import Measured

    bad = {"metric": "instructions", "rows": {"total": {"baseline": 1.0, "treatment": figure}}}
    with pytest.raises(UsageError, match=r"^context.measured: rows.total.treatment: "):
        Measured.from_json(bad)


def test_the_comparison_reads_gate0s_context_typed_and_names_a_bad_comment_key():
    from perfgate_lib.verdict.compare import split_context

    context = {
        "intervals": {"fuzzy_dups": FUZZY.to_json()},
        "measured": {"metric": "cpu", "rows": {"fuzzy_dups": {"baseline": 1, "treatment": 2}}},
        "comment": {"title": "Gate 0", "tier_name": "local"},
    }
    ctx, extras, tier = split_context(json.dumps(context))
    assert ctx == {"intervals": {"fuzzy_dups": FUZZY.to_json()}} and tier == "local"
    assert extras.sections == [] and extras.title == "Gate 0"
    assert extras.measured is not None and extras.measured.rows == {"fuzzy_dups": (1.0, 2.0)}
    for comment, named in [
        ({"titel": "x"}, "context.comment: titel: unknown key"),
        ({"stage_context": ["a"]}, "context.comment: stage_context: input should be a valid"),
        # markdown shown as it is never comes from a file: only the rendering process sets it
        (
            {"sections": [["### Hi", "<!-- zephyr-perf-gate -->"]]},
            "context.comment: sections: unknown key",
        ),
        ({"top_notes": ["**pass**"]}, "context.comment: top_notes: unknown key"),
    ]:
        with pytest.raises(UsageError) as info:
            split_context({"comment": comment})
        assert str(info.value).startswith(named), str(info.value)
