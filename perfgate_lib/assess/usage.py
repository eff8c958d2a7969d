"""The callers rule for new code (unused definitions) and removed module-level names."""

from __future__ import annotations

import ast
from collections.abc import Mapping

from perfgate_lib.assess.astdiff import Symbol, definitions, line_span
from perfgate_lib.assess.callers import module_bindings
from perfgate_lib.assess.scope import Category, classify


def added_definitions(
    base: ast.Module | None, head: ast.Module | None, moved: set[str]
) -> dict[str, Symbol]:
    """Definitions in ``head`` and not in ``base`` that did not move here."""
    before = definitions(base)
    return {q: s for q, s in definitions(head).items() if q not in before and q not in moved}


def short_names(qualname: str) -> list[str]:
    """The names a definition binds (``Cls.method`` -> ``method``; ``A,B`` -> both)."""
    return qualname.rsplit(".", 1)[-1].split(",")


def removed_names(base: ast.Module | None, head: ast.Module | None) -> set[str]:
    """Module-level names ``base`` binds and ``head`` does not."""
    if base is None:
        return set()
    return module_bindings(base) - (module_bindings(head) if head is not None else set())


def _counts(hit: str, path: str, skip: list[tuple[int, int]]) -> bool:
    """A hit is a caller unless in a test or in unused new code (or the definition)."""
    where, _, line = hit.rpartition(":")
    if classify(where) == Category.ZEPHYR_TESTS:
        return False  # a test calling new code does not put it on a pipeline's path
    return not (where == path and any(a <= int(line) <= b for a, b in skip))


def unused_new(
    added: Mapping[str, Symbol], refs: Mapping[str, list[str]], path: str
) -> dict[str, str]:
    """``{qualname: why}`` of new definitions nothing in the head tree refers to."""
    out: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        skip = [line_span(added[q].node) for q in out]
        for q, sym in added.items():
            if q in out:
                continue
            owner = q.rsplit(".", 1)[0] if "." in q else ""
            if owner in out:
                out[q] = f"member of the new, uncalled `{owner}`"
                changed = True
                continue
            own = [*sym.ranges, line_span(sym.node), *skip]
            if not any(_counts(h, path, own) for n in short_names(q) for h in refs.get(n, [])):
                out[q] = (
                    "new code that nothing in the head tree calls or reads: it cannot "
                    "change performance"
                )
                changed = True
    return out
