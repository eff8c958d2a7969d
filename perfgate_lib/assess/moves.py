"""Definitions moved verbatim (same qualname and normalised code) between files of a diff."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field

from perfgate_lib.assess import alpha
from perfgate_lib.assess.astdiff import Symbol, definitions
from perfgate_lib.assess.modpath import import_source, module_of


@dataclass
class Moves:
    """Where each moved qualname came from / went to, and new modules of moved names."""

    moved_in: dict[str, dict[str, str]] = field(default_factory=dict)
    moved_out: dict[str, dict[str, str]] = field(default_factory=dict)
    modules: dict[tuple[str, str], str] = field(default_factory=dict)


def _key(sym: Symbol) -> tuple[str, str]:
    return sym.kind, alpha.symbol_key(sym, dead_stores=True, local_imports=True)


def find_moves(files: Iterable[tuple[str, ast.Module | None, ast.Module | None]]) -> Moves:
    """Pair definitions removed from one file with identical ones added to another."""
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
    """Module-level imports as ``(module, name, alias)``, old modules mapped by ``moves``."""
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
