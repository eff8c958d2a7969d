"""The replay runner: recorded treatment reports instead of a ferry (audits, tests,
offline), from a folder or a mapping ``{"<gate>/<attempt>" | "<gate>": report path}``.
Which file serves gate N, attempt K: ``docs/running-a-gate.md``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Required, TypedDict

from perfgate_lib.errors import UsageError
from perfgate_lib.io import storage
from perfgate_lib.io.paramfile import json_object
from perfgate_lib.runners.base import JobState, RunnerError, Submission
from perfgate_lib.typed import Text, read_model
from perfgate_lib.verdict.report import load_report

REPORT = "treatment-report.json"  # a run folder's, beside its submission.json, job-tree.json


def candidates(gate: int, attempt: int) -> list[str]:
    """Relative names tried in a replay folder, in order."""
    names = [f"gate{gate}-attempt{attempt}.json"]
    if attempt == 1:
        names.append(f"gate{gate}.json")
    names.append(f"gate{gate}-attempt{attempt}/treatment-report.json")
    if attempt == 1:
        names.append(f"gate{gate}/treatment-report.json")
        names.append(f"tier{gate}_treatment.json")
    names.append(f"tier{gate}_treatment_attempt{attempt}.json")
    return names


def parse_source(value: str | Mapping[str, str] | None) -> str | dict[str, str]:
    """A folder path/URL, or a mapping given as a dict or JSON object text."""
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    text = (value or "").strip()
    if not text:
        raise UsageError("replay runner: give a folder of recorded reports or a mapping")
    if text.startswith("{"):
        data = json_object(text, lambda problem: UsageError(f"replay mapping: {problem}"))
        return {str(k): str(v) for k, v in data.items()}
    return text


@dataclass
class ReplayRunner:
    """Serves recorded reports; ``submitted`` lists what it was asked for (gate, attempt)."""

    source: str | dict[str, str]
    name: str = "replay"
    submitted: list[tuple[int, int]] = field(default_factory=list)
    _paths: dict[str, str] = field(default_factory=dict, repr=False)

    def report_path(self, gate: int, attempt: int) -> str:
        """The recorded report for (gate, attempt); UsageError naming what was tried."""
        if isinstance(self.source, dict):
            keys = [f"{gate}/{attempt}"] + ([str(gate)] if attempt == 1 else [])
            for key in keys:
                if key in self.source:
                    return self.source[key]
            raise UsageError(
                f"replay mapping has no report for gate {gate} attempt {attempt} "
                f"(keys tried: {', '.join(keys)})"
            )
        for name in candidates(gate, attempt):
            path = storage.join(self.source, name)
            if storage.exists(path):
                return path
        raise UsageError(
            f"replay folder {self.source} has no report for gate {gate} attempt {attempt} "
            f"(tried {', '.join(candidates(gate, attempt))})"
        )

    def submit(self, gate: int, pr: int, worktree: str, attempt: int) -> Submission:
        path = self.report_path(gate, attempt)
        report = load_report(path)
        self.submitted.append((gate, attempt))
        job_id = report.iris_job_id or f"replay-pr{pr}-g{gate}-attempt{attempt}"
        self._paths[job_id] = path
        ferry = report.ferry_module or self._recorded_ferry(path)
        return Submission(
            job_id=job_id,
            gate=gate,
            attempt=attempt,
            ferry_module=ferry,
            cwd=worktree,
            raw={"job_id": job_id, "replay_report": path, "ferry_module": ferry},
        )

    @staticmethod
    def _recorded_ferry(path: str) -> str | None:
        sub = _beside_report(path, "submission.json")
        if sub is None:
            return None
        try:
            ferry = json.loads(storage.read_text(sub)).get("ferry_module")
        except (json.JSONDecodeError, AttributeError):
            return None
        return ferry if isinstance(ferry, str) else None  # a list is no module name

    def poll(self, job_id: str) -> JobState:
        path = self._paths.get(job_id)
        status = load_report(path).status if path else None
        state = "failed" if status == "failed" else "succeeded"
        return JobState(job_id=job_id, state=state, raw_state=f"replay:{state}")

    def wait(self, job_id: str, seconds: float) -> JobState:
        """A replayed job has ended already: no waiting."""
        return self.poll(job_id)

    def collect(self, submission: Submission, out: str) -> str:
        path = self._paths.get(submission.job_id) or self.report_path(
            submission.gate, submission.attempt
        )
        storage.write_bytes(out, storage.read_bytes(path))
        return out

    def stop(self, job_id: str) -> None:
        return None

    def logs(self, job_id: str, max_lines: int = 2000) -> str:
        """Recorded logs beside the report (``<report>.log``), for audits; else ""."""
        path = self._paths.get(job_id)
        log = path.removesuffix(".json") + ".log" if path else ""
        if not log or not storage.exists(log):
            return ""
        return "\n".join(storage.read_text(log).splitlines()[-max_lines:])

    def find(
        self, gate: int, pr: int, attempt: int, since: str | None, exclude: tuple[str, ...] = ()
    ) -> Submission | None:
        return None  # nothing runs remotely: re-submitting a replay costs nothing

    def job_tree(self, job_id: str) -> list[JobState]:
        """The recorded ``job-tree.json`` beside a run folder's treatment report; else []."""
        tree = _beside_report(self._paths.get(job_id) or "", "job-tree.json")
        return [] if tree is None else _recorded_jobs(tree)


class _RecordedJob(TypedDict, total=False):
    """One job of a recorded ``job-tree.json`` (:meth:`JobState.to_json`)."""

    job_id: Required[Text]
    state: Required[Text]
    raw_state: Text
    error: Text
    pending_reason: Text
    submitted_at: Text | None
    started_at: Text | None
    finished_at: Text | None
    found: bool


def _recorded_jobs(path: str) -> list[JobState]:
    """The jobs of the ``job-tree.json`` at ``path``; RunnerError naming it (and the field)
    when it is not JSON or not a list of job objects (the gate records it as unavailable)."""

    def fail(field: str | None, problem: str) -> RunnerError:
        return RunnerError(f"{path}: {f'field {field!r}: ' if field else ''}{problem}")

    try:
        data = json.loads(storage.read_text(path))
    except (ValueError, RecursionError) as exc:
        raise RunnerError(f"{path}: not JSON ({exc})") from exc
    read_model(list[_RecordedJob], data, fail)
    known = set(JobState.__dataclass_fields__)
    return [JobState(**{k: v for k, v in entry.items() if k in known}) for entry in data]


def _beside_report(path: str, name: str) -> str | None:
    """The file ``name`` beside ``path``, a run folder's treatment report, if it exists."""
    if not path.endswith(REPORT):
        return None
    beside = path[: -len(REPORT)] + name
    return beside if storage.exists(beside) else None
