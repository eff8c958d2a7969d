"""Which of a ferry's datakit steps did not finish, per lineage (``docs/verdict-rules.md``,
"Steps that did not finish"). Pure: the tree is ``JobState.to_json()`` mappings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from perfgate_lib.runners.base import normalise_state
from perfgate_lib.verdict import lineage as lineages
from perfgate_lib.verdict.report import PerfReport

# stage -> name prefixes of its direct child jobs (marin's collector, checked 2026-12)
STEP_PREFIXES: dict[str, tuple[str, ...]] = {
    "download": ("zephyr-download-hf-",),
    "normalize": ("zephyr-normalize-",),
    "minhash": ("zephyr-minhash-attrs-",),
    "fuzzy_dups": ("zephyr-fuzzy-dups-",),
    "consolidate": ("zephyr-consolidate-filter-",),
    "tokenize": (
        "zephyr-tokenize-train-",
        "zephyr-levanter-cache-copy-",
        "zephyr-levanter-cache-probe-",
    ),
}


def _parts(job_id: str) -> list[str]:
    return [p for p in str(job_id).strip().split("/") if p]


def direct_children(root: str, tree: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Entries of ``tree`` one level below ``root`` (either job id shape)."""
    base = _parts(root)
    if not base:
        return []
    return [e for e in tree if _parts(e.get("job_id", ""))[:-1] == base]


def step_of(name: str) -> tuple[str, str] | None:
    """(stage, prefix) a child job name belongs to, else None."""
    return next(((s, p) for s, ps in STEP_PREFIXES.items() for p in ps if name.startswith(p)), None)


def unfinished_steps(
    root: str, tree: Iterable[Mapping[str, Any]], report: PerfReport | None = None
) -> dict[str, str]:
    """stage -> note for every treatment step that did not finish: from the tree, and from
    ``report`` when given (step-log lineage); a step both name keeps the tree's note."""
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for entry in direct_children(root, tree):
        name = _parts(entry.get("job_id", ""))[-1]
        found = step_of(name)
        if found is not None:
            groups.setdefault(found, []).append((name, normalise_state(entry.get("state"))))
    tree_notes: dict[str, str] = {}
    for (stage, _prefix), jobs in groups.items():
        if stage in tree_notes or any(state == "succeeded" for _name, state in jobs):
            continue
        listed = ", ".join(f"{name} {state}" for name, state in sorted(jobs))
        tree_notes[stage] = f"child job {listed}"
    out = lineages.missing_steps(report) if report is not None else {}
    return {**out, **tree_notes}
