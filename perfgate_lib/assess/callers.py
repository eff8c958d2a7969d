"""Who in the head tree still uses a name a module no longer defines.

The callers rule: ``docs/assessment.md``. Pure: texts in, ``path:line`` lists out.
"""

from __future__ import annotations

import ast
import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from perfgate_lib.assess import astdiff
from perfgate_lib.assess.astdiff import Symbol, import_source, module_of, parse_or_none
from perfgate_lib.assess.scope import Category, classify

HeadReader = Callable[[str], str | None]


def module_bindings(tree: ast.Module) -> set[str]:
    """Names bound at module level, also under module-level ``if``/``try`` blocks."""
    out: set[str] = set()
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        stmt = stack.pop()
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.add(stmt.name)
            continue
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            out.update((a.asname or a.name).split(".")[0] for a in stmt.names)
        if isinstance(stmt, ast.If | ast.Try):
            stack += [*stmt.body, *stmt.orelse, *getattr(stmt, "finalbody", [])]
        else:
            stored = (n for n in ast.walk(stmt) if isinstance(n, ast.Name))
            out.update(n.id for n in stored if isinstance(n.ctx, ast.Store))
        for handler in getattr(stmt, "handlers", []):
            stack += handler.body
    return out


@dataclass(frozen=True)
class FileUses:
    """One file's imports and reads, from one walk, so each name is a lookup (lines)."""

    imported: dict[str, set[str]]  # module -> names ``import module [as x]`` binds
    from_bound: dict[tuple[str, str], set[str]]  # (module, name) -> ``from .. import`` binds
    from_lines: dict[tuple[str, str], set[int]]  # (module, name) -> lines importing it
    attrs: dict[str, list[tuple[str | None, int]]]  # attribute -> (receiver text, line)
    loads: dict[str, set[int]]  # bare name read -> lines
    bound: set[str]  # :func:`module_bindings`

    @classmethod
    def of(cls, tree: ast.Module, path: str) -> FileUses:
        uses = cls(
            defaultdict(set),
            defaultdict(set),
            defaultdict(set),
            defaultdict(list),
            defaultdict(set),
            set(),
        )
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    uses.imported[alias.name].add(alias.asname or alias.name)
            elif isinstance(node, ast.ImportFrom):
                source = import_source(node, path)
                for alias in node.names:
                    uses.from_bound[source, alias.name].add(alias.asname or alias.name)
                    uses.from_lines[source, alias.name].add(node.lineno)
            elif isinstance(node, ast.Attribute):
                uses.attrs[node.attr].append((astdiff.receiver_text(node.value), node.lineno))
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                uses.loads[node.id].add(node.lineno)
        uses.bound.update(module_bindings(tree))
        return uses

    def bound_to(self, module: str, name: str) -> set[str]:
        """Names ``from module import name [as x]`` binds (relative imports resolved)."""
        return self.from_bound.get((module, name), set())

    def aliases(self, module: str) -> set[str]:
        """Dotted names bound to ``module`` (``writers``, ``zephyr.writers``, ``w``)."""
        parent, _, last = module.rpartition(".")
        return self.imported.get(module, set()) | self.bound_to(parent, last)


def python_uses(
    uses: FileUses, path: str, module: str, name: str, defined: bool = False
) -> list[int]:
    """Lines using ``module.name`` (``defined``: the module's own reads of it count too)."""
    aliases = uses.aliases(module)
    lines = set(uses.from_lines.get((module, name), ()))
    lines.update(ln for receiver, ln in uses.attrs.get(name, ()) if receiver in aliases)
    if module_of(path) == module and (defined or name not in uses.bound):
        lines.update(uses.loads.get(name, ()))
    return sorted(lines)


class HeadFiles:
    """Head-tree files read at most once: texts, ASTs (None when unreadable), their uses."""

    def __init__(self, read_head: HeadReader) -> None:
        self.text = functools.cache(read_head)
        self.tree = functools.cache(lambda path: parse_or_none(self.text(path)))
        self.uses = functools.cache(self._uses)
        self.accesses = functools.cache(self._accesses)
        self.by_string = functools.cache(self._by_string)

    def _uses(self, path: str) -> FileUses | None:
        tree = self.tree(path)
        return None if tree is None else FileUses.of(tree, path)

    def _accesses(self, path: str, module: str, cls: str) -> list[tuple[str, int]] | None:
        """``(attribute, line)`` on instances of ``module.cls`` in a file; None: unknown."""
        tree, uses = self.tree(path), self.uses(path)
        if tree is None or uses is None:
            return None
        try:
            return _instance_accesses(tree, uses, path, module, cls)
        except _Escapes:
            return None

    def _by_string(self, path: str) -> dict[str, set[int]] | None:
        """Lines of ``getattr(x, "name")``-like calls by the string; None: unparsable."""
        tree = self.tree(path)
        if tree is None:
            return None
        lines: dict[str, set[int]] = defaultdict(set)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and astdiff.call_name(node.func) in _BY_STRING:
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        lines[arg.value].add(node.lineno)
        return lines


def hit_path(hit: str) -> str:
    """The file of a textual ``path:line`` hit."""
    return hit.rsplit(":", 1)[0]


def _text_uses(src: str, path: str, module: str, name: str) -> list[str]:
    """``path:line`` of a non-Python file's lines spelling ``module.name`` or ``module:name``."""
    return [
        f"{path}:{ln}"
        for ln, line in enumerate(src.splitlines(), 1)
        if f"{module}.{name}" in line or f"{module}:{name}" in line
    ]


def _uses_in_file(
    path: str, module: str, name: str, name_hits: list[str], head: HeadFiles, defined: bool
) -> list[str]:
    """``path:line`` uses of ``module.name`` in one head-tree file that names it."""
    if not path.endswith(".py"):
        return _text_uses(head.text(path) or "", path, module, name)
    uses = head.uses(path)
    if uses is None:  # cannot read it: every textual hit counts
        return [h for h in name_hits if hit_path(h) == path]
    return [f"{path}:{ln}" for ln in python_uses(uses, path, module, name, defined)]


def users_of(
    removed: Iterable[tuple[str, str]],
    hits: Mapping[str, list[str]],
    head: HeadFiles,
    defined: bool = False,
) -> dict[tuple[str, str], list[str]]:
    """``{(module, name): ["path:line"]}`` of uses in the head tree (every pair, [] for none),
    from textual ``hits``; each file is walked once per assessment (``head`` keeps its :class:`FileUses`).

    A module's own bare reads count for a new name (``defined``), else only if it no
    longer binds the name.
    """
    out: dict[tuple[str, str], list[str]] = {}
    for module, name in removed:
        name_hits = hits.get(name, [])
        paths = sorted({hit_path(h) for h in name_hits})
        out[(module, name)] = [
            u for p in paths for u in _uses_in_file(p, module, name, name_hits, head, defined)
        ]
    return out


# Calls that name an attribute by a string: a removed member spelled there may be used.
_BY_STRING = frozenset({"getattr", "hasattr", "setattr", "delattr", "attrgetter", "methodcaller"})
# Text files that only describe code (a class named there constructs nothing).
_PROSE = (".md", ".rst", ".txt")


class _Escapes(Exception):
    """An instance of the class flows where its type is no longer known."""


def _enclosing_function(node: ast.AST, parents: Mapping[int, ast.AST]) -> ast.AST | None:
    cur = parents.get(id(node))
    while cur is not None and not isinstance(cur, ast.FunctionDef | ast.AsyncFunctionDef):
        cur = parents.get(id(cur))
    return cur


def _check_other_routes(
    tree: ast.Module, path: str, module: str, cls: str, names: set[str]
) -> None:
    """Raise :class:`_Escapes` when the class is re-exported or named another way."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(a.name == cls for a in node.names):
            if import_source(node, path) != module:
                raise _Escapes(f"{path}:{node.lineno}")
        elif (isinstance(node, ast.Name) and node.id == cls and node.id not in names) or (
            isinstance(node, ast.Constant) and node.value == cls
        ):
            raise _Escapes(f"{path}:{node.lineno}")


def _names_class(
    node: ast.Name | ast.Attribute, names: set[str], cls: str, mod_aliases: set[str]
) -> bool:
    """A read of the class object: a bound bare name, or ``module.cls``."""
    if isinstance(node, ast.Name):
        return node.id in names and isinstance(node.ctx, ast.Load)
    return node.attr == cls and astdiff.receiver_text(node.value) in mod_aliases


def _member_access(node: ast.AST, parents: Mapping[int, ast.AST]) -> tuple[str, int] | None:
    """``(attribute, line)`` when ``node`` is the receiver of an attribute access."""
    parent = parents.get(id(node))
    if isinstance(parent, ast.Attribute) and parent.value is node:
        return parent.attr, parent.lineno
    return None


def _local_accesses(
    var: str, scope: ast.AST, parents: Mapping[int, ast.AST], path: str, enter: bool = False
) -> list[tuple[str, int]]:
    """Accesses ``var.member`` in one function; any other read of ``var`` escapes (passed or
    returned), but ``return self`` in ``__enter__`` (``enter``)."""
    out: list[tuple[str, int]] = []
    for n in ast.walk(scope):
        if isinstance(n, ast.Name) and n.id == var and isinstance(n.ctx, ast.Load):
            access = _member_access(n, parents)
            if access is not None:
                out.append(access)
            elif not (enter and isinstance(parents.get(id(n)), ast.Return)):
                raise _Escapes(f"{path}:{n.lineno}")
    return out


def _bound_instance(holder: ast.AST | None) -> ast.expr | None:
    """The target an instance is stored in: ``x = C(...)`` or ``with C(...) as x``."""
    if isinstance(holder, ast.Assign) and len(holder.targets) == 1:
        return holder.targets[0]
    if isinstance(holder, ast.withitem):
        return holder.optional_vars
    return None


def _accesses_from_reference(
    node: ast.Name | ast.Attribute, parents: Mapping[int, ast.AST], path: str
) -> list[tuple[str, int]]:
    """Accesses through one read of the class: ``C.m``, ``C(...).m``, or ``x.m`` on a local."""
    access = _member_access(node, parents)
    if access is not None:
        return [access]  # C.member
    parent = parents.get(id(node))
    if not (isinstance(parent, ast.Call) and parent.func is node):
        raise _Escapes(f"{path}:{node.lineno}")  # subclassed, annotated, tested, passed
    access = _member_access(parent, parents)
    if access is not None:
        return [access]  # C(...).member
    scope = _enclosing_function(parent, parents)
    target = _bound_instance(parents.get(id(parent)))
    if scope is None or not isinstance(target, ast.Name):
        raise _Escapes(f"{path}:{parent.lineno}")
    return _local_accesses(target.id, scope, parents, path)


def _receiver(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """A method's ``self``/``cls`` parameter; None for a static method or none at all."""
    args = fn.args.posonlyargs + fn.args.args
    if not args or any(
        isinstance(d, ast.Name) and d.id == "staticmethod" for d in fn.decorator_list
    ):
        return None
    return args[0].arg


def _own_method_accesses(
    tree: ast.Module, cls: str, parents: Mapping[int, ast.AST], path: str
) -> list[tuple[str, int]]:
    """Accesses on ``self``/``cls`` inside the methods of the class ``cls``."""
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            funcs = [f for f in node.body if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)]
            for fn in funcs:
                me = _receiver(fn)
                if me is not None:  # accesses on self/cls
                    out += _local_accesses(me, fn, parents, path, fn.name == "__enter__")
    return out


def _instance_accesses(
    tree: ast.Module, uses: FileUses, path: str, module: str, cls: str
) -> list[tuple[str, int]]:
    """``(attribute, line)`` of accesses on instances of ``module.cls``, else :class:`_Escapes`."""
    own = module_of(path) == module
    parents = {id(c): p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
    names = ({cls} if own else set()) | uses.bound_to(module, cls)  # bound to it
    mod_aliases = uses.aliases(module)
    _check_other_routes(tree, path, module, cls, names)
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name | ast.Attribute) and _names_class(
            node, names, cls, mod_aliases
        ):
            out += _accesses_from_reference(node, parents, path)
    if own:  # the class's own methods: accesses on self/cls
        out += _own_method_accesses(tree, cls, parents, path)
    return out


def member_users(
    module: str,
    cls: str,
    member: str,
    class_hits: Iterable[str],
    member_hits: Iterable[str],
    head: HeadFiles,
    own_path: str,
) -> list[str] | None:
    """Lines that may still use the removed ``cls.member`` of ``module``, or None if unknown;
    each file's accesses are found once per assessment (``head`` keeps them)."""
    files = {hit_path(h) for h in class_hits} | {own_path}
    found: list[str] = []
    for path in sorted(files):
        if not path.endswith(".py"):
            if path.endswith(_PROSE):
                continue
            return None
        accesses = head.accesses(path, module, cls)
        if accesses is None:
            return None
        found += [f"{path}:{ln}" for attr, ln in accesses if attr == member]
    for path in sorted({hit_path(h) for h in member_hits}):
        if not path.endswith(".py") or head.text(path) is None:
            continue
        strings = head.by_string(path)
        if strings is None:
            return None
        found += [f"{path}:{ln}" for ln in strings.get(member, ())]
    return sorted(set(found))


# ---------------------------------------------------------------------------- new and removed names


def added_definitions(
    base: ast.Module | None, head: ast.Module | None, moved: set[str]
) -> dict[str, Symbol]:
    """Definitions in ``head`` and not in ``base`` that did not move here."""
    before = astdiff.definitions(base)
    return {
        q: s for q, s in astdiff.definitions(head).items() if q not in before and q not in moved
    }


def short_names(qualname: str) -> list[str]:
    """The names a definition binds (``Cls.method`` -> ``method``; ``A,B`` -> both)."""
    return qualname.rsplit(".", 1)[-1].split(",")


def removed_names(base: ast.Module | None, head: ast.Module | None) -> list[str]:
    """Module-level names ``base`` binds and ``head`` does not, sorted (the evidence's order
    must not depend on the hash seed)."""
    if base is None:
        return []
    return sorted(module_bindings(base) - (module_bindings(head) if head is not None else set()))


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
    while True:  # until a pass finds nothing more
        known, skip = len(out), [astdiff.line_span(added[q].node) for q in out]
        for q, sym in added.items():
            if q in out:
                continue
            owner = q.rsplit(".", 1)[0] if "." in q else ""
            own = [*sym.ranges, astdiff.line_span(sym.node), *skip]
            if owner in out:
                out[q] = f"member of the new, uncalled `{owner}`"
            elif not any(_counts(h, path, own) for n in short_names(q) for h in refs.get(n, [])):
                out[q] = (
                    "new code that nothing in the head tree calls or reads: it cannot "
                    "change performance"
                )
        if len(out) == known:
            return out
