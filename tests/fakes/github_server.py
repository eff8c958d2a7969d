"""A local server speaking the GitHub REST endpoints PyGithub 2.10 uses, for tests.

Two threaded HTTP servers on 127.0.0.1 (free ports):

* the API host: repos, pulls (+ files), contents, compare (merge base), issue comments,
  collaborator permission, ``/user``, Actions workflows, runs and artifacts;
* the storage host: where ``archive_download_url`` redirects (302), serving the zip.
  Like real blob storage it refuses a request carrying ``Authorization`` (400), and it
  records every request's headers so tests can assert the token never reached it.

State lives in :class:`FakeGitHub` (seed it with ``add_*``, inspect ``comments_on``,
``requests``, ``storage_requests``). Fault injection: ``inject`` queues canned
responses per route (consumed in order), ``inject_secondary_rate_limit`` a 403
GitHub treats as a secondary rate limit, ``down`` answers 503 to everything, and
``barrier`` makes the first N matching requests read the state, then hold their
answers until all N have read it (races: every party sees the state from before
any party could act on its answer).

Usage::

    with FakeGitHub() as gh:
        gh.add_pull("o/r", 7, files=[{"filename": "a.py", "patch": "@@ ..."}])
        client = make_client(gh)            # real PyGithub against gh.url
        client.get_repo("o/r").get_pull(7)

All URLs in responses use the server's own host:port (PyGithub requires it).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import fnmatch
import io
import json
import re
import threading
import zipfile
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

FAKE_TOKEN = "ghp_perfgateFAKEtoken0123456789abcdefXYZ"
"""The token the fake accepts by default (mapped to login ``perfgate-bot``)."""

DEFAULT_LOGIN = "perfgate-bot"
DEFAULT_REPO = "marin-community/marin"
MAX_COMMENT_CHARS = 65536
SECONDARY_RATE_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
_EPOCH = dt.datetime(2026, 5, 6, 8, 0, 0, tzinfo=dt.UTC)


def iso(ts: dt.datetime) -> str:
    """GitHub's timestamp format: ``2026-05-06T08:00:00Z``."""
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_zip(files: dict[str, bytes | str]) -> bytes:
    """A zip archive holding ``files`` (name -> content), as Actions artifacts are."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content.encode() if isinstance(content, str) else content)
    return buf.getvalue()


@dataclass
class RecordedRequest:
    """One request as the server saw it (headers as sent, body decoded as text)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str


@dataclass
class CannedResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Route:
    method: str
    pattern: str
    responses: deque[CannedResponse]


@dataclass
class Barrier:
    """A race set up by :meth:`FakeGitHub.barrier`; ``passed`` / ``broken`` for assertions."""

    method: str
    pattern: str
    barrier: threading.Barrier
    remaining: int
    passed: int = 0  # requests released together with all the other parties
    broken: bool = False  # the barrier timed out: the race did not happen as set up

    def wait(self, lock: threading.RLock) -> None:
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            with lock:
                self.broken = True
            return
        with lock:
            self.passed += 1


def _match(method: str, pattern: str, req_method: str, path: str) -> bool:
    return (method == "*" or method.upper() == req_method) and fnmatch.fnmatchcase(path, pattern)


class FakeGitHub:
    """In-memory GitHub plus its two HTTP servers. Use as a context manager or start/stop."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix.rstrip("/")  # e.g. "/api/v3" to mimic GitHub Enterprise
        self.lock = threading.RLock()
        self.tokens: dict[str, str] = {FAKE_TOKEN: DEFAULT_LOGIN}
        self.installation_tokens: set[str] = set()
        self.repos: dict[str, dict[str, Any]] = {}
        self.pulls: dict[tuple[str, int], dict[str, Any]] = {}
        self.pull_files: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.contents: dict[tuple[str, str, str], bytes] = {}
        self.merge_bases: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.comments: dict[int, dict[str, Any]] = {}
        self.permissions: dict[tuple[str, str], str] = {}
        self.workflows: dict[tuple[str, str], dict[str, Any]] = {}
        self.runs: dict[int, dict[str, Any]] = {}
        self.artifacts: dict[int, dict[str, Any]] = {}
        self.requests: list[RecordedRequest] = []
        self.storage_requests: list[RecordedRequest] = []
        self.down = False
        self._routes: list[_Route] = []
        self._barriers: list[Barrier] = []
        self._next_id = 1000
        self._clock = _EPOCH
        self._api: ThreadingHTTPServer | None = None
        self._storage: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeGitHub:
        self._api = _serve(self, _ApiHandler)
        self._storage = _serve(self, _StorageHandler)
        for server in (self._api, self._storage):
            thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in (self._api, self._storage):
            if server is not None:
                server.shutdown()
                server.server_close()
        self._api = self._storage = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        assert self._api is not None, "server not started"
        return f"http://127.0.0.1:{self._api.server_address[1]}"

    @property
    def url(self) -> str:
        """The API base URL (what ``GITHUB_API_URL`` / ``base_url`` should be)."""
        return self.origin + self.prefix

    @property
    def storage_url(self) -> str:
        assert self._storage is not None, "server not started"
        return f"http://127.0.0.1:{self._storage.server_address[1]}"

    @property
    def token(self) -> str:
        return FAKE_TOKEN

    # ------------------------------------------------------------------ ids & clock
    def new_id(self) -> int:
        with self.lock:
            self._next_id += 1
            return self._next_id

    def tick(self) -> dt.datetime:
        """Advance the fake clock one second; every write gets a distinct timestamp."""
        with self.lock:
            self._clock += dt.timedelta(seconds=1)
            return self._clock

    # ------------------------------------------------------------------ seeding
    def add_token(self, token: str, login: str, *, installation: bool = False) -> None:
        """Accept ``token`` as ``login``. ``installation``: a GitHub App installation token
        (like a workflow's ``GITHUB_TOKEN``, login ``github-actions[bot]``): it posts as
        ``login`` but ``GET /user`` answers 403, as GitHub does."""
        self.tokens[token] = login
        if installation:
            self.installation_tokens.add(token)

    def add_repo(self, full_name: str, *, private: bool = False, default_branch: str = "main"):
        with self.lock:
            return self.repos.setdefault(
                full_name,
                {"full_name": full_name, "private": private, "default_branch": default_branch},
            )

    def add_pull(
        self,
        repo: str,
        number: int,
        *,
        head_sha: str = "a" * 40,
        head_ref: str = "feature",
        head_repo: str | None = None,
        base_sha: str = "b" * 40,
        base_ref: str = "main",
        title: str = "A pull request",
        user: str = "author",
        body: str = "",
        state: str = "open",
        files: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Seed a PR. ``head_repo`` other than ``repo`` makes it a fork PR.

        ``files`` items: ``filename`` (required), ``status`` (added/modified/removed/
        renamed), ``patch``, ``previous_filename``, ``additions``, ``deletions``.
        """
        self.add_repo(repo)
        pull = {
            "number": number,
            "head_sha": head_sha,
            "head_ref": head_ref,
            "head_repo": head_repo or repo,
            "base_sha": base_sha,
            "base_ref": base_ref,
            "title": title,
            "user": user,
            "body": body,
            "state": state,
            "created_at": iso(self._clock),
        }
        with self.lock:
            self.pulls[(repo, number)] = pull
            self.pull_files[(repo, number)] = [dict(f) for f in files or []]
        return pull

    def add_pull_from(
        self,
        repo: str,
        number: int,
        source: Any,
        *,
        base_sha: str | None = None,
        head_repo: str | None = None,
        extra_files: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Seed PR ``number`` from a diff source (``perfgate_lib.assess.diffsource``: ``files()``,
        ``read_text(path, side)``, ``base_sha``, ``head_sha``): its changed files, their
        texts at the merge base (``source.base_sha``) and head, and, when the PR's base tip
        ``base_sha`` has moved past the merge base, what compare answers for the pair.
        ``extra_files`` are listed after the source's files (no contents)."""
        files = []
        for f in source.files():
            item = {
                "filename": f.path,
                "status": {"deleted": "removed"}.get(f.status, f.status),
                "additions": f.additions,
                "deletions": f.deletions,
            }
            if f.patch is not None:
                item["patch"] = f.patch
            if f.old_path:
                item["previous_filename"] = f.old_path
            files.append(item)
            for path, side, sha in (
                (f.base_path, "base", source.base_sha),
                (f.head_path, "head", source.head_sha),
            ):
                text = source.read_text(path, side) if path else None
                if text is not None:
                    self.add_content(repo, sha, path, text)
        tip = base_sha or source.base_sha
        if tip != source.base_sha:
            self.set_merge_base(repo, tip, source.head_sha, source.base_sha)
        return self.add_pull(
            repo,
            number,
            head_sha=source.head_sha,
            base_sha=tip,
            head_repo=head_repo,
            files=files + list(extra_files or []),
        )

    def add_content(self, repo: str, ref: str, path: str, content: bytes | str) -> None:
        """A file at ``ref`` (a SHA or branch name), served by the contents endpoint."""
        self.add_repo(repo)
        data = content.encode() if isinstance(content, str) else content
        with self.lock:
            self.contents[(repo, ref, path)] = data

    def set_merge_base(
        self,
        repo: str,
        base: str,
        head: str,
        merge_base: str,
        *,
        ahead_by: int | None = None,
        behind_by: int | None = None,
    ) -> None:
        """What ``compare/{base}...{head}`` answers. Unseeded pairs answer ``base`` as the
        merge base (the head branched from the base tip). ``ahead_by`` / ``behind_by``
        default to 1 when head / base moved past the merge base, else 0."""
        self.add_repo(repo)
        with self.lock:
            self.merge_bases[(repo, base, head)] = {
                "merge_base": merge_base,
                "ahead_by": ahead_by,
                "behind_by": behind_by,
            }

    def add_comment(
        self,
        repo: str,
        number: int,
        body: str,
        *,
        login: str = "someone",
        created_at: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """Seed an issue comment on PR/issue ``number``; returns the stored comment."""
        self.add_repo(repo)
        ts = created_at or self.tick()
        comment = {
            "id": self.new_id(),
            "repo": repo,
            "number": number,
            "body": body,
            "login": login,
            "created_at": ts,
            "updated_at": ts,
        }
        with self.lock:
            self.comments[comment["id"]] = comment
        return comment

    def comments_on(self, repo: str, number: int) -> list[dict[str, Any]]:
        """Stored comments of a PR, oldest first (dicts: id, body, login, created_at...)."""
        with self.lock:
            found = [
                copy.deepcopy(c)
                for c in self.comments.values()
                if c["repo"] == repo and c["number"] == number
            ]
        return sorted(found, key=lambda c: (c["created_at"], c["id"]))

    def set_permission(self, repo: str, user: str, permission: str) -> None:
        """``admin`` | ``maintain`` | ``write`` | ``triage`` | ``read`` | ``none``."""
        self.add_repo(repo)
        with self.lock:
            self.permissions[(repo, user)] = permission

    def add_workflow(self, repo: str, file: str, name: str | None = None) -> dict[str, Any]:
        self.add_repo(repo)
        with self.lock:
            return self.workflows.setdefault(
                (repo, file),
                {"id": self.new_id(), "file": file, "name": name or file, "repo": repo},
            )

    def add_run(
        self,
        repo: str,
        workflow_file: str,
        *,
        head_sha: str = "c" * 40,
        branch: str = "main",
        event: str = "schedule",
        status: str = "completed",
        conclusion: str | None = "success",
        created_at: dt.datetime | None = None,
        run_id: int | None = None,
        artifacts: dict[str, bytes] | None = None,
    ) -> dict[str, Any]:
        """Seed a workflow run; ``artifacts`` maps artifact name -> zip bytes."""
        workflow = self.add_workflow(repo, workflow_file)
        run = {
            "id": run_id or self.new_id(),
            "repo": repo,
            "workflow": workflow_file,
            "workflow_id": workflow["id"],
            "name": workflow["name"],
            "head_sha": head_sha,
            "head_branch": branch,
            "event": event,
            "status": status,
            "conclusion": conclusion,
            "created_at": created_at or self.tick(),
        }
        with self.lock:
            self.runs[run["id"]] = run
        for name, data in (artifacts or {}).items():
            self.add_artifact(run["id"], name, data)
        return run

    def add_artifact(
        self, run_id: int, name: str, data: bytes, *, expired: bool = False
    ) -> dict[str, Any]:
        """Attach an artifact (zip bytes) to a run; ``expired`` ones list but 410 on download."""
        with self.lock:
            run = self.runs[run_id]
            artifact = {
                "id": self.new_id(),
                "run_id": run_id,
                "repo": run["repo"],
                "name": name,
                "data": data,
                "expired": expired,
                "created_at": run["created_at"],
            }
            self.artifacts[artifact["id"]] = artifact
        return artifact

    # ------------------------------------------------------------------ faults
    def inject(
        self,
        method: str,
        pattern: str,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests matching (method, path glob) with ``status``.

        ``pattern`` is an fnmatch glob over the path without prefix or query, e.g.
        ``/repos/*/issues/*/comments``. ``method`` may be ``*``. ``body`` defaults to
        GitHub's error JSON for the status.
        """
        if body is None:
            body = {"message": _REASONS.get(status, "Error"), "status": str(status)}
        canned = CannedResponse(status, body, dict(headers or {}))
        with self.lock:
            for route in self._routes:
                if route.method == method and route.pattern == pattern:
                    route.responses.extend(canned for _ in range(times))
                    return
            self._routes.append(_Route(method, pattern, deque(canned for _ in range(times))))

    def inject_secondary_rate_limit(
        self, method: str, pattern: str, *, retry_after: int = 0, times: int = 1
    ) -> None:
        """A 403 that GitHub (and PyGithub) treat as a secondary rate limit."""
        self.inject(
            method,
            pattern,
            403,
            {"message": SECONDARY_RATE_LIMIT_MESSAGE, "documentation_url": "https://docs"},
            {"Retry-After": str(retry_after)},
            times,
        )

    def barrier(
        self, method: str, pattern: str, parties: int = 2, timeout: float = 10.0
    ) -> Barrier:
        """Race the first ``parties`` matching requests: each is answered from the state
        at its arrival, but no answer is sent before all ``parties`` answers are computed.

        So every party reads the state before any party can act on what it read (e.g. two
        runs both list the comments before either can post). Holding the requests before
        they are handled would not do that: a released request may be scheduled after
        another party has already received its answer and written. Returns the barrier:
        assert ``passed == parties`` (``broken`` after ``timeout`` seconds without all
        parties; the held answers are then sent anyway).
        """
        race = Barrier(method, pattern, threading.Barrier(parties, timeout=timeout), parties)
        with self.lock:
            self._barriers.append(race)
        return race

    def requests_matching(self, method: str, pattern: str) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if _match(method, pattern, r.method, r.path)]

    def _take_canned(self, method: str, path: str) -> CannedResponse | None:
        with self.lock:
            for route in self._routes:
                if route.responses and _match(route.method, route.pattern, method, path):
                    return route.responses.popleft()
        return None

    def _take_barrier(self, method: str, path: str) -> Barrier | None:
        with self.lock:
            for item in self._barriers:
                if item.remaining > 0 and _match(item.method, item.pattern, method, path):
                    item.remaining -= 1
                    return item
        return None


_REASONS = {
    400: "Bad Request",
    401: "Bad credentials",
    403: "Forbidden",
    404: "Not Found",
    410: "Gone",
    422: "Validation Failed",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def _serve(fake: FakeGitHub, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.fake = fake  # type: ignore[attr-defined]
    return server


class _HttpError(Exception):
    def __init__(self, status: int, message: str | None = None, **extra: Any) -> None:
        self.status = status
        self.body = {"message": message or _REASONS.get(status, "Error"), **extra}


class _BaseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr
        pass

    @property
    def fake(self) -> FakeGitHub:
        return self.server.fake  # type: ignore[attr-defined]

    def _record(self) -> RecordedRequest:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        return RecordedRequest(
            method=self.command,
            path=unquote(parts.path),
            query=query,
            headers={k: v for k, v in self.headers.items()},
            body=raw.decode("utf-8", "replace"),
        )

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        if body is None:
            data = b""
        elif isinstance(body, bytes):
            data = body
        else:
            data = json.dumps(body).encode()
        self.send_response(status)
        sent_type = False
        for key, value in (headers or {}).items():
            self.send_header(key, value)
            sent_type = sent_type or key.lower() == "content-type"
        if data and not sent_type:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)


class _StorageHandler(_BaseHandler):
    """The off-github.com host serving artifact zips (like blob storage with a SAS URL)."""

    def do_GET(self) -> None:  # noqa: N802
        req = self._record()
        with self.fake.lock:
            self.fake.storage_requests.append(req)
        if any(k.lower() == "authorization" for k in req.headers):
            # Real blob storage rejects a request that carries both a SAS and a token.
            self._send(400, b"<Error>Authorization header not allowed</Error>")
            return
        match = re.fullmatch(r"/artifacts/(\d+)\.zip", req.path)
        artifact = self.fake.artifacts.get(int(match.group(1))) if match else None
        if artifact is None or req.query.get("sig") != f"sig{artifact['id']}":
            self._send(403, b"<Error>AuthenticationFailed</Error>")
            return
        self._send(200, artifact["data"], {"Content-Type": "application/zip"})


class _ApiHandler(_BaseHandler):
    """GitHub REST: routing, auth, pagination, fault injection."""

    def do_GET(self) -> None:  # noqa: N802
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        self._handle()

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle()

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle()

    def do_PUT(self) -> None:  # noqa: N802
        self._handle()

    # -------------------------------------------------------------- plumbing
    def _handle(self) -> None:
        req = self._record()
        fake = self.fake
        if fake.prefix and req.path.startswith(fake.prefix + "/"):
            req.path = req.path[len(fake.prefix) :]
        with fake.lock:
            fake.requests.append(req)
        race = fake._take_barrier(req.method, req.path)
        status, body, headers = self._answer(req)
        if race is not None:  # answer computed from the state now; sent once all have read
            race.wait(fake.lock)
        self._send(status, body, headers)

    def _answer(self, req: RecordedRequest) -> tuple[int, Any, dict[str, str]]:
        fake = self.fake
        if fake.down:
            return 503, {"message": "Service Unavailable"}, {}
        canned = fake._take_canned(req.method, req.path)
        if canned is not None:
            return canned.status, canned.body, canned.headers
        try:
            self.req = req
            self.login = self._authenticate(req)
            return self._route(req)
        except _HttpError as err:
            return err.status, err.body, {}

    def _authenticate(self, req: RecordedRequest) -> str | None:
        self.installation = False
        auth = req.headers.get("Authorization") or req.headers.get("authorization")
        if not auth:
            return None
        scheme, _, token = auth.partition(" ")
        login = self.fake.tokens.get(token.strip())
        if scheme.lower() not in ("token", "bearer") or login is None:
            raise _HttpError(401, "Bad credentials")
        self.installation = token.strip() in self.fake.installation_tokens
        return login

    def _need_login(self) -> str:
        if self.login is None:
            raise _HttpError(401, "Requires authentication")
        return self.login

    def _json_body(self) -> dict[str, Any]:
        try:
            data = json.loads(self.req.body or "{}")
        except json.JSONDecodeError as exc:
            raise _HttpError(400, "Problems parsing JSON") from exc
        if not isinstance(data, dict):
            raise _HttpError(400, "Problems parsing JSON")
        return data

    def _repo(self, owner: str, name: str) -> dict[str, Any]:
        repo = self.fake.repos.get(f"{owner}/{name}")
        if repo is None:
            raise _HttpError(404, "Not Found")
        return repo

    def _paginate(
        self, items: list[Any], wrap: str | None = None, extra: dict[str, Any] | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        """Slice ``items`` by per_page/page and add GitHub's Link header."""
        query = dict(self.req.query)
        try:
            per_page = max(1, min(100, int(query.get("per_page", 30))))
            page = max(1, int(query.get("page", 1)))
        except ValueError as exc:
            raise _HttpError(400, "Invalid pagination parameter") from exc
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        base = self.fake.url + quote(self.req.path)

        def link(n: int) -> str:
            return base + "?" + urlencode({**query, "per_page": per_page, "page": n})

        rels = []
        if page > 1:
            rels += [f'<{link(page - 1)}>; rel="prev"', f'<{link(1)}>; rel="first"']
        if page < last:
            rels += [f'<{link(page + 1)}>; rel="next"', f'<{link(last)}>; rel="last"']
        headers = {"Link": ", ".join(rels)} if rels else {}
        if wrap is None:
            return 200, chunk, headers
        return 200, {"total_count": len(items), **(extra or {}), wrap: chunk}, headers

    # -------------------------------------------------------------- routes
    _ROUTES: list[tuple[str, str, str]] = [
        ("GET", r"/user", "get_user"),
        ("GET", r"/repos/([^/]+)/([^/]+)", "get_repo"),
        ("GET", r"/repos/([^/]+)/([^/]+)/pulls/(\d+)", "get_pull"),
        ("GET", r"/repos/([^/]+)/([^/]+)/pulls/(\d+)/files", "list_files"),
        ("GET", r"/repos/([^/]+)/([^/]+)/issues/(\d+)", "get_issue"),
        ("GET", r"/repos/([^/]+)/([^/]+)/contents/(.+)", "get_contents"),
        ("GET", r"/repos/([^/]+)/([^/]+)/compare/(.+?)\.\.\.(.+)", "compare"),
        ("GET", r"/repos/([^/]+)/([^/]+)/issues/(\d+)/comments", "list_comments"),
        ("POST", r"/repos/([^/]+)/([^/]+)/issues/(\d+)/comments", "create_comment"),
        ("GET", r"/repos/([^/]+)/([^/]+)/issues/comments/(\d+)", "get_comment"),
        ("PATCH", r"/repos/([^/]+)/([^/]+)/issues/comments/(\d+)", "edit_comment"),
        ("DELETE", r"/repos/([^/]+)/([^/]+)/issues/comments/(\d+)", "delete_comment"),
        ("GET", r"/repos/([^/]+)/([^/]+)/collaborators/([^/]+)/permission", "get_permission"),
        ("GET", r"/repos/([^/]+)/([^/]+)/actions/workflows/([^/]+)", "get_workflow"),
        ("GET", r"/repos/([^/]+)/([^/]+)/actions/workflows/([^/]+)/runs", "list_runs"),
        ("GET", r"/repos/([^/]+)/([^/]+)/actions/runs/(\d+)", "get_run"),
        ("GET", r"/repos/([^/]+)/([^/]+)/actions/runs/(\d+)/artifacts", "list_artifacts"),
        ("GET", r"/repos/([^/]+)/([^/]+)/actions/artifacts/(\d+)", "get_artifact"),
        ("GET", r"/repos/([^/]+)/([^/]+)/actions/artifacts/(\d+)/zip", "download_artifact"),
    ]

    def _route(self, req: RecordedRequest) -> tuple[int, Any, dict[str, str]]:
        known_path = False
        for method, pattern, name in self._ROUTES:
            match = re.fullmatch(pattern, req.path)
            if match:
                known_path = True
                if method == req.method:
                    with self.fake.lock:
                        result = getattr(self, name)(*match.groups())
                    if isinstance(result, tuple):
                        return result
                    return 200, result, {}
        if known_path:
            raise _HttpError(405, "Method Not Allowed")
        raise _HttpError(404, "Not Found")

    # -------------------------------------------------------------- JSON shapes
    def _user(self, login: str) -> dict[str, Any]:
        base = self.fake.url
        return {
            "login": login,
            "id": sum(map(ord, login)),
            "type": "Bot" if login.endswith("[bot]") else "User",
            "url": f"{base}/users/{login}",
            "html_url": f"{self.fake.origin}/{login}",
        }

    def _repo_json(self, full_name: str) -> dict[str, Any]:
        base = self.fake.url
        repo = self.fake.repos.get(full_name) or {"private": False, "default_branch": "main"}
        owner, name = full_name.split("/", 1)
        return {
            "id": sum(map(ord, full_name)),
            "name": name,
            "full_name": full_name,
            "owner": self._user(owner),
            "private": repo["private"],
            "fork": False,
            "default_branch": repo["default_branch"],
            "url": f"{base}/repos/{full_name}",
            "html_url": f"{self.fake.origin}/{full_name}",
        }

    def _comment_json(self, c: dict[str, Any]) -> dict[str, Any]:
        base = self.fake.url
        repo = c["repo"]
        return {
            "id": c["id"],
            "node_id": f"IC_{c['id']}",
            "body": c["body"],
            "user": self._user(c["login"]),
            "created_at": iso(c["created_at"]),
            "updated_at": iso(c["updated_at"]),
            "author_association": "NONE",
            "url": f"{base}/repos/{repo}/issues/comments/{c['id']}",
            "html_url": f"{self.fake.origin}/{repo}/pull/{c['number']}#issuecomment-{c['id']}",
            "issue_url": f"{base}/repos/{repo}/issues/{c['number']}",
        }

    def _run_json(self, run: dict[str, Any]) -> dict[str, Any]:
        base = self.fake.url
        repo = run["repo"]
        url = f"{base}/repos/{repo}/actions/runs/{run['id']}"
        return {
            "id": run["id"],
            "name": run["name"],
            "head_branch": run["head_branch"],
            "head_sha": run["head_sha"],
            "path": f".github/workflows/{run['workflow']}",
            "run_number": run["id"] % 1000,
            "run_attempt": 1,
            "event": run["event"],
            "status": run["status"],
            "conclusion": run["conclusion"],
            "workflow_id": run["workflow_id"],
            "created_at": iso(run["created_at"]),
            "updated_at": iso(run["created_at"]),
            "run_started_at": iso(run["created_at"]),
            "url": url,
            "html_url": f"{self.fake.origin}/{repo}/actions/runs/{run['id']}",
            "jobs_url": f"{url}/jobs",
            "logs_url": f"{url}/logs",
            "artifacts_url": f"{url}/artifacts",
            "cancel_url": f"{url}/cancel",
            "rerun_url": f"{url}/rerun",
            "workflow_url": f"{base}/repos/{repo}/actions/workflows/{run['workflow_id']}",
            "repository": self._repo_json(repo),
            "head_repository": self._repo_json(repo),
        }

    def _artifact_json(self, a: dict[str, Any]) -> dict[str, Any]:
        base = self.fake.url
        url = f"{base}/repos/{a['repo']}/actions/artifacts/{a['id']}"
        run = self.fake.runs[a["run_id"]]
        return {
            "id": a["id"],
            "node_id": f"MDg6QXJ0aWZhY3Q{a['id']}",
            "name": a["name"],
            "size_in_bytes": a.get("declared_size", len(a["data"])),  # a test may lie
            "url": url,
            "archive_download_url": f"{url}/zip",
            "expired": a["expired"],
            "created_at": iso(a["created_at"]),
            "updated_at": iso(a["created_at"]),
            "expires_at": iso(a["created_at"] + dt.timedelta(days=90)),
            "workflow_run": {
                "id": run["id"],
                "repository_id": 1,
                "head_branch": run["head_branch"],
                "head_sha": run["head_sha"],
            },
        }

    # -------------------------------------------------------------- handlers
    def get_user(self) -> dict[str, Any]:
        login = self._need_login()
        if self.installation:
            raise _HttpError(403, "Resource not accessible by integration")
        return self._user(login)

    def get_repo(self, owner: str, name: str) -> dict[str, Any]:
        self._repo(owner, name)
        return self._repo_json(f"{owner}/{name}")

    def _pull(self, owner: str, name: str, number: str) -> dict[str, Any]:
        self._repo(owner, name)
        pull = self.fake.pulls.get((f"{owner}/{name}", int(number)))
        if pull is None:
            raise _HttpError(404, "Not Found")
        return pull

    def get_pull(self, owner: str, name: str, number: str) -> dict[str, Any]:
        p = self._pull(owner, name, number)
        repo = f"{owner}/{name}"
        base = self.fake.url
        files = self.fake.pull_files[(repo, p["number"])]
        head_owner = p["head_repo"].split("/")[0]
        return {
            "id": p["number"] + 10_000,
            "number": p["number"],
            "state": p["state"],
            "title": p["title"],
            "body": p["body"],
            "user": self._user(p["user"]),
            "draft": False,
            "merged": False,
            "created_at": p["created_at"],
            "updated_at": p["created_at"],
            "head": {
                "label": f"{head_owner}:{p['head_ref']}",
                "ref": p["head_ref"],
                "sha": p["head_sha"],
                "user": self._user(head_owner),
                "repo": self._repo_json(p["head_repo"]),
            },
            "base": {
                "label": f"{owner}:{p['base_ref']}",
                "ref": p["base_ref"],
                "sha": p["base_sha"],
                "user": self._user(owner),
                "repo": self._repo_json(repo),
            },
            "changed_files": len(files),
            "additions": sum(int(f.get("additions", 0)) for f in files),
            "deletions": sum(int(f.get("deletions", 0)) for f in files),
            "url": f"{base}/repos/{repo}/pulls/{p['number']}",
            "html_url": f"{self.fake.origin}/{repo}/pull/{p['number']}",
            "issue_url": f"{base}/repos/{repo}/issues/{p['number']}",
            "comments_url": f"{base}/repos/{repo}/issues/{p['number']}/comments",
            "review_comments_url": f"{base}/repos/{repo}/pulls/{p['number']}/comments",
            "commits_url": f"{base}/repos/{repo}/pulls/{p['number']}/commits",
            "statuses_url": f"{base}/repos/{repo}/statuses/{p['head_sha']}",
            "diff_url": f"{self.fake.origin}/{repo}/pull/{p['number']}.diff",
            "patch_url": f"{self.fake.origin}/{repo}/pull/{p['number']}.patch",
        }

    def get_issue(self, owner: str, name: str, number: str) -> dict[str, Any]:
        p = self._pull(owner, name, number)
        repo = f"{owner}/{name}"
        base = self.fake.url
        return {
            "id": p["number"] + 20_000,
            "number": p["number"],
            "title": p["title"],
            "body": p["body"],
            "state": p["state"],
            "user": self._user(p["user"]),
            "url": f"{base}/repos/{repo}/issues/{p['number']}",
            "html_url": f"{self.fake.origin}/{repo}/pull/{p['number']}",
            "comments_url": f"{base}/repos/{repo}/issues/{p['number']}/comments",
            "pull_request": {"url": f"{base}/repos/{repo}/pulls/{p['number']}"},
            "created_at": p["created_at"],
            "updated_at": p["created_at"],
        }

    def list_files(self, owner: str, name: str, number: str):
        p = self._pull(owner, name, number)
        repo = f"{owner}/{name}"
        base = self.fake.url
        items = []
        for f in self.fake.pull_files[(repo, p["number"])]:
            path = f["filename"]
            item = {
                "sha": f.get("sha", "d" * 40),
                "filename": path,
                "status": f.get("status", "modified"),
                "additions": int(f.get("additions", 0)),
                "deletions": int(f.get("deletions", 0)),
                "changes": int(f.get("additions", 0)) + int(f.get("deletions", 0)),
                "blob_url": f"{self.fake.origin}/{repo}/blob/{p['head_sha']}/{path}",
                "raw_url": f"{self.fake.origin}/{repo}/raw/{p['head_sha']}/{path}",
                "contents_url": f"{base}/repos/{repo}/contents/{quote(path)}?ref={p['head_sha']}",
            }
            if "patch" in f:  # GitHub omits the patch of binary or huge files
                item["patch"] = f["patch"]
            if f.get("previous_filename"):
                item["previous_filename"] = f["previous_filename"]
            items.append(item)
        return self._paginate(items)

    def get_contents(self, owner: str, name: str, path: str) -> dict[str, Any]:
        self._repo(owner, name)
        repo = f"{owner}/{name}"
        ref = self.req.query.get("ref") or self.fake.repos[repo]["default_branch"]
        data = self.fake.contents.get((repo, ref, path))
        if data is None:
            raise _HttpError(404, "Not Found")
        base = self.fake.url
        encoded = base64.encodebytes(data).decode()  # GitHub wraps at 60/76 columns
        return {
            "type": "file",
            "encoding": "base64",
            "size": len(data),
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "content": encoded,
            "sha": "e" * 40,
            "url": f"{base}/repos/{repo}/contents/{quote(path)}?ref={ref}",
            "git_url": f"{base}/repos/{repo}/git/blobs/{'e' * 40}",
            "html_url": f"{self.fake.origin}/{repo}/blob/{ref}/{path}",
            "download_url": f"{self.fake.origin}/{repo}/raw/{ref}/{path}",
        }

    def _commit_json(self, repo: str, sha: str) -> dict[str, Any]:
        base = self.fake.url
        return {
            "sha": sha,
            "node_id": f"C_{sha}",
            "url": f"{base}/repos/{repo}/commits/{sha}",
            "html_url": f"{self.fake.origin}/{repo}/commit/{sha}",
            "commit": {"message": "commit", "url": f"{base}/repos/{repo}/git/commits/{sha}"},
            "parents": [],
        }

    def compare(self, owner: str, name: str, base_ref: str, head_ref: str) -> dict[str, Any]:
        """``GET compare/{base}...{head}``: the merge base, status and ahead/behind counts
        (no commits or files: what the kit reads is the merge base)."""
        self._repo(owner, name)
        repo = f"{owner}/{name}"
        seeded = self.fake.merge_bases.get((repo, base_ref, head_ref), {})
        merge_base = seeded.get("merge_base") or base_ref
        ahead = seeded.get("ahead_by")
        ahead = int(head_ref != merge_base) if ahead is None else ahead
        behind = seeded.get("behind_by")
        behind = int(base_ref != merge_base) if behind is None else behind
        if not ahead and not behind:
            status = "identical"
        else:
            status = "diverged" if ahead and behind else "ahead" if ahead else "behind"
        basehead = f"{base_ref}...{head_ref}"
        return {
            "url": f"{self.fake.url}/repos/{repo}/compare/{basehead}",
            "html_url": f"{self.fake.origin}/{repo}/compare/{basehead}",
            "permalink_url": f"{self.fake.origin}/{repo}/compare/{basehead}",
            "diff_url": f"{self.fake.origin}/{repo}/compare/{basehead}.diff",
            "patch_url": f"{self.fake.origin}/{repo}/compare/{basehead}.patch",
            "base_commit": self._commit_json(repo, base_ref),
            "merge_base_commit": self._commit_json(repo, merge_base),
            "status": status,
            "ahead_by": ahead,
            "behind_by": behind,
            "total_commits": ahead,
            "commits": [],
            "files": [],
        }

    def list_comments(self, owner: str, name: str, number: str):
        self._pull(owner, name, number)
        found = self.fake.comments_on(f"{owner}/{name}", int(number))
        return self._paginate([self._comment_json(c) for c in found])

    def create_comment(self, owner: str, name: str, number: str):
        self._pull(owner, name, number)
        login = self._need_login()
        body = self._json_body().get("body")
        if not isinstance(body, str) or not body:
            raise _HttpError(422, "Validation Failed", errors=[{"field": "body"}])
        if len(body) > MAX_COMMENT_CHARS:
            raise _HttpError(422, "Validation Failed", errors=[{"message": "body is too long"}])
        comment = self.fake.add_comment(f"{owner}/{name}", int(number), body, login=login)
        return 201, self._comment_json(comment), {}

    def _comment(self, owner: str, name: str, comment_id: str) -> dict[str, Any]:
        self._repo(owner, name)
        comment = self.fake.comments.get(int(comment_id))
        if comment is None or comment["repo"] != f"{owner}/{name}":
            raise _HttpError(404, "Not Found")
        return comment

    def get_comment(self, owner: str, name: str, comment_id: str) -> dict[str, Any]:
        return self._comment_json(self._comment(owner, name, comment_id))

    def _may_write(self, comment: dict[str, Any]) -> None:
        login = self._need_login()
        perm = self.fake.permissions.get((comment["repo"], login), "read")
        if comment["login"] != login and perm not in ("admin", "maintain", "write"):
            raise _HttpError(403, "Resource not accessible by personal access token")

    def edit_comment(self, owner: str, name: str, comment_id: str) -> dict[str, Any]:
        comment = self._comment(owner, name, comment_id)
        self._may_write(comment)
        body = self._json_body().get("body")
        if not isinstance(body, str) or not body:
            raise _HttpError(422, "Validation Failed", errors=[{"field": "body"}])
        if len(body) > MAX_COMMENT_CHARS:
            raise _HttpError(422, "Validation Failed", errors=[{"message": "body is too long"}])
        comment["body"] = body
        comment["updated_at"] = self.fake.tick()
        return self._comment_json(comment)

    def delete_comment(self, owner: str, name: str, comment_id: str):
        comment = self._comment(owner, name, comment_id)
        self._may_write(comment)
        del self.fake.comments[comment["id"]]
        return 204, None, {}

    def get_permission(self, owner: str, name: str, user: str) -> dict[str, Any]:
        repo = self._repo(owner, name)
        full = f"{owner}/{name}"
        default = "none" if repo["private"] else "read"
        perm = self.fake.permissions.get((full, user), default)
        return {"permission": perm, "role_name": perm, "user": self._user(user)}

    def _workflow(self, owner: str, name: str, ref: str) -> dict[str, Any]:
        self._repo(owner, name)
        repo = f"{owner}/{name}"
        for (r, file), wf in self.fake.workflows.items():
            if r == repo and ref in (file, str(wf["id"])):
                return wf
        raise _HttpError(404, "Not Found")

    def get_workflow(self, owner: str, name: str, ref: str) -> dict[str, Any]:
        wf = self._workflow(owner, name, ref)
        base = self.fake.url
        repo = f"{owner}/{name}"
        return {
            "id": wf["id"],
            "node_id": f"W_{wf['id']}",
            "name": wf["name"],
            "path": f".github/workflows/{wf['file']}",
            "state": "active",
            "created_at": iso(_EPOCH),
            "updated_at": iso(_EPOCH),
            "url": f"{base}/repos/{repo}/actions/workflows/{wf['id']}",
            "html_url": f"{self.fake.origin}/{repo}/actions/workflows/{wf['file']}",
            "badge_url": f"{self.fake.origin}/{repo}/workflows/{wf['name']}/badge.svg",
        }

    def list_runs(self, owner: str, name: str, ref: str):
        wf = self._workflow(owner, name, ref)
        q = self.req.query
        runs = [r for r in self.fake.runs.values() if r["workflow_id"] == wf["id"]]
        if q.get("branch"):
            runs = [r for r in runs if r["head_branch"] == q["branch"]]
        if q.get("event"):
            runs = [r for r in runs if r["event"] == q["event"]]
        if q.get("head_sha"):
            runs = [r for r in runs if r["head_sha"] == q["head_sha"]]
        if q.get("status"):  # GitHub accepts a status or a conclusion here
            key = "status" if q["status"] in _RUN_STATUSES else "conclusion"
            runs = [r for r in runs if r[key] == q["status"]]
        runs.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
        return self._paginate([self._run_json(r) for r in runs], wrap="workflow_runs")

    def _run(self, owner: str, name: str, run_id: str) -> dict[str, Any]:
        self._repo(owner, name)
        run = self.fake.runs.get(int(run_id))
        if run is None or run["repo"] != f"{owner}/{name}":
            raise _HttpError(404, "Not Found")
        return run

    def get_run(self, owner: str, name: str, run_id: str) -> dict[str, Any]:
        return self._run_json(self._run(owner, name, run_id))

    def list_artifacts(self, owner: str, name: str, run_id: str):
        run = self._run(owner, name, run_id)
        found = [a for a in self.fake.artifacts.values() if a["run_id"] == run["id"]]
        found.sort(key=lambda a: a["id"])
        if self.req.query.get("name"):
            found = [a for a in found if a["name"] == self.req.query["name"]]
        return self._paginate([self._artifact_json(a) for a in found], wrap="artifacts")

    def _artifact(self, owner: str, name: str, artifact_id: str) -> dict[str, Any]:
        self._repo(owner, name)
        artifact = self.fake.artifacts.get(int(artifact_id))
        if artifact is None or artifact["repo"] != f"{owner}/{name}":
            raise _HttpError(404, "Not Found")
        return artifact

    def get_artifact(self, owner: str, name: str, artifact_id: str) -> dict[str, Any]:
        return self._artifact_json(self._artifact(owner, name, artifact_id))

    def download_artifact(self, owner: str, name: str, artifact_id: str):
        artifact = self._artifact(owner, name, artifact_id)
        self._need_login()  # GitHub wants a token even for public repositories
        if artifact["expired"]:
            raise _HttpError(410, "Artifact has expired")
        location = f"{self.fake.storage_url}/artifacts/{artifact['id']}.zip?sig=sig{artifact['id']}"
        return 302, None, {"Location": location}


_RUN_STATUSES = {
    "completed",
    "in_progress",
    "queued",
    "requested",
    "waiting",
    "pending",
    "action_required",
}


def make_client(fake: FakeGitHub, token: str | None = FAKE_TOKEN, retries: int = 3, **kwargs: Any):
    """A real PyGithub client against ``fake``: no throttling, bounded fast retry."""
    import github
    from github.GithubRetry import GithubRetry

    retry = GithubRetry(total=retries, backoff_factor=0, secondary_rate_wait=0)
    return github.Github(
        auth=github.Auth.Token(token) if token else None,
        base_url=fake.url,
        seconds_between_requests=0,
        seconds_between_writes=0,
        retry=retry,
        timeout=10,
        **kwargs,
    )
