"""Where a stage's instructions went: one side's callgrind dump (format version 1: compressed
names, relative positions, ``calls=`` lines) read into per-function exclusive counts (Python
names from the perf map, else C names; allocators out as in gate 0's count), and the
control-treatment delta. Pure functions. The method: ``docs/attribution.md``.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from dataclasses import dataclass, field

from perfgate_lib.local.callgrind_client import CALLER_CHAIN, is_allocator

FunctionKey = tuple[str, str]  # (the ob= object path or ???, the symbol or 0x... address)

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
    reader = _DumpReader()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line and not line.startswith("#"):
            reader.read(line, f"{source}, line {number}")
    if reader.total is None:
        raise DumpFormatError(f"{source}: no summary: or totals: line (not a callgrind dump?)")
    arcs = {key: (calls, cost) for key, (calls, cost) in reader.arcs.items()}
    return Dump(reader.total, dict(reader.self_cost), arcs, reader.files, reader.pid)


class _DumpReader:
    """What :func:`parse_dump` knows so far: the current names, the last positions, a
    pending ``calls=`` and the instructions read."""

    def __init__(self) -> None:
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
        key, sep, value = line.partition("=")
        if line[0].isdigit() or line[0] in "+-*":
            self._cost_line(line.split(), where)
        elif sep and key in _SPEC_KEYS:
            self._spec_line(key, value, where)
        elif key == "calls" and sep:
            try:
                self.pending_calls = int(value.split()[0])  # the next cost line is the call's
            except (ValueError, IndexError) as exc:
                raise DumpFormatError(f"{where}: bad calls= line {line!r}") from exc
        elif key not in ("jump", "jcnd"):
            self._header_line(line, where)

    def _cost_line(self, tokens: list[str], where: str) -> None:
        """Positions then instructions: the current function's own, or, right after a
        ``calls=`` line, the call's inclusive instructions on the arc to the callee."""
        n, last = self.n_positions, self.last_pos
        self.last_pos = [
            _number(t, last[i] if i < len(last) else 0, where) for i, t in enumerate(tokens[:n])
        ]
        cost = _number(tokens[n], 0, where) if len(tokens) > n else 0
        current = self.current
        fn = (current["ob"], current["fn"])
        if self.pending_calls is None:
            self.self_cost[fn] += cost
            return
        entry = self.arcs.setdefault(
            (fn, (current["cob"] or current["ob"], current["cfn"])), [0, 0]
        )
        entry[0] += self.pending_calls
        entry[1] += cost
        self.pending_calls = None
        current["cob"] = current["cfi"] = ""

    def _spec_line(self, key: str, value: str, where: str) -> None:
        """``ob=``, ``fl=``, ``fn=``, ``cfn=``, ...: a name, maybe compressed ``(id)``."""
        match = _NAMED.match(value)
        if match:  # the name table of objects, files or functions
            table = self.names[key[-2:] if key[-2:] in ("ob", "fn") else "fl"]
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

    def _header_line(self, line: str, where: str) -> None:
        """``positions:``, ``events:`` (Ir first), ``summary:``/``totals:`` and ``pid:``;
        other lines are ignored."""
        label, colon, rest = line.partition(":")
        label = label.strip()
        if not colon:
            return
        if label == "positions":
            self.n_positions = len(rest.split())
            self.last_pos = [0] * self.n_positions
        elif label == "events" and rest.split()[:1] != ["Ir"]:
            raise DumpFormatError(f"{where}: the first event is not Ir: {rest.strip()!r}")
        elif label in ("summary", "totals"):
            self.total = int(rest.split()[0])
        elif label == "pid":
            self.pid = int(rest.split()[0])


TRAMPOLINE_EVALUATOR = "py_trampoline_evaluator"
OUTSIDE = "(outside Python)"
ALLOCATORS = "memory allocators (not in gate 0's count)"
UNATTRIBUTED = "(counted twice: Python calls deeper than the recorded caller chain)"
# PyTorch's CallgrindStats.denoise drops CPython's unicode dict lookups (variable names);
# in the C view these rows are dropped from the table, with a note (the totals keep them).
NOISY_C = re.compile(r"^(lookdict_unicode\w*|unicodekeys_lookup_unicode|_Py_dict_lookup)$")

MARIN_LIBRARIES = ("fray", "iris", "rigging", "finelog", "marin", "levanter", "haliax", "dupekit")


@dataclass(frozen=True)
class PerfMap:
    """CPython's perf map: trampoline start addresses (sorted), sizes and names."""

    starts: tuple[int, ...]
    sizes: tuple[int, ...]
    names: tuple[str, ...]

    def name_at(self, address: int) -> str | None:
        """The ``py::qualname:file`` whose trampoline holds ``address``, else None."""
        i = bisect.bisect_right(self.starts, address) - 1
        if i >= 0 and address < self.starts[i] + self.sizes[i]:
            return self.names[i]
        return None


def parse_perf_map(text: str) -> PerfMap:
    """Lines ``<hex start> <hex size> <name>``; later lines win for the same start."""
    entries: dict[int, tuple[int, str]] = {}
    for line in text.splitlines():
        parts = line.split(" ", 2)
        if len(parts) != 3:
            continue
        try:
            start, size = int(parts[0], 16), int(parts[1], 16)
        except ValueError:
            continue
        entries[start] = (size, parts[2].strip())
    ordered = sorted(entries.items())
    starts = tuple(start for start, _ in ordered)
    return PerfMap(starts, tuple(v[0] for _, v in ordered), tuple(v[1] for _, v in ordered))


@dataclass(frozen=True)
class Function:
    """One row's identity: name, defining file or ELF object (stripped), origin."""

    name: str
    file: str
    origin: str
    python: bool


@dataclass
class Profile:
    """One side's stage: exclusive instructions per function (they sum to ``total``)."""

    total: int
    self_cost: dict[Function, int] = field(default_factory=dict)
    view: str = "python"  # "python" or "c"
    notes: list[str] = field(default_factory=list)
    # (calling Python function or None for none, called one) -> inclusive instructions
    edges: dict[tuple[Function | None, Function], int] = field(default_factory=dict)


_STRIPPED = (
    (r"(?:^|/)site-packages/(.*)$", ""),
    (r"(?:^|/)lib/[^/]+/src/(.*)$", ""),
    (r"(?:^|/)lib/python3\.\d+/(.*)$", "<stdlib>/"),
)


def strip_path(path: str, roots: tuple[str, ...] = ()) -> str:
    """A path without what differs between the sides, as ``cg_diff --mod-filename`` does:
    a given root (a worktree), then everything up to ``site-packages/``, ``/src/`` of a
    ``lib/<name>/src`` tree, or CPython's ``lib/python3.X/`` (written ``<stdlib>/``)."""
    for root in sorted(roots, key=len, reverse=True):
        if root and path.startswith(root.rstrip("/") + "/"):
            path = path[len(root.rstrip("/")) + 1 :]
            break
    for pattern, prefix in _STRIPPED:
        match = re.search(pattern, path)
        if match:
            return prefix + match.group(1)
    return re.sub(r"/tmp/[^/]*perfgate[^/]*/(?:work-[^/]+/)?", "", path)


def origin_of(file: str, python: bool) -> str:
    """Zephyr, another marin library, the mini ferry, third-party, CPython or system."""
    top = file.split("/", 1)[0]
    if python:
        if top == "zephyr":
            return "Zephyr"
        if top in MARIN_LIBRARIES:
            return "marin library"
        if "perfgate_lib/" in file or file.endswith(("ferry_pipeline.py", "callgrind_client.py")):
            return "mini ferry"
        if file.startswith("<stdlib>/") or file.startswith("<"):
            return "CPython"
        return "third-party"
    base = file.rsplit("/", 1)[-1]
    if base.startswith(("libpython", "python3")) or "/lib-dynload/" in file:
        return "CPython"
    if base.startswith(("libc.", "libc-", "ld-linux", "libm.", "libpthread")) or file == "???":
        return "system"
    return "third-party"


def _address(name: str) -> int | None:
    head = name.split("'", 1)[0]
    try:
        return int(head, 16) if head.startswith("0x") else None
    except ValueError:
        return None


def _allocators(dump: Dump) -> int:
    """The instructions of the allocators' own code (contexts merged)."""
    return sum(
        c for (obj, name), c in dump.self_cost.items() if is_allocator(obj, name.split("'")[0])
    )


def c_profile(dump: Dump, roots: tuple[str, ...] = ()) -> Profile:
    """Callgrind's exclusive counts per C function (contexts merged), allocators out."""
    out: dict[Function, int] = {}
    for (obj, name), cost in dump.self_cost.items():
        base = name.split("'", 1)[0]
        if not is_allocator(obj, base):
            function = Function(base, strip_path(obj, roots), origin_of(obj, False), False)
            out[function] = out.get(function, 0) + cost
    return Profile(total=dump.total - _allocators(dump), self_cost=out, view="c")


def python_profile(dump: Dump, perf_map: PerfMap, roots: tuple[str, ...] = ()) -> Profile:
    """Self counts per Python function: a trampoline's inclusive count less its Python
    callees'; the rest is one row outside Python, allocators out in one row."""
    keys = [*dump.self_cost, *(callee for _caller, callee in dump.arcs)]
    trampolines = {k: name for k in keys if (name := perf_map.name_at(_address(k[1]) or -1))}
    py_self = {k: dump.self_cost.get(k, 0) for k in trampolines}
    for (caller, callee), (_calls, cost) in dump.arcs.items():
        if caller in trampolines and caller != callee:
            py_self[caller] += cost
    names: dict[FunctionKey, Function] = {}
    for key, perf_name in trampolines.items():
        qualname, _, file = perf_name.removeprefix("py::").partition(":")
        file = strip_path(file, roots)
        names[key] = Function(qualname, file, origin_of(file, True), True)
    outside, deeper = dump.total, 0
    by_address = {_address(key[1]): key for key in trampolines}
    edges: dict[tuple[Function | None, Function], int] = {}
    for (caller, callee), (_calls, cost) in dump.arcs.items():
        if callee not in trampolines:
            continue
        parent = _calling_trampoline(caller, trampolines, by_address)
        if parent is not None:
            py_self[parent] -= cost
        elif caller[1].startswith(TRAMPOLINE_EVALUATOR) and _chain_full(caller[1]):
            deeper += cost  # the caller is a Python frame further up: not known
        else:
            outside -= cost
        edge = (names[parent] if parent else None, names[callee])
        edges[edge] = edges.get(edge, 0) + cost
    out: dict[Function, int] = {}
    for key, cost in py_self.items():
        out[names[key]] = out.get(names[key], 0) + cost
    out[Function(OUTSIDE, "", "CPython", False)] = outside
    allocator = _allocators(dump)
    out[Function(ALLOCATORS, "", "system", False)] = -allocator
    notes = []
    if deeper:  # their cost is in an unknown Python caller's row and in their own
        out[Function(UNATTRIBUTED, "", "CPython", False)] = -deeper
        notes.append(
            f"{deeper:,} instructions of Python calls made through more C frames than "
            "callgrind recorded (--separate-callers) stay in their caller's row as well as "
            f"their own; the row {UNATTRIBUTED!r} takes them out once"
        )
    total = dump.total - allocator
    return Profile(total=total, self_cost=out, view="python", notes=notes, edges=edges)


def folded_stacks(
    profile: Profile, max_depth: int = 40, min_cost: int = 1
) -> dict[tuple[str, ...], int]:
    """Python stacks (root first) -> exclusive instructions, from the profile's call edges
    (how callees are shared among callers: ``docs/attribution.md``); a stack whose share
    falls under ``min_cost`` merges into its parent's frame."""
    children: dict[Function | None, list[tuple[Function, int]]] = {}
    inclusive: dict[Function, int] = {}
    for (parent, child), cost in profile.edges.items():
        children.setdefault(parent, []).append((child, cost))
        inclusive[child] = inclusive.get(child, 0) + cost
    for items in children.values():
        items.sort(key=lambda item: (item[0].name, item[0].file))
    out: dict[tuple[str, ...], int] = {}

    def label(function: Function) -> str:
        return f"{function.name} ({function.file})" if function.file else function.name

    def walk(function: Function, share: float, stack: tuple[str, ...], seen: frozenset) -> None:
        total = inclusive.get(function, 0)
        if total <= 0 or share <= 0:
            return
        fraction = share / total
        mine = share
        if len(stack) < max_depth:
            for child, cost in children.get(function, []):
                part = cost * fraction
                if child in seen or part < min_cost:
                    continue
                mine -= part
                walk(child, part, (*stack, label(child)), seen | {child})
        out[stack] = out.get(stack, 0) + round(mine)

    for root, cost in children.get(None, []):
        walk(root, float(cost), (label(root),), frozenset({root}))
    return {k: v for k, v in out.items() if v}


def _chain_full(context: str) -> bool:
    parts = [p for p in context.split("'")[1:] if not p.isdigit()]
    return len(parts) >= CALLER_CHAIN


def _calling_trampoline(
    caller: FunctionKey,
    trampolines: dict[FunctionKey, str],
    by_address: dict[int | None, FunctionKey],
) -> FunctionKey | None:
    """The nearest trampoline in a ``py_trampoline_evaluator'c1'c2...`` context."""
    if caller in trampolines:
        return caller
    parts = caller[1].split("'")[1:] if caller[1].startswith(TRAMPOLINE_EVALUATOR) else []
    address = next((a for a in map(_address, parts) if a is not None and a in by_address), None)
    return None if address is None else by_address[address]


@dataclass(frozen=True)
class DeltaRow:
    """One function's exclusive instructions in control and treatment, and the change."""

    function: Function
    control: int
    treatment: int

    @property
    def delta(self) -> int:
        """treatment - control (instructions)."""
        return self.treatment - self.control

    @property
    def status(self) -> str:
        """``appears``, ``vanishes`` or ``changed``."""
        if self.control == 0 and self.treatment != 0:
            return "appears"
        if self.treatment == 0 and self.control != 0:
            return "vanishes"
        return "changed"


@dataclass
class StageDelta:
    """The function delta of one stage: rows by |Δ| and how much of the change they explain."""

    stage: str
    control_total: int
    treatment_total: int
    rows: list[DeltaRow]
    listed: int
    view: str
    notes: list[str]

    @property
    def delta(self) -> int:
        """The stage's change (instructions): treatment_total - control_total."""
        return self.treatment_total - self.control_total

    @property
    def delta_pct(self) -> float:
        """The stage's change in percent of control."""
        return 100.0 * self.delta / self.control_total if self.control_total else 0.0

    def top(self) -> list[DeltaRow]:
        """The listed rows (:func:`stage_delta`)."""
        return self.rows[: self.listed]

    @property
    def explained_pct(self) -> float:
        """Σ Δ of the listed rows in percent of the stage's Δ (exact: self counts sum up)."""
        if not self.delta:
            return 0.0
        return 100.0 * sum(r.delta for r in self.top()) / self.delta


def stage_delta(
    stage: str, control: Profile, treatment: Profile, top_n: int = 10, max_rows: int = 15
) -> StageDelta:
    """Rows of both sides' functions by |Δ| (largest first; ties by name, file, origin), the top
    ``top_n`` listed plus functions that appear or vanish, at most ``max_rows``."""
    functions = set(control.self_cost) | set(treatment.self_cost)
    rows = [
        DeltaRow(f, control.self_cost.get(f, 0), treatment.self_cost.get(f, 0)) for f in functions
    ]
    rows = [r for r in rows if r.delta]
    notes = [f"{side}: {n}" for side, p in (("control", control), ("treatment", treatment))
             for n in p.notes]  # fmt: skip
    if control.view == "c":
        dropped = [r for r in rows if NOISY_C.match(r.function.name)]
        if dropped:
            rows = [r for r in rows if not NOISY_C.match(r.function.name)]
            notes.append(
                f"C view: CPython's unicode dict lookups ({sum(r.delta for r in dropped):+,} "
                "instructions) are not listed, as PyTorch's denoise() drops them"
            )
        notes.append("C names only: no perf map for this side (Python before 3.12?)")
    rows.sort(key=lambda r: (-abs(r.delta), r.function.name, r.function.file, r.function.origin))
    listed = min(top_n, len(rows))
    rest = rows[listed:]
    appear_or_vanish = [r for r in rest if r.status != "changed"]
    order = rows[:listed] + appear_or_vanish + [r for r in rest if r.status == "changed"]
    listed = min(max_rows, listed + len(appear_or_vanish))
    view = control.view if control.view == treatment.view else "c"
    return StageDelta(stage, control.total, treatment.total, order, listed, view, notes)
