"""Definitions moved verbatim from one file of a diff to another.

Same qualified name and same normalised code: moved, not changed. :func:`find_moves` pairs
them; the assessment leaves them out of the impact questions and lets imports that follow
a moved name count as a rename. Pure: trees in, :class:`Moves` out.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field

from perfgate_lib.assess import alpha
from perfgate_lib.assess.astdiff import Symbol, definitions
from perfgate_lib.assess.modpath import import_source, module_of


@dataclass
class Moves:
    """``moved_in[path][qualname]`` = the file it came from; ``moved_out[path][qualname]``
    = the file it went to; ``modules[(old module, name)]`` = the new module of a moved
    top-level name."""

    moved_in: dict[str, dict[str, str]] = field(default_factory=dict)
    moved_out: dict[str, dict[str, str]] = field(default_factory=dict)
    modules: dict[tuple[str, str], str] = field(default_factory=dict)


def _key(sym: Symbol) -> tuple[str, str]:
    return sym.kind, alpha.symbol_key(sym, dead_stores=True, local_imports=True)


def find_moves(files: Iterable[tuple[str, ast.Module | None, ast.Module | None]]) -> Moves:
    """Pair definitions removed from one file with identical ones added to another.
    ``files``: (path, normalised base tree or None, normalised head tree or None)."""
    removed: dict[tuple[str, str, str], str] = {}
    pending: list[tuple[str, str, Symbol]] = []
    for path, base, head in files:
        b, h = definitions(base), definitions(head)
        for q in b.keys() - h.keys():
            removed.setdefault((q, *_key(b[q])), path)
        pending += [(path, q, h[q]) for q in h.keys() - b.keys()]
    names = {q for q, _, _ in removed}
    added = [(path, q, _key(sym)) for path, q, sym in pending if q in names]
    moves = Moves()
    for path, q, (kind, dump) in sorted(added):
        source = removed.get((q, kind, dump))
        if source is None or source == path:
            continue
        moves.moved_in.setdefault(path, {})[q] = source
        moves.moved_out.setdefault(source, {})[q] = path
        old, new = module_of(source), module_of(path)
        if "." not in q and old and new:
            for name in q.split(","):
                moves.modules[(old, name)] = new
    return moves


def import_set(tree: ast.Module, path: str, moves: Moves | None = None) -> set[tuple[str, ...]]:
    """The module-level imports of a tree as ``(module, name, alias)`` items, with each
    name imported from its old module mapped to where ``moves`` moved it."""
    out: set[tuple[str, ...]] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            out |= {("import", a.name, a.asname or "") for a in stmt.names}
        elif isinstance(stmt, ast.ImportFrom):
            module = import_source(stmt, path)
            for a in stmt.names:
                target = moves.modules.get((module, a.name), module) if moves else module
                out.add((target, a.name, a.asname or ""))
    return out
