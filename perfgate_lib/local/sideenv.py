"""Each side of the local A/B in its own Python environment, built from its worktree
(``--env uv``, ``kit`` or ``auto``); failures raise :class:`SideEnvError` (exit 4) with
the command and its last lines. The method: ``docs/zephyr-releases.md``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfgate_lib.errors import PerfgateError, UsageError
from perfgate_lib.io import pythons
from perfgate_lib.io.childenv import child_env
from perfgate_lib.local.zephyr_api import REPORTED_DISTS, dist_version

ENV_MODES = ("auto", "uv", "kit")
ZEPHYR_PROJECT = Path("lib/zephyr")
_MANIFEST = "manifest.json"
# 2: versions read in isolated mode (schema 1 could list dists of the builder's cwd)
_MANIFEST_SCHEMA = 2
_TAIL_LINES = 15
# Printed by the environment's interpreter after a build: its version and every dist's.
_VERSIONS_SCRIPT = (
    "import json, platform, sys\n"
    "from importlib.metadata import distributions\n"
    "print(json.dumps({'python': platform.python_version(), 'executable': sys.executable,"
    " 'dists': {d.metadata['Name'].lower(): d.version for d in distributions()}}))\n"
)


class SideEnvError(PerfgateError):
    """A side's environment could not be prepared; names the command and its last lines."""

    def __init__(self, problem: str, command: list[str] | None = None, output: str = "") -> None:
        lines = [f"side environment: {problem}"]
        if command:
            lines.append(f"command: {' '.join(command)}")
        tail = [line for line in output.strip().splitlines() if line.strip()][-_TAIL_LINES:]
        if tail:
            lines.append("last lines:")
            lines.extend(f"  {line}" for line in tail)
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class SideEnv:
    """How to run a Python script for one side, and what that environment is."""

    mode: str  # "uv" (the worktree's own environment) or "kit" (the kit's venv)
    python: list[str]  # argv prefix that runs a Python script in that environment
    env: dict[str, str]  # extra environment variables for the side process
    cwd: str | None
    digest: str | None  # digest of the dependency files the env was built from
    description: str  # one line for provenance and the comment
    build_seconds: float  # wall seconds spent building; 0 when taken from the cache
    zephyr_src: str = ""  # the worktree's lib/zephyr/src (also first on PYTHONPATH)
    env_dir: str | None = None  # the cached environment's folder (uv mode)
    versions: dict[str, str | None] = field(default_factory=dict)  # python + REPORTED_DISTS
    dists: dict[str, str] = field(default_factory=dict)  # every dist the side runs: version


@dataclass(frozen=True)
class UvProject:
    """The worktree's uv project for Zephyr: where to sync and which files pin it."""

    root: Path  # the project (or workspace root) folder inside the worktree
    package: str | None  # workspace member to sync (None: a single project)
    files: tuple[Path, ...]  # dependency files, relative to ``root``
    first_party_src: tuple[Path, ...]  # folders for PYTHONPATH, zephyr's first


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SideEnvError(f"cannot read {path}: {exc}") from exc


def _project_table(path: Path) -> dict:
    """The ``[project]`` table of the pyproject.toml at ``path``; {} when it is no table
    (the PR writes the file)."""
    meta = _read_toml(path).get("project")
    return meta if isinstance(meta, dict) else {}


def _patterns(root: Path, workspace: dict, key: str) -> list[str]:
    """``tool.uv.workspace.<key>`` of the root pyproject.toml (the PR writes it): glob
    patterns inside the worktree; SideEnvError naming the file and field otherwise."""
    patterns = workspace.get(key, [])
    inside = isinstance(patterns, list) and all(
        isinstance(p, str) and p and not p.startswith("/") and ".." not in Path(p).parts
        for p in patterns
    )
    if not inside:
        raise SideEnvError(
            f"{root / 'pyproject.toml'}: tool.uv.workspace.{key}: expected a list of glob "
            f"patterns inside the worktree, got {patterns!r:.200}"
        )
    return patterns


def _member_dirs(root: Path, workspace: dict) -> list[Path]:
    """Workspace member folders (``members`` globs, minus ``exclude``), sorted."""
    excluded = {p for pattern in _patterns(root, workspace, "exclude") for p in root.glob(pattern)}
    found = {p for pattern in _patterns(root, workspace, "members") for p in root.glob(pattern)}
    return sorted(p for p in found - excluded if (p / "pyproject.toml").is_file())


def _workspace(root_meta: dict) -> dict | None:
    """The ``[tool.uv.workspace]`` table, or None (also when ``tool`` or ``tool.uv`` is no
    table: then there is no workspace)."""
    tool = root_meta.get("tool")
    uv = tool.get("uv") if isinstance(tool, dict) else None
    workspace = uv.get("workspace") if isinstance(uv, dict) else None
    return workspace if isinstance(workspace, dict) else None


def find_uv_project(worktree: str | Path) -> UvProject | None:
    """The worktree's uv project for Zephyr (a root workspace listing ``lib/zephyr``, or
    ``lib/zephyr/pyproject.toml`` with a ``[project]`` table), or None."""
    tree = Path(worktree)
    zephyr_toml = tree / ZEPHYR_PROJECT / "pyproject.toml"
    if not zephyr_toml.is_file():
        return None
    zephyr_meta = _read_toml(zephyr_toml).get("project")
    if not isinstance(zephyr_meta, dict) or not zephyr_meta.get("name"):
        return None
    root_toml = tree / "pyproject.toml"
    root_meta = _read_toml(root_toml) if root_toml.is_file() else {}
    workspace = _workspace(root_meta)
    if workspace is not None:
        members = _member_dirs(tree, workspace)
        if (tree / ZEPHYR_PROJECT).resolve() in {m.resolve() for m in members}:
            files = [m.relative_to(tree) / "pyproject.toml" for m in (tree, *members)]
            if (tree / "uv.lock").is_file():
                files.append(Path("uv.lock"))
            zephyr_src = tree / ZEPHYR_PROJECT / "src"
            others = [
                m / "src" for m in members if (m / "src").is_dir() and m / "src" != zephyr_src
            ]
            return UvProject(tree, str(zephyr_meta["name"]), tuple(files), (zephyr_src, *others))
    files = [Path("pyproject.toml")]
    if (tree / ZEPHYR_PROJECT / "uv.lock").is_file():
        files.append(Path("uv.lock"))
    return UvProject(tree / ZEPHYR_PROJECT, None, tuple(files), (tree / ZEPHYR_PROJECT / "src",))


def choose_mode(worktree: str | Path, requested: str = "auto") -> str:
    """``uv`` or ``kit``: ``requested`` itself, or for ``auto`` whether a uv project exists."""
    if requested not in ENV_MODES:
        raise UsageError(f"--env must be one of {', '.join(ENV_MODES)}, not {requested!r}")
    if requested != "auto":
        return requested
    return "kit" if find_uv_project(worktree) is None else "uv"


def _kit_bin_dir() -> Path:
    """The kit interpreter's ``bin`` folder (the venv's, not resolved to the base Python)."""
    return Path(sys.executable).parent


def find_uv() -> str:
    """The ``uv`` executable: ``PERFGATE_UV``, then PATH, then beside the kit's Python."""
    found = (
        os.environ.get("PERFGATE_UV")
        or shutil.which("uv")
        or shutil.which("uv", path=str(_kit_bin_dir()))
    )
    if not found:
        raise SideEnvError(
            "uv is not on PATH nor beside the kit's Python "
            f"({_kit_bin_dir()}); install it (`pip install uv`, it is in the kit's "
            "`local` extra) or run with --env kit",
            ["uv", "--version"],
        )
    return found


def _uv_env() -> dict[str, str]:
    """The environment for uv commands: never download interpreters, no outer venv."""
    return child_env({"UV_PYTHON_DOWNLOADS": "never"}, drop=("VIRTUAL_ENV", "UV_PROJECT"))


def _run(cmd: list[str], problem: str, env: dict[str, str], cwd: Path | None = None) -> str:
    """Run ``cmd`` in ``cwd``; its stdout, or SideEnvError(problem) with its last lines."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    except OSError as exc:
        raise SideEnvError(f"{problem}: {exc}", cmd) from exc
    if done.returncode != 0:
        raise SideEnvError(f"{problem} (exit {done.returncode})", cmd, done.stdout + done.stderr)
    return done.stdout


def find_python(project: UvProject) -> tuple[str, str]:
    """``(executable, version)`` of an installed interpreter (PATH, then pyenv: see
    :mod:`perfgate_lib.io.pythons`) for the project's (or workspace root's)
    ``requires-python``; SideEnvError saying what to install when none satisfies."""
    where = project.root / "pyproject.toml"
    value = _project_table(where).get("requires-python")
    requires = str(value) if value else None
    try:
        found = pythons.find_python(requires)
    except ValueError as exc:
        raise SideEnvError(f"{where}: {exc}") from exc
    if found is None:
        raise SideEnvError(pythons.install_hint(requires, str(where)))
    return found.path, found.version


def env_digest(project: UvProject, python_executable: str, python_version: str) -> str:
    """16 hex digits of SHA-256 over the dependency files, the layout and the interpreter."""
    sha = hashlib.sha256()
    sha.update(f"layout={project.package or 'project'}\n".encode())
    sha.update(f"python={python_version} {python_executable}\n".encode())
    for rel in project.files:
        sha.update(f"file={rel.as_posix()}\n".encode())
        sha.update((project.root / rel).read_bytes())
    return sha.hexdigest()[:16]


def kit_cache_dir(kind: str, override_env: str) -> Path:
    """``$override_env``, else ``~/.cache/perfgate/<kind>`` (XDG_CACHE_HOME honoured)."""
    if explicit := os.environ.get(override_env):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "perfgate" / kind


def _sync_command(uv: str, project: UvProject, staging: Path, python: str) -> list[str]:
    """``uv sync`` for the project: third-party dependencies only, no interpreter download."""
    common = [uv, "sync", "--no-python-downloads", "--python", python]
    if project.package is None:  # single project: synced from a copy of its files
        return [*common, "--project", str(staging), "--no-install-project"]
    return [
        *common,
        *("--project", str(project.root), "--package", project.package),
        "--no-install-workspace",
    ]


def _build(uv: str, project: UvProject, entry: Path, python: str) -> dict:
    """Sync the environment into ``entry/venv``; returns the manifest (written last)."""
    if entry.exists():
        shutil.rmtree(entry)  # a build that died half-way
    staging = entry / "project"
    staging.mkdir(parents=True)
    for rel in project.files:  # the digest's inputs, and nothing else
        (staging / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(project.root / rel, staging / rel)
    env = {**_uv_env(), "UV_PROJECT_ENVIRONMENT": str(entry / "venv")}
    cmd = _sync_command(uv, project, staging, python)
    _run(cmd, "uv sync failed to build the environment", env, staging)
    return _write_manifest(entry, cmd)


def env_facts(python: str, cwd: Path) -> dict:
    """``{"python": version, "executable", "dists": {name: version}}`` of an interpreter,
    read in isolated mode (``-I``) from ``cwd``, so neither can add distributions."""
    cmd = [python, "-I", "-c", _VERSIONS_SCRIPT]
    out = _run(cmd, "the environment's Python fails", _uv_env(), cwd)
    try:  # the PR's dependencies' .pth files run, and can print, even in isolated mode
        facts = json.loads(out)
    except (ValueError, RecursionError):
        facts = None
    if not _is_facts(facts):
        raise SideEnvError("the environment's Python did not print its versions", cmd, out)
    return facts


def _is_facts(facts: Any) -> bool:
    """Whether ``facts`` is :func:`env_facts`' object: python text, dists text -> text."""
    if not isinstance(facts, dict) or not isinstance(facts.get("python"), str):
        return False
    dists = facts.get("dists")
    return isinstance(dists, dict) and all(isinstance(v, str) for v in dists.values())


def _write_manifest(entry: Path, command: list[str]) -> dict:
    """Write ``manifest.json`` with the environment's versions (last: a build that died
    half-way has none)."""
    facts = env_facts(str(entry / "venv" / "bin" / "python"), entry)
    manifest = {"schema": _MANIFEST_SCHEMA, "command": command}
    manifest.update({key: facts[key] for key in ("python", "dists")})
    (entry / _MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def _cached_manifest(entry: Path) -> dict | None:
    """The cached environment's manifest (versions re-read for an older schema); None when
    there is none, or it is cut short or of another shape (a crash while writing it): the
    environment is built again."""
    try:
        manifest = json.loads((entry / _MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict):
        return None
    if manifest.get("schema") != _MANIFEST_SCHEMA:  # the same env, versions re-read
        return _write_manifest(entry, list(manifest.get("command") or []))
    return manifest if _is_facts(manifest) else None


def _declared_versions(project: UvProject) -> dict[str, str]:
    """Versions of first-party projects as the worktree declares them (their code runs)."""
    versions: dict[str, str] = {}
    for src in project.first_party_src:
        meta = _project_table(src.parent / "pyproject.toml")
        if meta.get("name") and meta.get("version"):
            versions[str(meta["name"]).lower()] = str(meta["version"])
    return versions


def _side_env(
    mode: str,
    label: str,
    python: str,
    src: tuple[Path, ...],
    versions: dict[str, str | None],
    dists: dict[str, str],
    extra_env: dict[str, str] | None = None,
    **fields: Any,
) -> SideEnv:
    """A SideEnv running ``python`` with the first-party ``src`` folders alone on
    PYTHONPATH (the caller's is not inherited)."""
    reported = ", ".join(f"{d} {versions.get(d) or '?'}" for d in REPORTED_DISTS)
    return SideEnv(
        mode=mode,
        python=[python],
        env={"PYTHONPATH": os.pathsep.join(map(str, src)), **(extra_env or {})},
        cwd=None,
        description=f"{label}: Python {versions.get('python') or '?'} ({python}); {reported}",
        zephyr_src=str(src[0]),
        versions=versions,
        dists=dict(sorted(dists.items())),
        **fields,
    )


def _kit_side_env(worktree: Path) -> SideEnv:
    from importlib.metadata import distributions

    src = worktree / ZEPHYR_PROJECT / "src"
    versions: dict[str, str | None] = {"python": platform.python_version()}
    versions.update({dist: dist_version(dist) for dist in REPORTED_DISTS})
    toml = worktree / ZEPHYR_PROJECT / "pyproject.toml"
    declared = toml.is_file() and _project_table(toml).get("version")
    dists = {d.metadata["Name"].lower(): d.version for d in distributions()}
    if declared:  # the worktree's zephyr code runs, whatever the kit has installed
        versions["marin-zephyr"] = dists["marin-zephyr"] = str(declared)
    return _side_env(
        "kit", "kit venv", sys.executable, (src,), versions, dists, digest=None, build_seconds=0.0
    )


def prepare_side_env(
    worktree: str | Path,
    *,
    mode: str = "auto",
    cache_dir: Path | None = None,
    progress: Callable[[str], None] | None = print,
) -> SideEnv:
    """The environment to run the mini ferry in for ``worktree`` (built or cached; one
    file lock per digest, so one call builds it); SideEnvError (exit 4) on failure."""
    say = progress or (lambda _msg: None)
    tree = Path(worktree).resolve()
    chosen = choose_mode(tree, mode)
    if chosen == "kit":
        return _kit_side_env(tree)
    project = find_uv_project(tree)
    if project is None:
        raise SideEnvError(
            f"--env uv, but {tree} holds no uv project for zephyr "
            f"({ZEPHYR_PROJECT}/pyproject.toml with a [project] table); use --env kit"
        )
    uv = find_uv()
    python, python_version = find_python(project)
    digest = env_digest(project, python, python_version)
    root = Path(cache_dir) if cache_dir else kit_cache_dir("envs", "PERFGATE_ENV_CACHE")
    root.mkdir(parents=True, exist_ok=True)
    entry = root / digest
    started = time.perf_counter()
    with open(root / f"{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        manifest = _cached_manifest(entry)
        if manifest is not None:
            build_seconds = 0.0
        else:
            say(f"building the uv environment {digest} for {tree} (Python {python_version}) ...")
            manifest = _build(uv, project, entry, python)
            build_seconds = time.perf_counter() - started
            say(f"built {entry} in {build_seconds:.1f} s")
    dists = {**manifest["dists"], **_declared_versions(project)}
    versions: dict[str, str | None] = {"python": manifest["python"]}
    versions.update({d: dists.get(d) for d in REPORTED_DISTS})
    return _side_env(
        "uv",
        f"uv env {digest}",
        str(entry / "venv" / "bin" / "python"),
        project.first_party_src,
        versions,
        dists,
        {"PYTHONNOUSERSITE": "1"},
        digest=digest,
        build_seconds=round(build_seconds, 3),
        env_dir=str(entry / "venv"),
    )


def dependency_differences(control: SideEnv, treatment: SideEnv) -> list[str]:
    """``"name control -> treatment"`` for every dist whose version differs (absent: "-")."""
    names = sorted(set(control.dists) | set(treatment.dists))
    return [
        f"{n} {control.dists.get(n, '-')} -> {treatment.dists.get(n, '-')}"
        for n in names
        if control.dists.get(n) != treatment.dists.get(n)
    ]
