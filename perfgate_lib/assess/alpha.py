"""Behaviour-preserving rewrites (locals alpha-renamed, dead stores dropped) for comparing code.

The rules: ``docs/assessment.md``. Pure: trees in and out.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from perfgate_lib.assess import astdiff
from perfgate_lib.assess.astdiff import Symbol, bound_name, definitions, module_of, param_names

_PREFIX = "_α"


# A scope of its own whose locals are renamed: a function or a lambda.
_ScopeNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda


def _scope_body(fn: _ScopeNode) -> list[ast.AST]:
    """The statements of a function, or a lambda's one expression."""
    return list(fn.body) if isinstance(fn.body, list) else [fn.body]


def _same_scope_children(node: ast.AST) -> list[ast.AST]:
    """Children of ``node`` in its own scope (a nested definition: only its decorators)."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return list(node.decorator_list)
    if isinstance(node, ast.Lambda):
        return []
    return list(ast.iter_child_nodes(node))


def _bound_names(fn: _ScopeNode) -> tuple[list[str], set[str]]:
    """Names a function binds in its own scope, in order, and its ``global``/``nonlocal`` names."""
    order = param_names(fn.args)
    declared: set[str] = set()
    stack: list[ast.AST] = list(reversed(_scope_body(fn)))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Global | ast.Nonlocal):
            declared.update(node.names)
        if bound := bound_name(node):
            order.append(bound)
        stack.extend(reversed(_same_scope_children(node)))
    return [n for n in dict.fromkeys(order) if n not in declared], declared


def _renamable(fn: _ScopeNode, nested: bool) -> set[str]:
    """Parameters no caller can pass by name: positional-only, ``*``/``**``, a private one's."""
    args = fn.args
    private = nested or isinstance(fn, ast.Lambda) or getattr(fn, "name", "").startswith("_")
    free = {a.arg for a in args.posonlyargs}
    free |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    if private and not getattr(fn, "name", "").startswith("__"):
        free |= {a.arg for a in [*args.args, *args.kwonlyargs]}
    return free


def _rename_binding(node: ast.AST, mapping: dict[str, str]) -> None:
    """Rename in place the name one node reads or binds, if ``mapping`` renames it."""
    if isinstance(node, ast.Name) and node.id in mapping:
        node.id = mapping[node.id]
    elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
        node.name = mapping.get(node.name, node.name)
    elif isinstance(node, ast.alias) and bound_name(node) in mapping:
        node.asname = mapping[(node.asname or node.name).split(".")[0]]


@dataclass
class _Renamer:
    """Renames locals scope by scope; records ``(scope, old)`` for each canonical name."""

    seen: list[tuple[str, str]] = field(default_factory=list)
    counter: int = 0

    def scope(self, fn: _ScopeNode, outer: dict[str, str], nested: bool, where: str) -> None:
        bound, declared = _bound_names(fn)
        params = set(param_names(fn.args))
        keep = params - _renamable(fn, nested)
        mapping = {k: v for k, v in outer.items() if k not in bound and k not in declared}
        for name in bound:
            if name in keep:
                continue
            canon = f"{_PREFIX}{self.counter}"
            self.counter += 1
            mapping[name] = canon
            self.seen.append((where, name))
        args = fn.args
        for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if a is not None and a.arg in mapping:
                a.arg = mapping[a.arg]
        for stmt in _scope_body(fn):
            self._visit(stmt, mapping, where)

    def visit_defaults(self, fn: _ScopeNode, mapping: dict[str, str], where: str) -> None:
        """Parameter defaults: evaluated in the enclosing scope."""
        for default in [*fn.args.defaults, *fn.args.kw_defaults]:
            if default is not None:
                self._visit(default, mapping, where)

    def _visit_function(self, node: _ScopeNode, mapping: dict[str, str], where: str) -> None:
        if not isinstance(node, ast.Lambda):
            if node.name in mapping:
                node.name = mapping[node.name]
            for dec in node.decorator_list:
                self._visit(dec, mapping, where)
        self.visit_defaults(node, mapping, where)
        inner = f"{where}.{getattr(node, 'name', '<lambda>')}"
        self.scope(node, mapping, True, inner)

    def _visit_class(self, node: ast.ClassDef, mapping: dict[str, str], where: str) -> None:
        if node.name in mapping:
            node.name = mapping[node.name]
        for sub in [*node.bases, *node.keywords, *node.decorator_list]:
            self._visit(sub, mapping, where)
        for stmt in node.body:  # a class body reads the enclosing function's names
            self._visit(stmt, mapping, where)

    def _visit(self, node: ast.AST, mapping: dict[str, str], where: str) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            self._visit_function(node, mapping, where)
        elif isinstance(node, ast.ClassDef):
            self._visit_class(node, mapping, where)
        else:
            _rename_binding(node, mapping)
            for child in ast.iter_child_nodes(node):
                self._visit(child, mapping, where)


def _pure(node: ast.expr | None) -> bool:
    """A value whose evaluation has no effect: constants, names, tuples/lists of them."""
    if node is None or isinstance(node, ast.Constant | ast.Name):
        return True
    if isinstance(node, ast.Tuple | ast.List):
        return all(_pure(e) for e in node.elts)
    return False


def _drop_in_function(fn: ast.AST, dead_stores: bool, local_imports: bool) -> None:
    """Drop dead pure stores and/or function-local imports in one function's body."""
    loads = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    declared = {
        n for s in ast.walk(fn) if isinstance(s, ast.Global | ast.Nonlocal) for n in s.names
    }

    def dead(stmt: ast.stmt) -> bool:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            return local_imports
        if dead_stores and isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0]
            return (
                isinstance(target, ast.Name)
                and target.id not in loads
                and target.id not in declared
                and _pure(stmt.value)
            )
        return False

    def clean(body: list[ast.stmt]) -> list[ast.stmt]:
        kept = [s for s in body if not dead(s)]
        for s in kept:
            if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue  # nested scopes are cleaned on their own
            for name in ("body", "orelse", "finalbody"):
                sub = getattr(s, name, None)
                if isinstance(sub, list) and sub and isinstance(sub[0], ast.stmt):
                    setattr(s, name, clean(sub) or [ast.Pass()])
            for handler in getattr(s, "handlers", None) or []:
                handler.body = clean(handler.body) or [ast.Pass()]
            for case in getattr(s, "cases", None) or []:
                case.body = clean(case.body) or [ast.Pass()]
        return kept

    fn.body = clean(fn.body) or [ast.Pass()]  # type: ignore[attr-defined]


def canonical(
    tree: ast.Module, *, dead_stores: bool = False, local_imports: bool = False
) -> ast.Module:
    """A copy with locals alpha-renamed, optionally dead stores and local imports dropped.

    ``local_imports`` only tells what a change does, never triviality (a dropped import may
    leave a name unbound). Line numbers and qualnames are kept.
    """
    out = copy.deepcopy(tree)
    if hasattr(out, "_perfgate_symbols"):
        del out._perfgate_symbols
    functions = [n for n in ast.walk(out) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    if dead_stores or local_imports:
        for function in functions:
            _drop_in_function(function, dead_stores, local_imports)
    renamer = _Renamer()
    for where, fn in list(_outermost_functions(out)):
        renamer.counter = 0  # canonical names depend on the function alone, not its position
        renamer.visit_defaults(fn, {}, where)
        renamer.scope(fn, {}, False, where)
    out._perfgate_renamed = renamer.seen  # type: ignore[attr-defined]
    return out


def _outermost_functions(node: ast.AST, prefix: str = "") -> Iterator[tuple[str, _ScopeNode]]:
    """Functions and lambdas not inside another function (module or class level)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield prefix + getattr(child, "name", "<lambda>"), child
        elif isinstance(child, ast.ClassDef):
            yield from _outermost_functions(child, f"{prefix}{child.name}.")
        else:
            yield from _outermost_functions(child, prefix)


def local_renames(base: ast.Module, head: ast.Module) -> list[str]:
    """``old → new in scope`` for each local renamed between two trees equal once canonical."""
    a = getattr(canonical(base), "_perfgate_renamed", [])
    b = getattr(canonical(head), "_perfgate_renamed", [])
    return [
        f"`{old}` → `{new}` in `{scope}`"
        for (scope, old), (_, new) in zip(a, b, strict=False)
        if old != new
    ]


def _canonical_dump(node: ast.AST, dead_stores: bool, local_imports: bool) -> str:
    module = ast.Module(body=[node], type_ignores=[])  # type: ignore[list-item]
    out = canonical(module, dead_stores=dead_stores, local_imports=local_imports)
    return ast.dump(out.body[0], annotate_fields=True, include_attributes=False)


def symbol_key(sym: Symbol, *, dead_stores: bool = False, local_imports: bool = False) -> str:
    """A symbol's code up to alpha-renaming: equal keys mean the same statements and flow."""
    if sym.kind != "function":
        return f"{sym.kind}:{sym.dump}"
    return "\n".join(_canonical_dump(n, dead_stores, local_imports) for n in sym.dump_nodes)


def same_symbols(
    base: Mapping[str, Symbol],
    head: Mapping[str, Symbol],
    *,
    dead_stores: bool = False,
    local_imports: bool = False,
    skip: Collection[str] = (),
) -> bool:
    """Two symbol tables hold the same symbols in order, each equal up to alpha-renaming."""
    a = [(q, s.kind) for q, s in base.items() if q not in skip]
    b = [(q, s.kind) for q, s in head.items() if q not in skip]
    if a != b:
        return False
    flags = {"dead_stores": dead_stores, "local_imports": local_imports}
    return all(
        base[q].dump == head[q].dump or symbol_key(base[q], **flags) == symbol_key(head[q], **flags)
        for q, _ in a
    )


# ---------------------------------------------------------------------------- moves


@dataclass
class Moves:
    """Where each moved qualname came from / went to, and new modules of moved names."""

    moved_in: dict[str, dict[str, str]] = field(default_factory=dict)
    moved_out: dict[str, dict[str, str]] = field(default_factory=dict)
    modules: dict[tuple[str, str], str] = field(default_factory=dict)


def _key(sym: Symbol) -> tuple[str, str]:
    return sym.kind, symbol_key(sym, dead_stores=True, local_imports=True)


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
            module = astdiff.import_source(stmt, path)
            for a in stmt.names:
                target = moves.modules.get((module, a.name), module) if moves else module
                out.add((target, a.name, a.asname or ""))
    return out
