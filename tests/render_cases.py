"""Shared inputs for the comment tests: the bundled tier-1 pair with a pinned clock."""

from __future__ import annotations

from perfgate_lib.verdict.report import load_report
from perfgate_lib.verdict.rules import GateContext, decide
from perfgate_lib.verdict.thresholds import PARAMETERS_DIR, load_thresholds

EXAMPLES = PARAMETERS_DIR / "examples"
ASSESSMENT = {
    "max_gate": "3",
    "rationale": "minhash.py: hashing loop changed (CPU)",
    "per_file": {
        "lib/zephyr/src/zephyr/shuffle.py": {
            "trivial": False,
            "shuffle": True,
            "memory": False,
            "cpu": True,
            "design": False,
            "summary": "scatter hashing loop rewritten",
            "evidence": {
                "trivial": ["the AST changed in `_route` (hunk @@ -40,7 +40,9 @@)"],
                "shuffle": ["shuffle.py is the scatter pipeline; `_route` hashing changed"],
                "cpu": ["hot loop in `_route` changed"],
            },
        }
    },
    "flags": [],
}
CONTEXT = GateContext(
    gate=1,
    treatment_ferry_module="experiments.ferries.datakit_ferry",
    baseline={
        "source": "actions",
        "run_id": "19876543210",
        "run_url": "https://github.com/marin-community/marin/actions/runs/19876543210",
        "created_at": "2026-11-27T06:30:12Z",
    },
    now="2026-11-27T11:30:12+00:00",
)


def example_pair():
    base = load_report(str(EXAMPLES / "tier1_baseline.json"))
    treat = load_report(str(EXAMPLES / "tier1_treatment.json"))
    return base, treat, decide(base, treat, load_thresholds(), CONTEXT)


TIER = "smoke"

# verdict.json keys design.md fixes (stable; more may be added)
DESIGN_VERDICT_KEYS = frozenset(
    {
        "schema",
        "gate",
        "verdict",
        "hard_fails",
        "warns",
        "inconclusive_reasons",
        "signals",
        "stages",
        "self_check",
        "baseline",
        "treatment",
    }
)
