"""Reading callgrind's output format: per-function exclusive counts and call arcs.

Standard library only (the kit reads dumps natively; the mini ferry's side process may
too). Pure: :func:`parse_dump` takes the text of one ``callgrind.out.<n>`` file (format
version 1, as callgrind 3.x writes it: name compression ``fn=(id) name``, relative
positions ``+n``/``-n``/``*``, ``calls=`` lines followed by the call's inclusive cost) and
returns a :class:`Dump`: the stated total, each function's exclusive ("self")
instructions, and each caller -> callee arc's call count and inclusive instructions.
The exclusive counts sum to the total exactly.

A function is keyed ``(object, name)``: ``object`` is the file callgrind names with
``ob=`` (the ELF object, for example ``libpython3.12.so.1.0``'s path, or ``???``), and
``name`` the symbol, or ``0x...`` for code without a symbol (CPython's perf trampolines).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

FunctionKey = tuple[str, str]  # (object path, function name)

_NAMED = re.compile(r"^\((\d+)\)(?: (.*))?$")
_SPEC_KEYS = ("ob", "fl", "fi", "fe", "fn", "cob", "cfi", "cfl", "cfn")


class DumpFormatError(ValueError):
    """A callgrind dump this reader cannot read; the message names the file and line."""


@dataclass
class Dump:
    """One callgrind dump: instructions (``Ir``) per function and per call arc."""

    total: int
    self_cost: dict[FunctionKey, int] = field(default_factory=dict)
    # (caller, callee) -> (calls, inclusive instructions of those calls)
    arcs: dict[tuple[FunctionKey, FunctionKey], tuple[int, int]] = field(default_factory=dict)
    files: dict[FunctionKey, str] = field(default_factory=dict)  # the fl= of each function
    pid: int | None = None

    def inclusive(self) -> dict[FunctionKey, int]:
        """Each function's inclusive instructions: self plus its outgoing arcs, except
        recursive arcs (a function calling itself)."""
        out = dict(self.self_cost)
        for (caller, callee), (_calls, cost) in self.arcs.items():
            if caller != callee:
                out[caller] = out.get(caller, 0) + cost
        return out


def _number(token: str, last: int, where: str) -> int:
    if token == "*":
        return last
    if token[0] in "+-":
        return last + int(token)
    if token.startswith("0x"):
        return int(token, 16)
    try:
        return int(token)
    except ValueError as exc:
        raise DumpFormatError(f"{where}: not a position or cost: {token!r}") from exc


def parse_dump(text: str, source: str = "callgrind dump") -> Dump:
    """Parse the text of one callgrind dump (``source`` names it in errors)."""
    names: dict[str, dict[str, str]] = {k: {} for k in ("ob", "fl", "fn")}
    kind_of = {"ob": "ob", "cob": "ob", "fl": "fl", "fi": "fl", "fe": "fl", "cfi": "fl",
               "cfl": "fl", "fn": "fn", "cfn": "fn"}  # fmt: skip
    current = {"ob": "???", "fl": "???", "fn": "???", "cob": "", "cfi": "", "cfn": ""}
    self_cost: dict[FunctionKey, int] = defaultdict(int)
    arcs: dict[tuple[FunctionKey, FunctionKey], list[int]] = {}
    files: dict[FunctionKey, str] = {}
    total: int | None = None
    pid: int | None = None
    n_positions = 1
    last_pos: list[int] = [0]
    pending_calls: int | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source}, line {number}"
        head = line[0]
        if head.isdigit() or head in "+-*":
            tokens = line.split()
            positions = [
                _number(t, last_pos[i] if i < len(last_pos) else 0, where)
                for i, t in enumerate(tokens[:n_positions])
            ]
            last_pos = positions
            cost = int(tokens[n_positions]) if len(tokens) > n_positions else 0
            fn = (current["ob"], current["fn"])
            if pending_calls is not None:
                callee = (current["cob"] or current["ob"], current["cfn"])
                entry = arcs.setdefault((fn, callee), [0, 0])
                entry[0] += pending_calls
                entry[1] += cost
                pending_calls = None
                current["cob"] = current["cfi"] = ""
            else:
                self_cost[fn] += cost
            continue
        key, sep, value = line.partition("=")
        if sep and key in _SPEC_KEYS:
            match = _NAMED.match(value)
            table = names[kind_of[key]]
            if match:
                ident, name = match.groups()
                if name is not None:
                    table[ident] = name
                elif ident not in table:
                    raise DumpFormatError(f"{where}: {key}=({ident}) used before it was named")
                value = table[ident]
            current[key] = value
            if key == "fn":
                current["cob"] = current["cfi"] = ""
                files.setdefault((current["ob"], value), current["fl"])
            elif key == "fl":
                current["fi"] = current["fe"] = value
            continue
        if key == "calls" and sep:
            try:
                pending_calls = int(value.split()[0])
            except (ValueError, IndexError) as exc:
                raise DumpFormatError(f"{where}: bad calls= line {line!r}") from exc
            continue
        if key in ("jump", "jcnd"):
            continue
        label, colon, rest = line.partition(":")
        if colon:
            label = label.strip()
            if label == "positions":
                n_positions = len(rest.split())
                last_pos = [0] * n_positions
            elif label == "events":
                if rest.split()[:1] != ["Ir"]:
                    raise DumpFormatError(f"{where}: the first event is not Ir: {rest.strip()!r}")
            elif label in ("summary", "totals"):
                total = int(rest.split()[0])
            elif label == "pid":
                pid = int(rest.split()[0])
    if total is None:
        raise DumpFormatError(f"{source}: no summary: or totals: line (not a callgrind dump?)")
    return Dump(
        total=total,
        self_cost=dict(self_cost),
        arcs={k: (v[0], v[1]) for k, v in arcs.items()},
        files=files,
        pid=pid,
    )
