"""The Zephyr (and fray) API the mini ferry needs, resolved across releases: one adapter.
Standard library only (the side process loads it by path). See ``docs/zephyr-releases.md``.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OLDEST_SUPPORTED = "0.2.20"  # marin-zephyr 0.2.20.dev202606180959, June 2026
NEWEST_TESTED = "0.2.227"  # marin-zephyr 0.2.227.dev40316220070, October 2026
SUPPORTED_RANGE = f"marin-zephyr {OLDEST_SUPPORTED} to {NEWEST_TESTED} (newest tested)"
REPORTED_DISTS = ("marin-zephyr", "marin-fray", "marin-iris")  # whose versions a side reports

# name -> (module, attribute) places to look, newest layout first. The first place is the
# name reported as missing ("zephyr.context.ZephyrContext").
NEEDED: dict[str, tuple[tuple[str, str], ...]] = {
    "ZephyrContext": (
        ("zephyr.context", "ZephyrContext"),
        ("zephyr.execution", "ZephyrContext"),  # 0.2.20 ... 0.2.41
        ("zephyr", "ZephyrContext"),
    ),
    "Dataset": (("zephyr.dataset", "Dataset"), ("zephyr", "Dataset")),
    "compute_plan": (("zephyr.plan", "compute_plan"), ("zephyr", "compute_plan")),
    "zephyr_worker_ctx": (
        ("zephyr.worker_context", "zephyr_worker_ctx"),
        ("zephyr", "zephyr_worker_ctx"),
    ),
    "LocalClient": (("fray.local_backend", "LocalClient"),),
}
# Members the pipeline calls on the resolved names.
MEMBERS = {
    "ZephyrContext": ("execute", "put"),
    "Dataset": ("from_files", "load_jsonl", "map", "flat_map", "filter", "group_by", "write_jsonl"),
}
# Keyword arguments the mini ferry passes to ZephyrContext(...).
CONTEXT_KEYWORDS = ("client", "max_workers", "chunk_storage_prefix", "name")


class ZephyrApiError(ImportError):
    """The Zephyr in use lacks names the mini ferry needs; the message names them."""

    def __init__(self, missing: tuple[str, ...], version: str | None, cause: str = "") -> None:
        super().__init__(unsupported_message(missing, version, cause))


def unsupported_message(missing: tuple[str, ...], version: str | None, cause: str = "") -> str:
    """One line: which API is missing, in which version, and the supported range;
    ``cause`` is the first import error met (a module that exists but fails to import)."""
    because = f" (first import error: {cause})" if cause else ""
    return (
        f"marin-zephyr {version or '(version unknown)'} lacks the API the mini ferry needs: "
        f"{', '.join(missing)}{because}; gate 0 supports {SUPPORTED_RANGE}"
    )


@dataclass(frozen=True)
class ZephyrApi:
    """The resolved objects; ``where`` maps each name to the module it came from."""

    ZephyrContext: Any
    Dataset: Any
    compute_plan: Any
    zephyr_worker_ctx: Any
    LocalClient: Any
    version: str | None
    where: dict[str, str]


def zephyr_version() -> str | None:
    """The imported zephyr's version: its worktree's ``pyproject.toml`` (two folders above
    ``lib/zephyr/src``, which has no distribution metadata), else the installed one's;
    None when neither is known."""
    return _declared_version() or dist_version("marin-zephyr")


def dist_version(name: str) -> str | None:
    """The installed distribution ``name``'s version; None when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _declared_version() -> str | None:
    """``project.version`` of the pyproject beside the imported zephyr package, if any."""
    import importlib.util

    try:
        import tomllib  # Python < 3.11 has none: the dist version is asked next

        spec = importlib.util.find_spec("zephyr")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    toml = Path(spec.origin).resolve().parent.parent.parent / "pyproject.toml"
    try:
        project = tomllib.loads(toml.read_text()).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    name = str(project.get("name", "")).lower()
    return str(project["version"]) if name == "marin-zephyr" and "version" in project else None


def _lookup(places: tuple[tuple[str, str], ...], errors: list[str]) -> tuple[Any, str] | None:
    """The first ``(object, module)`` found; import errors are appended to ``errors``."""
    for module_name, attribute in places:
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # noqa: BLE001 - a broken module is reported, not raised
            if not (isinstance(exc, ModuleNotFoundError) and exc.name == module_name):
                errors.append(f"{module_name}: {type(exc).__name__}: {exc}"[:300])
            continue
        if hasattr(module, attribute):
            return getattr(module, attribute), module_name
    return None


def _signature_keywords(obj: Any) -> set[str] | None:
    """Parameter names of ``obj``'s call signature; None when it has ``**kwargs`` or none."""
    import inspect

    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}


def find_missing() -> tuple[dict[str, Any], dict[str, str], tuple[str, ...], str]:
    """``(objects, where, missing, cause)``: every needed name found, its module, what is
    not found, and the first import error met ("" when none)."""
    found: dict[str, Any] = {}
    where: dict[str, str] = {}
    missing: list[str] = []
    errors: list[str] = []
    for name, places in NEEDED.items():
        hit = _lookup(places, errors)
        if hit is None:
            missing.append(f"{places[0][0]}.{places[0][1]}")
        else:
            found[name], where[name] = hit
    for owner, members in MEMBERS.items():
        if owner in found:
            missing += [
                f"{where[owner]}.{owner}.{m}" for m in members if not hasattr(found[owner], m)
            ]
    keywords = _signature_keywords(found["ZephyrContext"]) if "ZephyrContext" in found else None
    missing += [
        f"{where['ZephyrContext']}.ZephyrContext({k}=...)"
        for k in CONTEXT_KEYWORDS
        if keywords is not None and k not in keywords
    ]
    return found, where, tuple(missing), errors[0] if errors else ""


def load() -> ZephyrApi:
    """The mini ferry's API from the Zephyr on ``sys.path``; raises ZephyrApiError."""
    found, where, missing, cause = find_missing()
    if missing:
        raise ZephyrApiError(missing, zephyr_version(), cause)
    return ZephyrApi(**found, version=zephyr_version(), where=where)


# --- What the mini ferry runs, against what a cluster runs ----------------------------------------

LOCAL_RUNNER = "InlineRunner"  # fray's LocalClient: every shard inline, worker threads
SUBPROCESS_RUNNER = "SubprocessRunner"  # one `python -m zephyr.shard_subprocess` per shard


def execution_paths() -> dict[str, str | None]:
    """``{"mini_ferry": "InlineRunner", "cluster": "SubprocessRunner" | None}``: the stage
    runner the mini ferry uses, and the one this Zephyr gives a distributed client (None
    when ``zephyr.runners`` has no ``SubprocessRunner``). Reads the Zephyr on sys.path."""
    try:
        runners = importlib.import_module("zephyr.runners")
    except Exception:  # noqa: BLE001 - no runners module: nothing to say about a cluster path
        runners = None
    cluster = SUBPROCESS_RUNNER if hasattr(runners, SUBPROCESS_RUNNER) else None
    return {"mini_ferry": LOCAL_RUNNER, "cluster": cluster}


def limitations(paths: list[dict[str, str | None]]) -> list[str]:
    """Plain sentences on what the mini ferry cannot see, from each side's
    :func:`execution_paths` (pure; the comment shows them as notes)."""
    if not any(p.get("cluster") == SUBPROCESS_RUNNER for p in paths):
        return []
    return [
        "The mini ferry runs every shard inline (fray `LocalClient`, Zephyr's "
        "`InlineRunner`: worker threads of one process); on a cluster this Zephyr runs each "
        "shard in its own `python -m zephyr.shard_subprocess` process (`SubprocessRunner`). "
        "Gate 0 does not measure that path: the child's start-up and imports, pickling each "
        "task and its result across the process boundary, per-shard memory. Gate 1 does"
    ]


# --- The probe: the same question asked of another interpreter ------------------------------------


@dataclass(frozen=True)
class ZephyrApiProbe:
    """What :func:`probe_zephyr_api` found; ``detail`` is one line for a person."""

    version: str | None  # marin-zephyr's version as that interpreter sees it
    missing: tuple[str, ...]  # API names not found, e.g. "zephyr.context.ZephyrContext"
    ok: bool
    detail: str


def _probe_main(zephyr_src: str) -> None:
    """Run in the probed interpreter: print one JSON line ``{version, missing, where}``."""
    if zephyr_src:
        sys.path.insert(0, zephyr_src)
    _, where, missing, cause = find_missing()
    answer = {"version": zephyr_version(), "missing": list(missing), "where": where, "cause": cause}
    print(json.dumps(answer))


def probe_zephyr_api(
    python: str, zephyr_src: str | None = None, timeout_s: float = 60.0
) -> ZephyrApiProbe:
    """Ask interpreter ``python`` (``zephyr_src``, a folder holding ``zephyr/``, first on its
    path) whether it can import the mini ferry's API, running this file in it for at most
    ``timeout_s`` seconds; never raises: a broken environment is reported in the result."""
    here = str(Path(__file__).resolve())
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('zephyr_api', {here!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules['zephyr_api'] = module\n"
        "spec.loader.exec_module(module)\n"
        f"module._probe_main({zephyr_src or ''!r})\n"
    )
    from perfgate_lib.io.childenv import child_env  # here: this file also runs in the side

    env = child_env(drop=("PYTHONPATH", "PYTHONHOME"))  # it imports the PR's Zephyr
    try:
        done = subprocess.run(
            [python, "-c", code], capture_output=True, text=True, timeout=timeout_s, env=env
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return ZephyrApiProbe(None, (), False, f"cannot run {python}: {exc}")
    lines = done.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        answer = None
    if done.returncode != 0 or not isinstance(answer, dict):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
        why = f"{python} could not check the Zephyr API (exit {done.returncode}): {tail}"
        return ZephyrApiProbe(None, (), False, why)
    version = answer.get("version")
    missing = tuple(str(m) for m in answer.get("missing") or ())
    if missing:
        detail = unsupported_message(missing, version, str(answer.get("cause") or ""))
        return ZephyrApiProbe(version, missing, False, detail)
    where = answer.get("where") or {}
    modules = ", ".join(f"{name} from {module}" for name, module in sorted(where.items()))
    return ZephyrApiProbe(
        version, (), True, f"marin-zephyr {version or '?'}: {modules} ({SUPPORTED_RANGE})"
    )
