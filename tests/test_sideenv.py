"""Side environments for gate 0: real uv, real git worktrees (perfgate_lib.local.sideenv).

The uv projects here declare no third-party dependencies (``uv sync`` then needs no
index), except the slow dependency-pin test, which resolves the sandbox's pins against
PyPI (uv's cache usually holds them after one run).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from perfgate_lib.errors import EXIT_COULD_NOT_RUN, UsageError
from perfgate_lib.local import sideenv
from perfgate_lib.local.sandbox import DEP_PIN_CHANGE, build_sandbox
from perfgate_lib.local.sideenv import (
    SideEnvError,
    choose_mode,
    dependency_differences,
    find_uv_project,
    prepare_side_env,
)

FERRY = Path(sideenv.__file__).with_name("ferry_pipeline.py")
needs_uv = pytest.mark.skipif(
    shutil.which("uv") is None and not (sideenv._kit_bin_dir() / "uv").exists(),
    reason="uv is in the kit's local and test extras; reinstall the kit",
)
# Runs with the side's argv: the standalone ferry script reports what it imports.
_IDENTITY = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("ferry_pipeline", sys.argv[1])
ferry = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ferry)
ferry.use_zephyr_source(sys.argv[2])
from importlib.metadata import version
print(json.dumps({**ferry.zephyr_identity(), "xxhash": version("xxhash")}))
"""


def _project(tree: Path, requires: str = ">=3.11", version: str = "1.0") -> Path:
    """A worktree-shaped folder whose lib/zephyr is a uv project with no dependencies."""
    (tree / "lib/zephyr/src/zephyr").mkdir(parents=True)
    (tree / "lib/zephyr/src/zephyr/__init__.py").write_text(f"WHERE = {str(tree)!r}\n")
    (tree / "lib/zephyr/pyproject.toml").write_text(
        "[project]\n"
        'name = "marin-zephyr"\n'
        f'version = "{version}"\n'
        f'requires-python = "{requires}"\n'
        "dependencies = []\n"
    )
    return tree


def _side_run(env: sideenv.SideEnv, code: str, *args: str) -> str:
    done = subprocess.run(
        [*env.python, "-c", code, *args],
        env={"PATH": "/usr/bin:/bin", **env.env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_auto_picks_uv_for_a_uv_project_and_kit_otherwise(tmp_path):
    assert choose_mode(_project(tmp_path / "a")) == "uv"
    (tmp_path / "b/lib/zephyr").mkdir(parents=True)
    assert choose_mode(tmp_path / "b") == "kit"
    (tmp_path / "b/lib/zephyr/pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n")
    assert choose_mode(tmp_path / "b") == "kit"  # no [project] table
    assert choose_mode(tmp_path / "b", "uv") == "uv"
    with pytest.raises(UsageError):
        choose_mode(tmp_path / "a", "conda")


def test_a_marin_workspace_syncs_the_zephyr_member_with_every_member_source(tmp_path):
    tree = _project(tmp_path / "ws")
    (tree / "lib/fray/src/fray").mkdir(parents=True)
    (tree / "lib/fray/pyproject.toml").write_text('[project]\nname = "marin-fray"\n')
    (tree / "pyproject.toml").write_text(
        '[project]\nname = "marin"\nversion = "0"\n\n[tool.uv.workspace]\nmembers = ["lib/*"]\n'
    )
    (tree / "uv.lock").write_text("version = 1\n")
    project = find_uv_project(tree)
    assert project is not None and project.root == tree and project.package == "marin-zephyr"
    assert [p.as_posix() for p in project.files] == [
        "pyproject.toml",
        "lib/fray/pyproject.toml",
        "lib/zephyr/pyproject.toml",
        "uv.lock",
    ]
    assert project.first_party_src == (tree / "lib/zephyr/src", tree / "lib/fray/src")
    cmd = sideenv._sync_command("uv", project, tmp_path / "staging", "/usr/bin/python3")
    assert cmd[cmd.index("--project") :][:4] == [
        "--project",
        str(tree),
        "--package",
        "marin-zephyr",
    ]
    assert "--no-install-workspace" in cmd and "--no-python-downloads" in cmd


@needs_uv
def test_the_environment_is_cached_by_digest_and_shared_across_worktrees(tmp_path):
    cache = tmp_path / "cache"
    first = prepare_side_env(_project(tmp_path / "a"), cache_dir=cache, progress=None)
    assert first.mode == "uv" and first.build_seconds > 0
    again = prepare_side_env(tmp_path / "a", cache_dir=cache, progress=None)
    assert again.build_seconds == 0 and again.env_dir == first.env_dir
    other = prepare_side_env(_project(tmp_path / "b"), cache_dir=cache, progress=None)
    assert other.build_seconds == 0 and other.digest == first.digest  # same files: shared
    assert other.zephyr_src == str(tmp_path / "b/lib/zephyr/src")  # but its own code
    where = _side_run(other, "import zephyr; print(zephyr.WHERE)").strip()
    assert where == str(tmp_path / "b")
    bumped = prepare_side_env(
        _project(tmp_path / "c", version="1.1"), cache_dir=cache, progress=None
    )
    assert bumped.digest != first.digest and bumped.build_seconds > 0
    assert bumped.versions["marin-zephyr"] == "1.1" and "uv env" in bumped.description
    assert sorted(p.name for p in cache.iterdir() if p.is_dir()) == sorted(
        {first.digest, bumped.digest}
    )


@needs_uv
def test_versions_come_from_the_environment_not_the_callers_folder(tmp_path, monkeypatch):
    """A distribution in the folder the build ran from (an editable install's egg-info)
    is not one of the environment's; an old manifest that listed one is re-read."""
    stray = tmp_path / "caller" / "stray_pkg-9.9.dist-info"
    stray.mkdir(parents=True)
    (stray / "METADATA").write_text("Metadata-Version: 2.1\nName: stray-pkg\nVersion: 9.9\n")
    monkeypatch.chdir(tmp_path / "caller")
    cache = tmp_path / "cache"
    built = prepare_side_env(_project(tmp_path / "a"), cache_dir=cache, progress=None)
    assert "stray-pkg" not in built.dists and built.dists["marin-zephyr"] == "1.0"
    manifest_path = cache / built.digest / "manifest.json"
    old = json.loads(manifest_path.read_text())
    old.pop("schema")
    old["dists"]["stray-pkg"] = "9.9"  # what schema 1 recorded from such a folder
    manifest_path.write_text(json.dumps(old))
    again = prepare_side_env(tmp_path / "a", cache_dir=cache, progress=None)
    assert again.build_seconds == 0 and "stray-pkg" not in again.dists
    assert json.loads(manifest_path.read_text())["schema"] == 2


@needs_uv
def test_concurrent_prepares_of_one_digest_build_it_once(tmp_path):
    trees = [_project(tmp_path / name) for name in ("a", "b")]
    results: list[sideenv.SideEnv] = []
    threads = [
        threading.Thread(
            target=lambda t=t: results.append(
                prepare_side_env(t, cache_dir=tmp_path / "cache", progress=None)
            )
        )
        for t in trees
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and results[0].env_dir == results[1].env_dir
    assert sorted(r.build_seconds > 0 for r in results) == [False, True]


@needs_uv
def test_a_python_this_machine_lacks_fails_with_exit_4_before_any_build(tmp_path, monkeypatch):
    """Issue 28, failure 2: "no installed Python satisfies" said nothing about what to do."""
    tree = _project(tmp_path / "a", requires=">=3.12")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no python3.N on PATH
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))  # and no pyenv installs
    with pytest.raises(SideEnvError) as caught:
        prepare_side_env(tree, cache_dir=tmp_path / "cache", progress=None)
    error = caught.value
    assert error.exit_code == EXIT_COULD_NOT_RUN
    text = str(error)
    assert len(text.splitlines()) == 1  # one line, saying what to install
    assert "requires-python '>=3.12'" in text and str(tree / "lib/zephyr/pyproject.toml") in text
    assert "install Python 3.12" in text and "pyenv install 3.12" in text
    assert not (tmp_path / "cache").exists()


def _pyenv_root(root: Path, version: str = platform.python_version()) -> Path:
    """A pyenv root whose one install is this machine's real kit base interpreter."""
    bin_dir = root / "versions" / version / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python3").symlink_to(os.path.realpath(sys.executable))
    return root


@needs_uv
def test_a_python_installed_under_pyenv_is_found_without_touching_path(tmp_path, monkeypatch):
    """Issue 28, item 2: uv does not look under pyenv; the kit finds it and passes it."""
    tree = _project(tmp_path / "a", requires=f"=={platform.python_version()}")
    shims = tmp_path / "shims"
    shims.mkdir()
    minor = ".".join(platform.python_version_tuple()[:2])
    shim = shims / f"python{minor}"  # a pyenv shim for a version that is not active
    shim.write_text(f"#!/bin/sh\necho 'pyenv: python{minor}: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", str(shims))
    monkeypatch.setenv("PYENV_ROOT", str(_pyenv_root(tmp_path / "pyenv")))
    built = prepare_side_env(tree, cache_dir=tmp_path / "cache", progress=None)
    assert built.versions["python"] == platform.python_version()
    out = _side_run(built, "import sys; print(sys.version_info[:2], sys.prefix)")
    assert out.startswith(str(tuple(sys.version_info[:2]))) and built.env_dir in out
    manifest = json.loads((Path(built.env_dir).parent / "manifest.json").read_text())
    python_arg = manifest["command"][manifest["command"].index("--python") + 1]
    assert python_arg == str(
        tmp_path / "pyenv/versions" / platform.python_version() / "bin/python3"
    )


def test_pythons_skip_broken_shims_and_pick_the_oldest_line_newest_patch(tmp_path):
    from perfgate_lib.io import pythons

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3.13").write_text("#!/bin/sh\nexit 127\n")  # a shim that does not run
    (bin_dir / "python3.13").chmod(0o755)
    minor = ".".join(platform.python_version_tuple()[:2])
    (bin_dir / f"python{minor}").symlink_to(os.path.realpath(sys.executable))
    found = pythons.installed_pythons(str(bin_dir), str(tmp_path / "no-pyenv"))
    assert [(Path(i.path).name, i.source) for i in found] == [(f"python{minor}", "PATH")]
    assert pythons.find_python(f">={minor}", str(bin_dir), str(tmp_path / "no-pyenv")) == found[0]
    assert pythons.find_python(">=3.99", str(bin_dir), str(tmp_path / "no-pyenv")) is None
    made = [
        pythons.Interpreter("/a/python3.13", "3.13.0", "PATH"),
        pythons.Interpreter("/b/python3", "3.12.1", "pyenv"),
        pythons.Interpreter("/c/python3.12", "3.12.4", "PATH"),
        pythons.Interpreter("/d/python3.11", "3.11.9", "PATH"),
    ]
    assert pythons.choose(made, "<3.14,>=3.12").path == "/c/python3.12"
    assert pythons.choose(made, ">=3.13").path == "/a/python3.13"
    assert pythons.choose(made, "<3.11") is None
    assert pythons.suggested_minor("<3.14,>=3.12") == "3.12"
    assert "no Python release satisfies" in pythons.install_hint(">=3.99")
    with pytest.raises(ValueError, match="not a version specifier"):
        pythons.parse_requires(">=three")


def test_no_uv_fails_clearly_in_uv_mode_and_kit_mode_needs_none(tmp_path, monkeypatch):
    tree = _project(tmp_path / "a")
    monkeypatch.delenv("PERFGATE_UV", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(sideenv, "_kit_bin_dir", lambda: tmp_path / "empty")
    with pytest.raises(SideEnvError) as caught:
        prepare_side_env(tree, cache_dir=tmp_path / "cache", progress=None)
    assert caught.value.exit_code == EXIT_COULD_NOT_RUN
    assert "uv is not on PATH" in str(caught.value) and "--env kit" in str(caught.value)
    kit = prepare_side_env(tree, mode="kit", progress=None)
    assert kit.mode == "kit" and kit.digest is None and kit.versions["marin-zephyr"] == "1.0"
    assert kit.env["PYTHONPATH"] == str(tree / "lib/zephyr/src")


@needs_uv
def test_a_failed_build_names_the_command_and_its_last_lines(tmp_path):
    tree = _project(tmp_path / "a")
    pyproject = tree / "lib/zephyr/pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace("dependencies = []", 'dependencies = ["perfgate-no-such"]')
        + '\n[[tool.uv.index]]\nurl = "file:///nonexistent/simple"\ndefault = true\n'
    )
    with pytest.raises(SideEnvError) as caught:
        prepare_side_env(tree, cache_dir=tmp_path / "cache", progress=None)
    text = str(caught.value)
    assert caught.value.exit_code == EXIT_COULD_NOT_RUN
    assert "uv sync failed" in text and "command: " in text and " sync " in text
    assert "perfgate-no-such" in text.split("last lines:")[1]


def test_the_sandbox_is_a_uv_project_pinned_to_the_kit_versions(tmp_path):
    from importlib.metadata import version

    box = build_sandbox(tmp_path / "repo")
    assert choose_mode(box.path) == "uv"
    text = (Path(box.path) / "lib/zephyr/pyproject.toml").read_text()
    for dist in ("xxhash", "marin-fray", "marin-iris", "numpy"):
        assert f'"{dist}=={version(dist)}"' in text


@pytest.mark.slow
@needs_uv
def test_a_dependency_pin_change_runs_the_two_sides_with_two_versions(tmp_path):
    box = build_sandbox(tmp_path / "repo", DEP_PIN_CHANGE)
    sides = {}
    for name, ref in (("control", box.base), ("treatment", box.head)):
        subprocess.run(
            [
                "git",
                "-C",
                box.path,
                "worktree",
                "add",
                "--quiet",
                "--detach",
                str(tmp_path / name),
                ref,
            ],
            check=True,
        )
        sides[name] = prepare_side_env(tmp_path / name, cache_dir=tmp_path / "cache", progress=None)
    control, treatment = sides["control"], sides["treatment"]
    assert control.digest != treatment.digest
    from perfgate_lib.local.sandbox import KIT_XXHASH, PINNED_XXHASH

    assert dependency_differences(control, treatment) == [f"xxhash {KIT_XXHASH} -> {PINNED_XXHASH}"]
    seen = {}
    for name, side in sides.items():
        seen[name] = json.loads(_side_run(side, _IDENTITY, str(FERRY), side.zephyr_src))
        assert seen[name]["executable"].startswith(side.env_dir)
        assert seen[name]["zephyr_file"].startswith(str(tmp_path / name))
        assert seen[name]["versions"]["marin-fray"] == side.versions["marin-fray"]
    assert (seen["control"]["xxhash"], seen["treatment"]["xxhash"]) == (KIT_XXHASH, PINNED_XXHASH)


@pytest.mark.parametrize(
    "prints",
    ["hello from a .pth file", '{"python": "3.12"}', "[1, 2]", '{"python": 3, "dists": {}}'],
    ids=["text", "no-dists", "list", "number-python"],
)
def test_an_environment_whose_python_prints_garbage_is_named(tmp_path, prints):
    """The environment holds the PR's dependencies, whose ``.pth`` files run (and can
    print) even in isolated mode: its versions answer must be the JSON object the kit
    asked for, else SideEnvError names the command and what it printed."""
    from perfgate_lib.local.sideenv import env_facts

    python = tmp_path / "python"
    (tmp_path / "out").write_text(prints + "\n")
    python.write_text(f"#!/bin/sh\ncat {tmp_path / 'out'}\n")
    python.chmod(0o755)
    with pytest.raises(SideEnvError, match="its versions") as caught:
        env_facts(str(python), tmp_path)
    assert str(python) in str(caught.value) and prints[:10] in str(caught.value)


@pytest.mark.parametrize(
    "root_toml",
    [
        '[tool.uv]\nworkspace = {members = "lib/*"}\n',
        '[tool.uv.workspace]\nmembers = ["/etc"]\n',
        '[tool.uv.workspace]\nmembers = [""]\n',
        "[tool.uv.workspace]\nmembers = [1]\n",
        '[tool.uv.workspace]\nmembers = ["lib/*", "../*"]\n',
        '[tool.uv.workspace]\nmembers = ["lib/*"]\nexclude = "x"\n',
    ],
    ids=["text", "absolute", "empty", "number", "outside", "exclude-text"],
)
def test_a_workspace_list_that_is_no_relative_patterns_is_named(tmp_path, root_toml):
    """The PR writes the root pyproject.toml: members and exclude must be lists of glob
    patterns inside the worktree, else SideEnvError names the file and the field."""
    tree = _project(tmp_path / "a")
    (tree / "pyproject.toml").write_text(root_toml)
    with pytest.raises(SideEnvError, match=r"pyproject.toml: tool.uv.workspace.(members|exclude)"):
        find_uv_project(tree)


@pytest.mark.parametrize("root_toml", ['tool = "x"\n', "[tool]\nuv = 3\n"])
def test_a_tool_entry_that_is_no_table_is_no_workspace(tmp_path, root_toml):
    tree = _project(tmp_path / "a")
    (tree / "pyproject.toml").write_text(root_toml)
    project = find_uv_project(tree)
    assert project is not None and project.package is None  # lib/zephyr on its own


def test_a_project_entry_that_is_no_table_declares_nothing(tmp_path):
    """The PR writes every pyproject.toml: a ``project`` that is no table declares no
    version and no requires-python, instead of an AttributeError."""
    tree = _project(tmp_path / "a")
    (tree / "lib/other/src").mkdir(parents=True)
    (tree / "lib/other/pyproject.toml").write_text("project = 3\n")
    (tree / "pyproject.toml").write_text(
        'project = "x"\n[tool.uv.workspace]\nmembers = ["lib/*"]\n'
    )
    project = find_uv_project(tree)
    assert project is not None and project.package == "marin-zephyr"
    assert sideenv._declared_versions(project) == {"marin-zephyr": "1.0"}
    assert sideenv.find_python(project)[1]  # any installed interpreter: none is required


@needs_uv
@pytest.mark.parametrize("left", ['{"schema": 2, "dis', "[]", '{"schema": 2}'])
def test_a_manifest_cut_short_by_a_crash_is_rebuilt(tmp_path, left):
    """The manifest is written last; a crash while writing it (or a file of another shape)
    leaves the environment unfinished: the next run builds it again, not a traceback."""
    cache = tmp_path / "cache"
    first = prepare_side_env(_project(tmp_path / "a"), cache_dir=cache, progress=None)
    (cache / str(first.digest) / "manifest.json").write_text(left)
    again = prepare_side_env(tmp_path / "a", cache_dir=cache, progress=None)
    assert again.build_seconds > 0 and again.versions["marin-zephyr"] == "1.0"
