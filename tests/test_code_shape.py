"""The code's shape (issue 33): no function of perfgate_lib longer than 80 lines.

Complexity (ruff C90, at most 12), blind excepts (ruff BLE) and types (mypy) are checked
by `make test` before pytest; a function's length is not a ruff rule, so it is checked
here, on the source as Python's own parser reads it."""

from __future__ import annotations

import ast
from pathlib import Path

import perfgate_lib

MAX_LINES = 80


def function_lengths(source: str) -> list[tuple[str, int, int]]:
    """(name, first line, lines) of every function and method in ``source``; the lines
    run from ``def`` to the function's last line (decorators not counted)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            out.append((node.name, node.lineno, node.end_lineno - node.lineno + 1))
    return out


def test_the_length_rule_counts_from_def_to_the_last_line():
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_LINES))
    lengths = function_lengths(f"@decorated\ndef long():\n{body}\ndef short():\n    pass\n")
    assert lengths == [("long", 2, MAX_LINES + 1), ("short", MAX_LINES + 4, 2)]


def test_no_function_is_longer_than_80_lines():
    root = Path(perfgate_lib.__file__).parent
    too_long = [
        f"{path.relative_to(root.parent)}:{line} {name} ({lines} lines)"
        for path in sorted(root.rglob("*.py"))
        for name, line, lines in function_lengths(path.read_text())
        if lines > MAX_LINES
    ]
    assert too_long == [], "split these into named steps:\n" + "\n".join(too_long)
