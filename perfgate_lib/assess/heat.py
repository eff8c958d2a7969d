"""Hot, cold, stream or unknown: how often the changed code runs.

The hot-path rule: ``docs/assessment.md``. Pure: AST and changed lines in, :class:`Heat` out.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from perfgate_lib.assess import astdiff
from perfgate_lib.assess.astdiff import Symbol, identifier_parts, is_log_call, line_span, words

ONCE_PER_OBJECT = words(
    "__init__ __post_init__ __new__ __init_subclass__ __repr__ __str__ __enter__ __exit__ "
    "__aenter__ __aexit__ __del__ close"
)
_LOOPS = (ast.For, ast.AsyncFor, ast.While)
# What a loop iterates when it runs once per stage, per shard or per input file (plan and
# setup metadata), not per item: the last name of the iterable, singular or plural.
PER_STAGE = words(
    "column columns col cols field fields file files path paths shard shards op ops "
    "operation operations stage stages worker workers task tasks spec specs option options "
    "arg args kwarg kwargs name names attempt attempts"
)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


@dataclass(frozen=True)
class Heat:
    """``level`` is ``hot``, ``unknown``, ``stream`` or ``cold``; ``why`` says where."""

    level: str
    why: str

    @property
    def cold(self) -> bool:
        return self.level == "cold"


def _span(node: ast.AST) -> range:
    start, end = line_span(node)
    return range(start, end + 1)


def _regions(root: ast.AST) -> tuple[set[int], dict[int, str]]:
    """Lines in cold regions of ``root``, and hot lines with the loop that makes them hot."""
    cold: set[int] = set()
    hot: dict[int, str] = {}
    for node in ast.walk(root):
        if isinstance(node, ast.ExceptHandler | ast.Raise) or (
            isinstance(node, ast.Call) and is_log_call(node)
        ):
            cold.update(_span(node))
        elif isinstance(node, _LOOPS):
            if _per_stage(node.iter if isinstance(node, ast.For | ast.AsyncFor) else None):
                continue  # once per file, column, operation or shard: not per item
            # A for loop's iterable is evaluated once; a while loop's test every round.
            body_lines = {ln for stmt in node.body for ln in _span(stmt)}
            if isinstance(node, ast.While):
                body_lines |= set(_span(node.test))
            kind = "while" if isinstance(node, ast.While) else "for"
            for ln in body_lines:
                hot.setdefault(ln, f"{kind} loop at L{node.lineno}")
        elif isinstance(node, _COMPREHENSIONS):
            if all(_per_stage(g.iter) for g in node.generators):
                continue
            for ln in _span(node):
                hot.setdefault(ln, f"comprehension at L{node.lineno}")
    return cold, hot


def heat_of(node: ast.AST | None, qualname: str, kind: str, lines: Iterable[int]) -> Heat:
    """How hot the changed ``lines`` of one symbol (``kind`` as in :class:`Symbol`) are."""
    lines = set(lines)
    short = qualname.rsplit(".", 1)[-1]
    if kind in ("module", "imports"):
        return Heat("cold", "module level: runs once, at import")
    if kind == "function" and short in ONCE_PER_OBJECT:
        return Heat("cold", f"`{short}` runs once per object")
    if node is None or not lines or kind != "function":
        return Heat("unknown", "")
    cold, hot = _regions(node)
    if lines <= cold:
        return Heat("cold", "only on the error path or in logging (except/raise/log calls)")
    hot_lines = sorted(ln for ln in lines - cold if ln in hot)
    if hot_lines:
        return Heat("hot", f"per item: inside the {hot[hot_lines[0]]}")
    if _is_generator(node):
        return Heat("stream", "once per stream: a generator's code outside its loops")
    return Heat("unknown", "straight-line code: runs once per call")


def _is_generator(fn: ast.AST) -> bool:
    """A function that yields (its own body, not nested functions)."""
    stack = list(ast.iter_child_nodes(fn))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Yield | ast.YieldFrom):
            return True
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))
    return False


def _calls_to(tree: ast.Module, qualname: str) -> tuple[list[int], bool]:
    """Lines calling ``qualname`` in its module, and whether it is also used another way."""
    owner, _, name = qualname.rpartition(".")
    receivers = {"self", "cls", owner} if owner else set()
    calls: list[int] = []
    called: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            direct = not owner and isinstance(func, ast.Name) and func.id == name
            method = (
                owner
                and isinstance(func, ast.Attribute)
                and func.attr == name
                and isinstance(func.value, ast.Name)
                and func.value.id in receivers
            )
            if direct or method:
                calls.append(node.lineno)
                called.add(id(func))
    other = any(
        id(n) not in called
        and (
            (not owner and isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load))
            or (owner and isinstance(n, ast.Attribute) and n.attr == name)
        )
        for n in ast.walk(tree)
    )
    return calls, other


def _caller_level(
    symbols: Mapping[str, Symbol], line: int, qualname: str
) -> tuple[str, str] | None:
    """(caller, "cold" | "stream") of the call at ``line``; None when it may be hot."""
    caller = astdiff.symbol_at(symbols, line)
    if not caller:
        return None
    sym = symbols.get(caller)
    if sym is None or caller == qualname:
        return None
    heat = heat_of(sym.node, caller, sym.kind, [line])
    return (caller, heat.level) if heat.level in ("cold", "stream") else None


def heat_from_callers(
    tree: ast.Module | None,
    symbols: Mapping[str, Symbol],
    qualname: str,
    called_elsewhere: bool,
) -> Heat | None:
    """Cold when every call in its module sits on a cold path and no other module names it."""

    if tree is None or called_elsewhere:
        return None
    calls, other = _calls_to(tree, qualname)
    if not calls or other:
        return None
    return _callers_heat([(symbols, line, "") for line in calls], qualname)


def _per_stage(iterable: ast.expr | None) -> bool:
    """A loop over per-stage metadata (``spec.columns``, ``files``, ``range(num_shards)``)."""
    if iterable is None:
        return False
    if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name):
        if (
            iterable.func.id in ("enumerate", "sorted", "reversed", "list", "tuple")
            and iterable.args
        ):
            return _per_stage(iterable.args[0])
        if iterable.func.id == "range" and iterable.args:
            return _per_stage(iterable.args[-1])
        return False
    if isinstance(iterable, ast.Attribute):
        name = iterable.attr
    elif isinstance(iterable, ast.Name):
        name = iterable.id
    else:
        return False
    parts = identifier_parts(name)
    return bool(parts) and parts[-1] in PER_STAGE


def heat_from_tree_callers(
    files: Sequence[tuple[str, ast.Module, Mapping[str, Symbol], set[int]]],
    qualname: str,
    own_path: str,
) -> Heat | None:
    """:func:`heat_from_callers` over ``(path, tree, symbols, mention lines)`` of every file."""

    if "." in qualname:
        return None
    sites: list[tuple[Mapping[str, Symbol], int, str]] = []
    for path, tree, symbols, mentions in files:
        calls, other = _calls_to(tree, qualname)
        if other:
            return None
        explained = set(calls)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and any(
                (a.asname or a.name).split(".")[-1] == qualname for a in node.names
            ):
                explained.update(_span(node))
            elif (
                path == own_path
                and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                and node.name == qualname
            ):
                explained.add(node.lineno)
        if mentions - explained:
            return None
        sites += [(symbols, line, f" ({path.rsplit('/', 1)[-1]})") for line in calls]
    return _callers_heat(sites, qualname) if sites else None


def _callers_heat(
    sites: Iterable[tuple[Mapping[str, Symbol], int, str]], qualname: str
) -> Heat | None:
    """Cold (or per stream) when every call site is cold (or per stream); None if maybe hot."""
    where: set[str] = set()
    levels: set[str] = set()
    for symbols, line, label in sites:
        found = _caller_level(symbols, line, qualname)
        if found is None:
            return None
        levels.add(found[1])
        where.add(f"`{found[0]}`{label}")
    callers = ", ".join(sorted(where))
    if levels == {"cold"}:
        return Heat("cold", f"called only from cold paths: {callers}")
    return Heat("stream", f"called once per stream or on cold paths: {callers}")
