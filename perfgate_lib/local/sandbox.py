"""A marin-shaped git repository for the demo and the tests, built from installed Zephyr:
``main`` holds its source and a minimal ``lib/zephyr/pyproject.toml``, a PR branch one real
change to the scatter hot path. The changes and what each measured: ``docs/gate0.md``.
"""

from __future__ import annotations

import atexit
import importlib.metadata as md
import importlib.util
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import Parser
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from perfgate_lib.errors import PerfgateError, UsageError
from perfgate_lib.io.git import git_out
from perfgate_lib.local.zephyr_api import dist_version

BASE_BRANCH = "main"
PR_BRANCH = "perfgate-demo/scatter-zstd-level"
ZEPHYR_PKG = Path("lib/zephyr/src/zephyr")
ZEPHYR_PYPROJECT = "lib/zephyr/pyproject.toml"
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "perfgate demo",
    "GIT_AUTHOR_EMAIL": "perfgate-demo@example.invalid",
    "GIT_COMMITTER_NAME": "perfgate demo",
    "GIT_COMMITTER_EMAIL": "perfgate-demo@example.invalid",
    "GIT_AUTHOR_DATE": "2026-06-18T10:00:00+00:00",
    "GIT_COMMITTER_DATE": "2026-06-18T10:00:00+00:00",
}

# A file edit: relative path -> function(old text) -> new text.
Edit = Callable[[str], str]


def replace_once(old: str, new: str, missing: str) -> Edit:
    """An edit replacing the one occurrence of ``old`` (:func:`replace_first`)."""
    return replace_first(((old, new),), missing)


def replace_first(alternatives: tuple[tuple[str, str], ...], missing: str) -> Edit:
    """An edit applying the first ``(old, new)`` whose ``old`` occurs exactly once (one per
    Zephyr layout); PerfgateError ``sandbox: <missing>`` when none does."""

    def edit(text: str) -> str:
        for old, new in alternatives:
            if text.count(old) == 1:
                return text.replace(old, new)
        raise PerfgateError(f"sandbox: {missing}")

    return edit


@dataclass(frozen=True)
class Change:
    """One PR: a branch name, a commit message and the file edits."""

    branch: str
    message: str
    edits: dict[str, Edit] = field(default_factory=dict)


_OLD_SUB_BATCH = """# Items per pickle.dump call within a chunk. Larger = faster (less per-call
# dispatch overhead), smaller = lower per-iterator read memory.
_SUB_BATCH_SIZE = 1024
"""
_NEW_SUB_BATCH = """# Items per pickle.dump call within a chunk. One item per frame keeps each
# reducer iterator's read memory at a single item, which bounds external-sort
# fan-in over mega-docs (hundreds of open chunk iterators on skewed shuffles).
_SUB_BATCH_SIZE = 1
"""
_NOT_THIS_RELEASE = (
    "this marin-zephyr release is not one the demo was built for (0.2.20 ... 0.2.227)"
)
# 0.2.4x on: the scatter writes Parquet; items go to it in DataFrames of this many rows.
_OLD_ROW_COUNT = "_DATAFRAME_ROW_COUNT = 1000\n"
_NEW_ROW_COUNT = """# One item per DataFrame batch bounds the scatter writer's buffered memory on
# mega-docs (tier-2 shuffles hold hundreds of open target buffers).
_DATAFRAME_ROW_COUNT = 1
"""


def shuffle_change(
    branch: str, message: str, alternatives: tuple[tuple[str, str], ...], lacks: str
) -> Change:
    """A PR editing ``zephyr/shuffle.py`` (:func:`replace_first`); ``lacks`` completes
    "the installed zephyr/shuffle.py has ..." when no alternative applies."""
    missing = f"the installed zephyr/shuffle.py has {lacks}; {_NOT_THIS_RELEASE}"
    return Change(
        branch, message, {str(ZEPHYR_PKG / "shuffle.py"): replace_first(alternatives, missing)}
    )


SUB_BATCH_CHANGE = shuffle_change(
    "perfgate-demo/scatter-sub-batch",
    "zephyr: stream scatter chunks one item per pickle frame\n\n"
    "Bounds per-iterator read memory in reducers that fan in many chunk iterators\n"
    "(tier-2 mega-docs).",
    ((_OLD_SUB_BATCH, _NEW_SUB_BATCH), (_OLD_ROW_COUNT, _NEW_ROW_COUNT)),
    "neither a `_SUB_BATCH_SIZE = 1024` block nor a `_DATAFRAME_ROW_COUNT = 1000` line",
)


_OLD_LEVEL = "_ZSTD_COMPRESS_LEVEL = 3\n"
_NEW_LEVEL = """# Level 6 shrinks scatter files against level 3 on text-heavy shuffles,
# cutting spill disk and GCS egress for tier-2 sized jobs.
_ZSTD_COMPRESS_LEVEL = 6
"""
# 0.2.4x on: scatter chunks are zstd Parquet written by polars (its default level, 3).
_PARQUET_LEVEL = 19
_OLD_PARQUET = (
    '        buffer_sorted.write_parquet(buf, compression="zstd", row_group_size=row_group_size)\n'
)
_NEW_PARQUET = f"""        # Level {_PARQUET_LEVEL} shrinks scatter files against the default (3) on text-heavy
        # shuffles, cutting spill disk and GCS egress for tier-2 sized jobs.
        buffer_sorted.write_parquet(
            buf, compression="zstd", compression_level={_PARQUET_LEVEL}, row_group_size=row_group_size
        )
"""


ZSTD_LEVEL_CHANGE = shuffle_change(
    PR_BRANCH,
    "zephyr: compress scatter chunks at zstd level 6\n\n"
    "Smaller shuffle files: less spill disk and GCS egress on tier-2 sized jobs.",
    ((_OLD_LEVEL, _NEW_LEVEL), (_OLD_PARQUET, _NEW_PARQUET)),
    "neither a `_ZSTD_COMPRESS_LEVEL = 3` line nor the scatter writer's zstd `write_parquet` call",
)

# 0.2.4x on: every shuffled item is pickled by ``_dumps``, stdlib pickle first.
_OLD_DUMPS = """    try:
        return pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, AttributeError, TypeError):
"""
_NEW_DUMPS = """    try:
        # cloudpickle for every item: one serializer, so lambdas and local classes
        # in shuffled items behave like everything else.
        return cloudpickle.dumps(item)
    except (pickle.PicklingError, AttributeError, TypeError):
"""

# The demo's change on the Parquet scatter (0.2.4x on): the shard's own thread pickles
# every shuffled item with cloudpickle (pure Python hooks, about 6x stdlib pickle's cost).
SCATTER_PICKLE_CHANGE = shuffle_change(
    "perfgate-demo/scatter-cloudpickle",
    "zephyr: pickle shuffled items with cloudpickle only\n\n"
    "One serializer for every item, so lambdas and local classes need no fallback.",
    ((_OLD_DUMPS, _NEW_DUMPS),),
    "no stdlib-pickle `_dumps` fast path",
)

# Zephyr needs xxhash>=3.4 and no other marin library constrains it (braceexpand, pinned
# before, is held at >=0.1.7 by marin-rigging 0.2.227, so its older 0.1.6 cannot resolve).
PINNED_XXHASH = "3.5.0"
KIT_XXHASH = dist_version("xxhash") or "0"
_OLD_PIN = f'"xxhash=={KIT_XXHASH}"'


# A dependency-only PR: zephyr's code is untouched, its environment differs.
DEP_PIN_CHANGE = Change(
    branch="perfgate-demo/pin-xxhash",
    message=(
        f"zephyr: pin xxhash to {PINNED_XXHASH}\n\nMatches the version in an older downstream image."
    ),
    edits={
        ZEPHYR_PYPROJECT: replace_once(
            _OLD_PIN,
            f'"xxhash=={PINNED_XXHASH}"',
            f"{ZEPHYR_PYPROJECT} has no {_OLD_PIN} pin; the kit's venv holds another "
            "xxhash than the one the dependency-pin change was written for",
        )
    },
)


_ROUTE_0_2_20 = "        key = self._key_fn(item)\n"  # ScatterWriter.write
_ROUTE_PARQUET = "    key = key_fn(item)\n"  # _item_routing (0.2.4x on)


def route_hash_change(rounds: int, branch: str = "") -> Change:
    """The scatter re-checks each shuffled item's routing hash ``rounds`` extra times, on
    0.2.20 and 0.2.227 alike (about 2,600 instructions per item and round on 0.2.227)."""
    hash_old = f"        for _ in range({rounds}):  # re-check the routing hash\n"
    hash_old += "            deterministic_hash(key)\n"
    hash_new = f"    for _ in range({rounds}):  # re-check the routing hash\n"
    hash_new += "        hash_encoded_key(encode_key(key))\n"
    return shuffle_change(
        branch or f"perfgate-demo/route-hash-{rounds}",
        f"zephyr: re-check each scatter key's routing hash {rounds} times\n\n"
        "Guards against a key whose hash changes between calls.",
        ((_ROUTE_0_2_20, _ROUTE_0_2_20 + hash_old), (_ROUTE_PARQUET, _ROUTE_PARQUET + hash_new)),
        "no scatter routing line",
    )


# The demo's change on the Parquet scatter (0.2.4x on).
ROUTE_HASH_CHANGE = route_hash_change(40, "perfgate-demo/scatter-route-hash")


def default_change(zephyr_dir: str | Path | None = None) -> Change:
    """The demo's change for the Zephyr in ``zephyr_dir`` (default: the installed one):
    ZSTD_LEVEL_CHANGE where ``shuffle.py`` has ``_ZSTD_COMPRESS_LEVEL = 3``, else ROUTE_HASH_CHANGE."""
    shuffle = Path(zephyr_dir or installed_zephyr_dir()) / "shuffle.py"
    text = shuffle.read_text() if shuffle.is_file() else ""
    return ZSTD_LEVEL_CHANGE if text.count(_OLD_LEVEL) == 1 else ROUTE_HASH_CHANGE


@dataclass(frozen=True)
class Sandbox:
    """A built sandbox repository: its path, base and head branch names and SHAs."""

    path: str
    base: str
    head: str
    base_sha: str
    head_sha: str
    changed_files: tuple[str, ...]


def installed_zephyr_dir() -> Path:
    """The installed ``zephyr`` package folder (marin-zephyr), without importing it."""
    spec = importlib.util.find_spec("zephyr")
    if spec is None or not spec.submodule_search_locations:
        raise UsageError(
            "marin-zephyr is not installed: install the local extra "
            "(pip install -e '.[local]') to run the local A/B and the demo"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _write_main(repo: Path, zephyr_dir: Path, pyproject: str | None) -> None:
    target = repo / ZEPHYR_PKG
    shutil.copytree(
        zephyr_dir, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so")
    )
    (repo / ZEPHYR_PYPROJECT).write_text(
        pyproject or zephyr_pyproject(dist_version("marin-zephyr") or "0.0.0")
    )
    (repo / "lib/zephyr/AGENTS.md").write_text(
        "# Zephyr\n\nScatter/shuffle lives in `src/zephyr/shuffle.py`; the planner in "
        "`plan.py`; the executor in `execution.py`.\n"
    )
    tests = repo / "lib/zephyr/tests"
    tests.mkdir(parents=True)
    (tests / "test_import.py").write_text("def test_import():\n    import zephyr  # noqa: F401\n")
    (repo / "README.md").write_text(
        "# marin (perfgate demo sandbox)\n\nA marin-shaped repository holding the installed "
        "marin-zephyr source, built by `perfgate demo`.\n"
    )


def build_sandbox(
    path: str | Path,
    change: Change | None = None,
    *,
    zephyr_dir: str | Path | None = None,
    pyproject: str | None = None,
) -> Sandbox:
    """Create the sandbox at ``path`` (absent or empty): ``main`` with ``zephyr_dir``'s source
    (default: installed) and ``pyproject`` (default: :func:`zephyr_pyproject`), then
    ``change`` (default: :func:`default_change`) as one commit on its branch."""
    repo = Path(path)
    if repo.exists() and any(repo.iterdir()):
        raise UsageError(f"sandbox path {repo} exists and is not empty")
    repo.mkdir(parents=True, exist_ok=True)
    source = Path(zephyr_dir) if zephyr_dir else installed_zephyr_dir()
    change = change or default_change(source)
    _sandbox_git(repo, "init", "--quiet", "--initial-branch", BASE_BRANCH)
    _write_main(repo, source, pyproject)
    _sandbox_git(repo, "add", "-A")
    _sandbox_git(repo, "commit", "--quiet", "-m", "Import marin-zephyr source")
    base_sha = _sandbox_git(repo, "rev-parse", "HEAD")
    _sandbox_git(repo, "checkout", "--quiet", "-b", change.branch)
    for rel, edit in change.edits.items():
        file = repo / rel
        file.write_text(edit(file.read_text()))
    _sandbox_git(repo, "add", "-A")
    _sandbox_git(repo, "commit", "--quiet", "--allow-empty", "-m", change.message)
    head_sha = _sandbox_git(repo, "rev-parse", "HEAD")
    _sandbox_git(repo, "checkout", "--quiet", BASE_BRANCH)
    return Sandbox(str(repo), BASE_BRANCH, change.branch, base_sha, head_sha, tuple(change.edits))


def diff_text(sandbox: Sandbox) -> str:
    """The PR's unified diff (``git diff base...head``)."""
    return _sandbox_git(Path(sandbox.path), "diff", f"{sandbox.base}...{sandbox.head}") + "\n"


def ensure_checkout(checkout: str, base: str, head: str) -> tuple[str, str, str]:
    """``(checkout, base, head)`` as given, or for "" a demo sandbox (removed at exit)."""
    if checkout:
        return checkout, base, head
    tmp = tempfile.mkdtemp(prefix="perfgate-sandbox-")
    atexit.register(shutil.rmtree, tmp, True)
    box = build_sandbox(Path(tmp) / "marin")
    return box.path, box.base, box.head


def _sandbox_git(repo: Path, *args: str) -> str:
    """``git -C repo ARGS`` as the demo's fixed author; :class:`GitError` when it fails."""
    return git_out(repo, *args, env=_GIT_ENV)


# --- lib/zephyr/pyproject.toml ------------------------------------------------------------------

ZEPHYR_DIST = "marin-zephyr"


def _applies(req: Requirement, extras: frozenset[str]) -> bool:
    """Whether ``req`` applies on this machine for a dist installed with ``extras``."""
    if req.marker is None:
        return True
    env = {key: str(value) for key, value in default_environment().items()}  # all str
    return any(req.marker.evaluate({**env, "extra": e}) for e in (extras or {""}))


def dependency_closure(root: str = ZEPHYR_DIST) -> dict[str, str]:
    """``{canonical name: installed version}`` of every dist ``root`` needs here."""
    found: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        for text in md.requires(name) or []:
            req = Requirement(text)
            key = (canonicalize_name(req.name), frozenset(req.extras))
            if not _applies(req, extras) or key in seen:
                continue
            seen.add(key)
            found[key[0]] = md.version(key[0])
            todo.append(key)
    return dict(sorted(found.items()))


def _pinned(req: Requirement, version: str) -> str:
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    marker = f"; {req.marker}" if req.marker else ""
    return f"{canonicalize_name(req.name)}{extras}=={version}{marker}"


def _project_toml(
    version: str, requires_python: str, deps: list[str], pins: list[str], origin: str
) -> str:
    lines = "".join(f'  "{d}",\n' for d in deps)
    text = (
        "[project]\n"
        'name = "marin-zephyr"\n'
        f'version = "{version}"\n'
        'description = "Lightweight dataset library for distributed data processing"\n'
        f'requires-python = "{requires_python}"\n'
        f"# {origin}\n"
        f"dependencies = [\n{lines}]\n"
    )
    if pins:
        pinned = "".join(f'  "{p}",\n' for p in pins)
        text += (
            "\n[tool.uv]\n"
            "# Their dependencies, pinned the same way (what a uv.lock would fix).\n"
            f"constraint-dependencies = [\n{pinned}]\n"
        )
    return text


def zephyr_pyproject(version: str) -> str:
    """The sandbox's ``lib/zephyr/pyproject.toml``, pinned to the kit's versions."""
    closure = dependency_closure()
    direct = [Requirement(text) for text in md.requires(ZEPHYR_DIST) or []]
    direct = [req for req in direct if _applies(req, frozenset())]
    names = {canonicalize_name(req.name) for req in direct}
    deps = [_pinned(req, closure[canonicalize_name(req.name)]) for req in direct]
    pins = [f"{n}=={v}" for n, v in closure.items() if n not in names]
    requires = md.metadata(ZEPHYR_DIST).get("Requires-Python") or ">=3.11"
    origin = "The release's own dependencies, pinned to the versions the perfgate kit holds."
    return _project_toml(version, str(requires), deps, pins, origin)


def release_pyproject(metadata_text: str, pins: tuple[str, ...] = ()) -> str:
    """``lib/zephyr/pyproject.toml`` from a marin-zephyr wheel's ``METADATA`` text; ``pins``
    (``name==version``) become constraint-dependencies. ValueError names a missing field."""
    meta = Parser().parsestr(metadata_text)
    for name in ("Name", "Version"):
        if not meta.get(name):
            raise ValueError(f"wheel METADATA has no {name} field")
    if canonicalize_name(meta["Name"]) != ZEPHYR_DIST:
        raise ValueError(f"wheel METADATA names {meta['Name']!r}, not {ZEPHYR_DIST}")
    direct = [Requirement(text) for text in meta.get_all("Requires-Dist") or []]
    deps = [str(req) for req in direct if req.marker is None or _applies(req, frozenset())]
    requires = meta.get("Requires-Python") or ">=3.11"
    origin = f"marin-zephyr {meta['Version']}'s own Requires-Dist, as published."
    return _project_toml(str(meta["Version"]), str(requires), deps, list(pins), origin)
