"""Compare a Python module at base and head by its AST: trivial or not, and what changed.

Normalisation, renames and removals: ``docs/assessment.md``. Pure: text in, results out.
"""

from __future__ import annotations

import ast
import copy
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

LOG_METHODS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log"}
)
TYPING_MODULES = frozenset({"typing", "typing_extensions", "collections.abc", "__future__"})
TYPEVAR_FACTORIES = frozenset({"TypeVar", "ParamSpec", "TypeVarTuple"})
ASPECT_TEXT = {
    "docstrings": "docstrings",
    "annotations": "type annotations",
    "log_strings": "log-message text",
}
_DEFINITION_KINDS = ("function", "class", "assign")
_ANN = "__annotation__"
_LOG_MSG = "<log message>"


def tree_depth(tree: ast.AST) -> int:
    """How deeply the nodes of ``tree`` nest (a lone node is 1); iterative."""
    deepest, todo = 0, [(tree, 1)]
    while todo:
        node, depth = todo.pop()
        deepest = max(deepest, depth)
        todo.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def budget_problem(text: str, side: str, max_bytes: int, max_depth: int) -> str | None:
    """Why ``text`` is past the parse budget (UTF-8 bytes, AST depth; limits.yaml), or None."""
    size = len(text.encode("utf-8", errors="replace"))
    if size > max_bytes:
        return (
            f"{side} is {size} bytes, over the parse budget parse_max_bytes={max_bytes} "
            "(parameters/limits.yaml)"
        )
    try:
        tree = ast.parse(text, type_comments=False)
    except (SyntaxError, ValueError):
        return None  # reported as a SyntaxError by the analysis itself
    except (RecursionError, MemoryError):
        return f"{side} is nested too deeply for Python's parser (RecursionError)"
    depth = tree_depth(tree)
    if depth > max_depth:
        return (
            f"{side} nests {depth} levels deep, over the parse budget "
            f"parse_max_depth={max_depth} (parameters/limits.yaml)"
        )
    return None


def param_names(args: ast.arguments) -> list[str]:
    """Parameter names in binding order: positional, ``*args``, keyword-only, ``**kwargs``."""
    ordered = [*args.posonlyargs, *args.args, args.vararg, *args.kwonlyargs, args.kwarg]
    return [a.arg for a in ordered if a is not None]


def parse_or_none(text: str | None) -> ast.Module | None:
    """The module's AST; None when there is no text or it does not parse."""
    try:
        return ast.parse(text) if text is not None else None
    except (SyntaxError, ValueError):
        return None


def parse(text: str, path: str = "<file>") -> ast.Module | SyntaxError:
    """The module's AST, or the SyntaxError (never raised)."""
    try:
        return ast.parse(text, filename=path, type_comments=False)
    except SyntaxError as exc:
        return exc
    except ValueError as exc:  # NUL bytes
        return SyntaxError(str(exc))


def dump(node: ast.AST | list[ast.AST]) -> str:
    if isinstance(node, list):
        return "[" + ", ".join(dump(n) for n in node) + "]"
    return ast.dump(node, annotate_fields=True, include_attributes=False)


# ---------------------------------------------------------------------------- normalisation


def _is_string_stmt(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def call_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def receiver_text(node: ast.expr) -> str:
    """``a.b.c`` of an attribute chain (the attribute names up to the first non-name)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def is_log_call(node: ast.Call) -> bool:
    """``logger.info(...)``, ``logging.warning(...)``, ``self._log.debug(...)``, ``warnings.warn``."""
    func = node.func
    if not isinstance(func, ast.Attribute) or func.attr not in LOG_METHODS:
        return False
    receiver = receiver_text(func.value).lower()
    return "log" in receiver or (receiver == "warnings" and func.attr == "warn")


def _strip_message(msg: ast.expr) -> ast.expr:
    """Drop the literal text of a log message; keep every interpolated expression."""
    if isinstance(msg, ast.Constant) and isinstance(msg.value, str):
        return ast.copy_location(ast.Constant(_LOG_MSG), msg)
    if isinstance(msg, ast.JoinedStr):
        values = [v.value for v in msg.values if isinstance(v, ast.FormattedValue)]
        return ast.copy_location(ast.Tuple(elts=values, ctx=ast.Load()), msg)
    if isinstance(msg, ast.BinOp) and isinstance(msg.op, ast.Mod):
        return ast.copy_location(
            ast.BinOp(left=_strip_message(msg.left), op=msg.op, right=msg.right), msg
        )
    return msg


def _names_in(node: ast.AST | None, out: set[str]) -> None:
    """Names used in an annotation (string annotations parsed too)."""
    if node is None:
        return
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            out.add(sub.id)
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            try:
                inner = ast.parse(sub.value, mode="eval")
            except SyntaxError:
                continue
            out.update(n.id for n in ast.walk(inner) if isinstance(n, ast.Name))


def _is_protocol(node: ast.ClassDef) -> bool:
    """A ``typing.Protocol`` class (its bare annotations declare, never assign)."""
    return any(call_name(b) == "Protocol" for b in node.bases)


def _is_typevar(stmt: ast.stmt) -> bool:
    value = getattr(stmt, "value", None)
    return (
        isinstance(stmt, ast.Assign | ast.AnnAssign)
        and isinstance(value, ast.Call)
        and call_name(value.func) in TYPEVAR_FACTORIES
    )


class _Normaliser:
    """One in-place pass dropping docstrings, annotations and log text; records names used."""

    def __init__(self) -> None:
        self.scopes: list[str] = ["module"]
        self.used: set[str] = set()
        self.ann_names: set[str] = set()

    def _clean_body(self, stmts: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for stmt in stmts:
            if _is_string_stmt(stmt):
                continue
            if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
                continue
            if isinstance(stmt, ast.If) and call_name(stmt.test) == "TYPE_CHECKING":
                for sub in stmt.body:
                    if isinstance(sub, ast.Import | ast.ImportFrom):
                        self.ann_names.update((a.asname or a.name).split(".")[0] for a in sub.names)
                out.extend(self._clean_body(stmt.orelse))
                continue
            if _is_typevar(stmt):
                self.ann_names.update(_target_names(stmt))
                continue
            out.append(stmt)
        return out

    def body(self, stmts: list[ast.stmt], keep_empty: bool = False) -> list[ast.stmt]:
        """A cleaned and visited statement list; ``[Pass]`` instead of an empty body."""
        visited = (self.visit(stmt) for stmt in self._clean_body(stmts))
        new: list[ast.stmt] = [res for res in visited if res is not None]  # type: ignore[misc]
        if not new and not keep_empty:
            new = [ast.copy_location(ast.Pass(), stmts[0]) if stmts else ast.Pass()]
        return new

    def visit(self, node: ast.AST) -> ast.AST | None:
        kind = type(node)
        if kind is ast.Name:
            self.used.add(node.id)  # type: ignore[attr-defined]
            return node
        if kind is ast.Constant:
            return node
        if isinstance(node, ast.ClassDef):  # no subclasses: the same test as ``kind is``
            return self._scope(node, "protocol" if _is_protocol(node) else "class")
        if kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
            self._erase(node, "returns")
            return self._scope(node, "function")
        if kind is ast.Lambda:
            return self._scope(node, "function")
        if kind is ast.arg:
            self._erase(node, "annotation")
            return node
        if kind is ast.AnnAssign:
            return self._ann_assign(node)  # type: ignore[arg-type]
        if kind is ast.Call:
            return self._call(node)  # type: ignore[arg-type]
        return self._generic(node)

    def _erase(self, node: ast.AST, field_name: str) -> None:
        _names_in(getattr(node, field_name, None), self.ann_names)
        setattr(node, field_name, None)

    def _scope(self, node: ast.AST, kind: str) -> ast.AST:
        self.scopes.append(kind)
        try:
            return self._generic(node)
        finally:
            self.scopes.pop()

    def _generic(self, node: ast.AST) -> ast.AST:
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, list):
                if value and isinstance(value[0], ast.stmt):
                    setattr(node, name, self.body(value, keep_empty=name != "body"))
                elif any(isinstance(v, ast.AST) for v in value):
                    # Keep None items: they are positional (``kw_defaults``, ``**`` keys).
                    setattr(node, name, [self.visit(v) if v is not None else None for v in value])
            elif isinstance(value, ast.AST):
                setattr(node, name, self.visit(value))
        return node

    def _ann_assign(self, node: ast.AnnAssign) -> ast.AST | None:
        _names_in(node.annotation, self.ann_names)
        if self.scopes[-1] == "protocol" and node.value is None:
            return None  # a typing.Protocol member declaration: no runtime effect
        if self.scopes[-1] in ("class", "protocol"):  # a dataclass field: keep, forget type
            node.annotation = ast.Name(_ANN, ast.Load())
            return self._generic(node)
        if node.value is None:
            return None
        assign = ast.Assign(targets=[node.target], value=node.value, type_comment=None)
        return self._generic(ast.copy_location(assign, node))

    def _call(self, node: ast.Call) -> ast.AST | None:
        if call_name(node.func) == "cast" and len(node.args) == 2 and not node.keywords:
            _names_in(node.args[0], self.ann_names)
            return self.visit(node.args[1])
        if node.args and is_log_call(node):
            index = 1 if isinstance(node.func, ast.Attribute) and node.func.attr == "log" else 0
            if len(node.args) > index:
                node.args[index] = _strip_message(node.args[index])
        return self._generic(node)


def exported_names(tree: ast.AST | None) -> set[str]:
    """Names listed in a module-level ``__all__``."""
    out: set[str] = set()
    for node in getattr(tree, "body", []):
        if isinstance(node, ast.Assign):
            targets = node.targets
        else:
            targets = [node.target] if isinstance(node, ast.AugAssign | ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            value = node.value
            if isinstance(value, ast.List | ast.Tuple | ast.Set):
                out |= {
                    e.value
                    for e in value.elts
                    if isinstance(e, ast.Constant) and isinstance(e.value, str)
                }
    return out


def _prune_imports(body: list[ast.stmt], used: set[str], ann_names: set[str]) -> list[ast.stmt]:
    """Drop import aliases only annotations used, in every statement list (recursively)."""
    out: list[ast.stmt] = []
    for stmt in body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            module = stmt.module if isinstance(stmt, ast.ImportFrom) else None
            keep = []
            for alias in stmt.names:
                bound = (alias.asname or alias.name).split(".")[0]
                typing_only = bound in ann_names or module in TYPING_MODULES
                if alias.name == "*" or bound in used or not typing_only:
                    keep.append(alias)
            if not keep:
                continue
            stmt.names = keep
        else:
            for name in ("body", "orelse", "finalbody"):
                sub = getattr(stmt, name, None)
                if isinstance(sub, list) and sub and isinstance(sub[0], ast.stmt):
                    pruned = _prune_imports(sub, used, ann_names)
                    empty = [ast.copy_location(ast.Pass(), sub[0])] if name == "body" else []
                    setattr(stmt, name, pruned or empty)
            # except handlers and match cases hold statement lists of their own
            for block in [*(getattr(stmt, "handlers", None) or []), *getattr(stmt, "cases", [])]:
                pruned = _prune_imports(block.body, used, ann_names)
                block.body = pruned or [ast.copy_location(ast.Pass(), block.body[0])]
        out.append(stmt)
    return out


def normalise(text: str, *, package_init: bool = False) -> ast.Module:
    """A module's tree without docstrings, annotations and log-message text (line numbers
    kept); SyntaxError if unparsable. ``package_init`` keeps every import (re-exports)."""
    tree = ast.parse(text)
    norm = _Normaliser()
    tree.body = norm.body(tree.body, keep_empty=True)
    if not package_init:
        used = norm.used | exported_names(tree)
        tree.body = _prune_imports(tree.body, used, norm.ann_names)
    return tree


def changed_aspects(base: ast.Module, head: ast.Module) -> list[str]:
    """Which removable aspects (docstrings, annotations, log_strings) differ between two trees."""

    def collect(tree: ast.AST) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {"docstrings": [], "annotations": [], "log_strings": []}
        anns = out["annotations"]
        for n in ast.walk(tree):
            if _is_string_stmt(n):
                out["docstrings"].append(n.value.value)  # type: ignore[attr-defined]
            elif isinstance(n, ast.arg | ast.AnnAssign) and n.annotation is not None:
                anns.append(dump(n.annotation))
            elif isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.returns:
                anns.append(dump(n.returns))
            elif (isinstance(n, ast.If) and call_name(n.test) == "TYPE_CHECKING") or isinstance(
                n, ast.Import | ast.ImportFrom
            ):
                anns.append(dump(n))
            elif isinstance(n, ast.Call):
                if call_name(n.func) in ("cast", *TYPEVAR_FACTORIES):
                    anns.append(dump(n))
                elif is_log_call(n):
                    out["log_strings"].append(dump(n))
        return out

    a, b = collect(base), collect(head)
    return [aspect for aspect in ASPECT_TEXT if a[aspect] != b[aspect]]


# ---------------------------------------------------------------------------- symbols


@dataclass
class Symbol:
    """A top-level or class-level unit of a module: function, class header, constant.

    ``kind``: function | class | assign | imports | module; ``ranges``: 1-based, inclusive.
    """

    kind: str
    ranges: list[tuple[int, int]] = field(default_factory=list)
    nodes: list[ast.AST] = field(default_factory=list)
    dump_nodes: list[ast.AST] = field(default_factory=list, repr=False)

    @cached_property
    def dump(self) -> str:
        return "\n".join(dump(n) for n in self.dump_nodes)

    @property
    def node(self) -> ast.AST | None:
        return self.nodes[0] if self.nodes else None


def line_span(node: ast.AST | None) -> tuple[int, int]:
    """First and last line of a node (1-based, inclusive; decorators not counted)."""
    start = getattr(node, "lineno", 0)
    return start, getattr(node, "end_lineno", None) or start


def _span(node: ast.AST) -> tuple[int, int]:
    """:func:`line_span` with decorators counted."""
    start, end = line_span(node)
    return min([start, *(d.lineno for d in getattr(node, "decorator_list", []))]), end


def _target_names(stmt: ast.stmt) -> list[str]:
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, ast.AnnAssign | ast.AugAssign):
        targets = [stmt.target]
    else:
        return []
    names: list[str] = []
    for t in targets:
        elts = t.elts if isinstance(t, ast.Tuple | ast.List) else [t]
        if not all(isinstance(e, ast.Name) for e in elts):
            return []
        names.extend(e.id for e in elts)  # type: ignore[attr-defined]
    return names


def index_symbols(tree: ast.Module) -> dict[str, Symbol]:
    """Symbols of a module by qualname, cached on the tree (do not mutate it afterwards)."""
    cached = getattr(tree, "_perfgate_symbols", None)
    if cached is not None:
        return cached
    out: dict[str, Symbol] = {}

    def add(qualname: str, kind: str, node: ast.AST, compared: ast.AST | None = None) -> None:
        sym = out.setdefault(qualname, Symbol(kind))
        sym.ranges.append(_span(node))
        sym.nodes.append(node)
        sym.dump_nodes.append(compared if compared is not None else node)

    def walk(body: list[ast.stmt], prefix: str, top: bool) -> None:
        for stmt in body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                add(prefix + stmt.name, "function", stmt)
            elif isinstance(stmt, ast.ClassDef):
                name = prefix + stmt.name
                header = copy.copy(stmt)
                header.body = [
                    s
                    for s in stmt.body
                    if not isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                    and not _target_names(s)
                ]
                add(name, "class", stmt, header)
                sym = out[name]
                first = getattr(stmt.body[0], "lineno", 0) if stmt.body else 0
                sym.ranges[-1] = (sym.ranges[-1][0], first - 1 if first else sym.ranges[-1][1])
                sym.ranges += [_span(s) for s in header.body]
                walk(stmt.body, name + ".", False)
            elif _target_names(stmt):
                add(prefix + ",".join(_target_names(stmt)), "assign", stmt)
            elif top and isinstance(stmt, ast.Import | ast.ImportFrom):
                add("<imports>", "imports", stmt)
            elif top:
                add("<module>", "module", stmt)

    walk(tree.body, "", True)
    tree._perfgate_symbols = out  # type: ignore[attr-defined]
    return out


def same_module(base: ast.Module, head: ast.Module) -> bool:
    """True when two normalised modules have the same symbols in order, each with the same AST."""
    a, b = index_symbols(base), index_symbols(head)
    if [(k, s.kind) for k, s in a.items()] != [(k, s.kind) for k, s in b.items()]:
        return False
    return all(a[k].dump == b[k].dump for k in a)


def changed_symbols(base: ast.Module | None, head: ast.Module | None) -> list[str]:
    """Qualnames whose normalised AST differs (added, removed or modified), in order."""
    a = index_symbols(base) if base is not None else {}
    b = index_symbols(head) if head is not None else {}
    names = list(b) + [n for n in a if n not in b]
    return [n for n in names if (a[n].dump if n in a else None) != (b[n].dump if n in b else None)]


def symbol_at(symbols: Mapping[str, Symbol], line: int) -> str | None:
    """The innermost symbol whose ranges hold ``line``."""
    best: tuple[int, str] | None = None
    for name, sym in symbols.items():
        for start, end in sym.ranges:
            if start <= line <= end and (best is None or end - start < best[0]):
                best = (end - start, name)
    return best[1] if best else None


# ---------------------------------------------------------------------------- renames

_IDENT_FIELDS: dict[type, tuple[tuple[str, str], ...]] = {
    ast.Name: (("id", "name"),),
    ast.arg: (("arg", "name"),),
    ast.FunctionDef: (("name", "name"),),
    ast.AsyncFunctionDef: (("name", "name"),),
    ast.ClassDef: (("name", "name"),),
    ast.Attribute: (("attr", "name"),),
    ast.keyword: (("arg", "name"),),
    ast.alias: (("name", "import"), ("asname", "name")),
    ast.ImportFrom: (("module", "module"),),
    ast.ExceptHandler: (("name", "name"),),
    ast.Global: (("names", "name"),),
    ast.Nonlocal: (("names", "name"),),
    ast.MatchAs: (("name", "name"),),
    ast.MatchStar: (("name", "name"),),
}


def _flat(tree: ast.AST) -> tuple[list[str], list[tuple[str, str]]]:
    """A tree's structure with identifiers as ``?``, and its identifiers (kind, name) in order."""
    struct: list[str] = []
    idents: list[tuple[str, str]] = []
    _flatten(tree, struct, idents)
    return struct, idents


def _flatten(node: ast.AST, struct: list[str], idents: list[tuple[str, str]]) -> None:
    fields = dict(_IDENT_FIELDS.get(type(node), ()))
    struct.append(type(node).__name__)
    for name, value in ast.iter_fields(node):
        if name in fields:
            values = value if isinstance(value, list) else [value]
            struct.append(f"{name}:{len(values)}")
            for v in values:
                struct.append("?" if v is not None else "None")
                if v is not None:
                    idents.append((fields[name], v))
        elif isinstance(value, list):
            struct.append(f"[{len(value)}")
            for item in value:
                if isinstance(item, ast.AST):
                    _flatten(item, struct, idents)
                else:
                    struct.append(repr(item))
            struct.append("]")
        elif isinstance(value, ast.AST):
            _flatten(value, struct, idents)
        else:
            struct.append(repr(value))


def bound_name(node: ast.AST) -> str | None:
    """The name one node binds in its scope (store, ``del``, definition, except, import, match)."""
    if isinstance(node, ast.Name):
        return node.id if isinstance(node.ctx, ast.Store | ast.Del) else None
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name
    if isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar):
        return node.name
    if isinstance(node, ast.alias):
        return (node.asname or node.name).split(".")[0]
    return None


def defined_names(tree: ast.AST) -> set[str]:
    """Names the module binds (definitions, arguments, targets, stored attributes, aliases)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            out.add(node.attr)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            out.update(node.names)
        elif name := bound_name(node):
            out.add(name)
    return out


def definitions(tree: ast.Module | None) -> dict[str, Symbol]:
    """The functions, classes and assigned names of a module by qualname ({} for None)."""
    if tree is None:
        return {}
    return {q: s for q, s in index_symbols(tree).items() if s.kind in _DEFINITION_KINDS}


def public_definitions(tree: ast.Module) -> dict[str, str]:
    """Public names defined at module or class level: ``{name: qualname}``."""
    out: dict[str, str] = {}
    for name in definitions(tree):
        short = name.rsplit(".", 1)[-1]
        if not short.startswith("_"):
            for part in short.split(","):
                out.setdefault(part, name)
    return out


@dataclass
class RenameMatch:
    """A consistent rename: ``names`` and ``modules`` old -> new; ``imports`` (module, old, new)."""

    names: dict[str, str] = field(default_factory=dict)
    imports: list[tuple[str, str, str]] = field(default_factory=list)
    modules: dict[str, str] = field(default_factory=dict)


def match_rename(base: ast.Module, head: ast.Module) -> RenameMatch | None:
    """The one-to-one rename turning normalised ``base`` into ``head``, or None."""
    (s1, i1), (s2, i2) = _flat(base), _flat(head)
    if s1 != s2 or len(i1) != len(i2):
        return None
    fwd: dict[tuple[str, str], str] = {}
    back: dict[tuple[str, str], str] = {}
    # Names, import names and keyword arguments share one namespace: a function's
    # parameter renamed must be renamed at keyword call sites too.
    ns = {"name": "name", "import": "name", "module": "module"}
    import_pairs: list[tuple[int, str, str]] = []
    for pos, ((kind, a), (_, b)) in enumerate(zip(i1, i2, strict=True)):
        space = ns[kind]
        if fwd.setdefault((space, a), b) != b or back.setdefault((space, b), a) != a:
            return None
        if kind == "import" and a != b:
            import_pairs.append((pos, a, b))
    match = RenameMatch()
    defined = defined_names(base)
    modules_of = _alias_modules(base)
    for (space, a), b in fwd.items():
        if a == b:
            continue
        if space == "module":
            match.modules[a] = b
            continue
        if a not in defined:
            return None
        match.names[a] = b
    match.imports = [(m, a, b) for _pos, a, b in import_pairs for m in modules_of.get(a, ["?"])]
    return match if match.names or match.imports or match.modules else None


def _alias_modules(tree: ast.AST) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            for alias in node.names:
                out.setdefault(alias.name, []).append(module)
    return out


# ---------------------------------------------------------------------------- removals


@dataclass
class RemovalMatch:
    """Whole definitions removed (``defs`` qualname -> names) and dropped ``imports`` only."""

    defs: dict[str, list[str]] = field(default_factory=dict)
    imports: list[str] = field(default_factory=list)


def _def_names(stmt: ast.stmt) -> list[str] | None:
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [stmt.name]
    return _target_names(stmt) or None


def match_removal(base: ast.Module, head: ast.Module) -> RemovalMatch | None:
    """The removals turning normalised ``base`` into ``head`` if that is all, else None."""
    out = RemovalMatch()
    if not _subsequence(base.body, head.body, "", out) or not (out.defs or out.imports):
        return None
    still_used = {n.id for n in ast.walk(head) if isinstance(n, ast.Name)} | exported_names(head)
    if any(name in still_used for name in out.imports):
        return None
    return out


def _subsequence(a: list[ast.stmt], b: list[ast.stmt], prefix: str, out: RemovalMatch) -> bool:
    i = j = 0
    while i < len(a):
        if j < len(b) and dump(a[i]) == dump(b[j]):
            i, j = i + 1, j + 1
            continue
        x = a[i]
        y = b[j] if j < len(b) else None
        if (
            isinstance(x, ast.ClassDef)
            and isinstance(y, ast.ClassDef)
            and x.name == y.name
            and dump([*x.bases, *x.keywords, *x.decorator_list])
            == dump([*y.bases, *y.keywords, *y.decorator_list])
        ):
            xs = [s for s in x.body if not isinstance(s, ast.Pass)]
            ys = [s for s in y.body if not isinstance(s, ast.Pass)]
            if _subsequence(xs, ys, f"{prefix}{x.name}.", out):
                i, j = i + 1, j + 1
                continue
            return False
        names = _def_names(x)
        if names:
            out.defs[prefix + ",".join(names)] = names
        elif isinstance(x, ast.Import | ast.ImportFrom):
            out.imports.extend((al.asname or al.name).split(".")[0] for al in x.names)
        else:
            return False
        i += 1
    return j == len(b)


# ---------------------------------------------------------------------------- tokens

RESULT_CALL = ".result()"
"""Marker :func:`code_names` puts on the line of a ``<expr>.result(...)`` call."""


def code_names(nodes: list[ast.AST], lines: set[int]) -> list[str]:
    """Identifiers on ``lines`` inside ``nodes``, plus :data:`RESULT_CALL` per ``.result()``."""
    out: list[str] = []
    if not lines:
        return out
    for root in nodes:
        for node in ast.walk(root):
            line = getattr(node, "lineno", None)
            name: str | None = None
            if isinstance(node, ast.Name):
                name = node.id
            elif isinstance(node, ast.Attribute):
                name, line = node.attr, node.end_lineno
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = node.name
            elif isinstance(node, ast.arg | ast.keyword):
                name = node.arg
            elif isinstance(node, ast.alias):
                name = node.asname or node.name
            elif isinstance(node, ast.ImportFrom):
                name = node.module
            if name and line in lines:
                out.extend(name.split("."))
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "result"
                and node.func.end_lineno in lines
            ):
                out.append(RESULT_CALL)
    return out


def words(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text``, as a set (for word lists)."""
    return frozenset(text.split())


def identifier_parts(name: str) -> list[str]:
    """``ScatterBufferBytes`` / ``SCATTER_BUFFER_BYTES`` -> ``[scatter, buffer, bytes]``."""
    pattern = r"[A-Z]+(?=[A-Z][a-z]|\d|$)|[A-Z]?[a-z]+|[A-Z]+|\d+"
    return [p.lower() for chunk in name.split("_") for p in re.findall(pattern, chunk) if p]


def iter_calls(node: ast.AST, attr: str) -> Iterator[ast.Call]:
    """Calls ``<expr>.<attr>(...)`` under ``node``."""
    for sub in ast.walk(node):
        if (
            isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Attribute)
            and sub.func.attr == attr
        ):
            yield sub


LITERAL_MAX_BITS = 4096  # a PR's constant past this is unknown, never computed (hostile)


def _pow(a: float, b: float) -> float | None:
    small = isinstance(a, float) or a.bit_length() * abs(b) <= LITERAL_MAX_BITS
    return a**b if abs(b) < 128 and small else None


_OPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Div: operator.truediv,
    ast.LShift: lambda a, b: a << b if 0 <= b <= LITERAL_MAX_BITS else None,
    ast.Pow: _pow,
}


def literal_value(node: ast.AST | None) -> object:
    """The value of a constant expression (``64 * 1024**2``, ``1 << 20``), or None; an
    integer past :data:`LITERAL_MAX_BITS` is None (``1 << 10**10`` would take 1.25 GB)."""
    value = _literal(node)
    too_big = isinstance(value, int) and value.bit_length() > LITERAL_MAX_BITS
    return None if too_big else value


def _literal(node: ast.AST | None) -> object:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str | bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        v = literal_value(node.operand)
        return -v if isinstance(v, int | float) else None
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        a, b = literal_value(node.left), literal_value(node.right)
        if isinstance(a, int | float) and isinstance(b, int | float):
            try:
                return _OPS[type(node.op)](a, b)
            except (ArithmeticError, ValueError, TypeError):
                return None
    return None


# ---------------------------------------------------------------------------- module paths


def module_of(path: str) -> str | None:
    """Dotted module of a Python path: ``lib/zephyr/src/zephyr/io/x.py`` -> ``zephyr.io.x``."""
    if not path.endswith((".py", ".pyi")):
        return None
    rel = path.split("/src/", 1)[1] if "/src/" in path else path
    parts = rel.rsplit(".", 1)[0].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or None


def resolve_import(module: str, file_path: str) -> str:
    """Absolute module of ``from <module> import`` written in ``file_path``."""
    level = len(module) - len(module.lstrip("."))
    name = module.lstrip(".")
    if level == 0:
        return name
    own = (module_of(file_path) or "").split(".")
    package = own if file_path.endswith("__init__.py") else own[:-1]
    base = package[: max(0, len(package) - (level - 1))]
    return ".".join([*base, name] if name else base)


def import_source(node: ast.ImportFrom, file_path: str) -> str:
    """The module a ``from ... import`` in ``file_path`` imports from (relative ones resolved)."""
    return resolve_import("." * node.level + (node.module or ""), file_path)
