"""Diff sources: what a pull request changed, and each file's text at base and head.

A git checkout, a GitHub PR, two folders or a patch: the assessment's only git/GitHub I/O.
"""

from __future__ import annotations

import codecs
import difflib
import functools
import io
import os
import re
import subprocess
import tarfile
import tempfile
import weakref
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import unidiff

from perfgate_lib.errors import GitHubError, PerfgateError, UsageError
from perfgate_lib.io.limits import check, load_limits

Side = Literal["base", "head"]
Status = Literal["added", "modified", "deleted", "renamed"]
DEFAULT_REPO = "marin-community/marin"
# Files whose text never counts as a caller of removed code.
_DOC_SUFFIXES = (".md", ".rst", ".txt")


@dataclass(frozen=True)
class Hunk:
    """One hunk of a unified diff (1-based lines: ``removed`` at base, ``added`` at head)."""

    base_start: int
    base_length: int
    head_start: int
    head_length: int
    removed: tuple[int, ...] = ()
    added: tuple[int, ...] = ()

    @property
    def header(self) -> str:
        return f"@@ -{self.base_start},{self.base_length} +{self.head_start},{self.head_length} @@"


@dataclass(frozen=True)
class ChangedFile:
    """A file the diff touches (``path`` at head, at base for a deletion; ``patch`` may be None)."""

    path: str
    status: Status
    old_path: str | None = None
    patch: str | None = None
    hunks: tuple[Hunk, ...] = ()
    additions: int = 0
    deletions: int = 0
    binary: bool = False

    @property
    def base_path(self) -> str | None:
        """Where the file lives at base (None when added)."""
        return None if self.status == "added" else self.old_path or self.path

    @property
    def head_path(self) -> str | None:
        """Where the file lives at head (None when deleted)."""
        return None if self.status == "deleted" else self.path


class DiffSource(Protocol):
    """What the assessment reads. ``notes``: caveats on how the diff was read, added as flags."""

    description: str
    base_sha: str
    head_sha: str
    is_fork: bool
    fork_repo: str | None
    notes: list[str]

    def files(self) -> list[ChangedFile]:
        """Every changed file (all pages), in a stable order."""

    def read_text(self, path: str, side: Side) -> str | None:
        """The file's text at ``side`` (None when absent there or binary)."""

    def prefetch(self, paths: Iterable[tuple[str, Side]]) -> None:
        """Optionally load many texts at once (a speed hint)."""

    def find_references(self, names: Collection[str]) -> dict[str, list[str]] | None:
        """Whole-word uses of ``names`` in head-tree code files; None when it cannot search."""


# ---------------------------------------------------------------------------- patches


def parse_hunks(patch: str | None) -> tuple[Hunk, ...]:
    """Hunks of one file's unified diff body (``@@`` lines onward; headers optional)."""
    if not patch or "@@" not in patch:
        return ()
    text = patch if patch.startswith("---") else f"--- a/f\n+++ b/f\n{patch}"
    if not text.endswith("\n"):
        text += "\n"
    try:
        patched = unidiff.PatchSet(text)
    except unidiff.UnidiffParseError:
        return ()
    return tuple(h for pf in patched for h in _hunks_of(pf))


def _hunks_of(pf: unidiff.PatchedFile) -> list[Hunk]:
    """The hunks of one parsed file (a removed or added line's number is never None)."""
    return [
        Hunk(
            *(h.source_start, h.source_length, h.target_start, h.target_length),
            removed=tuple(ln.source_line_no for ln in h if ln.is_removed),  # type: ignore[misc]
            added=tuple(ln.target_line_no for ln in h if ln.is_added),  # type: ignore[misc]
        )
        for h in pf
    ]


def text_patch(base: str | None, head: str | None, path: str = "f") -> str:
    """A unified diff (3 lines of context) between two texts; '' when equal."""
    a = (base or "").splitlines(keepends=True)
    b = (head or "").splitlines(keepends=True)
    lines = list(difflib.unified_diff(a, b, f"a/{path}", f"b/{path}", n=3))
    return "".join(ln if ln.endswith("\n") else ln + "\n" for ln in lines)


def _decode(data: bytes | None) -> str | None:
    if data is None or b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")


_WORD = re.compile(r"\w+")
GREP_MAX_NAMES = 2000  # names a head-tree search hands to git grep (more: every line)


def _word_hits(
    names: Collection[str], items: Iterable[tuple[str, int, str]]
) -> dict[str, list[str]]:
    """``{name: ["path:line"]}`` of lines using a name as a word (a def/class line is not).
    A plain name is looked up among each line's words, so the work grows with the lines
    and the names, not with their product (a PR names thousands)."""
    order = {n: i for i, n in enumerate(names)}
    words = {n for n in order if _WORD.fullmatch(n)}
    pats = {n: re.compile(rf"(?<![\w]){re.escape(n)}(?![\w])") for n in order if n not in words}
    defs = functools.cache(lambda n: re.compile(rf"^\s*(async\s+def|def|class)\s+{re.escape(n)}\b"))
    hits: dict[str, list[str]] = {}
    for path, lineno, text in items:
        found = words.intersection(_WORD.findall(text))
        found.update(n for n, pat in pats.items() if pat.search(text))
        for name in sorted(found, key=order.__getitem__):
            if not defs(name).search(text):
                hits.setdefault(name, []).append(f"{path}:{lineno}")
    return hits


def _is_code_file(path: str) -> bool:
    return not path.lower().endswith(_DOC_SUFFIXES)


def _numbered_lines(path: str, text: str | None) -> list[tuple[str, int, str]]:
    """``(path, lineno, line)`` of one file's text, for :func:`_word_hits`."""
    return [(path, i, line) for i, line in enumerate((text or "").splitlines(), 1)]


# ---------------------------------------------------------------------------- local git


def _git(
    checkout: Path, *args: str, input: bytes | None = None, env: dict[str, str] | None = None
) -> bytes:
    cmd = ["git", "-C", str(checkout), "-c", "core.quotepath=false", *args]
    try:
        proc = subprocess.run(cmd, input=input, capture_output=True, check=False, env=env)
    except FileNotFoundError as exc:
        raise PerfgateError("git is not installed (needed for --checkout)") from exc
    if proc.returncode != 0:
        raise _GitFailed(proc.returncode, proc.stderr.decode(errors="replace").strip())
    return proc.stdout


class _GitFailed(Exception):
    def __init__(self, code: int, stderr: str) -> None:
        self.code = code
        self.stderr = stderr
        super().__init__(stderr)


def _git_unquote(path: str) -> str:
    """A path as git prints it in diff headers: C-quoted (``"a/x\\"y"``) when unusual."""
    if len(path) >= 2 and path[0] == path[-1] == '"':
        raw = codecs.escape_decode(path[1:-1].encode("utf-8"))[0]
        return raw.decode("utf-8", errors="surrogateescape")
    return path


def _git_changed_file(
    path: str, status: Any, old_path: str | None, patches: dict[str, unidiff.PatchedFile]
) -> ChangedFile:
    """One file of ``git diff --name-status``, with what its parsed patch says, if any."""
    pf = patches.get(path)
    if pf is None:
        return ChangedFile(path, status, old_path)
    patch = "".join(str(h) for h in pf) or None  # no hunks: no patch
    hunks = tuple(_hunks_of(pf))
    return ChangedFile(
        path, status, old_path, patch, hunks, pf.added, pf.removed, bool(pf.is_binary_file)
    )


_STATUS = {"A": "added", "M": "modified", "D": "deleted", "R": "renamed", "T": "modified"}


@dataclass
class LocalGitDiffSource:
    """A local git checkout: the diff ``merge-base(base, head)...head`` (any revisions)."""

    checkout: str | os.PathLike[str]
    base: str
    head: str
    is_fork: bool = False
    fork_repo: str | None = None
    base_sha: str = field(init=False)
    head_sha: str = field(init=False)
    description: str = field(init=False)
    notes: list[str] = field(init=False, default_factory=list)
    _files: list[ChangedFile] | None = field(init=False, default=None, repr=False)
    _texts: dict[tuple[str, Side], str | None] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        root = Path(self.checkout)
        if not root.is_dir():
            raise UsageError(f"--checkout {root}: no such directory")
        try:
            _git(root, "rev-parse", "--git-dir")
        except _GitFailed as exc:
            raise UsageError(f"--checkout {root}: not a git repository") from exc
        self.checkout = root
        head_sha = self._rev("--head", self.head)
        base_tip = self._rev("--base", self.base)
        try:
            self.base_sha = _git(root, "merge-base", base_tip, head_sha).decode().strip()
        except _GitFailed as exc:
            raise UsageError(
                f"--base {self.base} and --head {self.head} share no history in {root}"
            ) from exc
        self.head_sha = head_sha
        self.description = f"{root} {self.base}...{self.head}"

    def _rev(self, arg: str, rev: str) -> str:
        if not rev or rev.startswith("-"):
            raise UsageError(f"{arg} {rev!r}: not a revision")
        try:
            out = _git(Path(self.checkout), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        except _GitFailed as exc:
            raise UsageError(f"{arg} {rev}: unknown revision in {self.checkout}") from exc
        return out.decode().strip()

    def files(self) -> list[ChangedFile]:
        if self._files is None:
            self._files = self._load_files()
        return self._files

    def _load_files(self) -> list[ChangedFile]:
        root = Path(self.checkout)
        rng = (self.base_sha, self.head_sha)
        raw = _git(root, "diff", "--no-ext-diff", "--no-color", "-M", "--name-status", "-z", *rng)
        fields = raw.decode("utf-8", errors="surrogateescape").split("\0")
        entries: list[tuple[str, str, str | None]] = []  # (status, path, old_path)
        i = 0
        while i < len(fields) and fields[i]:
            code = fields[i][0]
            if code in "RC":
                old, new = fields[i + 1], fields[i + 2]
                entries.append(("renamed" if code == "R" else "added", new, old))
                i += 3
            else:
                entries.append((_STATUS.get(code, "modified"), fields[i + 1], None))
                i += 2
        check("diff_max_files", len(entries), self.description, "changed files:")
        patch = _git(
            root, "diff", "--no-ext-diff", "--no-color", "-M", "-U3", "--full-index", *rng
        ).decode("utf-8", errors="replace")
        by_path: dict[str, unidiff.PatchedFile] = {}
        try:
            for pf in unidiff.PatchSet(patch):
                target, source = _git_unquote(pf.target_file), _git_unquote(pf.source_file)
                if target.startswith("b/"):
                    by_path[target[2:]] = pf
                if source.startswith("a/") and pf.is_removed_file:
                    by_path[source[2:]] = pf
        except unidiff.UnidiffParseError:
            by_path = {}
        out = [
            _git_changed_file(path, status, old_path if status == "renamed" else None, by_path)
            for status, path, old_path in entries
        ]
        return sorted(out, key=lambda f: f.path)

    def prefetch(self, paths: Iterable[tuple[str, Side]]) -> None:
        """Read blobs with one ``git cat-file --batch`` (names with a line break one by one)."""
        sha = {"base": self.base_sha, "head": self.head_sha}
        todo = [(p, s) for p, s in paths if (p, s) not in self._texts]
        for path, side in [key for key in todo if "\n" in key[0]]:
            try:
                blob = _git(Path(self.checkout), "cat-file", "blob", f"{sha[side]}:{path}")
            except _GitFailed:
                blob = None
            self._texts[(path, side)] = _decode(blob)
        todo = [key for key in todo if "\n" not in key[0]]
        if not todo:
            return
        request = "".join(f"{sha[s]}:{p}\n" for p, s in todo).encode()
        out = _git(Path(self.checkout), "cat-file", "--batch", input=request)
        pos = 0
        for key in todo:
            end = out.index(b"\n", pos)
            header = out[pos:end].split()
            pos = end + 1
            if len(header) != 3 or header[1] != b"blob":
                self._texts[key] = None
                continue
            size = int(header[2])
            self._texts[key] = _decode(out[pos : pos + size])
            pos += size + 1

    def read_text(self, path: str, side: Side) -> str | None:
        if (path, side) not in self._texts:
            self.prefetch([(path, side)])
        return self._texts.get((path, side))

    def find_references(self, names: Collection[str]) -> dict[str, list[str]] | None:
        if not names:
            return {}
        # git grep slows down with thousands of names (38 s for 200,000); past GREP_MAX_NAMES
        # it lists every text line and _word_hits, linear in both, picks the names' lines
        many = len(names) > GREP_MAX_NAMES
        select = ["-e", ""] if many else ["-w", "-F", "-f", "-"]  # names on stdin, not argv
        patterns = None if many else "\n".join(sorted(names)).encode()
        excluded = [f":!*{s}" for s in _DOC_SUFFIXES]
        args = ["grep", "-n", "-I", *select, self.head_sha, "--", ".", *excluded]
        try:
            out = _git(Path(self.checkout), *args, input=patterns).decode("utf-8", errors="replace")
        except _GitFailed as exc:
            if exc.code == 1:  # no match
                return {}
            raise PerfgateError(f"git grep failed in {self.checkout}: {exc.stderr}") from exc
        prefix = f"{self.head_sha}:"
        found = (re.match(r"(.*?):(\d+):(.*)", ln.removeprefix(prefix)) for ln in out.splitlines())
        return _word_hits(names, [(m[1], int(m[2]), m[3]) for m in found if m])


# ---------------------------------------------------------------------------- directories


def _skipped(parts: tuple[str, ...]) -> bool:
    """Caches and hidden folders (``__pycache__``, ``.ruff_cache``, ``.git``) are not source."""
    return parts[-1] == ".git" or any(p == "__pycache__" or p.startswith(".") for p in parts[:-1])


def tree_files(root: str | os.PathLike[str]) -> dict[str, Path]:
    """``{posix relative path: file}`` of a source tree, sorted, no caches or hidden folders."""
    root = Path(root)
    return {
        p.relative_to(root).as_posix(): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and not _skipped(p.relative_to(root).parts)
    }


@dataclass
class DirectoryDiffSource:
    """Two folders holding the base and head trees (no git needed; the bundled example)."""

    base_dir: str | os.PathLike[str]
    head_dir: str | os.PathLike[str]
    is_fork: bool = False
    fork_repo: str | None = None
    base_sha: str = "base"
    head_sha: str = "head"
    description: str = field(init=False)
    notes: list[str] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        for arg, d in (("base", self.base_dir), ("head", self.head_dir)):
            if not Path(d).is_dir():
                raise UsageError(f"{arg} folder {d}: no such directory")
        self.base_dir, self.head_dir = Path(self.base_dir), Path(self.head_dir)
        self.description = f"{self.base_dir} -> {self.head_dir}"

    def _tree(self, side: Side) -> dict[str, Path]:
        return tree_files(self.base_dir if side == "base" else self.head_dir)

    def files(self) -> list[ChangedFile]:
        base, head = self._tree("base"), self._tree("head")
        out = []
        for path in sorted(set(base) | set(head)):
            a = base[path].read_bytes() if path in base else None
            b = head[path].read_bytes() if path in head else None
            if a == b:
                continue
            status: Status = "added" if a is None else "deleted" if b is None else "modified"
            ta, tb = _decode(a), _decode(b)
            binary = (a is not None and ta is None) or (b is not None and tb is None)
            patch = None if binary else text_patch(ta, tb, path)
            hunks = parse_hunks(patch)
            added, removed = sum(len(h.added) for h in hunks), sum(len(h.removed) for h in hunks)
            out.append(ChangedFile(path, status, None, patch, hunks, added, removed, binary))
        return out

    def prefetch(self, paths: Iterable[tuple[str, Side]]) -> None:
        return None

    def read_text(self, path: str, side: Side) -> str | None:
        p = Path(self.base_dir if side == "base" else self.head_dir) / path
        return _decode(p.read_bytes()) if p.is_file() else None

    def find_references(self, names: Collection[str]) -> dict[str, list[str]] | None:
        files = self._tree("head").items()
        texts = ((path, _decode(p.read_bytes())) for path, p in files if _is_code_file(path))
        return _word_hits(names, [line for path, t in texts for line in _numbered_lines(path, t)])


# ---------------------------------------------------------------------------- patch on a tree

# A fixed identity and date: the same base tree and patch always give the same SHAs.
_PATCH_GIT_ENV = {
    "GIT_AUTHOR_NAME": "perfgate",
    "GIT_AUTHOR_EMAIL": "perfgate@localhost",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_NAME": "perfgate",
    "GIT_COMMITTER_EMAIL": "perfgate@localhost",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def patched_source(
    base_dir: str | os.PathLike[str], patch_file: str | os.PathLike[str]
) -> LocalGitDiffSource:
    """The diff ``patch_file`` makes to ``base_dir``, in a git repository living with the source."""
    base_dir, patch_file = Path(base_dir), Path(patch_file)
    if not base_dir.is_dir():
        raise UsageError(f"base folder {base_dir}: no such directory")
    if not patch_file.is_file():
        raise UsageError(f"patch {patch_file}: no such file")
    tmp = tempfile.TemporaryDirectory(prefix="perfgate-patch-")
    root = Path(tmp.name)
    env = {**os.environ, **_PATCH_GIT_ENV}

    def git(*args: str) -> str:
        return _git(root, "-c", "commit.gpgsign=false", *args, env=env).decode().strip()

    try:
        for rel, src in tree_files(base_dir).items():
            dest = root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(src.read_bytes())
        git("init", "-q")
        git("add", "-A")
        git("commit", "-q", "--allow-empty", "-m", "base")
        base_sha = git("rev-parse", "HEAD")
        try:
            git("apply", "--index", str(patch_file.resolve()))
        except _GitFailed as exc:
            raise UsageError(
                f"patch {patch_file} does not apply to {base_dir}: {exc.stderr}"
            ) from exc
        git("commit", "-q", "--allow-empty", "-m", "head")
        head_sha = git("rev-parse", "HEAD")
        source = LocalGitDiffSource(root, base_sha, head_sha)
    except BaseException:
        tmp.cleanup()
        raise
    source.description = f"{base_dir} + {patch_file.name}"
    weakref.finalize(source, tmp.cleanup)  # keeps the folder until the source is gone
    return source


# ---------------------------------------------------------------------------- GitHub

# Any other status (modified, changed, unchanged) reads as "modified".
_GH_STATUS = {"added": "added", "removed": "deleted", "renamed": "renamed", "copied": "added"}


class GitHubDiffSource:
    """A pull request read through PyGithub, texts at the merge base (or, with a note, base tip)."""

    def __init__(self, pr: int, repo: str = DEFAULT_REPO, *, client: Any = None) -> None:
        from perfgate_lib.io.github import GitHubClient, GitHubSettings

        if not isinstance(pr, int) or isinstance(pr, bool) or pr <= 0:
            raise UsageError(f"--pr {pr!r}: expected a positive pull request number")
        self.pr = pr
        self.client = client or GitHubClient(GitHubSettings.from_env(repo))
        self.repo_name = self.client.settings.repo
        pull = self.client.pull(pr)
        self._pull = pull
        head_repo = pull.head.repo
        self.head_sha: str = pull.head.sha
        self.is_fork: bool = head_repo is None or head_repo.full_name != self.repo_name
        fork_name = "(deleted fork)" if head_repo is None else head_repo.full_name
        self.fork_repo: str | None = fork_name if self.is_fork else None
        self.notes: list[str] = []
        self.base_sha: str = self._merge_base(pull.base.sha)
        self.description = f"{self.repo_name}#{pr}"
        self._files: list[ChangedFile] | None = None
        self._texts: dict[tuple[str, Side], str | None] = {}

    def _merge_base(self, base_tip: str) -> str:
        """The merge base GitHub diffs against; the base tip (with a note) when compare fails."""
        try:
            return self.client.call(
                "comparing base and head",
                lambda: self.client.repo.compare(base_tip, self.head_sha).merge_base_commit.sha,
                self.pr,
            )
        except GitHubError as exc:
            status = getattr(exc, "status", None)
            why = f"HTTP {status}" if status else "no answer"
            self.notes.append(
                f"GitHub's compare API failed ({why}): base texts were read at the base tip "
                f"{base_tip[:12]}, not the merge base; if the base branch moved since the PR "
                "branched, some answers may reflect its changes rather than the PR's."
            )
            return base_tip

    def files(self) -> list[ChangedFile]:
        if self._files is None:
            count = getattr(self._pull, "changed_files", None)
            if isinstance(count, int):  # known before listing any page
                check("diff_max_files", count, self.description, "changed files:")
            out: list[ChangedFile] = []
            most = load_limits().diff_max_files
            for f in self.client.pull_files(self.pr):
                if len(out) == most:  # stop paging at once
                    check("diff_max_files", most + 1, self.description, "changed files: over")
                status: Any = _GH_STATUS.get(f.status, "modified")
                old_path = f.previous_filename if status == "renamed" else None
                patch = f.patch
                # No patch means binary, huge or a pure rename (binary False): texts tell.
                hunks, adds, dels = parse_hunks(patch), f.additions, f.deletions
                out.append(ChangedFile(f.filename, status, old_path, patch, hunks, adds, dels))
            self._files = sorted(out, key=lambda f: f.path)
        return self._files

    def prefetch(self, paths: Iterable[tuple[str, Side]]) -> None:
        for path, side in paths:
            self.read_text(path, side)

    def read_text(self, path: str, side: Side) -> str | None:
        key = (path, side)
        if key not in self._texts:
            sha = self.base_sha if side == "base" else self.head_sha
            self._texts[key] = _decode(self.client.file_content(path, sha))
        return self._texts[key]

    def find_references(self, names: Collection[str]) -> dict[str, list[str]] | None:
        """Search the head commit's tarball; None when GitHub does not serve it."""
        if not names:
            return {}
        try:
            url = self.client.call(
                "locating the head tarball",
                lambda: self.client.repo.get_archive_link("tarball", ref=self.head_sha),
                self.pr,
            )
            data = self.client.download(
                url, "downloading the head tarball", max_bytes=load_limits().artifact_max_bytes
            )
        except GitHubError:
            return None
        items: list[tuple[str, int, str]] = []
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
                for member in tar:
                    path = member.name.split("/", 1)[-1]  # strip "<owner>-<repo>-<sha>/"
                    if member.isfile() and _is_code_file(path):
                        fh = tar.extractfile(member)
                        items += _numbered_lines(path, _decode(fh.read()) if fh else None)
        except tarfile.TarError:
            return None
        return _word_hits(names, items)


# ---------------------------------------------------------------------------- factory


def open_source(
    *,
    pr: int | None = None,
    repo: str = DEFAULT_REPO,
    checkout: str | os.PathLike[str] | None = None,
    base: str | None = None,
    head: str | None = None,
    client: Any = None,
) -> DiffSource:
    """The diff source the arguments name: a PR, a git checkout, two folders or a patch."""
    if pr:
        if checkout:
            raise UsageError("give either --pr or --checkout/--base/--head, not both")
        return GitHubDiffSource(int(pr), repo or DEFAULT_REPO, client=client)
    if not checkout:
        raise UsageError("give --pr N, or --checkout PATH with --base REV and --head REV")
    missing = [n for n, v in (("--base", base), ("--head", head)) if not v]
    if missing:
        raise UsageError(f"--checkout needs {' and '.join(missing)}")
    root = Path(checkout)
    assert base and head
    if (root / base).is_dir() and not _is_git_top(root):
        if (root / head).is_dir():
            return DirectoryDiffSource(root / base, root / head)
        if (root / head).is_file():
            return patched_source(root / base, root / head)
    return LocalGitDiffSource(root, base, head)


def _is_git_top(root: Path) -> bool:
    """True when ``root`` is the top folder of a git working tree."""
    try:
        top = _git(root, "rev-parse", "--show-toplevel").decode().strip()
    except (_GitFailed, PerfgateError):
        return False
    return Path(top).resolve() == root.resolve()
