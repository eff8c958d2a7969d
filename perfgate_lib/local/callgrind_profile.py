"""Where a stage's instructions went: per-function counts from callgrind dumps, and the
delta between control and treatment. Pure functions; the I/O is the callers'.

A :class:`Profile` is one side's stage: exclusive ("self") instructions per function,
summing exactly to the stage's count. :func:`python_profile` gives Python functions (from
CPython's perf trampolines, 3.12+), :func:`c_profile` C functions (the fallback without a
perf map). Both leave out the memory allocators' own code, as gate 0's count does. The
method: ``docs/attribution.md``.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from perfgate_lib.local.callgrind_client import CALLER_CHAIN, is_allocator
from perfgate_lib.local.callgrind_dump import Dump, FunctionKey

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
    return PerfMap(
        starts=tuple(s for s, _ in ordered),
        sizes=tuple(v[0] for _, v in ordered),
        names=tuple(v[1] for _, v in ordered),
    )


@dataclass(frozen=True)
class Function:
    """One row's identity: a display name, the file (or ELF object) it is defined in, with
    per-side paths stripped, and its origin (Zephyr, marin library, mini ferry,
    third-party, CPython or system)."""

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


def strip_path(path: str, roots: tuple[str, ...] = ()) -> str:
    """A path without what differs between the sides, as ``cg_diff --mod-filename`` does:
    a given root (a worktree), then everything up to ``site-packages/``, ``/src/`` of a
    ``lib/<name>/src`` tree, or CPython's ``lib/python3.X/`` (written ``<stdlib>/``)."""
    for root in sorted(roots, key=len, reverse=True):
        if root and path.startswith(root.rstrip("/") + "/"):
            path = path[len(root.rstrip("/")) + 1 :]
            break
    match = re.search(r"(?:^|/)site-packages/(.*)$", path)
    if match:
        return match.group(1)
    match = re.search(r"(?:^|/)lib/[^/]+/src/(.*)$", path)
    if match:
        return match.group(1)
    match = re.search(r"(?:^|/)lib/python3\.\d+/(.*)$", path)
    if match:
        return "<stdlib>/" + match.group(1)
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


def _python_function(perf_name: str, roots: tuple[str, ...]) -> Function:
    body = perf_name[4:] if perf_name.startswith("py::") else perf_name
    qualname, _, file = body.partition(":")
    stripped = strip_path(file, roots)
    return Function(qualname, stripped, origin_of(stripped, True), True)


def _c_function(key: FunctionKey, roots: tuple[str, ...]) -> Function:
    obj, name = key
    base = name.split("'", 1)[0]
    stripped = strip_path(obj, roots)
    return Function(base, stripped, origin_of(obj, False), False)


def _address(name: str) -> int | None:
    head = name.split("'", 1)[0]
    try:
        return int(head, 16) if head.startswith("0x") else None
    except ValueError:
        return None


def c_profile(dump: Dump, roots: tuple[str, ...] = ()) -> Profile:
    """Callgrind's exclusive counts per C function (contexts merged), allocators out."""
    out: dict[Function, int] = {}
    allocator = 0
    for key, cost in dump.self_cost.items():
        if is_allocator(key[0], key[1].split("'", 1)[0]):
            allocator += cost
            continue
        function = _c_function(key, roots)
        out[function] = out.get(function, 0) + cost
    return Profile(total=dump.total - allocator, self_cost=out, view="c")


def python_profile(dump: Dump, perf_map: PerfMap, roots: tuple[str, ...] = ()) -> Profile:
    """Self counts per Python function (module docstring), allocators out in one row."""
    named = {key: perf_map.name_at(_address(key[1]) or -1) for key in dump.self_cost}
    for _caller, callee in dump.arcs:
        if callee not in named:
            named[callee] = perf_map.name_at(_address(callee[1]) or -1)
    trampolines = {k: v for k, v in named.items() if v}
    inclusive: dict[FunctionKey, int] = {k: dump.self_cost.get(k, 0) for k in trampolines}
    for (caller, callee), (_calls, cost) in dump.arcs.items():
        if caller in trampolines and caller != callee:
            inclusive[caller] += cost
    names = {key: _python_function(name, roots) for key, name in trampolines.items()}
    py_self: dict[FunctionKey, int] = dict(inclusive)
    outside = dump.total
    deeper = 0
    by_address = {_address(key[1]): key for key in trampolines}
    edges: dict[tuple[Function | None, Function], int] = {}
    for (caller, callee), (_calls, cost) in dump.arcs.items():
        if callee not in trampolines:
            continue
        parent = _calling_trampoline(caller, trampolines, by_address)
        if parent is None:
            if caller[1].startswith(TRAMPOLINE_EVALUATOR) and _chain_full(caller[1]):
                deeper += cost  # the caller is a Python frame further up: not known
            else:
                outside -= cost
        else:
            py_self[parent] -= cost
        edge = (names[parent] if parent else None, names[callee])
        edges[edge] = edges.get(edge, 0) + cost
    allocator = sum(
        cost
        for (obj, name), cost in dump.self_cost.items()
        if is_allocator(obj, name.split("'", 1)[0])
    )
    out: dict[Function, int] = {}
    for key, cost in py_self.items():
        out[names[key]] = out.get(names[key], 0) + cost
    out[Function(OUTSIDE, "", "CPython", False)] = outside
    out[Function(ALLOCATORS, "", "system", False)] = -allocator
    notes = []
    if deeper:
        # their cost is in an unknown Python caller's row and in their own: taken out once
        out[Function(UNATTRIBUTED, "", "CPython", False)] = -deeper
        notes.append(
            f"{deeper:,} instructions of Python calls made through more C frames than "
            "callgrind recorded (--separate-callers) stay in their caller's row as well as "
            f"their own; the row {UNATTRIBUTED!r} takes them out once"
        )
    return Profile(
        total=dump.total - allocator, self_cost=out, view="python", notes=notes, edges=edges
    )


def folded_stacks(
    profile: Profile, max_depth: int = 40, min_cost: int = 1
) -> dict[tuple[str, ...], int]:
    """Python stacks (root first) -> exclusive instructions, from the profile's call
    edges. Callgrind records each Python call with its caller only, so a function called
    from several places shares its callees among them in proportion to its calls'
    instructions (as flame graphs of call graphs do); a function already on the stack
    ends it (recursion). Stacks whose share falls under ``min_cost`` are merged into
    their parent's frame."""
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
        key = stack
        out[key] = out.get(key, 0) + round(mine)

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
    obj, name = caller
    if caller in trampolines:
        return caller
    if not name.startswith(TRAMPOLINE_EVALUATOR):
        return None
    for part in name.split("'")[1:]:
        if part.isdigit():
            continue
        address = _address(part)
        if address is not None and address in by_address:
            return by_address[address]
    return None


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
        """The listed rows (top N by |Δ|, then every function that appears or vanishes
        among the next ones up to the same N again)."""
        return self.rows[: self.listed]

    @property
    def explained_pct(self) -> float:
        """Σ Δ of the listed rows in percent of the stage's Δ (exact: self counts sum to
        the stage's count)."""
        if not self.delta:
            return 0.0
        return 100.0 * sum(r.delta for r in self.top()) / self.delta


def stage_delta(
    stage: str, control: Profile, treatment: Profile, top_n: int = 10, max_rows: int = 15
) -> StageDelta:
    """Rows of both sides' functions by |Δ| (largest first; ties by name), the top
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
    rows.sort(key=lambda r: (-abs(r.delta), r.function.name, r.function.file))
    listed = min(top_n, len(rows))
    rest = rows[listed:]
    appear_or_vanish = [r for r in rest if r.status != "changed"]
    order = rows[:listed] + appear_or_vanish + [r for r in rest if r.status == "changed"]
    listed = min(max_rows, listed + len(appear_or_vanish))
    return StageDelta(
        stage=stage,
        control_total=control.total,
        treatment_total=treatment.total,
        rows=order,
        listed=listed,
        view=control.view if control.view == treatment.view else "c",
        notes=notes,
    )
