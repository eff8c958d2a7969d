"""Reading callgrind's output format: per-function exclusive counts and call arcs.

Standard library only. :func:`parse_dump` takes the text of one ``callgrind.out.<n>``
file (format version 1, as callgrind 3.x writes it: compressed names ``fn=(id) name``,
relative positions ``+n``/``-n``/``*``, ``calls=`` lines followed by the call's inclusive
cost) and returns a :class:`Dump`: the stated total, each function's exclusive ("self")
instructions, which sum to the total exactly, and each caller -> callee arc's call count
and inclusive instructions. A function is keyed ``(object, name)``: the ``ob=`` file (or
``???``) and the symbol (or ``0x...`` for code without one, such as perf trampolines).
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
    reader = _DumpReader(source)
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line and not line.startswith("#"):
            reader.read(line, f"{source}, line {number}")
    return reader.dump()


# Which name-compression table each spec key's ``(id)`` refers to: objects, files, functions.
_KIND_OF = {"ob": "ob", "cob": "ob", "fl": "fl", "fi": "fl", "fe": "fl", "cfi": "fl",
            "cfl": "fl", "fn": "fn", "cfn": "fn"}  # fmt: skip


class _DumpReader:
    """What :func:`parse_dump` knows so far, one line at a time: the current object, file,
    function and callee, the last positions, a pending ``calls=`` and the instruction
    counts read."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.names: dict[str, dict[str, str]] = {k: {} for k in ("ob", "fl", "fn")}
        self.current = {"ob": "???", "fl": "???", "fn": "???", "cob": "", "cfi": "", "cfn": ""}
        self.self_cost: dict[FunctionKey, int] = defaultdict(int)
        self.arcs: dict[tuple[FunctionKey, FunctionKey], list[int]] = {}
        self.files: dict[FunctionKey, str] = {}
        self.total: int | None = None
        self.pid: int | None = None
        self.n_positions = 1
        self.last_pos: list[int] = [0]
        self.pending_calls: int | None = None

    def read(self, line: str, where: str) -> None:
        """One non-empty, non-comment line (``where`` names it in errors)."""
        head = line[0]
        if head.isdigit() or head in "+-*":
            self._cost_line(line, where)
            return
        key, sep, value = line.partition("=")
        if sep and key in _SPEC_KEYS:
            self._spec_line(key, value, where)
        elif key == "calls" and sep:
            self._calls_line(value, line, where)
        elif key not in ("jump", "jcnd"):
            self._header_line(line, where)

    def _cost_line(self, line: str, where: str) -> None:
        """Positions then instructions: the current function's own, or, right after a
        ``calls=`` line, the call's inclusive instructions on the arc to the callee."""
        tokens = line.split()
        positions = [
            _number(t, self.last_pos[i] if i < len(self.last_pos) else 0, where)
            for i, t in enumerate(tokens[: self.n_positions])
        ]
        self.last_pos = positions
        cost = int(tokens[self.n_positions]) if len(tokens) > self.n_positions else 0
        current = self.current
        fn = (current["ob"], current["fn"])
        if self.pending_calls is not None:
            callee = (current["cob"] or current["ob"], current["cfn"])
            entry = self.arcs.setdefault((fn, callee), [0, 0])
            entry[0] += self.pending_calls
            entry[1] += cost
            self.pending_calls = None
            current["cob"] = current["cfi"] = ""
        else:
            self.self_cost[fn] += cost

    def _spec_line(self, key: str, value: str, where: str) -> None:
        """``ob=``, ``fl=``, ``fn=``, ``cfn=``, ...: a name, maybe compressed ``(id)``."""
        match = _NAMED.match(value)
        table = self.names[_KIND_OF[key]]
        if match:
            ident, name = match.groups()
            if name is not None:
                table[ident] = name
            elif ident not in table:
                raise DumpFormatError(f"{where}: {key}=({ident}) used before it was named")
            value = table[ident]
        current = self.current
        current[key] = value
        if key == "fn":
            current["cob"] = current["cfi"] = ""
            self.files.setdefault((current["ob"], value), current["fl"])
        elif key == "fl":
            current["fi"] = current["fe"] = value

    def _calls_line(self, value: str, line: str, where: str) -> None:
        """``calls=<count> <target position>``: the next cost line is that call's."""
        try:
            self.pending_calls = int(value.split()[0])
        except (ValueError, IndexError) as exc:
            raise DumpFormatError(f"{where}: bad calls= line {line!r}") from exc

    def _header_line(self, line: str, where: str) -> None:
        """``positions:``, ``events:`` (Ir first), ``summary:``/``totals:`` and ``pid:``;
        other lines are ignored."""
        label, colon, rest = line.partition(":")
        if not colon:
            return
        label = label.strip()
        if label == "positions":
            self.n_positions = len(rest.split())
            self.last_pos = [0] * self.n_positions
        elif label == "events":
            if rest.split()[:1] != ["Ir"]:
                raise DumpFormatError(f"{where}: the first event is not Ir: {rest.strip()!r}")
        elif label in ("summary", "totals"):
            self.total = int(rest.split()[0])
        elif label == "pid":
            self.pid = int(rest.split()[0])

    def dump(self) -> Dump:
        """The :class:`Dump` read; :class:`DumpFormatError` without a stated total."""
        if self.total is None:
            raise DumpFormatError(
                f"{self.source}: no summary: or totals: line (not a callgrind dump?)"
            )
        return Dump(
            total=self.total,
            self_cost=dict(self.self_cost),
            arcs={k: (v[0], v[1]) for k, v in self.arcs.items()},
            files=self.files,
            pid=self.pid,
        )
