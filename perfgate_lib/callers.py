"""Who in the head tree still uses a name a module no longer defines.

A textual search finds every line naming ``n``; :func:`users_of` keeps the lines that
really use ``module.n``, by reading each Python file's imports:

* ``from module import n`` (relative imports resolved),
* ``import module`` / ``from package import module`` followed by ``module.n``,
* in ``module`` itself, a read of the bare name ``n`` that the module no longer binds.

Other files' own ``n`` (a definition moved elsewhere and imported from there) is not a
use. A non-Python file counts when it spells ``module.n`` or ``module:n`` (entry points,
configuration). Pure: texts in, ``path:line`` lists out.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Mapping

from perfgate_lib.astdiff import receiver_text
from perfgate_lib.modpath import module_of, resolve_import

HeadReader = Callable[[str], str | None]


def _module_aliases(tree: ast.Module, path: str, module: str) -> set[str]:
    """Dotted names bound to ``module`` in a file (``writers``, ``zephyr.writers``, ``w``)."""
    parent, _, last = module.rpartition(".")
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == module:
                    out.add(alias.asname or module)
        elif isinstance(node, ast.ImportFrom):
            source = resolve_import("." * node.level + (node.module or ""), path)
            for alias in node.names:
                if source == parent and alias.name == last:
                    out.add(alias.asname or last)
    return out


def module_bindings(tree: ast.Module) -> set[str]:
    """Names bound at module level (definitions, assignments, imports), also under
    module-level ``if``/``try`` blocks."""
    out: set[str] = set()
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        stmt = stack.pop()
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.add(stmt.name)
            continue
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            out.update((a.asname or a.name).split(".")[0] for a in stmt.names)
        for node in ast.walk(stmt) if not isinstance(stmt, ast.If | ast.Try) else []:
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                out.add(node.id)
        for field_name in ("body", "orelse", "finalbody"):
            stack.extend(
                getattr(stmt, field_name, []) if isinstance(stmt, ast.If | ast.Try) else []
            )
        for handler in getattr(stmt, "handlers", []) or []:
            stack.extend(handler.body)
    return out


def python_uses(
    tree: ast.Module, path: str, module: str, name: str, defined: bool = False
) -> list[int]:
    """Lines of one parsed Python file that use ``module.name``. ``defined``: the module
    defines the name (a new definition), so its own reads of it count too."""
    lines: set[int] = set()
    aliases = _module_aliases(tree, path, module)
    own = module_of(path) == module
    bound = module_bindings(tree) if own else set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = resolve_import("." * node.level + (node.module or ""), path)
            if source == module and any(a.name == name for a in node.names):
                lines.add(node.lineno)
        elif isinstance(node, ast.Attribute) and node.attr == name:
            if aliases and receiver_text(node.value) in aliases:
                lines.add(node.lineno)
        elif (
            own
            and isinstance(node, ast.Name)
            and node.id == name
            and isinstance(node.ctx, ast.Load)
            and (defined or name not in bound)
        ):
            lines.add(node.lineno)
    return sorted(lines)


def users_of(
    removed: Iterable[tuple[str, str]],
    hits: Mapping[str, list[str]],
    read_head: HeadReader,
    defined: bool = False,
) -> dict[tuple[str, str], list[str]]:
    """``{(module, name): ["path:line", ...]}`` for names used in the head tree as
    ``module.name``; ``hits`` are the textual ``path:line`` hits of each name. For removed
    names (``defined`` false) a module's own bare reads count only if it no longer binds
    the name; for new ones (``defined``) they count always."""
    trees: dict[str, ast.Module | None] = {}
    texts: dict[str, str | None] = {}
    out: dict[tuple[str, str], list[str]] = {}

    def text(path: str) -> str | None:
        if path not in texts:
            texts[path] = read_head(path)
        return texts[path]

    def tree(path: str) -> ast.Module | None:
        if path not in trees:
            src = text(path)
            try:
                trees[path] = ast.parse(src) if src is not None else None
            except (SyntaxError, ValueError):
                trees[path] = None
        return trees[path]

    for module, name in removed:
        found: list[str] = []
        for path in sorted({h.rsplit(":", 1)[0] for h in hits.get(name, [])}):
            if path.endswith(".py"):
                parsed = tree(path)
                if parsed is None:  # cannot read it: every textual hit counts
                    found += [h for h in hits[name] if h.rsplit(":", 1)[0] == path]
                    continue
                found += [f"{path}:{ln}" for ln in python_uses(parsed, path, module, name, defined)]
            else:
                src = text(path) or ""
                for ln, line in enumerate(src.splitlines(), 1):
                    if f"{module}.{name}" in line or f"{module}:{name}" in line:
                        found.append(f"{path}:{ln}")
        if found:
            out[(module, name)] = found
    return out
