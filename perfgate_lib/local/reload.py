"""A finished gate-0 A/B reloaded from its run folder (read only, with the current
statistics), and the local_ab notebook's one call."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any, Required, TypedDict

from perfgate_lib.errors import UsageError
from perfgate_lib.local.ab import ABResult, run_local_ab, summarize_pairs
from perfgate_lib.local.pairs import Gate0Settings, _Row
from perfgate_lib.typed import Number, Text, Whole, read_model

AB_FILES = ("ab.json", "pairs.json", "control-report.json", "treatment-report.json")


_Bands = TypedDict("_Bands", {"pass": Number, "warn": Number})  # percent


class _Summary(TypedDict, total=False):
    """The fields of ``ab.json`` a reload reads (seconds; None: not recorded)."""

    control_sha: Text
    treatment_sha: Text
    settings: dict[str, Any] | None
    bands_pct: _Bands | None
    sides: dict[str, dict[str, Any]] | None
    zephyr_sources: dict[str, Text | None] | None
    errors: list[Text] | None
    stop_reason: Text
    dependency_changes: list[Text] | None
    timings_seconds: dict[str, Number] | None
    seconds: Number | None


class _PairRecord(TypedDict, total=False):
    """One pair of ``pairs.json``: its number, each side's rows, failures by side."""

    pair: Required[Whole]
    control: Required[dict[str, _Row]]
    treatment: Required[dict[str, _Row]]
    failed: dict[str, Text | None] | None


def ab_folder(run_dir: str | Path) -> Path:
    """The A/B folder of a run: ``run_dir/ab`` (a demo or local-ab run) or ``run_dir``
    itself when it holds ``ab.json``; UsageError naming the folder otherwise."""
    run = Path(run_dir)
    for folder in (run / "ab", run):
        if (folder / "ab.json").is_file():
            return folder
    raise UsageError(f"run_dir {run_dir}: no ab.json in it or in its ab/ folder (not a gate-0 run)")


def _read_json(path: Path, kind: type = object, must_be: str = "") -> Any:
    """``path``'s JSON, a ``kind``; UsageError when missing, not JSON or not ``must_be``."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: missing from the archived A/B") from exc
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from exc
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(data, kind):
        raise UsageError(f"{path}: must be {must_be}")
    return data


def _typed(model: Any, data: Any, path: Path) -> Any:
    """``data`` unchanged once its fields have ``model``'s types; UsageError naming
    ``path`` and the field otherwise."""

    def fail(field: str | None, problem: str) -> UsageError:
        return UsageError(f"{path}: field '{field}': {problem}" if field else f"{path}: {problem}")

    read_model(model, data, fail)
    return data


def _settings(saved: Any, source: Path) -> Gate0Settings:
    if not isinstance(saved, dict):
        raise UsageError(f"{source}: field 'settings' must be an object")
    known = {f.name for f in fields(Gate0Settings)}
    try:
        return Gate0Settings(**{k: v for k, v in saved.items() if k in known})
    except UsageError as exc:  # a value of the wrong type or range in the archive
        raise UsageError(f"{source}: field 'settings': {exc}") from exc


def load_ab(run_dir: str | Path) -> ABResult:
    """The A/B of a finished run folder (see :func:`ab_folder`): intervals recomputed from
    ``pairs.json`` with the bands it was judged under, the median reports as archived.
    ``read_only``: nothing is written into the folder."""
    folder = ab_folder(run_dir)
    ab_json, pairs_json = folder / "ab.json", folder / "pairs.json"
    summary = _typed(_Summary, _read_json(ab_json, dict, "an object"), ab_json)
    pairs = _typed(list[_PairRecord], _read_json(pairs_json, list, "a list of pairs"), pairs_json)
    bands = summary.get("bands_pct") or {"pass": 5.0, "warn": 10.0}
    control = _read_json(folder / "control-report.json", dict, "an object")
    result = summarize_pairs(
        pairs,
        ab_id=str(control.get("iris_job_id", "local/ab")).removeprefix("local/").split("/")[0],
        control_sha=str(summary.get("control_sha", "")),
        treatment_sha=str(summary.get("treatment_sha", "")),
        settings=_settings(summary.get("settings") or {}, folder / "ab.json"),
        out_dir=str(folder),
        sides=summary.get("sides") or {},
        zephyr_sources=summary.get("zephyr_sources") or {},
        bands=(float(bands["pass"]), float(bands["warn"])),
        errors=list(summary.get("errors") or []),
    )
    result.control_report = control
    result.treatment_report = _read_json(folder / "treatment-report.json", dict, "an object")
    result.stop_reason = str(summary.get("stop_reason", ""))
    result.dependency_changes = list(summary.get("dependency_changes") or [])
    result.timings = dict(summary.get("timings_seconds") or {})
    result.seconds = float(summary.get("seconds") or 0.0)
    result.paths = {name: str(folder / name) for name in AB_FILES}
    result.read_only = True
    return result


def notebook_ab(
    *,
    run_dir: str = "",
    checkout: str = "",
    base: str = "",
    head: str = "",
    max_pairs: int = 0,
    budget_s: float = 0.0,
    docs: int = 0,
    env: str = "",
    metric: str = "",
    profile: str = "",
    seed: int = 0,
    out_dir: str = "",
    overwrite: bool = False,
) -> ABResult:
    """local_ab.ipynb's one call: open the finished A/B in ``run_dir`` (:func:`load_ab`), or
    run gate 0 on ``checkout`` (empty: the demo sandbox) into ``out_dir`` (empty: a new,
    archived run folder ``<root>/local/<stamp>/ab``; one holding an A/B only with
    ``overwrite``). 0 and "" take ``parameters/gate0.yaml``'s values."""
    from perfgate_lib.io.rundir import new_run_dir
    from perfgate_lib.local.sandbox import ensure_checkout

    if run_dir:
        return load_ab(run_dir)
    if out_dir and not overwrite and (Path(out_dir) / "ab.json").exists():
        raise UsageError(
            f"out_dir {out_dir} already holds a finished A/B: open it with run_dir, "
            "choose another out_dir, or pass overwrite=True"
        )
    settings = Gate0Settings.load(
        max_pairs=max_pairs, budget_s=budget_s, docs=docs, env=env, metric=metric,
        profile=profile,
    )  # fmt: skip
    checkout, base, head = ensure_checkout(checkout, base, head)
    folder = Path(out_dir) if out_dir else Path(new_run_dir(None, None, kind="local")) / "ab"
    result = run_local_ab(checkout, base, head, out_dir=folder, settings=settings, seed=int(seed))
    if not out_dir:
        from perfgate_lib.audit.archive import archive_run

        archive_run(str(folder.parent), gate=0)
    return result
