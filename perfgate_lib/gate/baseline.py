"""A gate's scheduled baseline: Actions artifact, else GCS mirror, else :class:`NoBaseline`
(exit 4) and the gap comment; never a baseline ferry. Ages in hours (stale past
``baseline_max_age_hours``). Search order and mirror ranking: ``docs/running-a-gate.md``."""

from __future__ import annotations

import datetime as dt
import io
import posixpath
import re
import zipfile
from dataclasses import asdict, dataclass, field
from typing import Any

from perfgate_lib.errors import BaselineUnavailable, GitHubError, ReportError
from perfgate_lib.io import storage
from perfgate_lib.io.github import GitHubClient, GitHubSettings
from perfgate_lib.io.limits import load_limits
from perfgate_lib.mdtemplate import render
from perfgate_lib.timeutil import iso, parse_time
from perfgate_lib.verdict.gates import DEFAULT_MIRROR, GateParams, load_gate, mirror_pattern
from perfgate_lib.verdict.report import PerfReport, ReportTooLarge, loads_report

MAX_RUNS = 30  # scheduled runs inspected on Actions, newest first
MAX_MIRROR_REPORTS = 30  # mirror reports read, newest first
REPORT_NAMES = ("perf-report.json", "perf_report.json")

_MIRROR_TS = re.compile(r"report_(\d{8}T\d{6}Z)_tier\d+")
_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")


@dataclass(frozen=True)
class Provenance:
    """Where a baseline report came from, and how old it is (hours)."""

    source: str  # "actions" | "gcs-mirror" | "local"
    gate: int
    location: str  # artifact name of the run, mirror URL or local path
    run_id: str | None = None
    run_url: str | None = None
    sha: str | None = None
    created_at: str | None = None  # ISO-8601 UTC
    age_hours: float | None = None
    stale: bool = False
    max_age_hours: float | None = None
    scheduled: bool | None = None  # from a scheduled main run: True / False / unknown (None)
    notes: tuple[str, ...] = ()  # candidates skipped on the way, and why

    @classmethod
    def dated(
        cls, params: Any, created: dt.datetime | None, now: dt.datetime, **fields: Any
    ) -> Provenance:
        """Provenance of a report created at ``created``, its age and staleness filled in."""
        created, max_age = _utc(created), params.max_baseline_age_hours
        age = None if created is None else max(0.0, (now - created).total_seconds() / 3600.0)
        stale = bool(age is not None and max_age is not None and age > max_age)
        return cls(
            gate=params.gate,
            created_at=iso(created),
            age_hours=age,
            stale=stale,
            max_age_hours=max_age,
            **fields,
        )

    def to_json(self) -> dict[str, Any]:
        """Every field in order; the age rounded to 0.01 h, the notes as a list."""
        age = None if self.age_hours is None else round(self.age_hours, 2)
        return {**asdict(self), "age_hours": age, "notes": list(self.notes)}


@dataclass(frozen=True)
class Baseline:
    """A validated baseline report, its JSON bytes as fetched, and its provenance."""

    report: PerfReport
    data: bytes
    provenance: Provenance

    def save(self, path: str) -> None:
        storage.write_bytes(path, self.data)


class NoBaseline(BaselineUnavailable):
    """Neither Actions nor the mirror gave a baseline; ``attempts`` says why, per source."""

    def __init__(self, gate: int, attempts: list[tuple[str, str]]) -> None:
        self.attempts = attempts
        detail = "; ".join(f"{where}: {why}" for where, why in attempts)
        super().__init__(f"no baseline for gate {gate} ({detail})")


@dataclass
class _RunInfo:
    run_id: str
    url: str | None
    sha: str | None
    created: dt.datetime | None


@dataclass
class _ActionsOutcome:
    baseline: Baseline | None = None
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    scheduled: dict[str, _RunInfo] = field(default_factory=dict)
    listed_all: bool = False  # the run listing finished without error
    oldest_listed: dt.datetime | None = None


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def report_from_zip(data: bytes, member: str, source: str) -> tuple[PerfReport, bytes]:
    """The one perf report inside an artifact zip (``member``, else a known report name;
    two are an error); sizes bounded by limits.yaml (``docs/security.md``)."""
    limits = load_limits()
    cap = limits.artifact_member_max_bytes

    def too_large(what: str) -> ReportTooLarge:
        return ReportTooLarge(source, None, what, "artifact_member_max_bytes", cap)

    if len(data) > limits.artifact_max_bytes:
        raise ReportTooLarge(
            source, None, f"{len(data):,} bytes", "artifact_max_bytes", limits.artifact_max_bytes
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ReportError(source, None, f"not a zip archive ({exc})") from exc
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        matches = [i for i in infos if i.filename == member] or [
            i for i in infos if posixpath.basename(i.filename) in REPORT_NAMES
        ]
        if not matches:
            names = ", ".join(i.filename for i in infos) or "nothing"
            raise ReportError(source, None, f"no {member} in the artifact (it holds {names})")
        if len(matches) > 1:
            names = ", ".join(repr(i.filename) for i in matches)
            raise ReportError(
                source, None, f"{len(matches)} report members ({names}); refusing to pick one"
            )
        (chosen,) = matches
        if chosen.file_size > cap:
            raise too_large(f"{chosen.filename} of {chosen.file_size:,} bytes")
        try:
            with archive.open(chosen) as fh:  # the declared size can lie: read one past it
                raw = fh.read(cap + 1)
        except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
            raise ReportError(source, None, f"cannot extract {chosen.filename}: {exc}") from exc
        if len(raw) > cap:
            raise too_large(f"{chosen.filename} (more than its declared size)")
    return loads_report(raw, f"{source}/{chosen.filename}"), raw


def from_actions(client: GitHubClient, params: GateParams, now: dt.datetime) -> _ActionsOutcome:
    """Step 1: the newest scheduled successful main run with a usable report artifact."""
    out = _ActionsOutcome()
    checked = 0
    try:
        runs = client.workflow_runs(
            params.workflow, branch=params.branch, event=params.event, status="success"
        )
        wanted = (params.event, params.branch, "success")
        for run in runs:
            # the API filters already; check again so a lax server cannot slip one in
            if (run.event, run.head_branch, run.conclusion) != wanted:
                continue
            if checked >= MAX_RUNS:
                break
            checked += 1
            info = _RunInfo(str(run.id), run.html_url, run.head_sha, _utc(run.created_at))
            out.scheduled[info.run_id] = info
            out.oldest_listed = info.created
            out.baseline = _try_run(client, params, run, info, now, out.notes)
            if out.baseline is not None:
                return out
        else:
            out.listed_all = True
    except GitHubError as exc:
        out.reason = str(exc)
        return out
    out.reason = (
        f"none of the {checked} newest successful {params.event} runs "
        f"on {params.branch} had a usable artifact {params.artifact}"
        if out.scheduled
        else f"no successful {params.event} run of {params.workflow} on {params.branch}"
    )
    return out


def _try_run(
    client: GitHubClient,
    params: GateParams,
    run: Any,
    info: _RunInfo,
    now: dt.datetime,
    notes: list[str],
) -> Baseline | None:
    artifacts = [a for a in client.run_artifacts(run) if a.name == params.artifact]
    if not artifacts:
        notes.append(f"run #{info.run_id}: no artifact {params.artifact}")
        return None
    usable = [a for a in artifacts if not a.expired]
    if not usable:
        notes.append(f"run #{info.run_id}: artifact {params.artifact} expired")
        return None
    artifact = usable[0]
    source = f"artifact {params.artifact} of run #{info.run_id}"
    size = getattr(artifact, "size_in_bytes", None)
    cap = load_limits().artifact_max_bytes
    if isinstance(size, int) and size > cap:  # GitHub's own count: nothing downloaded
        notes.append(
            f"run #{info.run_id}: {source} is {size:,} bytes, over the limit "
            f"artifact_max_bytes={cap} (parameters/limits.yaml); not downloaded"
        )
        return None
    try:
        data = client.download(
            artifact.archive_download_url, f"downloading {source}", max_bytes=cap
        )
    except GitHubError as exc:
        if getattr(exc, "status", None) in (404, 410):
            notes.append(f"run #{info.run_id}: {exc}")
            return None
        raise
    try:
        report, raw = report_from_zip(data, params.artifact_member, source)
    except ReportError as exc:
        notes.append(f"run #{info.run_id}: {exc}")
        return None
    prov = Provenance.dated(
        params,
        info.created,
        now,
        source="actions",
        location=source,
        run_id=info.run_id,
        run_url=info.url,
        sha=info.sha,
        scheduled=True,
        notes=tuple(notes),
    )
    return Baseline(report, raw, prov)


def from_mirror(
    mirror: str,
    params: GateParams,
    now: dt.datetime,
    actions: _ActionsOutcome,
    client: GitHubClient | None = None,
) -> tuple[Baseline | None, str, list[str]]:
    """Step 2: (baseline or None, reason when None, notes): the newest mirror report of the
    best rank (0 scheduled, 1 cannot tell, 2 manual; ``docs/running-a-gate.md``)."""
    pattern = mirror_pattern(mirror, params)
    notes: list[str] = []
    try:
        paths = storage.glob(pattern)
    except Exception as exc:  # noqa: BLE001 - fsspec backends raise many kinds; all mean "unreachable"
        return None, f"cannot list {pattern}: {type(exc).__name__}: {exc}", notes
    if not paths:
        return None, f"no report matches {pattern}", notes
    paths.sort(key=lambda p: (_mirror_stamp(p), p), reverse=True)
    best, bad = _best_mirror_report(paths[:MAX_MIRROR_REPORTS], params, actions, notes)
    if best is None:
        return None, f"all {bad} newest reports under {pattern} were unreadable", notes
    rank, path, report, raw = best
    run_id = report.workflow_run_id
    info = actions.scheduled.get(run_id) if run_id else None
    created = (
        (info.created if info else None)
        or parse_time(report.collected_at_utc)
        or parse_time(_mirror_stamp(path))
    )
    if rank == 1:
        notes.append(f"mirror: run #{run_id} could not be confirmed as a scheduled main run")
    elif rank == 2:
        notes.append(
            "mirror: no report from a scheduled main run found; "
            + (f"run #{run_id} is not one" if run_id else "this report has no workflow run id")
        )
    run_url = info.url if info else None
    if run_url is None and run_id and client is not None:
        run_url = client.settings.run_url(run_id)
    prov = Provenance.dated(
        params,
        created,
        now,
        source="gcs-mirror",
        location=path,
        run_id=run_id,
        run_url=run_url,
        sha=report.commit_sha or (info.sha if info else None),
        scheduled={0: True, 1: None, 2: False}[rank],
        notes=tuple(actions.notes + notes),
    )
    return Baseline(report, raw, prov), "", notes


def _mirror_stamp(path: str) -> str:
    """The ``YYYYMMDDTHHMMSSZ`` folder stamp of a mirror report's path, "" when none."""
    found = _MIRROR_TS.search(path)
    return found.group(1) if found else ""


def _best_mirror_report(
    paths: list[str], params: GateParams, actions: _ActionsOutcome, notes: list[str]
) -> tuple[tuple[int, str, PerfReport, bytes] | None, int]:
    """(the best-ranked readable report of ``paths`` as (rank, path, report, raw) or None,
    how many were unreadable (each noted)); a rank-0 report ends the search."""
    best: tuple[int, str, PerfReport, bytes] | None = None
    bad = 0
    for path in paths:
        try:
            raw = storage.read_bytes(path)
            report = loads_report(raw, path)
        except ReportError as exc:
            bad += 1
            notes.append(f"mirror: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - an unreadable object: skip it, say why
            bad += 1
            notes.append(f"mirror: cannot read {path}: {type(exc).__name__}: {exc}")
            continue
        rank = _mirror_rank(report, params, actions, parse_time(_mirror_stamp(path)))
        if best is None or rank < best[0]:
            best = (rank, path, report, raw)
        if rank == 0:
            break
    return best, bad


def _mirror_rank(
    report: PerfReport, params: GateParams, actions: _ActionsOutcome, when: dt.datetime | None
) -> int:
    run_id = report.workflow_run_id
    if run_id and run_id in actions.scheduled:
        return 0
    name = report.raw.get("workflow_name")
    if not run_id or name not in (None, params.workflow_name) or actions.listed_all:
        return 2  # not the tier workflow, or Actions listed every scheduled run: a manual one
    if not actions.scheduled:
        return 1  # Actions unreachable before it listed anything: cannot tell
    older = actions.oldest_listed is not None and when is not None and when < actions.oldest_listed
    return 1 if older else 2  # beyond the runs listed: cannot tell; within them: not scheduled


def from_local(path: str, params: GateParams, now: dt.datetime) -> Baseline:
    """A report file, or a folder holding perf-report.json / perf_report.json."""
    target = str(path)
    if not target.endswith(".json"):
        candidates = (storage.join(target, name) for name in REPORT_NAMES)
        target = next((c for c in candidates if storage.exists(c)), target)
    if not storage.exists(target):
        raise ReportError(target, None, "file not found")
    if storage.isdir(target):
        raise ReportError(target, None, f"a folder with no {' or '.join(REPORT_NAMES)} in it")
    raw = storage.read_bytes(target)
    report = loads_report(raw, target)
    prov = Provenance.dated(
        params,
        parse_time(report.collected_at_utc),
        now,
        source="local",
        location=target,
        run_id=report.workflow_run_id,
        sha=report.commit_sha,
    )
    return Baseline(report, raw, prov)


def find_baseline(
    gate: int | GateParams,
    *,
    client: GitHubClient | None = None,
    repo: str | None = None,
    mirror: str | None = DEFAULT_MIRROR,
    local: str | None = None,
    use_actions: bool = True,
    now: dt.datetime | None = None,
) -> Baseline:
    """The gate's baseline: ``local`` if given, else Actions (``client`` default: ``repo``'s,
    from the environment), else the mirror (None: off); :class:`NoBaseline` when all fail."""
    params = gate if isinstance(gate, GateParams) else load_gate(gate)
    now = _utc(now) or dt.datetime.now(dt.UTC)
    if local:
        return from_local(local, params, now)
    attempts: list[tuple[str, str]] = []
    actions = _ActionsOutcome()
    where_actions = f"GitHub Actions ({params.workflow}, {params.branch}, {params.event})"
    if use_actions:
        client = client or GitHubClient(GitHubSettings.from_env(repo=repo))
        actions = from_actions(client, params, now)
        if actions.baseline is not None:
            return actions.baseline
        notes, limit = actions.notes, 5
        shown = notes[:limit] + ([f"... {len(notes) - limit} more"] if len(notes) > limit else [])
        reason = f"{actions.reason} [{'; '.join(shown)}]" if notes else actions.reason
        attempts.append((where_actions, reason))
    else:
        attempts.append((where_actions, "not tried (disabled)"))
    if mirror:
        found, reason, notes = from_mirror(mirror, params, now, actions, client)
        if found is not None:
            return found
        attempts.append((f"GCS mirror {mirror_pattern(mirror, params)}", reason))
    else:
        attempts.append(("GCS mirror", "not configured"))
    raise NoBaseline(params.gate, attempts)


def render_unavailable(
    params: GateParams,
    attempts: list[tuple[str, str]],
    *,
    reviewer: str | None = None,
    sha: str | None = None,
) -> str:
    """The comment posted when no baseline could be fetched (``baseline_unavailable.md.j2``)."""
    return render(
        "baseline_unavailable",
        gate=params.gate,
        name=params.name,
        sha=sha,
        attempts=attempts,
        workflow=params.workflow,
        branch=params.branch,
        artifact=params.artifact,
        reviewer=reviewer,
        mention=bool(reviewer and _LOGIN.match(reviewer)),
    )
