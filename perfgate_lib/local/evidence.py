"""Gate 0's evidence: each side's callgrind dump of one representative pair per stage, kept
in the run folder, and the function delta from them (``attribution.json``). Sizes are bytes
unless named MB. Which pair and stages, the budget and the table: ``docs/attribution.md``.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perfgate_lib.local.callgrind_profile import (
    DeltaRow,
    Profile,
    StageDelta,
    c_profile,
    folded_stacks,
    parse_dump,
    parse_perf_map,
    python_profile,
    stage_delta,
    strip_path,
)

PROFILE_DIR = "profile"
ATTRIBUTION_FILE = "attribution.json"
PROFILE_MODES = ("flagged", "all")
SCHEMA = 1
_PID = re.compile(r"^pid:\s*(\d+)", re.MULTILINE)
SIDES = ("control", "treatment")


@dataclass(frozen=True)
class Hunk:
    """One hunk of the PR's diff of a file: new-side lines ``start`` .. ``start + length - 1``
    (old-side for a deleted range), and its ``@@ ... @@`` header."""

    start: int
    length: int
    header: str


def _number(value: Any) -> float | None:
    """A finite float, else None (pandas fills an undecided stage's ratio with NaN)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def stages_to_keep(table: list[Mapping[str, Any]], mode: str = "flagged") -> list[str]:
    """Stages whose call is not ``pass`` (``mode="flagged"``), or every stage (``"all"``)."""
    if mode not in PROFILE_MODES:
        raise ValueError(f"profile mode {mode!r}: expected one of {PROFILE_MODES}")
    return [str(r["stage"]) for r in table if mode == "all" or str(r.get("call")) != "pass"]


def representative_pair(
    pairs: Sequence[Mapping[str, Any]], stage: str, estimate: float
) -> int | None:
    """Index in ``pairs`` of the pair whose instruction ratio is nearest ``estimate``
    (the first of equals); None when no pair has both sides' counts and dumps."""
    distances = []
    for index, pair in enumerate(pairs):
        c = pair.get("control", {}).get(stage, {})
        t = pair.get("treatment", {}).get(stage, {})
        if all(row.get(key) for row in (c, t) for key in ("instructions", "callgrind_dump")):
            distances.append((abs(t["instructions"] / c["instructions"] - estimate), index))
    return min(distances)[1] if distances else None


def parse_hunks(diff_text: str) -> dict[str, list[Hunk]]:
    """The PR's unified diff (``git diff -U0``) as path -> hunks (new-side paths)."""
    from unidiff import PatchSet

    out: dict[str, list[Hunk]] = {}
    for patched in PatchSet(diff_text):
        for hunk in patched:
            start = hunk.target_start if hunk.target_length else hunk.source_start
            length = max(hunk.target_length, 1)
            header = (
                f"@@ -{hunk.source_start},{hunk.source_length} "
                f"+{hunk.target_start},{hunk.target_length} @@"
            )
            out.setdefault(patched.path, []).append(Hunk(start, length, header))
    return out


def function_lines(source: str, qualname: str) -> tuple[int, int] | None:
    """First and last line of ``qualname`` (``Class.method``, ``f.<locals>.g``) in the
    Python ``source``; None when not found or the source does not parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    definitions = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
    node: ast.AST = tree
    for part in [p for p in qualname.split(".") if p != "<locals>"]:
        hit = next(
            (n for n in ast.walk(node) if isinstance(n, definitions) and n.name == part), None
        )
        if hit is None:
            return None
        node = hit
    if not isinstance(node, definitions):  # an empty qualname: the module itself
        return None
    return node.lineno, node.end_lineno or node.lineno


def pr_ties(
    rows: list[DeltaRow], hunks: Mapping[str, list[Hunk]], sources: Mapping[str, Mapping[str, str]]
) -> dict[int, dict[str, str]]:
    """Row index -> ``{"file": PR path, "hunk": header or ""}`` for rows whose function is
    defined in a file the PR changed. ``sources``: side -> PR path -> text (treatment
    first, control for a function that vanished)."""
    by_stripped = {strip_path(path): path for path in hunks}
    out: dict[int, dict[str, str]] = {}
    for index, row in enumerate(rows):
        fn = row.function
        path = by_stripped.get(fn.file) if fn.python else None
        if path is None:
            continue
        texts = (sources.get(side, {}).get(path) for side in ("treatment", "control"))
        span = next(
            (lines for text in texts if text and (lines := function_lines(text, fn.name))), None
        )
        hit = [
            h for h in hunks[path] if span and h.start <= span[1] and h.start + h.length > span[0]
        ]
        out[index] = {"file": path, "hunk": hit[0].header if hit else ""}
    return out


def delta_json(delta: StageDelta, ties: Mapping[int, Mapping[str, str]]) -> dict[str, Any]:
    """One stage's table as JSON (instructions; percentages of the stage's control count)."""
    rows = [
        {
            "function": row.function.name,
            "file": row.function.file,
            "origin": row.function.origin,
            "python": row.function.python,
            "control": row.control,
            "treatment": row.treatment,
            "delta": row.delta,
            "status": row.status,
            "listed": index < delta.listed,
            "pr": dict(ties[index]) if index in ties else None,
        }
        for index, row in enumerate(delta.rows)
    ]
    return {
        "stage": delta.stage,
        "view": delta.view,
        "control_total": delta.control_total,
        "treatment_total": delta.treatment_total,
        "delta": delta.delta,
        "delta_pct": round(delta.delta_pct, 3),
        "listed": delta.listed,
        "explained_pct": round(delta.explained_pct, 2),
        "notes": delta.notes,
        "rows": rows,
    }


def side_profile(dump_text: str, perf_map_text: str | None, roots: tuple[str, ...]) -> Profile:
    """A side's profile: Python functions when a perf map is there, else C functions."""
    dump = parse_dump(dump_text)
    if perf_map_text:
        return python_profile(dump, parse_perf_map(perf_map_text), roots)
    return c_profile(dump, roots)


def used_perf_map(perf_map_text: str, dump_text: str) -> str:
    """The perf map's lines whose trampoline address the dump names (enough to read it again)."""
    perf_map = parse_perf_map(perf_map_text)
    addresses = (int(m.group(1), 16) for m in re.finditer(r"0x([0-9a-f]{6,16})", dump_text))
    used = {address for address in addresses if perf_map.name_at(address)}
    keep = [
        f"{start:x} {size:x} {name}"
        for start, size, name in zip(perf_map.starts, perf_map.sizes, perf_map.names, strict=True)
        if any(start <= a < start + size for a in used)
    ]
    return "\n".join(keep) + ("\n" if keep else "")


def dump_pid(dump_text: str) -> int | None:
    """The ``pid:`` a callgrind dump names (the side process: its perf map's name)."""
    match = _PID.search(dump_text[:2000])
    return int(match.group(1)) if match else None


def _perf_map_text(dump_text: str, folder: str | Path = "/tmp") -> str | None:
    pid = dump_pid(dump_text)
    path = Path(folder) / f"perf-{pid}.map" if pid else None
    return path.read_text(errors="replace") if path and path.is_file() else None


def keep_profiles(
    pairs: Sequence[Mapping[str, Any]],
    table: list[Mapping[str, Any]],
    out_dir: str | Path,
    *,
    roots: tuple[str, ...] = (),
    hunks: Mapping[str, list[Hunk]] | None = None,
    sources: Mapping[str, Mapping[str, str]] | None = None,
    mode: str = "flagged",
    budget_mb: float = 8.0,
    top_n: int = 10,
    perf_map_dir: str | Path = "/tmp",
) -> dict[str, Any]:
    """Keep the representative pair's dumps of each stage to keep and write
    ``profile/attribution.json``; returns its content (nothing written when no stage is)."""
    out = Path(out_dir) / PROFILE_DIR
    budget, kept_bytes = int(budget_mb * 1024 * 1024), 0
    result: dict[str, Any] = dict(
        schema=SCHEMA, mode=mode, budget_mb=budget_mb, stages={}, notes=[]
    )
    estimates = {str(r["stage"]): _number(r.get("ratio")) for r in table}
    measured = {name for pair in pairs for name in pair.get("control", {})}
    # a row of the table that no pair measures (the whole run's total) is not a stage
    for stage in (s for s in stages_to_keep(table, mode) if s in measured):
        index = representative_pair(pairs, stage, estimates.get(stage) or 1.0)
        if index is None:
            result["notes"].append(f"{stage}: no pair with both sides' dumps")
            continue
        pair, folder = pairs[index], stage_folder(stage)
        texts = {
            s: Path(pair[s][stage]["callgrind_dump"]).read_text(errors="replace") for s in SIDES
        }
        maps = {side: _perf_map_text(texts[side], perf_map_dir) for side in SIDES}
        if not all(maps.values()):
            maps = dict.fromkeys(SIDES)  # one view, Python or C, for both sides
        profiles = {side: side_profile(texts[side], maps[side], roots) for side in SIDES}
        delta = stage_delta(stage, profiles["control"], profiles["treatment"], top_n=top_n)
        entry = delta_json(delta, pr_ties(delta.rows[: delta.listed], hunks or {}, sources or {}))
        control, treatment = (pair[side][stage]["instructions"] for side in SIDES)
        entry.update(
            pair=int(pair.get("pair", index + 1)),
            pair_ratio=round(treatment / control, 4),
            estimate=estimates.get(stage),
            gate0_control=control,
            gate0_treatment=treatment,
        )
        blobs = _evidence_blobs(texts, maps)
        size = sum(len(b) for b in blobs.values())
        if entry["view"] == "python":
            entry["flame"] = _flame_graphs(profiles, stage, out, folder)
        if kept_bytes + size <= budget:
            entry["files"] = _write_blobs(out, folder, blobs)
            kept_bytes += size
        else:
            entry["files"] = []
            result["notes"].append(
                f"{stage}: dumps not kept ({size / 1e6:.1f} MB would pass the "
                f"{budget_mb:g} MB budget); the table was computed from them"
            )
        result["stages"][stage] = entry
    result["kept_bytes"] = kept_bytes
    if result["stages"] or result["notes"]:
        _write_attribution(out, result)
    return result


def _write_attribution(folder: Path, result: Mapping[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ATTRIBUTION_FILE).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")


def _evidence_blobs(texts: Mapping[str, str], maps: Mapping[str, str | None]) -> dict[str, bytes]:
    """File name -> gzip bytes: each side's dump and the perf map lines it uses."""
    blobs = {}
    for side in texts:
        blobs[f"{side}.callgrind.gz"] = gzip.compress(texts[side].encode(), mtime=0)
        if perf_map := maps[side]:
            used = used_perf_map(perf_map, texts[side])
            blobs[f"{side}.perf.map.gz"] = gzip.compress(used.encode(), mtime=0)
    return blobs


_PLAIN_FOLDER = re.compile(r"[a-z0-9._-]{1,100}")  # lower case: no case-only collisions


def stage_folder(stage: str) -> str:
    """The folder of a stage's evidence under profile/: a plain name is its own, any other
    gets its plain characters and a digest (the rule and why: ``docs/security.md``)."""
    if _PLAIN_FOLDER.fullmatch(stage) and stage.strip("."):
        return stage
    digest = hashlib.sha256(stage.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{re.sub(r'[^A-Za-z0-9_-]+', '_', stage)[:60]}-{digest}"


def _write_blobs(out: Path, folder: str, blobs: Mapping[str, bytes]) -> list[str]:
    """Write ``blobs`` under ``out/<folder>``; returns their paths under profile/."""
    (out / folder).mkdir(parents=True, exist_ok=True)
    for name, blob in blobs.items():
        (out / folder / name).write_bytes(blob)
    return sorted(f"{PROFILE_DIR}/{folder}/{name}" for name in blobs)


def _flame_graphs(profiles: Mapping[str, Profile], stage: str, out: Path, folder: str) -> list[str]:
    """Both sides' folded stacks (``stacks.json``) and the differential flame graphs in
    ``out/<folder>``; returns their paths under profile/."""
    from perfgate_lib.verdict import flamegraph

    (out / folder).mkdir(parents=True, exist_ok=True)
    # frames under 0.1% of the stage's instructions merge into their parent (a graph of
    # ~1000 frames at most; the table keeps every function)
    stacks = {
        s: folded_stacks(profiles[s], min_cost=max(1, profiles[s].total // 1000)) for s in SIDES
    }
    sorted_stacks = {
        side: [[list(k), v] for k, v in sorted(st.items())] for side, st in stacks.items()
    }
    (out / folder / "stacks.json").write_text(json.dumps(sorted_stacks))
    paths = flamegraph.save(
        stacks["control"], stacks["treatment"], f"gate 0, {stage}", str(out / folder / "flame")
    )
    return [f"{PROFILE_DIR}/{folder}/{Path(p).name}" for p in paths]


def remove_perf_maps(pairs: Sequence[Mapping[str, Any]]) -> int:
    """Delete the side processes' ``/tmp/perf-<pid>.map`` files (pids from their dumps);
    returns how many were removed."""
    pids: set[int | None] = set()
    for row in (row for pair in pairs for side in SIDES for row in pair.get(side, {}).values()):
        path = row.get("callgrind_dump") if isinstance(row, Mapping) else None
        if path and Path(path).is_file():
            with open(path, errors="replace") as handle:
                pids.add(dump_pid(handle.read(2000)))
    existing = [p for pid in pids if pid and (p := Path(f"/tmp/perf-{pid}.map")).is_file()]
    for path in existing:
        path.unlink()
    return len(existing)


def keep_for_run(
    pairs: Sequence[Mapping[str, Any]],
    table: list[Mapping[str, Any]],
    out_dir: str | Path,
    *,
    checkout: str | Path,
    control_sha: str,
    head_sha: str,
    trees: Mapping[str, Path],
    mode: str,
    budget_mb: float,
) -> dict[str, Any]:
    """:func:`keep_profiles` for one gate-0 run while its worktrees exist (the PR's hunks,
    both sides' changed files, the worktrees as roots), then the perf maps removed. A
    failure is recorded in ``attribution.json`` (``error``), never raised."""
    from perfgate_lib.io.git import git_out

    try:
        hunks = parse_hunks(git_out(checkout, "diff", "-U0", control_sha, head_sha))
        sources = {
            side: {
                path: (Path(tree) / path).read_text(errors="replace")
                for path in hunks
                if path.endswith(".py") and (Path(tree) / path).is_file()
            }
            for side, tree in trees.items()
        }
        roots = tuple(str(Path(t)) for t in trees.values())
        result = keep_profiles(
            pairs, table, out_dir, roots=roots, hunks=hunks, sources=sources, mode=mode,
            budget_mb=budget_mb,
        )  # fmt: skip
        result["shas"] = {"control": control_sha, "treatment": head_sha}
    except Exception as exc:  # noqa: BLE001 - attribution is an aid; the gate's figures stand
        result = {"schema": SCHEMA, "stages": {}, "error": f"{type(exc).__name__}: {exc}"[:500]}
    finally:
        remove_perf_maps(pairs)
    if result.get("stages") or result.get("error"):
        _write_attribution(Path(out_dir) / PROFILE_DIR, result)
    return result


def load_attribution(run_dir: str | Path) -> dict[str, Any]:
    """``profile/attribution.json`` of a run folder (or of its ``ab/``); FileNotFoundError
    naming where it looked."""
    return json.loads(Path(load_attribution_path(run_dir)).read_text())


def where_table(run_dir: str | Path, stage: str | None = None):
    """The kept stages' listed rows as a pandas DataFrame (instructions), for notebooks."""
    import pandas as pd

    stages = load_attribution(run_dir).get("stages") or {}
    rows = [
        {
            "stage": name,
            "function": row["function"],
            "file": row["file"],
            "origin": row["origin"],
            "control_instr": row["control"],
            "treatment_instr": row["treatment"],
            "delta_instr": row["delta"],
            "status": row["status"],
            "pr_hunk": " ".join(filter(None, map((row.get("pr") or {}).get, ("file", "hunk")))),
        }
        for name, entry in stages.items()
        if stage is None or name == stage
        for row in entry.get("rows", [])
        if row.get("listed")
    ]
    return pd.DataFrame(rows)


def show_where(run_dir: str | Path, stage: str | None = None):
    """Notebook view: each kept stage's table (returned as a DataFrame) and its two
    differential flame graphs (shown); a line saying why when nothing was kept."""
    from IPython.display import Image, Markdown, display

    try:
        attribution = load_attribution(run_dir)
    except FileNotFoundError:
        display(Markdown("_No attribution in this run: gate 0 keeps it for stages it does "
                         "not pass (every stage with `profile: all` in parameters/gate0.yaml)._"))  # fmt: skip
        return None
    from perfgate_lib.verdict.where import where_text

    base = Path(load_attribution_path(run_dir)).parent.parent
    for name, entry in (attribution.get("stages") or {}).items():
        if stage is not None and name != stage:
            continue
        display(Markdown(f"```\n{where_text(attribution, name)}```"))
        for path in entry.get("flame", []):
            if path.endswith(".png") and (base / path).is_file():
                display(Image(filename=str(base / path)))
    return where_table(run_dir, stage)


def assessed_files(*paths: str | Path) -> dict[str, Any]:
    """``per_file`` of the first of ``paths`` that is a readable assessment.json; {} when
    none is (the comparison reports a bad assessment itself; attribution only adds to it)."""
    for path in paths:
        if not path or not Path(path).is_file():
            continue
        try:
            per_file = json.loads(Path(path).read_text()).get("per_file")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(per_file, dict):
            return per_file
    return {}


def load_attribution_path(run_dir: str | Path) -> str:
    """Where a run folder keeps ``attribution.json`` (FileNotFoundError naming both places)."""
    tried = [Path(run_dir) / folder / PROFILE_DIR / ATTRIBUTION_FILE for folder in ("", "ab")]
    for path in tried:
        if path.is_file():
            return str(path)
    raise FileNotFoundError(
        f"{run_dir}: no gate-0 attribution ({' or '.join(str(p) for p in tried)}); "
        "gate 0 keeps it for stages it does not pass, or for all with --profile all"
    )
