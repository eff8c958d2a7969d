"""Questions 2-5 for one non-trivial Python file: shuffle, memory, CPU, design.

The rules (hot-path rule: :class:`Heat`): ``docs/assessment.md``. Pure: ASTs in, evidence out.
"""

from __future__ import annotations

import ast
import posixpath
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from perfgate_lib.assess import astdiff
from perfgate_lib.assess.astdiff import RESULT_CALL, Symbol, dump, identifier_parts, words
from perfgate_lib.assess.diffsource import Hunk

IMPACT_QUESTIONS = ("shuffle", "memory", "cpu", "design")
MAX_EVIDENCE = 8


@dataclass(frozen=True)
class WordRule:
    """A yes for ``question`` when a changed token has a part in ``words`` or ``stems``."""

    question: str
    reason: str
    words: frozenset[str]
    stems: tuple[str, ...] = ()

    def hits(self, parts: Iterable[str]) -> set[str]:
        return {p for p in parts if p in self.words or p.startswith(self.stems)}


WORD_RULES: tuple[WordRule, ...] = (
    WordRule(
        "shuffle",
        "scatter pipeline (hashing, fanout, combiner, partitioning, routing, k-way merge)",
        words(
            "hash hashes hashing fanout combiner combiners combine scatter scattered sidecar "
            "shard shards sharding reshard route routes routing router bucket buckets "
            "shuffle shuffled kway heapq"
        ),
        ("partition", "shuffl", "scatter"),
    ),
    WordRule(
        "memory",
        "buffer sizes, chunk shapes, spill thresholds, accumulation, retained data",
        words(
            "buffer buffers buf bufs chunk chunks chunked chunking batch batches batched "
            "threshold thresholds spill spills spilled spilling cache cached caches capacity "
            "queue queues maxsize prefetch memory mem rss payload payloads retain retained "
            "window inflight backlog arena"
        ),
        ("accumul", "materiali", "spill"),
    ),
    WordRule(
        "cpu",
        "sort/merge loops, serialization, polling, locks, JSON/parquet I/O",
        words(
            "sort sorted sorting sorts merge merges merged merging heapq heappush heappop "
            "heapify bisect pickle cloudpickle dumps loads json orjson msgpack encode "
            "decode encoder decoder compress decompress zstd lz4 snappy arrow pyarrow "
            "parquet vortex feather ipc poll polls polling interval intervals sleep "
            "heartbeat backoff lock locks rlock mutex condition semaphore acquire release "
            "thread threads threading parallelism concurrency busy spin"
        ),
        ("serializ", "deserializ", "compress"),
    ),
    WordRule(
        "design",
        "retry/error classification, actor protocol, plan/fusion rules, stage semantics",
        words(
            "retry retries retrying retryable retriable transient preempt preempted "
            "preemption attempt attempts fatal classify classification fuse fused fusion "
            "fusible actor actors remote rpc protocol"
        ),
        ("fusi",),
    ),
)

SIZE_PARTS = words(
    "size sizes bytes byte mb gb kb mib gib kib rows records limit max min capacity len "
    "length count threshold"
)
# A class whose methods are called across processes: changing them changes the protocol.
ACTOR_CLASS = re.compile(r"(Actor|Coordinator|Worker|Service|Server|Client|Protocol|Handler)$")
ERROR_PARTS = words(
    "error errors exception exceptions exc retry retries retryable retriable fatal transient"
)
CLASSIFY_RAISE = re.compile(r"(Retry|Retriable|Retryable|Transient|Fatal|Preempt|Infra)", re.I)


@dataclass(frozen=True)
class Role:
    pattern: re.Pattern[str]
    what: str
    answers: tuple[str, ...]


ROLES: tuple[Role, ...] = (
    Role(
        re.compile(r"(^|/)(shuffle|scatter[^/]*)(\.py$|/)"),
        "the scatter/shuffle module (hash routing, combiner, chunk format, byte-range sidecar)",
        ("shuffle",),
    ),
    Role(
        re.compile(r"(^|/)[^/]*sort[^/]*(\.py$|/)"),
        "the external-sort module (k-way merge, sort/merge inner loops)",
        ("shuffle", "cpu"),
    ),
    Role(
        re.compile(r"(^|/)(plan|planner|fusion|optimi[sz]er)[^/]*(\.py$|/)"),
        "the planner (plan and fusion rules, stage semantics)",
        ("design",),
    ),
    Role(
        re.compile(r"(^|/)(execution|executor|coordinator|worker)[^/]*(\.py$|/)"),
        "the executor (coordinator/worker loops, polling, .result() calls)",
        ("cpu",),
    ),
    Role(re.compile(r"spill"), "a spill path", ("memory",)),
    Role(
        re.compile(r"(^|/)(readers?|writers?|io)(\.py$|/)"),
        "a reader/writer module (JSON/parquet/vortex read and write)",
        ("cpu",),
    ),
)


def roles_of(path: str) -> list[Role]:
    """The roles a Zephyr source path plays (may be several, may be none)."""
    rel = path.split("/src/zephyr/", 1)[-1]
    return [r for r in ROLES if r.pattern.search(rel)]


def is_public_api_file(path: str) -> bool:
    """dataset.py (the Dataset API) and package ``__init__.py`` files (exports)."""
    return posixpath.basename(path) in ("dataset.py", "__init__.py")


@dataclass
class SideInfo:
    """One version of the file: the original tree's symbols and the changed lines."""

    tree: ast.Module | None
    symbols: Mapping[str, Symbol]
    changed_lines: frozenset[int]

    @classmethod
    def build(cls, tree: ast.Module | None, lines: Iterable[int]) -> SideInfo:
        symbols = astdiff.index_symbols(tree) if tree is not None else {}
        return cls(tree, symbols, frozenset(lines))


@dataclass
class Impact:
    """Evidence for questions 2-5 (a question is yes when it has any evidence of a yes)."""

    yes: dict[str, list[str]] = field(default_factory=lambda: {q: [] for q in IMPACT_QUESTIONS})
    notes: list[str] = field(default_factory=list)

    def add(self, question: str, text: str) -> None:
        items = self.yes[question]
        if text not in items:
            items.append(text)


def _lines_of(sym: Symbol | None, info: SideInfo, qualname: str) -> list[int]:
    """Changed lines of ``qualname`` on one side (innermost symbol owns a line)."""
    ranges = sym.ranges if sym else []
    return [
        ln
        for ln in sorted(info.changed_lines)
        if any(a <= ln <= b for a, b in ranges) and astdiff.symbol_at(info.symbols, ln) == qualname
    ]


def _all_lines(sym: Symbol | None) -> list[int]:
    return sorted({ln for a, b in (sym.ranges if sym else []) for ln in range(a, b + 1)})


def _span_text(lines: list[int]) -> str:
    if not lines:
        return ""
    return f"L{lines[0]}" if lines[0] == lines[-1] else f"L{lines[0]}-{lines[-1]}"


def _hunk_for(hunks: Iterable[Hunk], head_lines: list[int], base_lines: list[int]) -> str:
    for h in hunks:
        if any(ln in h.added for ln in head_lines) or any(ln in h.removed for ln in base_lines):
            return h.header
    return ""


def _where(qualname: str, head_lines: list[int], base_lines: list[int], hunk: str) -> str:
    side = f"head {_span_text(head_lines)}" if head_lines else f"base {_span_text(base_lines)}"
    parts = [p for p in (side if head_lines or base_lines else "", hunk and f"`{hunk}`") if p]
    return f"`{qualname}`" + (f" ({', '.join(parts)})" if parts else "")


def _signature(node: ast.AST | None) -> str | None:
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    args = node.args
    return dump(
        [
            *[ast.arg(a.arg) for a in args.posonlyargs + args.args + args.kwonlyargs],
            *([ast.arg("*" + args.vararg.arg)] if args.vararg else []),
            *([ast.arg("**" + args.kwarg.arg)] if args.kwarg else []),
            *args.defaults,
            *[d for d in args.kw_defaults if d is not None],
            *node.decorator_list,
        ]
    )


def _handler_types(node: ast.AST) -> set[str]:
    return {
        dump(h.type) if h.type is not None else "<bare>"
        for h in ast.walk(node)
        if isinstance(h, ast.ExceptHandler)
    }


def _raised(node: ast.AST) -> set[str]:
    raised = [r.exc for r in ast.walk(node) if isinstance(r, ast.Raise) and r.exc is not None]
    excs = [exc.func if isinstance(exc, ast.Call) else exc for exc in raised]
    return {e.attr if isinstance(e, ast.Attribute) else getattr(e, "id", "") for e in excs} - {""}


def _fmt_value(v: object) -> str:
    if v is None:  # not a constant expression, or past astdiff.LITERAL_MAX_BITS
        return "(not computed)"
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 1024:
        for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
            if v % size == 0:
                return f"{v} ({v // size} {unit})"
    return repr(v)


def _constant_change(qualname: str, base: Symbol | None, head: Symbol | None) -> str | None:
    a, b = (astdiff.literal_value(getattr(s and s.node, "value", None)) for s in (base, head))
    if a is None and b is None:
        return None
    if base is None:
        return f"new constant {qualname} = {_fmt_value(b)}"
    if head is None:
        return f"constant {qualname} removed (was {_fmt_value(a)})"
    return f"{qualname}: {_fmt_value(a)} → {_fmt_value(b)}"


@dataclass(frozen=True)
class FileContext:
    """What :func:`analyse` knows about one file as a whole."""

    path: str
    base: SideInfo
    head: SideInfo
    hunks: tuple[Hunk, ...]
    # every line of every changed symbol counts as changed (added or deleted module,
    # or no usable hunks)
    whole_file: bool = False
    # new symbols nothing in the head tree calls (qualname -> why): only public API
    unused: Mapping[str, str] = field(default_factory=dict)
    # head-tree hits of names, to tell a function called only from cold paths; None: unknown
    refs: Mapping[str, list[str]] | None = None
    # top-level functions the diff adds (any file): a call is judged by the body, not the name
    new_functions: frozenset[str] = frozenset()
    # a head-tree file's AST (None when unreadable), to follow callers in other modules
    read_tree: Callable[[str], ast.Module | None] | None = None

    @cached_property
    def exported(self) -> set[str]:
        """Names in ``__all__`` on either side."""
        return astdiff.exported_names(self.head.tree) | astdiff.exported_names(self.base.tree)


@dataclass(frozen=True)
class _SymbolChange:
    """One changed symbol: both versions, changed lines per side, and where it is."""

    qn: str
    kind: str
    bsym: Symbol | None
    hsym: Symbol | None
    bl: list[int]
    hl: list[int]
    where: str

    @property
    def bnode(self) -> ast.AST | None:
        return self.bsym.node if self.bsym else None

    @property
    def hnode(self) -> ast.AST | None:
        return self.hsym.node if self.hsym else None


@dataclass(frozen=True)
class _Tokens:
    """The code tokens of one symbol's changed lines, and their identifier parts."""

    every: list[str]  # on the changed lines of both sides (head first)
    raw: list[str]  # the tokens the change adds or drops
    parts: set[str]  # parts of the changed tokens that are not local names
    word_parts: set[str]  # the same, without calls of functions this diff adds
    name_parts: set[str]  # parts of the symbol's own name


def _symbol_change(qn: str, ctx: FileContext) -> _SymbolChange:
    bsym, hsym = ctx.base.symbols.get(qn), ctx.head.symbols.get(qn)
    sym = hsym or bsym
    kind = sym.kind if sym else "module"
    hl = _all_lines(hsym) if ctx.whole_file or bsym is None else _lines_of(hsym, ctx.head, qn)
    bl = _all_lines(bsym) if ctx.whole_file or hsym is None else _lines_of(bsym, ctx.base, qn)
    if not hl and not bl:  # hunks missing or elsewhere: the symbol as a whole changed
        hl, bl = _all_lines(hsym), _all_lines(bsym)
    where = _where(qn, hl, bl, _hunk_for(ctx.hunks, hl, bl))
    return _SymbolChange(qn, kind, bsym, hsym, bl, hl, where)


def _symbol_heat(c: _SymbolChange, ctx: FileContext) -> Heat:
    """How often the changed lines run (for an unknown function, from its callers)."""
    heat = _combined_heat(c.qn, c.kind, (c.bnode, c.bl), (c.hnode, c.hl))
    if heat.level != "unknown" or c.kind != "function" or ctx.refs is None:
        return heat
    hits = ctx.refs.get(c.qn.rsplit(".", 1)[-1], [])
    if all(h.startswith(f"{ctx.path}:") for h in hits):  # no other module names it
        return _heat_in_module(ctx.head, c.qn) or heat
    if ctx.read_tree is not None:
        return _heat_across_files(ctx.path, c.qn, hits, ctx.head, ctx.read_tree) or heat
    return heat


def _note_heat(impact: Impact, c: _SymbolChange, heat: Heat) -> bool:
    """Note a cold or per-stream change; True when changed code still runs, hot or unknown."""
    if heat.cold:
        impact.notes.append(f"{c.where}: cold path ({heat.why})")
    elif heat.level == "stream":
        impact.notes.append(f"{c.where}: not per item ({heat.why})")
    elif c.kind != "imports" and c.hsym is not None:
        return True
    return False


def _local_names(c: _SymbolChange) -> set[str]:
    """Locals, a new definition's own names, and unchanged parameters: not behaviour."""
    local = _locals(c.hnode) | _locals(c.bnode)  # a local's name is not behaviour
    if c.bsym is None:  # new code: its own name and parameters are only names
        local |= _own_names(c.hnode)
    elif c.hnode is not None and _signature(c.bnode) == _signature(c.hnode):
        local |= _own_names(c.hnode)  # unchanged parameters: reading one is not new work
    return local


def _tokens(c: _SymbolChange, new_functions: frozenset[str]) -> _Tokens:
    head = astdiff.code_names(c.hsym.nodes if c.hsym else [], set(c.hl))
    base = astdiff.code_names(c.bsym.nodes if c.bsym else [], set(c.bl))
    raw = _changed_tokens(head, base)
    local = _local_names(c)
    names = [t for t in raw if t not in local]
    return _Tokens(
        every=head + base,
        raw=raw,
        parts={p for t in names for p in identifier_parts(t)},
        # Word rules: a call of a function this diff adds is judged by its body, not name.
        word_parts={p for t in names if t not in new_functions for p in identifier_parts(t)},
        name_parts=set(identifier_parts(c.qn.rsplit(".", 1)[-1].replace(",", "_"))),
    )


def _error_path_rule(impact: Impact, c: _SymbolChange, heat: Heat, tokens: _Tokens) -> None:
    """An error path that now raises or reports another error: classification may change."""
    errors = tokens.parts & ERROR_PARTS
    if heat.cold and "error path" in heat.why and errors:
        impact.add(
            "design",
            f"{c.where}: the error path now raises or reports another error "
            f"({', '.join(sorted(errors))}): error classification may change",
        )


def _constant_rules(impact: Impact, where: str, constant: str, name_parts: set[str]) -> None:
    """Constants: show old and new values; size-like or unexplained tuning constants."""
    matched = [r for r in WORD_RULES if r.hits(name_parts)]
    for rule in matched:
        impact.add(rule.question, f"{where}: {rule.reason} — constant {constant}")
    if name_parts & SIZE_PARTS and not any(r.question == "memory" for r in matched):
        impact.add("memory", f"{where}: size/limit constant changed — {constant}")
    if not matched and not name_parts & SIZE_PARTS:
        impact.add(
            "cpu", f"{where}: tuning constant changed (effect unknown, answering yes) — {constant}"
        )


def _word_rules(impact: Impact, c: _SymbolChange, heat: Heat, tokens: _Tokens) -> None:
    """Word rules on added/dropped tokens (the own name only when hot or no token changed)."""
    named = tokens.name_parts if heat.level == "hot" or not tokens.raw else set()
    if c.bsym is None:  # a new definition's name says nothing its body does not
        named = set()
    for rule in WORD_RULES:
        hits = rule.hits(tokens.word_parts | named)
        if hits:
            impact.add(rule.question, f"{c.where}: {rule.reason} — {', '.join(sorted(hits))}")


def _value_rules(impact: Impact, c: _SymbolChange, heat: Heat, tokens: _Tokens) -> None:
    """A changed constant by its name and values; other code (not cold) by its words."""
    constant = _constant_change(c.qn, c.bsym, c.hsym) if c.kind == "assign" else None
    if constant and not c.qn.startswith("__"):
        _constant_rules(impact, c.where, constant, tokens.name_parts)
    elif not heat.cold:
        _word_rules(impact, c, heat, tokens)


def _result_call_rule(impact: Impact, c: _SymbolChange, tokens: _Tokens) -> None:
    """.result() calls: blocking order of futures and actor calls."""
    nodes = (c.bnode, c.hnode)
    nb, nh = (len(list(astdiff.iter_calls(n, "result"))) if n is not None else 0 for n in nodes)
    if RESULT_CALL in tokens.every or (nb != nh and None not in nodes):
        counts = f" ({nb} → {nh} calls in the symbol)" if nb != nh else ""
        impact.add(
            "design", f"{c.where}: changed .result() call (ordering/blocking of futures){counts}"
        )


def _error_classification_rule(impact: Impact, c: _SymbolChange) -> None:
    """Error classification: caught exception types, retry-ish raised types."""
    bnode, hnode = c.bnode, c.hnode
    if bnode is None or hnode is None:
        return
    if _handler_types(bnode) != _handler_types(hnode):
        impact.add("design", f"{c.where}: changed except clauses (error classification)")
    raised = {n for n in _raised(bnode) ^ _raised(hnode) if CLASSIFY_RAISE.search(n)}
    if raised:
        impact.add("design", f"{c.where}: changed raised error types ({', '.join(sorted(raised))})")


def _public_api_rule(impact: Impact, c: _SymbolChange, ctx: FileContext) -> None:
    """Public API: ``__all__``, a package's exports, public definitions."""
    if c.qn == "__all__":
        impact.add("design", f"{c.where}: __all__ (the exported API) changed")
    elif c.qn == "<imports>" and posixpath.basename(ctx.path) == "__init__.py":
        impact.add("design", f"{c.where}: package exports changed (imports of __init__.py)")
    elif c.kind in ("function", "class") and _is_api(c.qn, ctx.path, ctx.exported):
        _api_change(impact, c.qn, c.where, c.bsym, c.hsym)


def _protocol_rule(impact: Impact, c: _SymbolChange, ctx: FileContext) -> None:
    """Actor protocol: an actor or executor method added, removed or re-signed."""
    owner = c.qn.split(".")[0] if "." in c.qn else ""
    protocol = bool(owner) and bool(
        ACTOR_CLASS.search(owner) or any("executor" in r.what for r in roles_of(ctx.path))
    )
    if not (c.kind == "function" and protocol):
        return
    if c.bsym is not None and c.hsym is not None and _signature(c.bnode) == _signature(c.hnode):
        return
    what = "added" if c.bsym is None else "removed" if c.hsym is None else "signature changed"
    impact.add("design", f"{c.where}: actor/executor protocol method {what}")


def _analyse_symbol(impact: Impact, c: _SymbolChange, ctx: FileContext) -> bool:
    """Questions 2-5 for one symbol; True when its code still runs hot or unknown."""
    heat = _symbol_heat(c, ctx)
    runs = _note_heat(impact, c, heat)
    tokens = _tokens(c, ctx.new_functions)
    _error_path_rule(impact, c, heat, tokens)
    _value_rules(impact, c, heat, tokens)
    _result_call_rule(impact, c, tokens)
    if heat.level == "hot":  # changed code inside a per-item loop or comprehension
        impact.add("cpu", f"{c.where}: changed code on a hot path ({heat.why})")
    _error_classification_rule(impact, c)
    _public_api_rule(impact, c, ctx)
    _protocol_rule(impact, c, ctx)
    return runs


def _role_rule(impact: Impact, path: str) -> None:
    """The file's role: a non-trivial change there has the highest prior of impact."""
    for role in roles_of(path):
        for q in role.answers:
            impact.add(
                q,
                f"file role: {posixpath.basename(path)} is {role.what}; a non-trivial "
                "change here has the highest prior of perf impact",
            )


def analyse(ctx: FileContext, changed: list[str]) -> Impact:
    """Questions 2-5 for the changed symbols (qualnames) of one file."""
    impact = Impact()
    code_changed = False
    for qn in changed:
        c = _symbol_change(qn, ctx)
        if qn in ctx.unused:  # nothing calls it: it cannot change performance, only the API
            impact.notes.append(f"{c.where}: {ctx.unused[qn]}")
            if c.kind in ("function", "class") and _is_api(qn, ctx.path, ctx.exported):
                _api_change(impact, qn, c.where, c.bsym, c.hsym)
        elif _analyse_symbol(impact, c, ctx):
            code_changed = True
    if code_changed:
        _role_rule(impact, ctx.path)
    for q in IMPACT_QUESTIONS:  # at most MAX_EVIDENCE items, then how many more
        if len(impact.yes[q]) > MAX_EVIDENCE:
            extra = len(impact.yes[q]) - MAX_EVIDENCE
            impact.yes[q] = impact.yes[q][:MAX_EVIDENCE] + [f"… and {extra} more"]
    return impact


def _is_api(qn: str, path: str, exported: set[str]) -> bool:
    """A public definition of the Dataset API or the package exports."""
    public = not any(part.startswith("_") for part in qn.split("."))
    short = qn.rsplit(".", 1)[-1]
    return (
        (is_public_api_file(path) and public) or short in exported or qn.split(".")[0] in exported
    )


def _heat_across_files(
    path: str,
    qn: str,
    hits: list[str],
    head: SideInfo,
    read_tree: Callable[[str], ast.Module | None],
) -> Heat | None:
    """Heat of a top-level function from its call sites in every head-tree file naming it:
    as :func:`_heat_in_module`, when every mention there is a call, an import or its def."""
    if head.tree is None or "." in qn:
        return None
    by_file: dict[str, set[int]] = {}
    for h in hits:
        p, _, ln = h.rpartition(":")
        by_file.setdefault(p, set()).add(int(ln) if ln.isdigit() else -1)
    sites: list[tuple[Mapping[str, Symbol], int, str]] = []
    for p, mentions in sorted(by_file.items()):
        tree = (head.tree if p == path else read_tree(p)) if p.endswith(".py") else None
        if tree is None:
            return None
        calls, other = _calls_to(tree, qn)
        if other or mentions - _explained(tree, qn, calls, p == path):
            return None
        symbols = head.symbols if p == path else astdiff.index_symbols(tree)
        sites += [(symbols, line, f" ({p.rsplit('/', 1)[-1]})") for line in calls]
    return _callers_heat(sites, qn) if sites else None


def _explained(tree: ast.Module, name: str, calls: list[int], own: bool) -> set[int]:
    """Lines where a file names a function by calling or importing it (or, ``own``, its def)."""
    explained = set(calls)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and any(
            (a.asname or a.name).split(".")[-1] == name for a in node.names
        ):
            explained.update(_span(node))
        elif own and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            explained.add(node.lineno)
    return explained


def _combined_heat(
    qn: str,
    kind: str,
    base: tuple[ast.AST | None, list[int]],
    head: tuple[ast.AST | None, list[int]],
) -> Heat:
    """Cold when every changed line on both sides is cold; hot when any is hot."""
    sides = [heat_of(node, qn, kind, lines) for node, lines in (base, head) if lines]
    if not sides:
        return heat_of(None, qn, kind, [])
    return next((h for level in ("hot", "unknown") for h in sides if h.level == level), sides[0])


def _locals(node: ast.AST | None) -> set[str]:
    """Local variables a function assigns (not its parameters: callers name those)."""
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return set()

    def named(args: ast.arguments) -> set[str]:  # without *args and **kwargs
        return {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}

    local: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            local.add(n.id)
        elif n is not node and isinstance(n, ast.Lambda):  # nested: parameters are local too
            local |= named(n.args)
        elif n is not node and isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef):
            local |= {n.name, *named(n.args)}  # and a nested function's own name
    return local - named(node.args)


def _own_names(node: ast.AST | None) -> set[str]:
    """A new function's own name and parameters (callers name them, in their own code)."""
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return set()
    return {node.name, *astdiff.param_names(node.args)}


def _changed_tokens(head: list[str], base: list[str]) -> list[str]:
    """Tokens the change adds or drops (a name as often on both sides is only re-wrapped)."""
    h, b = (Counter(t for t in side if t != RESULT_CALL) for side in (head, base))
    return list(((h - b) + (b - h)).elements())


def _api_change(
    impact: Impact, qn: str, where: str, bsym: Symbol | None, hsym: Symbol | None
) -> None:
    if bsym is None:
        impact.add("design", f"{where}: new public API `{qn}`")
    elif hsym is None:
        impact.add("design", f"{where}: public API `{qn}` removed")
    elif _signature(bsym.node) != _signature(hsym.node):
        impact.add("design", f"{where}: public API `{qn}` signature changed")
    elif bsym.kind == "class":
        impact.add("design", f"{where}: public class `{qn}` definition changed")


# ---------------------------------------------------------------------------- heat

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
    start, end = astdiff.line_span(node)
    return range(start, end + 1)


def _regions(root: ast.AST) -> tuple[set[int], dict[int, str]]:
    """Lines in cold regions of ``root``, and hot lines with the loop that makes them hot."""
    cold: set[int] = set()
    hot: dict[int, str] = {}
    for node in ast.walk(root):
        if isinstance(node, ast.ExceptHandler | ast.Raise) or (
            isinstance(node, ast.Call) and astdiff.is_log_call(node)
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

    def names_it(n: ast.AST) -> bool:
        if owner:
            return isinstance(n, ast.Attribute) and n.attr == name
        return isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)

    calls: list[int] = []
    mentions = 0
    for node in ast.walk(tree):
        mentions += names_it(node)
        if isinstance(node, ast.Call) and names_it(node.func):
            receiver = getattr(node.func, "value", None)  # a method: on self, cls or the class
            if not owner or (
                isinstance(receiver, ast.Name) and receiver.id in {"self", "cls", owner}
            ):
                calls.append(node.lineno)
    return calls, mentions > len(calls)  # a mention that is not one of these calls


def _heat_in_module(head: SideInfo, qualname: str) -> Heat | None:
    """Cold (or per stream) when every call in its module is (no other module names it)."""
    calls, other = _calls_to(head.tree, qualname) if head.tree is not None else ([], True)
    if not calls or other:
        return None
    return _callers_heat([(head.symbols, line, "") for line in calls], qualname)


def _per_stage(iterable: ast.expr | None) -> bool:
    """A loop over per-stage metadata (``spec.columns``, ``files``, ``range(num_shards)``)."""
    if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and iterable.args:
        if iterable.func.id in ("enumerate", "sorted", "reversed", "list", "tuple"):
            return _per_stage(iterable.args[0])
        return iterable.func.id == "range" and _per_stage(iterable.args[-1])
    if isinstance(iterable, ast.Call):
        return False
    # ``spec.columns`` or ``files``: the last name says what the loop walks
    name = iterable.attr if isinstance(iterable, ast.Attribute) else getattr(iterable, "id", "")
    parts = identifier_parts(name)
    return bool(parts) and parts[-1] in PER_STAGE


def _callers_heat(
    sites: Iterable[tuple[Mapping[str, Symbol], int, str]], qualname: str
) -> Heat | None:
    """Cold (or per stream) when every call site is cold (or per stream); None if maybe hot."""
    where: set[str] = set()
    levels: set[str] = set()
    for symbols, line, label in sites:
        caller = astdiff.symbol_at(symbols, line)
        sym = symbols.get(caller) if caller else None
        level = heat_of(sym.node, caller, sym.kind, [line]).level if sym and caller else ""
        if caller == qualname or level not in ("cold", "stream"):
            return None  # the call may be hot
        levels.add(level)
        where.add(f"`{caller}`{label}")
    callers = ", ".join(sorted(where))
    if levels == {"cold"}:
        return Heat("cold", f"called only from cold paths: {callers}")
    return Heat("stream", f"called once per stream or on cold paths: {callers}")
