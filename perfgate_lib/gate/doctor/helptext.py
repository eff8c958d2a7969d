"""What a command line offers, read from the help click or argparse prints, or from its
source with :mod:`ast` without running it (pure). ``None``: not a help text (or not Python),
which the checks report as "could not check", never as broken."""

from __future__ import annotations

import ast
import re

_SECTION = re.compile(r"^([A-Za-z][A-Za-z ]*):\s*$")
_ENTRY = re.compile(r"^\s{1,30}(-\S.*?)(?:\s{2,}|$)")
_COMMAND = re.compile(r"^\s{1,12}([a-z][a-z0-9_-]*)(?:\s|$)")
_LONG = re.compile(r"(?<![\w-])--[A-Za-z][\w-]*")
_CHOICES = re.compile(r"[\[{]([\w|,-]+)[\]}]")


def _sections(text: str) -> dict[str, list[str]]:
    """``{section name (lower case): its lines}`` of a help text."""
    out: dict[str, list[str]] = {}
    current: str | None = None
    for line in (text or "").splitlines():
        if (head := _SECTION.match(line)) and not line.startswith(" "):
            current = head.group(1).strip().lower()
            out.setdefault(current, [])
        elif current is not None:
            out[current].append(line)
    return out


def looks_like_help(text: str) -> bool:
    """A click or argparse help text: it starts with a usage line."""
    first = next((line for line in (text or "").splitlines() if line.strip()), "")
    return first.lower().startswith("usage:")


def _option_lines(text: str) -> list[str] | None:
    sections = _sections(text)
    names = [n for n in sections if n in ("options", "optional arguments") or n.endswith("options")]
    if not looks_like_help(text) or not names:
        return None
    return [line for n in names for line in sections[n]]


def help_options(text: str) -> frozenset[str] | None:
    """Long options (``--prefix``, both halves of ``--tail / --no-tail``) a help text lists."""
    lines = _option_lines(text)
    if lines is None:
        return None
    return frozenset(
        f for line in lines if (e := _ENTRY.match(line)) for f in _LONG.findall(e.group(1))
    )


def help_choices(text: str, option: str) -> tuple[str, ...] | None:
    """The choices a help text shows for ``option`` (``--priority [a|b]``), if any."""
    for line in _option_lines(text) or []:
        entry = _ENTRY.match(line)
        if entry and option in _LONG.findall(entry.group(1)):
            shown = _CHOICES.search(entry.group(1))
            if shown:
                return tuple(c for c in re.split(r"[|,]", shown.group(1)) if c)
    return None


def help_commands(text: str) -> frozenset[str] | None:
    """Sub-command names of a click group's help (its ``Commands:`` section)."""
    sections = _sections(text)
    if not looks_like_help(text) or "commands" not in sections:
        return None
    return frozenset(m.group(1) for line in sections["commands"] if (m := _COMMAND.match(line)))


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source or "")
    except (SyntaxError, ValueError):
        return None


def _call_name(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _flags_of_call(call: ast.Call) -> set[str]:
    """``--x`` strings among a call's leading positional arguments (``"--a/--b"`` split)."""
    words = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    return {
        part.strip() for word in words for part in word.split("/") if part.strip().startswith("--")
    }


def source_options(source: str) -> frozenset[str] | None:
    """Every long option declared with ``add_argument`` or ``click.option`` in ``source``
    (None when it is not Python, or declares none)."""
    tree = _parse(source)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)] if tree else []
    kept = [c for c in calls if _call_name(c.func) in ("add_argument", "option")]
    return frozenset(f for c in kept for f in _flags_of_call(c)) or None


def source_click_commands(source: str) -> dict[str, frozenset[str]] | None:
    """``{command name: its long options}`` of click commands (``@group.command()``) in
    ``source``; None when it is not Python."""
    tree = _parse(source)
    if tree is None:
        return None
    commands: dict[str, frozenset[str]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        name: str | None = None
        flags: set[str] = set()
        for deco in (d for d in node.decorator_list if isinstance(d, ast.Call)):
            if _call_name(deco.func) == "command":
                named = [kw.value for kw in deco.keywords if kw.arg == "name"]
                given = [v.value for v in (*named, *deco.args[:1]) if isinstance(v, ast.Constant)]
                name = str(given[-1]) if given else node.name.replace("_", "-")
            elif _call_name(deco.func) == "option":
                flags |= _flags_of_call(deco)
        if name is not None:
            commands[name] = frozenset(flags)
    return commands


def _assigned(source: str, name: str) -> list[ast.expr]:
    """The values ``source`` assigns to ``name`` at its top level (``=`` or annotated)."""
    tree = _parse(source)
    values = []
    for node in tree.body if tree is not None else []:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            values.append(value)
    return values


def source_constant_strings(source: str, name: str) -> tuple[str, ...] | None:
    """The strings of a module-level ``NAME = ("a", "b", ...)`` (tuple, list or set)."""
    for value in _assigned(source, name):
        if isinstance(value, ast.Call) and value.args:  # frozenset((...)), tuple([...])
            value = value.args[0]
        if isinstance(value, ast.Tuple | ast.List | ast.Set):
            items = [e.value for e in value.elts if isinstance(e, ast.Constant)]
            strings = [i for i in items if isinstance(i, str)]
            if len(strings) == len(items):
                return tuple(strings)
    return None


_TIER_KEYWORDS = ("extra", "region", "memory", "disk", "cpu", "priority")


def _tier_flags(value: ast.expr) -> str | None:
    """One tier's ``iris job run`` flags as text, from ``TierConfig(memory="2G", ...)`` or a
    ``("module", ["--memory=2G", ...])`` literal."""
    if isinstance(value, ast.Call):
        words = [
            f"--{kw.arg}={kw.value.value!s}"
            for kw in value.keywords
            if kw.arg in _TIER_KEYWORDS and isinstance(kw.value, ast.Constant) and kw.value.value
        ]
        return " ".join(words)
    if isinstance(value, ast.Tuple | ast.List):
        words = [
            c.value
            for node in ast.walk(value)
            if isinstance(node, ast.List)
            for c in node.elts
            if isinstance(c, ast.Constant) and isinstance(c.value, str)
        ]
        return " ".join(words)
    return None


def source_tiers(source: str) -> dict[str, str] | None:
    """``{gate: its iris flags as text}`` from a submit script's module-level ``TIERS`` dict."""
    for value in _assigned(source, "TIERS"):
        if isinstance(value, ast.Dict):
            tiers = {
                str(key.value): flags
                for key, item in zip(value.keys, value.values, strict=False)
                if isinstance(key, ast.Constant)  # not None: a ``**other`` entry
                and (flags := _tier_flags(item)) is not None
            }
            return tiers or None
    return None


def source_top_names(source: str) -> frozenset[str] | None:
    """Names a module defines or imports at its top level; None when it is not Python."""
    tree = _parse(source)
    if tree is None:
        return None
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return frozenset(names)
