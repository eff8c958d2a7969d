"""Compare a Python module at base and head by its AST: is the change trivial, and what changed.

Normalisation removes what cannot change behaviour: comments and whitespace (absent from
the AST), docstrings and bare string statements, type annotations (plus ``TYPE_CHECKING``
blocks, ``typing.cast``, TypeVars and imports used only by annotations) and the text of
log messages (the values interpolated into them stay). On top of that:

* a consistent rename of identifiers defined in the file is trivial (:func:`match_rename`);
* removing whole definitions is trivial only if nothing calls them (:func:`match_removal`
  names them; the caller searches the head tree).

Pure: text in, results out.
"""

from __future__ import annotations

import ast
import copy
import io
import re
import tokenize
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

LOG_METHODS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log"}
)
TYPING_MODULES = frozenset({"typing", "typing_extensions", "collections.abc", "__future__"})
TYPEVAR_FACTORIES = frozenset({"TypeVar", "ParamSpec", "TypeVarTuple"})
ASPECTS = ("docstrings", "annotations", "log_strings")
ASPECT_TEXT = {
    "docstrings": "docstrings",
    "annotations": "type annotations",
    "log_strings": "log-message text",
}
_ANN = "__annotation__"
_LOG_MSG = "<log message>"


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


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _is_future_annotations(node: ast.AST) -> bool:
    return isinstance(node, ast.ImportFrom) and node.module == "__future__"


def _call_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _receiver_text(node: ast.expr) -> str:
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
    receiver = _receiver_text(func.value).lower()
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


class _Normaliser(ast.NodeTransformer):
    def __init__(self, docstrings: bool, annotations: bool, log_strings: bool) -> None:
        self.docstrings = docstrings
        self.annotations = annotations
        self.log_strings = log_strings
        self.scopes: list[str] = ["module"]

    # statement lists ------------------------------------------------------
    def _clean_body(self, stmts: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for stmt in stmts:
            if self.docstrings and _is_string_stmt(stmt):
                continue
            if self.annotations:
                if _is_future_annotations(stmt):
                    continue
                if isinstance(stmt, ast.If) and _is_type_checking(stmt.test):
                    out.extend(self._clean_body(stmt.orelse))
                    continue
                if self._is_typevar(stmt):
                    continue
            out.append(stmt)
        return out

    @staticmethod
    def _is_typevar(stmt: ast.stmt) -> bool:
        value = getattr(stmt, "value", None)
        return (
            isinstance(stmt, ast.Assign | ast.AnnAssign)
            and isinstance(value, ast.Call)
            and _call_name(value.func) in TYPEVAR_FACTORIES
        )

    def generic_visit(self, node: ast.AST) -> ast.AST:
        for name, value in ast.iter_fields(node):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                value = self._clean_body(value)
                new: list[ast.AST] = []
                for item in value:
                    res = self.visit(item)
                    if res is None:
                        continue
                    new.extend(res if isinstance(res, list) else [res])
                if not new and name in ("body",) and not isinstance(node, ast.Module):
                    new = [ast.Pass()]
                setattr(node, name, new)
            elif isinstance(value, list):
                new_items = []
                for item in value:
                    if isinstance(item, ast.AST):
                        res = self.visit(item)
                        if res is not None:
                            new_items.append(res)
                    else:
                        new_items.append(item)
                setattr(node, name, new_items)
            elif isinstance(value, ast.AST):
                res = self.visit(value)
                if res is None:
                    delattr(node, name)
                else:
                    setattr(node, name, res)
        return node

    # scopes ---------------------------------------------------------------
    def _visit_scope(self, node: ast.AST, kind: str) -> ast.AST:
        self.scopes.append(kind)
        try:
            return self.generic_visit(node)
        finally:
            self.scopes.pop()

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        return self._visit_scope(node, "class")

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        if self.annotations:
            node.returns = None
            node.type_comment = None
        return self._visit_scope(node, "function")

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        if self.annotations:
            node.returns = None
            node.type_comment = None
        return self._visit_scope(node, "function")

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        return self._visit_scope(node, "function")

    # annotations ----------------------------------------------------------
    def visit_arg(self, node: ast.arg) -> ast.AST:
        if self.annotations:
            node.annotation = None
            node.type_comment = None
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | None:
        if not self.annotations:
            return self.generic_visit(node)
        if self.scopes[-1] == "class":  # a dataclass field: keep it, forget its type
            node.annotation = ast.Name(_ANN, ast.Load())
            return self.generic_visit(node)
        if node.value is None:
            return None
        assign = ast.Assign(targets=[node.target], value=node.value, type_comment=None)
        return self.generic_visit(ast.copy_location(assign, node))

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        if self.annotations:
            node.type_comment = None
        return self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if (
            self.annotations
            and _call_name(node.func) == "cast"
            and len(node.args) == 2
            and not node.keywords
        ):
            return self.visit(node.args[1])
        if self.log_strings and is_log_call(node) and node.args:
            index = 1 if isinstance(node.func, ast.Attribute) and node.func.attr == "log" else 0
            if len(node.args) > index:
                node.args[index] = _strip_message(node.args[index])
        return self.generic_visit(node)


def _annotation_names(tree: ast.AST) -> set[str]:
    """Names used inside annotations (string annotations parsed too)."""
    out: set[str] = set()

    def take(expr: ast.AST | None) -> None:
        if expr is None:
            return
        for sub in ast.walk(expr):
            if isinstance(sub, ast.Name):
                out.add(sub.id)
            elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                try:
                    inner = ast.parse(sub.value, mode="eval")
                except SyntaxError:
                    continue
                out.update(n.id for n in ast.walk(inner) if isinstance(n, ast.Name))

    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            take(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            take(node.returns)
        elif isinstance(node, ast.AnnAssign):
            take(node.annotation)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for stmt in node.body:
                if isinstance(stmt, ast.Import | ast.ImportFrom):
                    out.update((a.asname or a.name).split(".")[0] for a in stmt.names)
        elif isinstance(node, ast.Call) and _call_name(node.func) == "cast" and node.args:
            take(node.args[0])
        elif (isinstance(node, ast.Assign | ast.AnnAssign)) and _Normaliser._is_typevar(node):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            out.update(t.id for t in targets if isinstance(t, ast.Name))
    return out


def _used_names(tree: ast.AST) -> set[str]:
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    used |= exported_names(tree)
    return used


def exported_names(tree: ast.AST | None) -> set[str]:
    """Names listed in a module-level ``__all__``."""
    out: set[str] = set()
    for node in getattr(tree, "body", []):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            value = node.value
            if isinstance(value, ast.List | ast.Tuple | ast.Set):
                out |= {
                    e.value
                    for e in value.elts
                    if isinstance(e, ast.Constant) and isinstance(e.value, str)
                }
    return out


def _prune_typing_imports(tree: ast.Module, ann_names: set[str]) -> None:
    """Drop import aliases that only annotations used (after annotations were erased)."""
    used = _used_names(tree)

    class Pruner(ast.NodeTransformer):
        def _prune(self, node: ast.Import | ast.ImportFrom) -> ast.AST | None:
            module = node.module if isinstance(node, ast.ImportFrom) else None
            keep = []
            for alias in node.names:
                bound = (alias.asname or alias.name).split(".")[0]
                typing_only = bound in ann_names or module in TYPING_MODULES
                if bound not in used and typing_only and alias.name != "*":
                    continue
                keep.append(alias)
            if not keep:
                return None
            node.names = keep
            return node

        visit_Import = _prune
        visit_ImportFrom = _prune

    Pruner().visit(tree)
    _fill_empty_bodies(tree)


def _fill_empty_bodies(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(node, ast.Module) and isinstance(body, list) and not body:
            node.body = [ast.Pass()]  # type: ignore[attr-defined]


def normalise(
    tree: ast.Module,
    *,
    docstrings: bool = True,
    annotations: bool = True,
    log_strings: bool = True,
    package_init: bool = False,
) -> ast.Module:
    """A normalised deep copy of ``tree`` (line numbers kept). ``package_init`` keeps every
    import (an ``__init__.py`` re-exports them)."""
    ann_names = _annotation_names(tree) if annotations else set()
    out = _Normaliser(docstrings, annotations, log_strings).visit(copy.deepcopy(tree))
    if annotations and not package_init:
        _prune_typing_imports(out, ann_names)
    return out


# ---------------------------------------------------------------------------- symbols


@dataclass
class Symbol:
    """A top-level or class-level unit of a module: function, class header, constant.

    ``qualname``: ``Dataset.map``, ``BUFFER_SIZE``, ``<imports>``, ``<module>``.
    ``kind``: function | class | assign | imports | module. ``ranges``: line ranges (1-based,
    inclusive). ``dump``: the normalised AST text used to compare versions.
    """

    qualname: str
    kind: str
    ranges: list[tuple[int, int]] = field(default_factory=list)
    nodes: list[ast.AST] = field(default_factory=list)
    dumps: list[str] = field(default_factory=list)

    @property
    def dump(self) -> str:
        return "\n".join(self.dumps)

    @property
    def node(self) -> ast.AST | None:
        return self.nodes[0] if self.nodes else None


def _span(node: ast.AST) -> tuple[int, int]:
    start = node.lineno  # type: ignore[attr-defined]
    for dec in getattr(node, "decorator_list", []):
        start = min(start, dec.lineno)
    return start, node.end_lineno or start  # type: ignore[attr-defined]


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
    """Symbols of a module, by qualname (normalised or original tree alike)."""
    out: dict[str, Symbol] = {}

    def add(qualname: str, kind: str, node: ast.AST, text: str | None = None) -> None:
        sym = out.setdefault(qualname, Symbol(qualname, kind))
        sym.ranges.append(_span(node))
        sym.nodes.append(node)
        sym.dumps.append(text if text is not None else dump(node))

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
                add(name, "class", stmt, dump(header))
                sym = out[name]
                sym.ranges[-1] = (
                    sym.ranges[-1][0],
                    stmt.body[0].lineno - 1 if stmt.body else sym.ranges[-1][1],
                )
                for s in header.body:
                    sym.ranges.append(_span(s))
                walk(stmt.body, name + ".", False)
            elif _target_names(stmt):
                add(prefix + ",".join(_target_names(stmt)), "assign", stmt)
            elif top and isinstance(stmt, ast.Import | ast.ImportFrom):
                add("<imports>", "imports", stmt)
            elif top:
                add("<module>", "module", stmt)

    walk(tree.body, "", True)
    return out


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


def _flatten(node: ast.AST, struct: list[str], idents: list[tuple[str, str | None]]) -> None:
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


def defined_names(tree: ast.AST) -> set[str]:
    """Names the module binds: definitions, arguments, assignment targets, stored
    attributes, import aliases, exception and pattern names."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.add(node.name)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            out.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            out.add(node.attr)
        elif isinstance(node, ast.alias):
            out.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            out.add(node.name)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            out.update(node.names)
    return out


def public_definitions(tree: ast.Module) -> dict[str, str]:
    """Public names defined at module or class level: ``{name: qualname}``."""
    out: dict[str, str] = {}
    for name, sym in index_symbols(tree).items():
        short = name.rsplit(".", 1)[-1]
        if sym.kind in ("function", "class", "assign") and not short.startswith("_"):
            for part in short.split(","):
                out.setdefault(part, name)
    return out


@dataclass
class RenameMatch:
    """A consistent rename: ``names`` old -> new (identifiers defined in the file),
    ``imports`` (module, old, new) of names imported from other modules, ``modules``
    old -> new module paths of ``from X import`` statements."""

    names: dict[str, str] = field(default_factory=dict)
    imports: list[tuple[str, str, str]] = field(default_factory=list)
    modules: dict[str, str] = field(default_factory=dict)


def match_rename(base: ast.Module, head: ast.Module) -> RenameMatch | None:
    """The rename that turns ``base`` into ``head``, if the two differ only by a consistent,
    one-to-one renaming; None otherwise. Both trees should be normalised."""
    s1: list[str] = []
    s2: list[str] = []
    i1: list[tuple[str, str | None]] = []
    i2: list[tuple[str, str | None]] = []
    _flatten(base, s1, i1)
    _flatten(head, s2, i2)
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
    for _pos, a, b in import_pairs:
        for module in modules_of.get(a, ["?"]):
            match.imports.append((module, a, b))
    if not (match.names or match.imports or match.modules):
        return None
    return match


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
    """Whole definitions removed and nothing else changed: ``defs`` qualname -> bound
    names (to search for callers), ``imports`` names whose import was dropped."""

    defs: dict[str, list[str]] = field(default_factory=dict)
    imports: list[str] = field(default_factory=list)


def _def_names(stmt: ast.stmt) -> list[str] | None:
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [stmt.name]
    names = _target_names(stmt)
    return names or None


def match_removal(base: ast.Module, head: ast.Module) -> RemovalMatch | None:
    """The definitions whose removal turns ``base`` into ``head`` (normalised trees), if
    that is the only change; None otherwise."""
    out = RemovalMatch()
    if not _subsequence(base.body, head.body, "", out):
        return None
    if not (out.defs or out.imports):
        return None
    still_used = _used_names(head)
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
            qual = prefix + ",".join(names)
            out.defs[qual] = names
            i += 1
            continue
        if isinstance(x, ast.Import | ast.ImportFrom):
            out.imports.extend((al.asname or al.name).split(".")[0] for al in x.names)
            i += 1
            continue
        return False
    return j == len(b)


# ---------------------------------------------------------------------------- tokens

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def code_tokens(text: str) -> dict[int, list[str]]:
    """Code tokens (names, numbers, operators; no comments or strings) by line number."""
    out: dict[int, list[str]] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type in (tokenize.NAME, tokenize.NUMBER, tokenize.OP):
                out.setdefault(tok.start[0], []).append(tok.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        out = {}
        for n, line in enumerate(text.splitlines(), 1):
            code = re.sub(r"#.*$", "", re.sub(r"(['\"]).*?\1", "", line))
            out[n] = re.findall(r"[A-Za-z_]\w*|\d[\w.]*|[^\s\w]", code)
    return out


def identifier_parts(name: str) -> list[str]:
    """``ScatterBufferBytes`` / ``SCATTER_BUFFER_BYTES`` -> ``[scatter, buffer, bytes]``."""
    parts: list[str] = []
    for chunk in name.split("_"):
        parts += re.findall(r"[A-Z]+(?=[A-Z][a-z]|\d|$)|[A-Z]?[a-z]+|[A-Z]+|\d+", chunk)
    return [p.lower() for p in parts if p]


def iter_calls(node: ast.AST, attr: str) -> Iterator[ast.Call]:
    """Calls ``<expr>.<attr>(...)`` under ``node``."""
    for sub in ast.walk(node):
        if (
            isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Attribute)
            and sub.func.attr == attr
        ):
            yield sub


def literal_value(node: ast.AST | None) -> object:
    """The value of a numeric/str constant expression (``64 * 1024**2``, ``1 << 20``), or
    None when it is not one."""
    ops = {
        ast.Add: lambda a, b: a + b,
        ast.Sub: lambda a, b: a - b,
        ast.Mult: lambda a, b: a * b,
        ast.FloorDiv: lambda a, b: a // b,
        ast.Div: lambda a, b: a / b,
        ast.LShift: lambda a, b: a << b,
        ast.Pow: lambda a, b: a**b if abs(b) < 128 else None,
    }
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str | bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        v = literal_value(node.operand)
        return -v if isinstance(v, int | float) else None
    if isinstance(node, ast.BinOp) and type(node.op) in ops:
        a, b = literal_value(node.left), literal_value(node.right)
        if isinstance(a, int | float) and isinstance(b, int | float):
            try:
                return ops[type(node.op)](a, b)
            except (ArithmeticError, ValueError, TypeError):
                return None
    return None
