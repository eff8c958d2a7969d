"""Scope rules: which changed paths make a PR subject to the Zephyr perf gate.

The rules: ``docs/assessment.md``. Pure: paths in, :class:`Scope` out.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

ZEPHYR_SRC = "lib/zephyr/src/zephyr/"
ZEPHYR_PYPROJECT = "lib/zephyr/pyproject.toml"
ZEPHYR_TESTS = "lib/zephyr/tests/"
FRAY = "lib/fray/"
DATAKIT = {
    "lib/marin/src/marin/processing/classification/deduplication/": "dedup",
    "lib/marin/src/marin/datakit/normalize/": "normalize",
    "lib/marin/src/marin/processing/tokenize/": "tokenize",
}
DOC_SUFFIXES = (".md", ".rst")
DOC_FILES = ("lib/zephyr/AGENTS.md", "lib/zephyr/OPS.md")


class Category(StrEnum):
    """Scope categories, strongest first (a rename counts under the stronger path)."""

    ZEPHYR_SOURCE = "zephyr_source"  # gated: lib/zephyr/src/zephyr/** (non-test, non-docs)
    ZEPHYR_PACKAGE = "zephyr_package"  # gated: lib/zephyr/pyproject.toml
    FRAY = "fray"  # flagged: lib/fray/** (ask the reviewer)
    DATAKIT = "datakit"  # out of scope: dedup / normalize / tokenize (datakit canaries)
    ZEPHYR_OTHER = "zephyr_other"  # lib/zephyr/ outside src/ and pyproject.toml: noted
    ZEPHYR_TESTS = "zephyr_tests"  # out of scope: lib/zephyr/tests/** (and tests under src)
    DOCS = "docs"  # out of scope: *.md, *.rst, lib/zephyr/AGENTS.md, OPS.md
    OTHER = "other"  # everything else: out of scope


GATED = (Category.ZEPHYR_SOURCE, Category.ZEPHYR_PACKAGE)
_PRIORITY = list(Category)


def _is_test_name(path: str) -> bool:
    name = posixpath.basename(path)
    test_file = name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
    return test_file or "tests" in path.split("/")[:-1]


def classify(path: str) -> Category:
    """The category of one repository-relative POSIX path."""
    path = path.lstrip("/")
    if path in DOC_FILES or path.lower().endswith(DOC_SUFFIXES):
        return Category.DOCS
    if path == ZEPHYR_PYPROJECT:
        return Category.ZEPHYR_PACKAGE
    if path.startswith(ZEPHYR_SRC):
        if _is_test_name(path[len(ZEPHYR_SRC) :]):
            return Category.ZEPHYR_TESTS
        return Category.ZEPHYR_SOURCE
    if path.startswith(ZEPHYR_TESTS):
        return Category.ZEPHYR_TESTS
    if path.startswith("lib/zephyr/"):
        return Category.ZEPHYR_OTHER
    if path.startswith(FRAY):
        return Category.FRAY
    if datakit_area(path):
        return Category.DATAKIT
    return Category.OTHER


def classify_change(path: str, old_path: str | None = None) -> Category:
    """Category of a change; a rename counts under the stronger of its two paths."""
    cats = [classify(path)] + ([classify(old_path)] if old_path and old_path != path else [])
    return min(cats, key=_PRIORITY.index)


def datakit_area(path: str) -> str | None:
    """``dedup`` / ``normalize`` / ``tokenize`` for a datakit path, else None."""
    return next((area for prefix, area in DATAKIT.items() if path.startswith(prefix)), None)


@dataclass
class Scope:
    """The scope call for a whole diff: paths by category, reviewer flags, the reason."""

    in_scope: bool
    by_category: dict[str, list[str]] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    reason: str = ""

    def to_json(self) -> dict[str, list[str]]:
        return {c: list(paths) for c, paths in self.by_category.items() if paths}


def _count(paths: list[str], noun: str) -> str:
    return f"{len(paths)} {noun}{'' if len(paths) == 1 else 's'}"


def decide_scope(changes: Iterable[tuple[str, str | None]]) -> Scope:
    """Apply the skill's scope rules to ``(path, old_path)`` pairs of one diff."""
    by_cat: dict[str, list[str]] = {c.value: [] for c in _PRIORITY}
    for path, old_path in changes:
        by_cat[classify_change(path, old_path)].append(path)
    by_cat = {c: sorted(p) for c, p in by_cat.items() if p}
    in_scope = any(c in by_cat for c in GATED)
    flags: list[str] = []
    fray = by_cat.get(Category.FRAY, [])
    if fray:
        flags.append(
            f"lib/fray/** changed ({_count(fray, 'file')}): not auto-gated; ask the reviewer "
            "whether fray's change needs a perf gate."
        )
    datakit = by_cat.get(Category.DATAKIT, [])
    if datakit:
        areas = sorted({datakit_area(p) or "datakit" for p in datakit})
        covered = "the datakit canaries cover them"
        if in_scope:
            flags.append(
                f"datakit paths changed ({', '.join(areas)}; {_count(datakit, 'file')}): "
                f"only the Zephyr part is gated here; {covered}."
            )
        else:
            flags.append(f"datakit paths changed ({', '.join(areas)}): out of scope; {covered}.")
    other_zephyr = by_cat.get(Category.ZEPHYR_OTHER, [])
    if other_zephyr:
        flags.append(
            f"lib/zephyr files outside src/ and pyproject.toml changed "
            f"({_count(other_zephyr, 'file')}): not gated."
        )
    if in_scope:
        source = by_cat.get(Category.ZEPHYR_SOURCE)
        parts = [_count(source, "Zephyr source file")] if source else []
        parts += ["lib/zephyr/pyproject.toml"] if by_cat.get(Category.ZEPHYR_PACKAGE) else []
        reason = "in scope: " + " and ".join(parts) + " changed"
    else:
        reason = "out of scope: " + _out_of_scope_reason(by_cat)
    return Scope(in_scope=in_scope, by_category=by_cat, flags=flags, reason=reason)


def _out_of_scope_reason(by_cat: dict[str, list[str]]) -> str:
    present = set(by_cat)
    base = "no non-test, non-docs file under lib/zephyr/src/zephyr/** or lib/zephyr/pyproject.toml"
    if not present:
        return "the diff changes no files"
    kinds = {
        Category.ZEPHYR_TESTS: "test-only",
        Category.DOCS: "docs-only",
        Category.DATAKIT: "datakit-only",
        Category.FRAY: "fray-only",
    }
    if len(present) == 1 and next(iter(present)) in kinds:
        return f"{kinds[Category(next(iter(present)))]} diff ({base} changed)"
    if present <= {Category.ZEPHYR_TESTS, Category.DOCS}:
        return f"tests and docs only ({base} changed)"
    return f"{base} changed"
