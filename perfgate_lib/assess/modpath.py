"""Dotted module names of Python paths, and absolute modules of relative imports. Pure."""

from __future__ import annotations

import ast


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
