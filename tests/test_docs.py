"""Every claim the README and docs/ make about the kit holds: the links, paths, commands,
flags, make targets and notebook parameters they name exist, and the README stays short."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from perfgate_lib.cli import cli
from tests.cli_helpers import perfgate_here

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
TOP = ("perfgate_lib/", "notebooks/", "parameters/", "tests/", "benchmarks/", "docs/", ".github/")
# placeholders a page may use inside a path: <N>, <stamp>, STAMP, PR, {a,b} ...
PLACEHOLDER = re.compile(r"<[^>]*>|\{[^}]*\}|\*|STAMP|\bN\b")


def _text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def _code_spans(text: str) -> list[str]:
    """Inline code spans and the lines of fenced blocks."""
    fenced = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    return inline + [line for block in fenced for line in block.splitlines()]


def test_the_readme_is_short_and_self_contained():
    text = _text(README)
    assert len(text) <= 12_000
    for page in PAGES:
        assert "../shared" not in _text(page), page.name
        assert "shared/spec" not in _text(page), page.name


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_resolves(page):
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", _text(page)):
        if "://" in target:
            continue
        assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def _repo_paths(text: str) -> set[str]:
    found = set()
    for span in _code_spans(text):
        for word in re.split(r"[\s,;()]+", span):
            word = word.split("::", 1)[0].strip("'\".:")  # a test id names its file
            if word.startswith(TOP) and "://" not in word:
                found.add(word)
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_repository_path_named_exists(page):
    for path in sorted(_repo_paths(_text(page))):
        if PLACEHOLDER.search(path):
            prefix = PLACEHOLDER.split(path)[0].rstrip("/")
            assert (ROOT / prefix).exists() or list(ROOT.glob(prefix + "*")), (page.name, path)
        else:
            assert (ROOT / path).exists(), f"{page.name} names {path}, which does not exist"


def _perfgate_invocations(text: str) -> list[list[str]]:
    calls = []
    for span in _code_spans(text):
        for part in re.split(r"\s*(?:&&|;|\|\|)\s*", span.split("#", 1)[0]):
            part = part.strip()
            if not part.startswith("perfgate ") or "COMMAND" in part:
                continue
            try:
                calls.append(shlex.split(part.replace("\\|", "|")))
            except ValueError:
                calls.append(part.split())
    return calls


def _command(name: str) -> click.Command:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None, f"perfgate has no command {name!r}"
    return command


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_and_flag_shown_is_accepted(page):
    for argv in _perfgate_invocations(_text(page)):
        if len(argv) < 2 or argv[1].startswith("-"):
            continue
        command = _command(argv[1])
        accepted = {opt for param in command.params for opt in param.opts + param.secondary_opts}
        accepted |= {"--help", "-h"}
        for word in argv[2:]:
            for flag in re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)", word):
                assert flag in accepted, f"{page.name}: `perfgate {argv[1]}` takes no {flag}"


def test_every_make_target_named_exists():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.M))
    for page in PAGES:
        for span in _code_spans(_text(page)):
            for target in re.findall(r"(?:^|\s)make ([a-z][a-z-]*)", span):
                assert target in targets, f"{page.name} names `make {target}`"


def test_the_readme_commands_are_the_ci_commands():
    text = _text(README)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make demo" in text and "make test" in text
    assert re.search(r"^make test$", ci, flags=re.M)


def test_every_notebook_parameter_shown_exists():
    import papermill

    text = _text(README)
    for line in re.findall(r"^papermill .*$", text, flags=re.M):
        argv = shlex.split(line)
        notebook = ROOT / argv[1]
        assert notebook.is_file(), line
        names = set(papermill.inspect_notebook(str(notebook)))
        for flag, name in zip(argv, argv[1:], strict=False):
            if flag in ("-p", "-r"):
                assert name in names, f"{notebook.name} has no parameter {name!r}"


def test_the_demo_exit_code_is_the_one_the_readme_states(monkeypatch):
    """The README says ``perfgate demo`` exits 0 when the demo ran, whatever its verdict."""
    import perfgate_lib.local.demo as demo

    assert "`perfgate demo` exits 0 when the demo ran" in _text(README)

    class Ran:
        verdict = "fail"

    monkeypatch.setattr(demo, "run_demo", lambda *a, **k: Ran())
    monkeypatch.setattr(demo, "where_to_look", lambda result: [f"verdict: {result.verdict}"])
    code, out, err = perfgate_here("demo")
    assert code == 0, err
    assert "verdict: fail" in out


@pytest.mark.parametrize(
    "notebook", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name
)
def test_papermill_reads_every_parameter_of_every_notebook(notebook):
    """papermill skips a parameters line it cannot parse (a second ``=`` in its comment),
    and ``-p`` for that name is then silently ignored."""
    import json

    import papermill

    cell = next(
        c
        for c in json.loads(notebook.read_text())["cells"]
        if "parameters" in c.get("metadata", {}).get("tags", [])
    )
    assigned = re.findall(r"^(\w+)\s*=", "".join(cell["source"]), flags=re.M)
    assert list(papermill.inspect_notebook(str(notebook))) == assigned
