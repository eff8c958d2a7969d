"""A finished gate-0 A/B reloaded from its run folder (read only, with the current
statistics), and the local_ab notebook's one call."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from perfgate_lib.errors import UsageError
from perfgate_lib.local.ab import ABResult, run_local_ab, summarize_pairs
from perfgate_lib.local.pairs import Gate0Settings

AB_FILES = ("ab.json", "pairs.json", "control-report.json", "treatment-report.json")


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
    except ValueError as exc:
        raise UsageError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(data, kind):
        raise UsageError(f"{path}: must be {must_be}")
    return data


def _settings(saved: Any, source: Path) -> Gate0Settings:
    if not isinstance(saved, dict):
        raise UsageError(f"{source}: field 'settings' must be an object")
    known = {f.name for f in fields(Gate0Settings)}
    return Gate0Settings(**{k: v for k, v in saved.items() if k in known})


def load_ab(run_dir: str | Path) -> ABResult:
    """The A/B of a finished run folder (see :func:`ab_folder`): intervals recomputed from
    ``pairs.json`` with the bands it was judged under, the median reports as archived.
    ``read_only``: nothing is written into the folder."""
    folder = ab_folder(run_dir)
    summary = _read_json(folder / "ab.json", dict, "an object")
    pairs = _read_json(folder / "pairs.json", list, "a list of pairs")
    bands = summary.get("bands_pct") or {"pass": 5.0, "warn": 10.0}
    control = _read_json(folder / "control-report.json")
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
    result.treatment_report = _read_json(folder / "treatment-report.json")
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
