"""``make contracts``: rerun the outside-contract tests against the newest published marin.

1. finds the newest published ``marin-zephyr`` and ``marin-iris`` (``pip download --no-deps
   --pre``, under the kit's Python);
2. builds a marin-shaped checkout from the Zephyr wheel (``lib/zephyr/src`` from the wheel,
   ``lib/zephyr/pyproject.toml`` from its metadata) and installs marin-iris into a scratch uv
   environment, whose ``iris ... --help`` texts it records;
3. runs ``pytest -m contracts tests/test_doctor.py`` with ``PERFGATE_CONTRACTS`` naming what
   it recorded (without it those tests skip, so the pinned suite stays deterministic);
4. prints the versions and every contract row whose state differs from the pinned releases
   (the kit's ``.venv`` Zephyr and the newest recorded iris in tests/fixtures/contracts/).

Exit code: pytest's (0 when the newest releases meet every contract). Needs the package
index; about two minutes (1 min 53 s measured, uv cache warm). Work files: ``runs/contracts/``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perfgate_lib.gate.doctor import checks, probe  # noqa: E402
from perfgate_lib.gate.doctor.checks import STATE_LABEL, Row  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "contracts"
PACKAGES = ("marin-zephyr", "marin-iris")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version))


def pinned_versions() -> dict[str, str]:
    """The releases the suite pins: marin-zephyr from pyproject.toml's test extra, marin-iris
    from the newest folder of recorded help texts."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    zephyr = re.search(r'"marin-zephyr==([^"]+)"', pyproject)
    folders = sorted(
        (p.name.removeprefix("marin-iris-") for p in FIXTURES.glob("marin-iris-*")),
        key=_version_key,
    )
    return {"marin-zephyr": zephyr.group(1) if zephyr else "?", "marin-iris": folders[-1]}


def download_newest(name: str, into: Path) -> Path:
    """The newest published wheel of ``name`` (pre-releases included: marin has only dev)."""
    into.mkdir(parents=True, exist_ok=True)
    for old in into.glob(f"{name.replace('-', '_')}-*.whl"):
        old.unlink()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--pre",
            name,
            "-d",
            str(into),
        ],
        check=True,
    )
    (wheel,) = into.glob(f"{name.replace('-', '_')}-*.whl")
    return wheel


def wheel_version(wheel: Path) -> str:
    return wheel.name.split("-")[1]


def zephyr_checkout(wheel: Path, root: Path) -> Path:
    """A marin-shaped checkout: ``lib/zephyr/src/zephyr`` and ``lib/zephyr/pyproject.toml``
    from the wheel and its metadata."""
    src = root / "lib" / "zephyr" / "src"
    src.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as whl:
        members = [m for m in whl.namelist() if m.startswith("zephyr/")]
        whl.extractall(src, members)
        meta_name = next(m for m in whl.namelist() if m.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(whl.read(meta_name).decode())
    requires = meta.get("Requires-Python", "")
    (root / "lib" / "zephyr" / "pyproject.toml").write_text(
        f'[project]\nname = "marin-zephyr"\nversion = "{meta["Version"]}"\n'
        f'requires-python = "{requires}"\n'
    )
    return root


def iris_env(version: str, root: Path) -> Path:
    """A scratch uv environment with ``marin-iris==version``; returns its ``bin/iris``."""
    uv = Path(sys.executable).with_name("uv")
    if not (root / "bin" / "python").exists():
        subprocess.run([str(uv), "venv", "--quiet", "-p", sys.executable, str(root)], check=True)
    subprocess.run(
        [str(uv), "pip", "install", "--quiet", "--python", str(root / "bin" / "python"),
         f"marin-iris=={version}"],
        check=True,
    )  # fmt: skip
    return root / "bin" / "iris"


def rows_for(
    iris_help: dict[str, checks.Help], zephyr_src: str | None, requires: str | None
) -> list[Row]:
    """The contract rows the releases decide: the iris CLI, the Zephyr API, the Python."""
    from perfgate_lib.gate.doctor import _dialect
    from perfgate_lib.gate.runsettings import parse_flags
    from perfgate_lib.local.zephyr_api import NEEDED, probe_zephyr_api
    from perfgate_lib.verdict.gates import load_gate

    flags: dict[str, str] = {}
    for gate in (1, 2, 3):
        flags.update(parse_flags(load_gate(gate).iris_flags))
    dialect, error = _dialect(iris_help)
    rows = checks.check_iris(iris_help, dialect, error, flags)
    found = probe_zephyr_api(sys.executable, zephyr_src)
    in_source: tuple[str, ...] = ()
    if zephyr_src:
        modules = {module for places in NEEDED.values() for module, _ in places}
        sources = probe.module_sources([Path(zephyr_src)], modules)
        in_source = checks.static_missing(NEEDED, sources)
    rows.append(
        checks.check_zephyr_api(
            "Zephyr API (mini ferry)", found.ok, found.missing, found.detail, in_source
        )
    )
    rows.append(checks.check_python("kit Python", probe.kit_python_version(), requires, ""))
    return rows


def paired_rows(pinned: list[Row], newest: list[Row]) -> list[tuple[str, str, str]]:
    """``(contract, pinned state, newest state)`` by contract name, in the order first
    seen; a row one side lacks (an iris that cannot start has no verb rows) is "absent"."""
    old = {r.contract: STATE_LABEL[r.state] for r in pinned}
    new = {r.contract: STATE_LABEL[r.state] for r in newest}
    names = list(dict.fromkeys([*old, *new]))
    return [(n, old.get(n, "absent"), new.get(n, "absent")) for n in names]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default=str(ROOT / "runs" / "contracts"), help="Work folder.")
    args = parser.parse_args()
    work = Path(args.work).resolve()
    pinned = pinned_versions()
    wheels = {name: download_newest(name, work / "wheels") for name in PACKAGES}
    newest = {name: wheel_version(w) for name, w in wheels.items()}
    print("versions (pinned -> newest published):")
    for name in PACKAGES:
        same = "unchanged" if pinned[name] == newest[name] else "NEW"
        print(f"  {name}: {pinned[name]} -> {newest[name]} ({same})", flush=True)

    checkout = zephyr_checkout(wheels["marin-zephyr"], work / "zephyr-checkout")
    try:
        iris = iris_env(newest["marin-iris"], work / f"iris-{newest['marin-iris']}")
        helps = probe.iris_helps([str(iris)])
    except subprocess.CalledProcessError as exc:
        helps = {"": checks.Help(("iris", "--help"), None, error=f"install failed: {exc}")}
    help_dir = work / f"iris-help-{newest['marin-iris']}"
    probe.save_helps(helps, help_dir)
    recorded = {
        "versions": newest,
        "iris_help": str(help_dir),
        "zephyr_checkout": str(checkout),
    }
    (work / "newest.json").write_text(json.dumps(recorded, indent=2) + "\n")

    from importlib.metadata import metadata

    pinned_rows = rows_for(  # the kit's .venv holds the pinned marin-zephyr
        probe.helps_from_folder(FIXTURES / f"marin-iris-{pinned['marin-iris']}"),
        None,
        metadata("marin-zephyr").get("Requires-Python"),
    )
    newest_rows = rows_for(
        helps, str(checkout / "lib/zephyr/src"), probe.zephyr_requires_python(checkout)
    )
    print("\ncontract rows (pinned -> newest):")
    changed = 0
    for name, old, new in paired_rows(pinned_rows, newest_rows):
        moved = old != new
        changed += moved
        print(f"  [{'CHANGED' if moved else 'same'}] {name}: {old} -> {new}")
    for row in newest_rows:
        if row.state != "holds":
            print(f"  newest, {row.contract}: {row.reason}")
    print(f"  {changed} row(s) changed state", flush=True)

    print("\npytest -m contracts against the newest releases:", flush=True)
    env = {**os.environ, "PERFGATE_CONTRACTS": str(work / "newest.json")}
    return subprocess.call(
        [sys.executable, "-m", "pytest", "-m", "contracts", "-q", "-p", "no:cacheprovider",
         str(ROOT / "tests" / "test_doctor.py")],
        env=env,
        cwd=ROOT,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
