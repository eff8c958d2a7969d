"""Diff assessment (step 1): scope, the five questions per Zephyr file, ``max_gate``.

:func:`assess` is pure (texts in, :class:`Assessment` out; the head-tree search injected);
:func:`assess_source` feeds it from a ``DiffSource``. The rules: ``docs/assessment.md``.
"""

from __future__ import annotations

import ast
import functools
import posixpath
import re
import tomllib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any

import pydantic

from perfgate_lib.assess import alpha, astdiff, callers, diffsource, impact
from perfgate_lib.assess.alpha import Moves, find_moves, import_set
from perfgate_lib.assess.astdiff import RemovalMatch, RenameMatch, module_of, resolve_import
from perfgate_lib.assess.callers import HeadFiles, HeadReader, member_users, users_of
from perfgate_lib.assess.diffsource import DiffSource, Hunk, parse_hunks, text_patch
from perfgate_lib.assess.impact import IMPACT_QUESTIONS, FileContext, SideInfo, analyse
from perfgate_lib.assess.scope import GATED, Category, classify_change, decide_scope
from perfgate_lib.errors import PerfgateError
from perfgate_lib.io.limits import check, load_limits
from perfgate_lib.typed import read_model

QUESTIONS = ("trivial", *IMPACT_QUESTIONS)
GATES = ("skip", "1", "2", "3")
SCHEMA = 1
ReferenceFinder = Callable[[Collection[str]], Mapping[str, list[str]] | None]
_MAX_REFS = 3
_UNKNOWN = "the diff source cannot search the head tree, so callers are unknown"
_TOO_DEEP_SUMMARY = "too large or deep to analyse"
_TOO_DEEP = "unsure: the code nests too deeply to analyse (RecursionError); answering yes"


def _gate_name(value: Any) -> Any:
    """``3`` -> ``"3"``; a name that is not a gate is refused."""
    value = str(value) if type(value) is int else value
    if value not in GATES:
        raise ValueError(f"expected one of {', '.join(GATES)}")
    return value


_Answer = Annotated[bool, pydantic.Strict()]
_Gate = Annotated[str, pydantic.BeforeValidator(_gate_name)]


class AssessmentError(PerfgateError):
    """An assessment JSON file is malformed; names the file and the field."""

    def __init__(self, source: str, field_name: str | None, problem: str) -> None:
        where = f"{source}: field '{field_name}'" if field_name else source
        super().__init__(f"bad assessment {where}: {problem}")


# ---------------------------------------------------------------------------- data model


@dataclass(frozen=True)
class FileChange:
    """One changed file, its texts at base and head (None: absent, binary or out of scope)."""

    path: str
    status: str = "modified"
    old_path: str | None = None
    base_text: str | None = None
    head_text: str | None = None
    hunks: tuple[Hunk, ...] = ()
    binary: bool = False


@dataclass
class FileAssessment:
    """The five answers for one file, a one-line summary and evidence per question."""

    path: str
    trivial: _Answer
    shuffle: _Answer
    memory: _Answer
    cpu: _Answer
    design: _Answer
    summary: str = ""
    evidence: dict[str, list[str]] = field(default_factory=dict)
    status: str = "modified"
    old_path: str | None = None

    def answers(self) -> dict[str, bool]:
        return {q: bool(getattr(self, q)) for q in QUESTIONS}

    @property
    def impact(self) -> bool:
        return any(getattr(self, q) for q in IMPACT_QUESTIONS)

    def to_json(self) -> dict[str, Any]:
        evidence = {q: list(self.evidence.get(q, [])) for q in QUESTIONS}
        out: dict[str, Any] = {**self.answers(), "summary": self.summary, "evidence": evidence}
        out["status"] = self.status
        return out | ({"old_path": self.old_path} if self.old_path else {})


@dataclass
class Assessment:
    """The skill's JSON shape plus scope, flags, evidence and the reviewer's confirmation.

    ``max_gate`` runs (after an override); ``proposed_max_gate`` is what was proposed.
    """

    max_gate: _Gate
    rationale: str = ""
    per_file: dict[str, FileAssessment] = field(default_factory=dict)
    in_scope: bool | None = None  # None: in scope when a file was assessed
    flags: list[str] = field(default_factory=list)
    proposed_max_gate: str = ""
    scope: dict[str, list[str]] = field(default_factory=dict)
    source: str = ""
    base_sha: str = ""
    head_sha: str = ""
    is_fork: bool = False
    fork_repo: str | None = None
    confirmation: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not self.proposed_max_gate:
            self.proposed_max_gate = self.max_gate
        if self.in_scope is None:
            self.in_scope = bool(self.per_file)

    def to_json(self) -> dict[str, Any]:
        per_file = {p: f.to_json() for p, f in self.per_file.items()}
        return {"schema": SCHEMA, **asdict(self), "per_file": per_file}

    @classmethod
    def from_json(cls, data: Any, source: str = "assessment.json") -> Assessment:
        """Read :meth:`to_json`'s shape (absent fields default, unknown keys ignored)."""
        return read_model(cls, _with_paths(data), lambda k, why: AssessmentError(source, k, why))


def _with_paths(data: Any) -> Any:
    """``per_file`` entries with their ``path`` (the entry's key in the JSON)."""
    per_file = data.get("per_file") if isinstance(data, dict) else None
    if not isinstance(per_file, dict):
        return data
    entries = {p: {**v, "path": p} if isinstance(v, dict) else v for p, v in per_file.items()}
    return {**data, "per_file": entries}


def decide_max_gate(files: Iterable[FileAssessment]) -> str:
    """All trivial -> ``skip``; any shuffle/memory/CPU/design yes -> ``3``; else ``1``."""
    files = list(files)
    if any(f.impact for f in files):
        return "3"
    if all(f.trivial for f in files):
        return "skip"
    return "1"


# ---------------------------------------------------------------------------- drafts


@dataclass
class _Draft:
    """Per-file state between the first pass and the reference checks."""

    change: FileChange
    base_tree: ast.Module | None = None
    head_tree: ast.Module | None = None
    base_norm: ast.Module | None = None
    head_norm: ast.Module | None = None
    trivial: bool = False
    trivial_why: list[str] = field(default_factory=list)
    trivial_summary: str = ""
    not_trivial_why: list[str] = field(default_factory=list)
    unsure: str | None = None
    unsure_summary: str = "cannot parse"
    rename: RenameMatch | None = None
    removal: RemovalMatch | None = None
    old_module_refs: list[str] = field(default_factory=list)
    design_extra: list[str] = field(default_factory=list)
    unused: dict[str, str] = field(default_factory=dict)
    moved: dict[str, str] = field(default_factory=dict)  # qualname -> the other file

    @property
    def path(self) -> str:
        return self.change.path


def _syntax(side: str, exc: SyntaxError) -> str:
    return f"{side} does not parse (SyntaxError at line {exc.lineno}: {exc.msg})"


def _module_defs(tree: ast.Module | None) -> list[str]:
    return [n for n in astdiff.definitions(tree) if "." not in n]


def _names_list(names: Iterable[str], limit: int = 6, quote: str = "`") -> str:
    items = list(names)
    text = ", ".join(f"{quote}{n}{quote}" for n in items[:limit])
    return text + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


_refs_text = functools.partial(_names_list, limit=_MAX_REFS, quote="")


def _parse_norm(text: str, side: str, path: str) -> ast.Module | str:
    """The normalised tree of one side, or why it does not parse."""
    try:
        return astdiff.normalise(text, package_init=posixpath.basename(path) == "__init__.py")
    except SyntaxError as exc:
        return _syntax(side, exc)
    except ValueError as exc:  # NUL bytes
        return f"{side} does not parse ({exc})"


def _missing_side(ch: FileChange) -> str | None:
    """The first side (base, head) that should exist but has no text."""
    if ch.status != "added" and ch.base_text is None:
        return "base"
    if ch.status != "deleted" and ch.head_text is None:
        return "head"
    return None


def _over_budget(ch: FileChange) -> str | None:
    """Why a side is past the per-file parse budget (base first), or None."""
    limits = load_limits()
    for side, text in (("base", ch.base_text), ("head", ch.head_text)):
        problem = text and astdiff.budget_problem(
            text, side, limits.parse_max_bytes, limits.parse_max_depth
        )
        if problem:
            return problem
    return None


def _old_module_refs(ch: FileChange) -> list[str]:
    """Names by which the head tree could still import a module this diff moved."""
    if ch.old_path and ch.old_path != ch.path:
        old = module_of(ch.old_path)
        if old and module_of(ch.path) != old:
            return [old, "." + old.rsplit(".", 1)[-1]]
    return []


def _draft_whole_module(d: _Draft) -> None:
    """An added or deleted module: never trivial; the one side's trees for the impact."""
    ch = d.change
    added = ch.status == "added"
    side, text = ("head", ch.head_text) if added else ("base", ch.base_text)
    tree = astdiff.parse(text or "", ch.path)
    if isinstance(tree, SyntaxError):
        d.unsure = _syntax(side, tree)
        d.not_trivial_why.append(f"{d.unsure}: not trivial")
        return
    lines = len((text or "").splitlines())
    defined = _names_list(_module_defs(tree))
    norm = _parse_norm(text or "", side, ch.path)
    norm_tree = norm if isinstance(norm, ast.Module) else None
    if added:
        d.head_tree, d.head_norm = tree, norm_tree
        why = f"new module ({lines} lines) defining {defined}: new code is never trivial"
    else:
        d.base_tree, d.base_norm = tree, norm_tree
        why = f"module deleted (it defined {defined}): a removed module is not trivial"
    d.not_trivial_why.append(why)


def _pure_move(d: _Draft) -> None:
    """A renamed file whose content did not change."""
    ch = d.change
    d.trivial = True
    d.trivial_summary = f"file moved from {ch.old_path} (content unchanged)"
    d.trivial_why.append(f"pure rename: {ch.old_path} → {ch.path}, content identical")


def _same_code(d: _Draft, base_text: str, head_text: str) -> None:
    """Normalised trees equal: say what changed (comments, docstrings, annotations, ...)."""
    originals = (ast.parse(base_text), ast.parse(head_text))
    aspects = [astdiff.ASPECT_TEXT[a] for a in astdiff.changed_aspects(*originals)]
    d.trivial = True
    if not aspects:
        d.trivial_summary = "comments/whitespace/formatting only"
        d.trivial_why.append("ASTs identical: only comments, whitespace or formatting changed")
    else:
        d.trivial_summary = " and ".join(aspects) + " only"
        d.trivial_why.append(
            f"ASTs equal once comments, docstrings, whitespace, type annotations and "
            f"log-message text are removed; changed: {', '.join(aspects)}"
        )


def _rename_removal_or_change(d: _Draft, base: ast.Module, head: ast.Module) -> None:
    """A rename or dead-code removal (pending reference checks), same up to locals, or not."""
    d.rename = astdiff.match_rename(base, head)
    if d.rename is None:
        d.removal = astdiff.match_removal(base, head)
    if d.rename is not None or d.removal is not None:
        d.trivial = True  # pending the reference checks
        return
    if _same_up_to_locals(d):
        return
    changed = astdiff.changed_symbols(base, head)
    d.not_trivial_why.append(
        "ASTs differ after removing comments, docstrings, whitespace, type annotations "
        f"and log-message text: {_names_list(changed)} changed"
    )


def _draft_modified(d: _Draft, base_text: str, head_text: str) -> None:
    """A modified (or renamed) file: both sides parsed and normalised, then compared."""
    base = _parse_norm(base_text, "base", d.path)
    head = _parse_norm(head_text, "head", d.path)
    for parsed in (head, base):
        if isinstance(parsed, str):
            d.unsure = parsed
            d.not_trivial_why.append(f"{parsed}: cannot compare; not trivial")
            return
    assert isinstance(base, ast.Module) and isinstance(head, ast.Module)
    # The normalised trees keep line numbers: the impact rules read them too.
    d.base_norm = d.base_tree = base
    d.head_norm = d.head_tree = head
    if base_text == head_text:
        _pure_move(d)
    elif astdiff.same_module(base, head):
        _same_code(d, base_text, head_text)
    else:
        _rename_removal_or_change(d, base, head)


def _draft_python(ch: FileChange) -> _Draft:
    d = _Draft(ch)
    missing = _missing_side(ch)
    if missing:
        d.unsure = f"{missing} text unavailable (binary or unreadable)"
        return d
    problem = _over_budget(ch)
    if problem:
        d.unsure, d.unsure_summary = problem, _TOO_DEEP_SUMMARY
        d.not_trivial_why.append(f"{problem}: not analysed; not trivial")
        return d
    if ch.status in ("added", "deleted"):
        _draft_whole_module(d)
        return d
    d.old_module_refs = _old_module_refs(ch)
    assert ch.base_text is not None and ch.head_text is not None  # else missing above
    _draft_modified(d, ch.base_text, ch.head_text)
    return d


def _guarded_draft(ch: FileChange) -> _Draft:
    """:func:`_draft_python`, or an unsure draft when the file is too deep to walk."""
    try:
        return _draft_python(ch)
    except RecursionError:
        why = "the code nests too deeply to analyse (RecursionError)"
        return _Draft(ch, unsure=why, unsure_summary=_TOO_DEEP_SUMMARY)


def _same_up_to_locals(d: _Draft) -> bool:
    """Trivial when equal once locals are alpha-renamed and dead stores dropped."""
    assert d.base_norm is not None and d.head_norm is not None
    a, b = astdiff.index_symbols(d.base_norm), astdiff.index_symbols(d.head_norm)
    plain = alpha.same_symbols(a, b)
    if not plain and not alpha.same_symbols(a, b, dead_stores=True):
        return False
    d.trivial = True
    what = []
    renames = alpha.local_renames(d.base_norm, d.head_norm) if plain else []
    if renames:
        what.append("local variables renamed consistently (" + ", ".join(renames[:6]) + ")")
    if not plain:
        what.append("dead stores removed (values nothing reads)")
    d.trivial_summary = " and ".join(w.split(" (")[0] for w in what) or "locals renamed"
    d.trivial_why.append(
        "same statements and control flow: ASTs equal once locals are alpha-renamed; "
        + "; ".join(what or ["locals renamed"])
    )
    return True


def _imports_follow_moves(d: _Draft, moves: Moves) -> None:
    """Trivial when only imports changed, each following a definition this diff moved."""
    settled = d.trivial and d.rename is None and d.removal is None
    if settled or d.unsure or d.base_norm is None or d.head_norm is None:
        return
    if d.change.status not in ("modified", "renamed"):
        return
    a, b = astdiff.index_symbols(d.base_norm), astdiff.index_symbols(d.head_norm)
    path = d.change.old_path or d.path
    before = import_set(d.base_norm, path, moves)
    if before != import_set(d.head_norm, d.path) or not moves.modules:
        return
    if not alpha.same_symbols(a, b, skip=("<imports>",)):
        return
    imported = {i[:2] for i in import_set(d.base_norm, path)}
    followed = sorted(
        f"`{n}` ({m} → {new})" for (m, n), new in moves.modules.items() if (m, n) in imported
    )
    if not followed:
        return
    d.trivial, d.rename, d.removal = True, None, None
    d.not_trivial_why.clear()
    d.trivial_summary = "imports follow definitions moved in this diff"
    d.trivial_why.append(
        "only imports changed, and each follows a definition this diff moved verbatim to "
        "another module: " + ", ".join(followed[:6])
    )


# ---------------------------------------------------------------------------- pyproject

_DEP_KEYS: tuple[tuple[str, ...], ...] = (
    ("project", "dependencies"),
    ("build-system", "requires"),
    ("tool", "uv", "constraint-dependencies"),
    ("tool", "uv", "override-dependencies"),
    ("tool", "uv", "dev-dependencies"),
)
_DEP_TABLES: tuple[tuple[str, ...], ...] = (
    ("project", "optional-dependencies"),
    ("dependency-groups",),
    ("tool", "uv", "sources"),
)
_TOOLING = {"ruff", "pytest", "mypy", "pyright", "coverage", "black", "isort", "pyrefly"}


def _get(doc: Mapping[str, Any], keys: Sequence[str]) -> Any:
    cur: Any = doc
    for k in keys:
        if not isinstance(cur, Mapping) or k not in cur:
            return None
        cur = cur[k]
    return cur


def _requirements(doc: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """``{section: {package: requirement}}`` for every dependency list of a pyproject."""
    sections = [(".".join(keys), _get(doc, keys)) for keys in _DEP_KEYS]
    for keys in _DEP_TABLES:
        table = _get(doc, keys)
        if isinstance(table, Mapping) and keys[-1] == "sources":
            sections.append((".".join(keys), table))
        elif isinstance(table, Mapping):
            sections += [(".".join([*keys, str(group)]), reqs) for group, reqs in table.items()]
    out: dict[str, dict[str, str]] = {}
    for section, reqs in sections:
        if isinstance(reqs, Mapping):  # tool.uv.sources: package -> table
            out[section] = {str(k): repr(v) for k, v in reqs.items()}
        elif isinstance(reqs, list):
            texts = [r if isinstance(r, str) else repr(r) for r in reqs]
            out[section] = {_package(text): text.strip() for text in texts}
    return out


def _package(requirement: str) -> str:
    """The normalised package name a requirement starts with (the text when none)."""
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return re.sub(r"[-_.]+", "-", m.group(1)).lower() if m else requirement


def _flat_keys(doc: Any, prefix: str = "") -> dict[str, str]:
    if not isinstance(doc, Mapping):
        return {prefix.rstrip("."): repr(doc)}
    return {
        key: text for k, v in doc.items() for key, text in _flat_keys(v, f"{prefix}{k}.").items()
    }


def _dependency_changes(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[str]:
    """Each requirement added, removed or changed, by section, between two pyprojects."""
    rb, rh = _requirements(base), _requirements(head)
    changes = []
    for section in sorted(set(rb) | set(rh)):
        a, b = rb.get(section, {}), rh.get(section, {})
        for pkg in sorted(set(a) | set(b)):
            if a.get(pkg) == b.get(pkg):
                continue
            if pkg not in a:
                changes.append(f"{section}: added {b[pkg]}")
            elif pkg not in b:
                changes.append(f"{section}: removed {a[pkg]}")
            else:
                changes.append(f"{section}: {a[pkg]} → {b[pkg]}")
    return changes


def _dependency_file(
    ch: FileChange, ev: dict[str, list[str]], dep_changes: list[str]
) -> FileAssessment:
    """A pyproject whose dependencies changed: memory and CPU yes."""
    why = "dependency change (a new library version can change CPU and memory use)"
    ev["trivial"].append(f"dependencies changed: {len(dep_changes)} requirement(s)")
    for item in dep_changes[:8]:
        ev["cpu"].append(f"{why}: {item}")
        ev["memory"].append(f"{why}: {item}")
    for q in ("shuffle", "design"):
        ev[q].append("no: a dependency change does not alter Zephyr's own code")
    summary = f"dependencies changed ({len(dep_changes)} requirement(s)) (memory, cpu)"
    return _file(ch, ev, summary, yes=("memory", "cpu"))


def _assess_pyproject(ch: FileChange) -> FileAssessment:
    docs = []
    for side, text in (("base", ch.base_text), ("head", ch.head_text)):
        try:
            docs.append(tomllib.loads(text) if text is not None else {})
        except tomllib.TOMLDecodeError as exc:
            why = f"unsure: {side} pyproject.toml does not parse ({exc}); answering yes"
            return _unsure_file(ch, why, "pyproject.toml does not parse")
    base, head = docs
    ev: dict[str, list[str]] = {q: [] for q in QUESTIONS}
    if base == head:
        ev["trivial"].append("TOML identical once parsed: only comments or formatting changed")
        return _trivial_file(ch, ev, "comments/formatting only")
    dep_changes = _dependency_changes(base, head)
    fb, fh = _flat_keys(base), _flat_keys(head)
    other = sorted(k for k in set(fb) | set(fh) if fb.get(k) != fh.get(k) and not _is_dep_key(k))
    tooling_only = all(k.startswith("tool.") and k.split(".")[1] in _TOOLING for k in other)
    if dep_changes:
        return _dependency_file(ch, ev, dep_changes)
    if tooling_only:
        ev["trivial"].append(
            f"only tool configuration changed ({', '.join(other[:6])}): no runtime effect"
        )
        return _trivial_file(ch, ev, "tool configuration only")
    ev["trivial"].append(f"package metadata changed: {', '.join(other[:8])}")
    for q in IMPACT_QUESTIONS:
        ev[q].append(f"no: no dependency changed; metadata only ({', '.join(other[:4])})")
    return _file(ch, ev, f"package metadata changed: {', '.join(other[:3])}")


def _is_dep_key(key: str) -> bool:
    prefixes = [".".join(k) for k in _DEP_KEYS + _DEP_TABLES]
    return any(key == p or key.startswith(p + ".") for p in prefixes)


# ---------------------------------------------------------------------------- other files


def _file(
    ch: FileChange,
    ev: dict[str, list[str]],
    summary: str,
    *,
    trivial: bool = False,
    yes: Collection[str] = (),
) -> FileAssessment:
    """The row of one file: the impact questions in ``yes`` answered yes."""
    shuffle, memory, cpu, design = (q in yes for q in IMPACT_QUESTIONS)
    return FileAssessment(
        ch.path, trivial, shuffle, memory, cpu, design, summary, ev, ch.status, ch.old_path
    )


def _trivial_file(ch: FileChange, ev: dict[str, list[str]], summary: str) -> FileAssessment:
    for q in IMPACT_QUESTIONS:
        ev[q] = ev.get(q) or ["no: the change is trivial"]
    return _file(ch, ev, f"trivial: {summary}", trivial=True)


def _unsure_file(ch: FileChange, why: str, summary: str) -> FileAssessment:
    ev = {q: [why] for q in QUESTIONS}
    ev["trivial"] = [why.replace("answering yes", "not trivial")]
    return _file(ch, ev, f"{summary} (unsure: all yes)", yes=IMPACT_QUESTIONS)


def _assess_other(ch: FileChange) -> FileAssessment:
    name = posixpath.basename(ch.path)
    suffix = posixpath.splitext(name.lower())[1]
    ev: dict[str, list[str]] = {q: [] for q in QUESTIONS}
    if name == "py.typed" or name.endswith(".pyi"):
        ev["trivial"].append(f"{name}: type-checking marker/stub, not executed")
        return _trivial_file(ch, ev, "type stub/marker only")
    if ch.status == "renamed" and ch.base_text is not None and ch.base_text == ch.head_text:
        ev["trivial"].append(f"pure rename: {ch.old_path} → {ch.path}, content identical")
        return _trivial_file(ch, ev, f"file moved from {ch.old_path}")
    if suffix in STATIC_SUFFIXES:
        return _static_asset(ch, f"a static {suffix[1:]} asset of the dashboard (browser side)")
    if suffix in DATA_SUFFIXES and set(ch.path.lower().split("/")[:-1]) & STATIC_DIRS:
        return _static_asset(ch, f"a {suffix[1:]} file among the dashboard's static assets")
    if suffix == ".proto":
        why = f"unsure: {name} is an RPC schema (.proto): the actor/RPC protocol; RPC payloads "
        return _unsure_file(ch, why + "may change; answering yes", f"RPC schema {ch.status}")
    kind = "binary file" if ch.binary else f"{suffix or 'extension-less'} file"
    why = f"unsure: cannot analyse a {kind} in the Zephyr package from its code; answering yes"
    return _unsure_file(ch, why, f"{kind} {ch.status}")


def _static_asset(ch: FileChange, what: str) -> FileAssessment:
    """A dashboard page, script, style or image: changed, but no pipeline runs it."""
    name = posixpath.basename(ch.path)
    ev = {"trivial": [f"{name}: {what} {ch.status}: a real change, not trivial"]}
    for q in IMPACT_QUESTIONS:
        ev[q] = [f"no: {name} is {what}; pipelines never load it"]
    return _file(ch, ev, f"dashboard asset {ch.status}")


STATIC_SUFFIXES = frozenset(
    {".html", ".htm", ".js", ".mjs", ".cjs", ".css", ".map", ".svg", ".png", ".jpg", ".jpeg"}
    | {".gif", ".ico", ".webp", ".woff", ".woff2", ".ttf", ".eot"}
)
# JSON/text beside the pages (a manifest, a bundled data file) is static only there.
STATIC_DIRS = frozenset({"static", "dashboard", "assets", "templates", "web", "www", "ui"})
DATA_SUFFIXES = frozenset({".json", ".txt", ".csv"})


# ---------------------------------------------------------------------------- the pass


class _Checks:
    """Cross-file state: renames defined in the diff and the head-tree reference search."""

    def __init__(
        self,
        drafts: list[_Draft],
        find_references: ReferenceFinder | None,
        read_head: HeadReader | None,
    ) -> None:
        self.find_references = find_references
        self.read_head = read_head
        self.head = HeadFiles(read_head or (lambda _path: None))
        paths = [(d.change.old_path or d.path, d.path) for d in drafts]
        moved = [(module_of(old), module_of(new)) for old, new in paths if old != new]
        self.module_renames = {a: b for a, b in moved if a and b}
        self.def_renames: dict[str, dict[str, str]] = {}
        for d in drafts:
            if d.rename is None or d.base_norm is None:
                continue
            defs = set(_module_defs(d.base_norm))
            renamed = {a: b for a, b in d.rename.names.items() if a in defs}
            for path in {d.change.old_path or d.path, d.path}:
                mod = module_of(path)
                if mod:
                    self.def_renames.setdefault(mod, {}).update(renamed)
        self.refs: Mapping[str, list[str]] | None = {}
        self.removed_users: dict[tuple[str, str], list[str]] = {}
        self.new_functions: frozenset[str] = frozenset()

    def wanted(self, drafts: list[_Draft]) -> set[str]:
        names: set[str] = set()
        for d in drafts:
            if d.rename is not None and d.base_norm is not None:
                names |= set(self._renamed_defs(d))
            if d.removal is not None:
                names |= {n for ns in d.removal.defs.values() for n in ns}
                names |= {q.split(".")[0] for q in d.removal.defs if q.count(".") == 1}
            names |= set(d.old_module_refs)
        return names

    @staticmethod
    def _renamed_defs(d: _Draft) -> dict[str, str]:
        assert d.rename is not None and d.base_norm is not None
        defs = astdiff.definitions(d.base_norm).items()
        kept = [n for n, s in defs if s.kind != "function" or n.count(".") <= 1]
        level_defs = {p for n in kept for p in n.rsplit(".", 1)[-1].split(",")}
        return {a: b for a, b in d.rename.names.items() if a in level_defs}

    def hits(self, name: str) -> list[str] | None:
        return None if self.refs is None else list(self.refs.get(name, []))


def _cross_file(drafts: list[_Draft], checks: _Checks) -> None:
    """Moves between files, then one head-tree search for renamed, removed and new names."""
    moves = find_moves((d.path, d.base_norm, d.head_norm) for d in drafts)
    added: dict[str, dict[str, astdiff.Symbol]] = {}
    removed: list[tuple[str, str, _Draft]] = []
    for d in drafts:
        _imports_follow_moves(d, moves)
        d.moved = {**moves.moved_in.get(d.path, {}), **moves.moved_out.get(d.path, {})}
        if d.unsure:
            continue
        added[d.path] = callers.added_definitions(d.base_norm, d.head_norm, set(d.moved))
        module = module_of(d.change.old_path or d.path)
        if module:
            removed += [(module, n, d) for n in callers.removed_names(d.base_norm, d.head_norm)]
    new = [(q, s) for defs in added.values() for q, s in defs.items()]
    checks.new_functions = frozenset(q for q, s in new if s.kind == "function" and "." not in q)
    names = checks.wanted(drafts) | {n for _, n, _ in removed}
    names |= {n for q, _ in new for n in callers.short_names(q)}
    if names:
        checks.refs = checks.find_references(names) if checks.find_references else None
    if checks.refs is None:
        return
    read_head = checks.read_head
    for d in drafts:
        defs = added.get(d.path, {})
        module = module_of(d.path)
        refs = dict(checks.refs)
        if module and read_head is not None:  # who imports the new names from this module
            top = {(module, n) for q in defs if "." not in q for n in callers.short_names(q)}
            found = users_of(top, checks.refs, checks.head, defined=True)
            refs.update({n: found[(m, n)] for m, n in top})
        d.unused = callers.unused_new(defs, refs, d.path)
    checks.removed_users = users_of({(m, n) for m, n, _ in removed}, checks.refs, checks.head)
    for module, name, d in removed:
        left = checks.removed_users[(module, name)]
        if left:
            d.design_extra.append(
                f"`{name}` is no longer defined in `{module}` but {_refs_text(left)} still "
                "use it: the head tree breaks (callers must change)"
            )


def _check_references(d: _Draft, checks: _Checks) -> None:
    """Settle a pending rename/removal/move: trivial only if no old name is left in use."""
    for mod in d.old_module_refs:
        hits = checks.hits(mod)
        if hits is None:
            d.trivial = False
            d.not_trivial_why.append(f"module moved; {_UNKNOWN}: not trivial")
            break
        if hits:
            d.trivial = False
            d.not_trivial_why.append(
                f"module moved from {d.change.old_path} but `{mod}` is still referenced at "
                f"{_refs_text(hits)}"
            )
    if d.rename is not None:
        _check_rename(d, checks)
    if d.removal is not None:
        _check_removal(d, checks)


def _check_rename(d: _Draft, checks: _Checks) -> None:
    assert d.rename is not None and d.base_norm is not None
    ren = d.rename
    path = d.change.old_path or d.path
    bad: list[str] = []
    for module, old, new in ren.imports:
        mod = resolve_import(module, path)
        if checks.def_renames.get(mod, {}).get(old) != new:
            bad.append(
                f"import of `{old}` from {mod} became `{new}`: not a rename made in this diff"
            )
    for old, new in ren.modules.items():
        a, b = resolve_import(old, path), resolve_import(new, path)
        if checks.module_renames.get(a) != b:
            bad.append(f"import from module {a} became {b}: not a module moved in this diff")
    exported = astdiff.exported_names(d.base_norm)
    public = astdiff.public_definitions(d.base_norm)
    api_file = impact.is_public_api_file(d.path)
    for old, new in ren.names.items():
        qual = public.get(old)
        if qual and (api_file or old in exported):
            bad.append(f"public API `{qual}` renamed to `{new}`")
            d.design_extra.append(f"`{qual}`: public API renamed to `{new}` (callers must change)")
    for old, new in _Checks._renamed_defs(d).items():
        hits = checks.hits(old)
        if hits is None:
            bad.append(f"`{old}` renamed to `{new}`; {_UNKNOWN}")
        elif hits:
            bad.append(
                f"`{old}` renamed to `{new}` but `{old}` is still referenced at {_refs_text(hits)}"
            )
    pairs = ", ".join(f"`{a}` → `{b}`" for a, b in sorted(ren.names.items()))
    _settle(
        d,
        bad,
        "rename is not consistent: ",
        f"rename {pairs}" if pairs else "imports follow renamed modules",
        "pure rename: ASTs equal up to a one-to-one renaming of identifiers defined in "
        f"the file ({pairs or 'imports only'}); no reference to an old name is left in "
        "the head tree",
    )


def _settle(d: _Draft, bad: list[str], failure: str, summary: str, why: str) -> None:
    """A pending rename or removal: trivial (``summary``, ``why``) unless a check failed."""
    if bad:
        d.trivial = False
        d.not_trivial_why.append(failure + "; ".join(bad))
    else:
        d.trivial_summary = summary
        d.trivial_why.append(why)


def _check_removal(d: _Draft, checks: _Checks) -> None:
    assert d.removal is not None and d.base_norm is not None
    rem = d.removal
    bad: list[str] = []
    exported = astdiff.exported_names(d.base_norm)
    api_file = impact.is_public_api_file(d.path)
    for qual, names in rem.defs.items():
        public = not any(p.startswith("_") for p in qual.split("."))
        if public and (api_file or any(n in exported for n in names)):
            bad.append(f"public API `{qual}` removed")
            d.design_extra.append(f"`{qual}`: public API removed")
        module = module_of(d.change.old_path or d.path) or ""
        for name in names:
            hits = checks.hits(name)
            if "." not in qual and (module, name) in checks.removed_users:
                hits = checks.removed_users[(module, name)]
            elif hits and qual.count(".") == 1 and module:
                hits = _member_hits(d, checks, module, qual, name, hits)
            if hits is None:
                bad.append(f"`{qual}` removed; {_UNKNOWN}")
            elif hits:
                bad.append(f"removed `{qual}` still has callers at {_refs_text(hits)}")
    removed = _names_list(rem.defs)
    _settle(
        d,
        bad,
        "dead-code removal with callers: ",
        f"dead code removed: {removed}" if rem.defs else "unused imports removed",
        f"dead-code removal: {removed or 'unused imports'} removed and nothing else changed; "
        "no caller of a removed name is left in the head tree",
    )


def _member_hits(
    d: _Draft, checks: _Checks, module: str, qual: str, name: str, hits: list[str]
) -> list[str]:
    """Callers of a removed class member (``callers.member_users``), else every textual hit."""
    cls = qual.split(".")[0]
    class_hits = checks.hits(cls)
    if class_hits is None or checks.read_head is None or d.head_norm is None:
        return hits
    if not any(isinstance(n, ast.ClassDef) and n.name == cls for n in d.head_norm.body):
        return hits
    users = member_users(module, cls, name, class_hits, hits, checks.head, d.path)
    return hits if users is None else users


def _finish_python(d: _Draft, checks: _Checks) -> FileAssessment:
    ch = d.change
    ev: dict[str, list[str]] = {q: [] for q in QUESTIONS}
    if d.trivial:
        ev["trivial"] = d.trivial_why
        return _trivial_file(ch, ev, d.trivial_summary)
    if d.unsure:
        return _unsure_file(ch, f"unsure: {d.unsure}; answering yes", d.unsure_summary)
    ev["trivial"] = d.not_trivial_why or ["the code changed"]
    whole = ch.status in ("added", "deleted")
    if whole:
        tree = d.head_tree if ch.status == "added" else d.base_tree
        assert tree is not None  # else the draft is unsure
        changed = list(astdiff.index_symbols(tree))
    else:
        changed = _behaviour_changes(d)
    changed = [q for q in changed if q not in d.moved]
    moved = list(d.moved.items())[:_MAX_REFS]
    ev["trivial"] += [f"`{q}` moved verbatim between this file and {other}" for q, other in moved]
    hunks = ch.hunks
    if not hunks and ch.base_text is not None and ch.head_text is not None:
        hunks = parse_hunks(text_patch(ch.base_text, ch.head_text, ch.path))
    base = SideInfo.build(d.base_tree, (ln for h in hunks for ln in h.removed))
    head = SideInfo.build(d.head_tree, (ln for h in hunks for ln in h.added))
    read_tree = checks.head.tree if checks.read_head else None
    refs, new = checks.refs, checks.new_functions
    ctx = FileContext(ch.path, base, head, hunks, whole, d.unused, refs, new, read_tree)
    found = analyse(ctx, changed)
    for item in d.design_extra:
        found.add("design", item)
    for q in IMPACT_QUESTIONS:
        no = [f"no: nothing {_NO_TEXT[q]} among the changed code", *found.notes[:_MAX_REFS]]
        ev[q] = found.yes[q] or no
    yes = [q for q in IMPACT_QUESTIONS if found.yes[q]]
    what = _what_changed(d, changed)
    summary = f"{what} ({', '.join(yes)})" if yes else f"{what} (no perf-relevant pattern)"
    return _file(ch, ev, summary, yes=yes)


def _what_changed(d: _Draft, changed: list[str]) -> str:
    """The start of a file's summary: a new or deleted module, or its first changed symbols."""
    ch = d.change
    if ch.status == "added":
        return "new module"
    if ch.status == "deleted":
        return "module deleted"
    before = astdiff.index_symbols(d.base_norm) if d.base_norm is not None else {}
    after = astdiff.index_symbols(d.head_norm) if d.head_norm is not None else {}
    shown = [
        ("new " if n not in before else "removed " if n not in after else "changed ") + n
        for n in changed
        if not n.startswith("<")
    ] or [f"changed {n}" for n in changed]
    if not shown:
        return f"moved from {ch.old_path}" if ch.old_path else "no code change"
    return ", ".join(shown[:3]) + (f" +{len(shown) - 3} more" if len(shown) > 3 else "")


def _behaviour_changes(d: _Draft) -> list[str]:
    """Symbols whose code differs once alpha-renamed, dead stores and local imports dropped."""
    assert d.base_norm is not None and d.head_norm is not None
    a, b = astdiff.index_symbols(d.base_norm), astdiff.index_symbols(d.head_norm)
    flags = {"dead_stores": True, "local_imports": True}
    return [
        q
        for q in astdiff.changed_symbols(d.base_norm, d.head_norm)
        if q not in a
        or q not in b
        or a[q].kind != b[q].kind
        or alpha.symbol_key(a[q], **flags) != alpha.symbol_key(b[q], **flags)
    ]


_NO_TEXT = {
    "shuffle": "touching the scatter pipeline (hashing, fanout, combiner, partitioning, k-way merge)",
    "memory": "touching buffer sizes, chunk shapes, spill thresholds or accumulation",
    "cpu": "touching loops, sort/merge, serialization, polling, locks or file I/O",
    "design": "touching public API, actor protocol, .result() calls, retries or plan/fusion rules",
}


def _rationale(max_gate: str, per_file: Mapping[str, FileAssessment], scope_reason: str) -> str:
    def items(files: Iterable[FileAssessment]) -> str:
        parts = [f"{posixpath.basename(f.path)}: {f.summary}" for f in files]
        text = "; ".join(parts[:4])
        return text + (f"; +{len(parts) - 4} more file(s)" if len(parts) > 4 else "")

    files = list(per_file.values())
    if max_gate == "3":
        return items(f for f in files if f.impact)
    if max_gate == "1":
        return "non-trivial, no shuffle/memory/CPU/design impact found: " + items(
            f for f in files if not f.trivial
        )
    if not files:
        return scope_reason
    return "all Zephyr changes trivial: " + items(files)


def assess(
    files: Sequence[FileChange],
    *,
    find_references: ReferenceFinder | None = None,
    source: str = "",
    base_sha: str = "",
    head_sha: str = "",
    is_fork: bool = False,
    fork_repo: str | None = None,
    read_head: HeadReader | None = None,
) -> Assessment:
    """Assess a diff (texts needed only for gated files).

    ``find_references(names)`` -> ``{name: ["path:line"]}`` or None, called at most once;
    ``read_head(path)`` tells real uses from look-alikes (without it every hit counts).
    """
    scope = decide_scope((f.path, f.old_path) for f in files)
    flags = list(scope.flags)
    if is_fork:
        flags.insert(
            0,
            f"head is a fork ({fork_repo or 'unknown repository'}): the treatment would run "
            "untrusted code on the cluster; the reviewer must confirm explicitly.",
        )
    make = functools.partial(  # the fields every Assessment of this diff shares
        Assessment,
        flags=flags,
        scope=scope.to_json(),
        source=source,
        base_sha=base_sha,
        head_sha=head_sha,
        is_fork=is_fork,
        fork_repo=fork_repo,
    )
    if not scope.in_scope:
        return make("skip", scope.reason, {}, False)
    per_file: dict[str, FileAssessment] = {}
    drafts = []
    for ch in files:
        category = classify_change(ch.path, ch.old_path)
        if category not in GATED:
            continue
        python = ch.path.endswith(".py") or (ch.old_path or "").endswith(".py")
        if category == Category.ZEPHYR_PACKAGE and ch.path.endswith("pyproject.toml"):
            per_file[ch.path] = _assess_pyproject(ch)
        elif python and not ch.binary:
            drafts.append(_guarded_draft(ch))
        else:
            per_file[ch.path] = _assess_other(ch)
    checks = _Checks(drafts, find_references, read_head)
    _cross_file(drafts, checks)
    for d in drafts:
        if d.trivial or d.old_module_refs:
            _check_references(d, checks)
        try:
            per_file[d.path] = _finish_python(d, checks)
        except RecursionError:
            per_file[d.path] = _unsure_file(d.change, _TOO_DEEP, _TOO_DEEP_SUMMARY)
    per_file = {p: per_file[p] for p in sorted(per_file)}
    gate = decide_max_gate(per_file.values())
    return make(gate, _rationale(gate, per_file, scope.reason), per_file, True)


def assess_source(source: DiffSource) -> Assessment:
    """Read what :func:`assess` needs from a diff source (texts of gated files only)."""
    files = source.files()
    check("diff_max_files", len(files), source.description, "changed files:")

    def sides(f: diffsource.ChangedFile) -> list[tuple[str, diffsource.Side]]:
        """The texts to read: both sides of a gated file, none of any other."""
        if classify_change(f.path, f.old_path) not in GATED:
            return []
        base: list[tuple[str, diffsource.Side]] = [(f.base_path, "base")] if f.base_path else []
        return base + ([(f.head_path, "head")] if f.head_path else [])

    wanted = [sides(f) for f in files]
    source.prefetch([key for keys in wanted for key in keys])
    changes = []
    for f, keys in zip(files, wanted, strict=True):
        texts = {s: source.read_text(p, s) for p, s in keys}
        base, head = texts.get("base"), texts.get("head")
        changes.append(FileChange(f.path, f.status, f.old_path, base, head, f.hunks, f.binary))
    return assess(
        changes,
        find_references=source.find_references,
        source=source.description,
        base_sha=source.base_sha,
        head_sha=source.head_sha,
        is_fork=source.is_fork,
        fork_repo=source.fork_repo,
        read_head=lambda path: source.read_text(path, "head"),
    )
