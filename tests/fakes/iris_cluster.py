"""A real Iris controller for the tests, and a marin world wired to it.

:func:`iris_env` builds (once, cached under the user's cache folder, keyed by version) a
uv environment on Python 3.12 holding one marin-iris release and the marin-zephyr of the
same release: :data:`IRIS_VERSIONS` are the oldest supported (0.2.20) and the newest
published (0.2.227). :func:`local_controller` starts that release's ``LocalCluster`` in a
helper process (``iris_controller_main.py``) with its controller on loopback and yields its
URL. Jobs run as subprocesses of that helper; they inherit its environment, which carries
``STANDIN_WORLD`` (scenarios and ferry outputs) and this checkout on ``PYTHONPATH``.

:func:`cluster_template` builds the marin repository for it: marin's layout, the stand-in
scripts of ``marin_standins/`` (``scripts/ci/submit_perf_run.py``,
``scripts/ci/collect_perf_metrics.py``, ``experiments/ferries/datakit_ferry.py`` and
``datakit_step.py``) and ``lib/iris/config/marin.yaml`` pointing the real ``iris`` CLI at
the controller (a manual controller with a fixed address; the docker image is never used
by the local runtime). The kit's real code path then runs unchanged: ``iris
--config=<checkout>/lib/iris/config/marin.yaml job list|logs|stop|cancel ...`` with the
release's own CLI.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.fakes.marin_world import Template, build_template

HERE = Path(__file__).resolve().parent
STANDINS = HERE / "marin_standins"
REPO_ROOT = HERE.parents[1]
START_TIMEOUT_SECONDS = 120.0
PYTHON_312 = Path("/root/.pyenv/versions/3.12.1/bin/python3")
OLDEST, NEWEST = "0.2.20.dev202606180959", "0.2.227.dev40316220070"
IRIS_VERSIONS = (OLDEST, NEWEST)
#: what each environment installs. 0.2.227's controller needs the ``controller`` extra and
#: a marin-finelog pre-release (it imports ``finelog.deploy.config.INTRA_CLUSTER_CIDRS``,
#: which no final marin-finelog release has; a resolver left alone picks 0.2.10).
REQUIREMENTS = {
    OLDEST: [f"marin-zephyr=={OLDEST}", f"marin-iris=={OLDEST}"],
    NEWEST: [
        f"marin-zephyr=={NEWEST}",
        f"marin-iris[controller]=={NEWEST}",
        "marin-finelog==0.2.71.dev40003900277",
    ],
}


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/perfgate/iris-envs`` (default ``~/.cache/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "perfgate" / "iris-envs"


def _python_312() -> str:
    found = shutil.which("python3.12")
    for candidate in (PYTHON_312, Path(found) if found else None):
        if candidate is not None and candidate.exists():
            probe = [str(candidate), "-c", "import sys; assert sys.version_info[:2] == (3, 12)"]
            if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
                return str(candidate)
    raise RuntimeError("no Python 3.12 for the Iris environments (pyenv install 3.12.1)")


def iris_env(version: str) -> Path:
    """The cached environment of marin-iris ``version`` (built by uv the first time; a
    lock keeps parallel test workers from building it twice). Returns its folder."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    env, stamp = root / version, root / version / ".perfgate-complete"
    with open(root / f".{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists():
            link_repo(env)
            return env
        shutil.rmtree(env, ignore_errors=True)
        uv = str(Path(sys.executable).parent / "uv")
        subprocess.run([uv, "venv", "-q", "-p", _python_312(), str(env)], check=True)
        install = [uv, "pip", "install", "-q", "--python", str(env / "bin" / "python")]
        install += ["--prerelease=if-necessary-or-explicit", *REQUIREMENTS[version]]
        subprocess.run(install, check=True)
        stamp.write_text(version + "\n")
    link_repo(env)
    return env


def link_repo(env: Path) -> None:
    """Put this checkout on the environment's path (a ``.pth`` file): the stand-in ferry's
    tasks import ``perfgate_lib`` and do not inherit the controller's ``PYTHONPATH``."""
    for site in (env / "lib").glob("python3.*/site-packages"):
        pth = site / "perfgate-checkout.pth"
        if not pth.exists() or pth.read_text().strip() != str(REPO_ROOT):
            pth.write_text(str(REPO_ROOT) + "\n")


@dataclass(frozen=True)
class LocalController:
    """A running controller: its URL, the helper's HOME and the stand-ins' world folder."""

    url: str
    home: Path
    world: Path
    log: Path

    def config_yaml(self) -> str:
        """An iris cluster config whose controller is this one."""
        port = self.url.rsplit(":", 1)[-1]
        return (
            "name: perfgate-local\n"
            "platform:\n  manual: {}\n"
            f"controller:\n  manual:\n    host: 127.0.0.1\n    port: {port}\n"
            "defaults:\n  worker:\n"
            f"    controller_address: {self.url}\n"
            "    docker_image: unused/local-runtime:0\n"
        )

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def local_controller(root: Path, python: str = sys.executable) -> Iterator[LocalController]:
    """Start the helper process with ``python`` (an environment from :func:`iris_env`),
    wait for the URL (generous timeout), stop it on exit."""
    home, world, cwd = root / "home", root / "standin-world", root / "controller"
    for folder in (home, world / "scenarios", cwd):
        folder.mkdir(parents=True, exist_ok=True)
    url_file, log = root / "controller.url", root / "controller.log"
    env = {
        **os.environ,
        "HOME": str(home),
        "STANDIN_WORLD": str(world),
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p
        ),
    }
    for secret in ("GITHUB_TOKEN", "GH_TOKEN"):
        env.pop(secret, None)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [python, str(HERE / "iris_controller_main.py"), "--url-file", str(url_file)],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    controller = LocalController("", home, world, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not url_file.exists():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"the Iris controller exited {proc.returncode}:\n{controller.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"no Iris controller after {START_TIMEOUT_SECONDS:g} s:\n{controller.log_tail()}"
                )
            time.sleep(0.2)
        yield LocalController(url_file.read_text().strip(), home, world, log)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # the helper stops its cluster when stdin closes
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def cluster_template(root: Path, controller: LocalController) -> Template:
    """The origin repository with the stand-in scripts and the controller's config."""
    files = {
        "scripts/ci/submit_perf_run.py": (STANDINS / "submit_perf_run.py").read_text(),
        "scripts/ci/collect_perf_metrics.py": (STANDINS / "collect_perf_metrics.py").read_text(),
        "experiments/__init__.py": "",
        "experiments/ferries/__init__.py": "",
        "experiments/ferries/datakit_ferry.py": (STANDINS / "datakit_ferry.py").read_text(),
        "experiments/ferries/datakit_step.py": (STANDINS / "datakit_step.py").read_text(),
        "lib/iris/config/marin.yaml": controller.config_yaml(),
        "pyproject.toml": '[project]\nname = "marin-standin"\nversion = "0"\n',
    }
    return build_template(root, files)
