"""A fake marin world for gate-execution tests: git repos, fake uv/iris on PATH, fake
marin scripts, a scenario file driving job states and reports, and ledgers.

* ``origin.git``: a bare repository with ``main`` (marin's layout, see
  :mod:`tests.marin_layout`, plus marin's scripts/ci, infra/pre-commit.py and the iris
  config) and PR heads published the way GitHub exposes them: ``refs/pull/<N>/head``
  (PR 7 changes the scatter buffer; PR 8 also adds a failing zephyr test).
* ``work/marin``: a clone of it (the "marin checkout"); treatment worktrees go to
  ``work/.zephyr_perf_worktrees``.
* ``bin/``: fake ``uv``, ``iris``, ``pyrefly`` (put FIRST on PATH: the venv has a real iris).
* ``world/``: ``scenario.json``, ledgers (see ``tests/fakes/marin_scripts/world.py``).

The fake scripts follow docs/contracts.md: the submit script prints log lines then one
JSON line (job_id, gate, ferry_module, status_path, run_id, cwd); ``iris job list --json``
prints a list of job entries with ``JOB_STATE_*`` names and ``{"epoch_ms": ...}`` times;
the collector writes a current-era perf report.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.fakes.github_server import DEFAULT_REPO, FakeGitHub, make_zip
from tests.marin_layout import BASE_FILES, ZSRC, make_marin_repo

SCRIPTS = Path(__file__).resolve().parent / "marin_scripts"
REPO_ROOT = Path(__file__).resolve().parents[2]
BASE_REPORT = REPO_ROOT / "parameters" / "examples" / "tier1_baseline.json"
PASS_PR, FAILING_PR = 7, 8
STANDARD_CHECKS = """\
local_checks:
  - name: pre-commit
    run: ./infra/pre-commit.py lib/zephyr/
  - name: pyrefly
    run: uv run pyrefly
  - name: zephyr tests
    run: uv run pytest lib/zephyr/tests/
"""

EXTRA_FILES = {
    "lib/iris/config/marin.yaml": "cluster: marin\nregion: us-central1\n",
    "lib/iris/config/other.yaml": "cluster: elsewhere\n",
    "lib/zephyr/tests/conftest.py": (
        "import pathlib, sys\n"
        "sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / 'src'))\n"
    ),
    "infra/pre-commit.py": (
        "#!/usr/bin/env python3\nimport sys\nprint('pre-commit: all hooks passed for', sys.argv[1:])\n"
    ),
}


def _git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "T",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "T",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    return subprocess.run(
        ["git", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@dataclass
class Template:
    """Built once per session: the origin repository and the PR SHAs."""

    origin: Path
    base_sha: str
    pr_shas: dict[int, str]
    src: Path


def build_template(root: Path, extra_files: dict[str, str] | None = None) -> Template:
    """The origin repository; ``extra_files`` (path -> text) replace or add files, e.g.
    the stand-in scripts of :mod:`tests.fakes.iris_cluster`."""
    src = root / "src"
    files = {**BASE_FILES, **EXTRA_FILES}
    for name in ("submit_perf_run.py", "collect_perf_metrics.py"):
        files[f"scripts/ci/{name}"] = (SCRIPTS / name).read_text()
    files.update(extra_files or {})
    repo = make_marin_repo(src, files)
    (src / "infra/pre-commit.py").chmod(0o755)
    base_sha = repo.commit("scripts executable")
    repo.branch("pr7")
    repo.edit(f"{ZSRC}/shuffle.py", "64 * 1024 * 1024", "128 * 1024 * 1024")
    pr7 = repo.commit("bigger scatter buffer")
    repo.branch("pr8")
    repo.write("lib/zephyr/tests/test_broken.py", "def test_broken():\n    assert 1 == 2\n")
    pr8 = repo.commit("breaks a test")
    repo.git("checkout", "-q", "main")
    origin = root / "origin.git"
    _git(root, "clone", "-q", "--bare", str(src), str(origin))
    _git(origin, "update-ref", f"refs/pull/{PASS_PR}/head", pr7)
    _git(origin, "update-ref", f"refs/pull/{FAILING_PR}/head", pr8)
    for branch in ("pr7", "pr8"):
        _git(origin, "branch", "-D", branch)
    return Template(origin, base_sha, {PASS_PR: pr7, FAILING_PR: pr8}, src)


class MarinWorld:
    """One test's world (see the module docstring)."""

    def __init__(
        self, template: Template, root: Path, tools: tuple[str, ...] = ("uv", "iris", "pyrefly")
    ) -> None:
        self.root = root
        self.template = template
        self.origin = root / "origin.git"
        shutil.copytree(template.origin, self.origin, symlinks=True)
        self.work = root / "work"
        self.work.mkdir()
        self.checkout = self.work / "marin"
        _git(self.work, "clone", "-q", str(self.origin), str(self.checkout))
        self.worktrees = self.work / ".zephyr_perf_worktrees"
        self.world = root / "world"
        self.world.mkdir()
        self.status_root = root / "status"
        self.bin = root / "bin"
        self.bin.mkdir()
        self.iris = self.bin / "iris"  # what `uv sync` installs into a worktree's .venv
        for name in tools:
            text = (SCRIPTS / name).read_text().split("\n", 1)[1]
            (self.bin / name).write_text(f"#!{sys.executable}\n{text}")
            (self.bin / name).chmod(0o755)
        shutil.copy(BASE_REPORT, self.world / "base_report.json")
        self.scenario({})
        self.common = root / "gate_common.yaml"
        self.write_common()

    # ------------------------------------------------------------------ setup
    def sha(self, pr: int) -> str:
        return self.template.pr_shas[pr]

    def scenario(self, data: dict) -> None:
        (self.world / "scenario.json").write_text(json.dumps(data, indent=2))

    def write_common(self, checks: str = STANDARD_CHECKS, **overrides: object) -> Path:
        """gate_common.yaml for tests: the bundled one, status files in a local folder."""
        import yaml

        doc = yaml.safe_load((REPO_ROOT / "parameters" / "gate_common.yaml").read_text())
        doc["status_root"] = str(self.status_root)
        doc["mirror"] = str(self.root / "no-mirror")
        doc["command_timeout_seconds"] = 60
        doc.update(yaml.safe_load(checks))
        doc.update(overrides)
        self.common.write_text(yaml.safe_dump(doc))
        return self.common

    def env(self, poll_seconds: float = 0.01) -> dict[str, str]:
        return {
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "FAKE_MARIN_WORLD": str(self.world),
            "FAKE_MARIN_SCRIPTS": str(SCRIPTS),
            "FAKE_MARIN_PYTHON": sys.executable,
            "FAKE_MARIN_IRIS": str(self.iris),
            "PERFGATE_POLL_SECONDS": str(poll_seconds),
        }

    # ------------------------------------------------------------------ ledgers
    def ledger(self, name: str) -> list[dict]:
        path = self.world / name
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def kit_iris_calls(self) -> list[dict]:
        """iris calls the kit made (the submit script's own ``job run`` left out)."""
        return [c for c in self.ledger("iris_calls.jsonl") if c["args"][:2] != ["job", "run"]]

    def submissions(self) -> list[dict]:
        return self.ledger("submissions.jsonl")

    def submission_counts(self) -> dict[tuple[int, int, int], int]:
        counts: dict[tuple[int, int, int], int] = {}
        for s in self.submissions():
            key = (s["pr"], s["gate"], s["attempt"])
            counts[key] = counts.get(key, 0) + 1
        return counts

    def leftover_worktrees(self) -> list[str]:
        """Worktree folders on disk and worktrees git still registers (besides the checkout)."""
        on_disk = (
            sorted(p.name for p in self.worktrees.iterdir()) if self.worktrees.exists() else []
        )
        listed = _git(self.checkout, "worktree", "list", "--porcelain").splitlines()
        registered = [line for line in listed if line.startswith("worktree ")][1:]
        return on_disk + registered


def assessment_json(max_gate: str = "3", path: str = f"{ZSRC}/shuffle.py") -> dict:
    """A proposed (unconfirmed) in-scope assessment in the skill's JSON shape."""
    return {
        "schema": 1,
        "max_gate": max_gate,
        "proposed_max_gate": max_gate,
        "rationale": "shuffle.py: scatter buffer size doubled (memory)",
        "per_file": {
            path: {
                "trivial": False,
                "shuffle": True,
                "memory": True,
                "cpu": False,
                "design": False,
                "summary": "scatter buffer size doubled",
                "evidence": {},
            }
        },
        "in_scope": True,
        "flags": [],
        "scope": {},
        "source": "test",
        "base_sha": "",
        "head_sha": "",
        "is_fork": False,
        "fork_repo": None,
        "confirmation": None,
    }


def seed_baselines(fake: FakeGitHub, gates: tuple[int, ...] = (1, 2, 3), age_hours: float = 3):
    """A scheduled successful main run with the perf-report artifact, per gate."""
    report = json.loads(BASE_REPORT.read_text())
    created = dt.datetime.now(dt.UTC) - dt.timedelta(hours=age_hours)
    for gate in gates:
        data = dict(report, workflow_name=f"Marin - Canary - Datakit - Tier {gate}")
        run = fake.add_run(
            DEFAULT_REPO,
            f"marin-canary-datakit-tier{gate}.yaml",
            head_sha="c" * 40,
            created_at=created,
        )
        data["workflow_run_id"] = str(run["id"])
        fake.add_artifact(
            run["id"],
            f"datakit-tier{gate}-perf-report",
            make_zip({"perf-report.json": json.dumps(data)}),
        )


def seed_pull(fake: FakeGitHub, world: MarinWorld, pr: int) -> None:
    """PR ``pr`` on the fake GitHub: head/base SHAs, changed files and their contents."""
    from perfgate_lib.assess.diffsource import LocalGitDiffSource

    src = LocalGitDiffSource(world.template.src, world.template.base_sha, world.sha(pr))
    fake.add_pull_from(DEFAULT_REPO, pr, src)
