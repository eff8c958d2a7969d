"""GitHub access (PyGithub): PR data, the kit's one comment, Actions artifacts. Settings,
retries and the kit's own account: ``docs/configuration.md``, ``docs/security.md``.
Every failure is a :class:`~perfgate_lib.errors.GitHubError` that never holds the token.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import github
import requests
from github.GithubRetry import GithubRetry
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from perfgate_lib import MAX_COMMENT_CHARS, SENTINEL
from perfgate_lib.errors import GitHubError, PerfgateError, UsageError
from perfgate_lib.io.redaction import redact

DEFAULT_REPO = "marin-community/marin"
DEFAULT_API_URL = "https://api.github.com"
TOKEN_VARS = ("GITHUB_TOKEN", "GH_TOKEN")
API_URL_VAR = "GITHUB_API_URL"
LOGIN_VAR = "PERFGATE_GITHUB_LOGIN"
ACTIONS_LOGIN = "github-actions[bot]"  # the author of all a workflow's GITHUB_TOKEN does

_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_T = TypeVar("_T")


class CommentTooLong(PerfgateError):
    """A comment body exceeds GitHub's 65,536 characters; refused before sending."""


class MissingToken(GitHubError):
    """No GitHub token in the environment; raised before any network call."""


@dataclass(frozen=True)
class GitHubSettings:
    """Where and how to talk to GitHub. Seconds for every wait; ``token`` never printed."""

    repo: str = DEFAULT_REPO
    api_url: str = DEFAULT_API_URL
    token: str | None = field(default=None, repr=False)
    token_var: str | None = None  # the variable the token came from (for messages)
    login: str | None = None  # the kit's account (PERFGATE_GITHUB_LOGIN); see kit_login
    actions: bool = False  # running under GitHub Actions (GITHUB_ACTIONS=true)
    retries: int = 5  # per request, for 5xx and rate limits
    connect_retries: int = 1  # per request, for a failed connection or read (no backoff)
    backoff_factor: float = 2.0  # seconds; urllib3 backoff: factor * 2**(n-1)
    backoff_max: float = 60.0
    secondary_rate_wait: float = 60.0  # wait after a secondary rate limit without Retry-After
    max_rate_limit_wait: float = 300.0  # give up rather than wait longer than this
    seconds_between_requests: float = 0.0
    seconds_between_writes: float = 1.0  # GitHub asks for >= 1 s between writes
    per_page: int = 100
    timeout: int = 4  # seconds per connect and per read (PyGithub takes one integer)

    def __post_init__(self) -> None:
        if not _REPO_RE.match(self.repo or ""):
            raise UsageError(f"repository must look like OWNER/NAME, got {self.repo!r}")
        if not str(self.api_url).startswith(("http://", "https://")):
            raise UsageError(f"{API_URL_VAR} must be an http(s) URL, got {self.api_url!r}")

    @property
    def unreachable_budget(self) -> float:
        """Seconds at most before an unreachable GitHub is an error: one ``timeout`` a try;
        urllib3 sleeps nothing before the first retry, then its backoff."""
        sleeps = sum(
            min(self.backoff_factor * 2 ** (n - 1), self.backoff_max)
            for n in range(2, self.connect_retries + 1)
        )
        return (self.connect_retries + 1) * self.timeout + sleeps

    @classmethod
    def from_env(
        cls, repo: str | None = None, env: Mapping[str, str] | None = None, **overrides: Any
    ) -> GitHubSettings:
        """Settings from the environment's token, API URL, login and ``GITHUB_ACTIONS``."""
        env = os.environ if env is None else env
        token_var = next((var for var in TOKEN_VARS if env.get(var, "").strip()), None)
        values: dict[str, Any] = {
            "repo": repo or DEFAULT_REPO,
            "api_url": (env.get(API_URL_VAR) or DEFAULT_API_URL).rstrip("/"),
            "token": env[token_var].strip() if token_var else None,
            "token_var": token_var,
            "login": env.get(LOGIN_VAR, "").strip() or None,
            "actions": env.get("GITHUB_ACTIONS", "").lower() == "true",
        }
        return cls(**{**values, **overrides})

    def run_url(self, run_id: str | int) -> str:
        """Web link of an Actions run of this repository, on ``GITHUB_SERVER_URL``, else on
        the web host of the API URL."""
        explicit, api = os.environ.get("GITHUB_SERVER_URL"), self.api_url.rstrip("/")
        server = "https://github.com" if api == DEFAULT_API_URL else api.removesuffix("/api/v3")
        return f"{explicit.rstrip('/') if explicit else server}/{self.repo}/actions/runs/{run_id}"

    def retry_args(self) -> dict[str, Any]:
        """urllib3 ``Retry`` arguments shared by the API client and artifact downloads."""
        return {
            "total": self.retries,
            "connect": self.connect_retries,
            "read": self.connect_retries,
            "backoff_factor": self.backoff_factor,
            "backoff_max": self.backoff_max,
            "retry_after_max": int(max(self.max_rate_limit_wait, 1)),
        }


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of ``url``; None when its port is no port (never the API's)."""
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:  # ``host:99999`` or ``host:x``
        return None
    return parts.scheme, (parts.hostname or "").lower(), port


class GitHubClient:
    """A PyGithub client bound to one repository, with errors mapped to GitHubError."""

    def __init__(self, settings: GitHubSettings | None = None) -> None:
        self.settings = s = settings or GitHubSettings.from_env()
        if not s.token:
            raise MissingToken(
                f"no GitHub token: set {' or '.join(TOKEN_VARS)} (the {s.repo} API at "
                f"{s.api_url} was not contacted)"
            )
        self._kit_login: str | None = None
        retry = GithubRetry(
            **s.retry_args(),
            secondary_rate_wait=s.secondary_rate_wait,
            max_rate_limit_wait=s.max_rate_limit_wait,
            allowed_methods=Retry.DEFAULT_ALLOWED_METHODS | {"GET", "POST", "PATCH"},
        )
        self.gh = github.Github(
            auth=github.Auth.Token(s.token),
            base_url=s.api_url,
            per_page=s.per_page,
            retry=retry,
            seconds_between_requests=s.seconds_between_requests or None,
            seconds_between_writes=s.seconds_between_writes or None,
            timeout=s.timeout,
            lazy=True,
        )
        self.repo = self.gh.get_repo(s.repo)

    # ------------------------------------------------------------------ errors
    def where(self, pr: int | None = None) -> str:
        return f"repository {self.settings.repo}" + (f", PR #{pr}" if pr is not None else "")

    def error(self, exc: BaseException, doing: str, pr: int | None = None) -> GitHubError:
        """A GitHubError for ``exc`` raised while ``doing``, naming the repository, the PR
        and the token variable."""
        s, where = self.settings, self.where(pr)
        if isinstance(exc, github.GithubException):
            data = exc.data if isinstance(exc.data, dict) else {}
            message = str(data.get("message") or exc.message or "").strip()
            detail, hint = f"{exc.status} {message}".strip(), self._hint(exc.status, message, pr)
            text = f"GitHub {detail} while {doing} ({where}): {hint}"
        elif isinstance(exc, requests.exceptions.RetryError):
            text = (
                f"GitHub kept failing while {doing} ({where}) after {s.retries} retries "
                f"(server errors or rate limits): {exc}"
            )
        elif isinstance(exc, requests.exceptions.RequestException | OSError):
            text = f"cannot reach GitHub at {s.api_url} while {doing} ({where}): {exc}"
        else:
            text = f"GitHub call failed while {doing} ({where}): {exc}"
        err = GitHubError(text.replace(s.token, "***") if s.token else text)
        err.status = getattr(exc, "status", None)  # type: ignore[attr-defined]
        return err

    def _hint(self, status: int, message: str, pr: int | None) -> str:
        """What an answer with HTTP ``status`` means, in the user's terms."""
        var = self.settings.token_var or " or ".join(TOKEN_VARS)  # its name, never the value
        retries = self.settings.retries
        if status == 403 and "rate limit" in message.lower():
            return f"GitHub rate limit still in force after {retries} retries; try later"
        if status >= 500:
            return f"GitHub kept failing after {retries} retries; try later"
        what = "the repository and PR number" if pr is not None else "the repository name"
        hints = {
            401: f"the token in {var} was refused (expired, revoked or mistyped)",
            403: f"the token in {var} lacks permission here (needs pull requests/issues write "
            "for comments, actions read for artifacts)",
            404: f"not found: check {what}, and that the token in {var} can see them",
            410: "gone (an expired artifact?)",
        }
        return hints.get(status, "GitHub rejected the request")

    def call(self, doing: str, fn: Callable[[], _T], pr: int | None = None) -> _T:
        """Run ``fn`` mapping GitHub and network failures to GitHubError."""
        try:
            return fn()
        except GitHubError:
            raise
        except (github.GithubException, requests.exceptions.RequestException, OSError) as exc:
            raise self.error(exc, doing, pr) from None

    def iterate(self, doing: str, items: Iterable[_T], pr: int | None = None) -> Iterator[_T]:
        """Iterate a PyGithub PaginatedList (pages fetched lazily) with mapped errors."""
        iterator = self.call(doing, lambda: iter(items), pr)
        while True:
            try:
                item = self.call(doing, lambda: next(iterator), pr)
            except StopIteration:
                return
            yield item

    # ------------------------------------------------------------------ PR data
    def pull(self, number: int) -> Any:
        """The PR (head.sha, head.ref, head.repo.full_name, base.sha, title, user.login)."""

        def load() -> Any:
            pull = self.repo.get_pull(number)
            _ = pull.raw_data  # lazy client: fetch now so errors surface here
            return pull

        return self.call(f"reading PR #{number}", load, number)

    def pull_files(self, number: int) -> list[Any]:
        """Changed files of a PR (all pages): filename, status, patch, previous_filename."""
        pull = self.repo.get_pull(number)
        return list(self.iterate("listing PR files", pull.get_files(), number))

    def file_content(self, path: str, ref: str) -> bytes | None:
        """A file's bytes at ``ref``; None when it does not exist there (or is a folder)."""

        def load() -> Any:
            try:
                return self.repo.get_contents(path, ref=ref)
            except github.UnknownObjectException:
                return None

        content = self.call(f"reading {path} at {ref}", load)
        return None if content is None or isinstance(content, list) else content.decoded_content

    def authenticated_login(self, pr: int | None = None) -> str:
        """Login of the token's account (GET /user); ``pr`` only names the context."""
        return self.call("reading the token's account", lambda: self.gh.get_user().login, pr)

    def permission(self, user: str) -> str:
        """``admin``/``maintain``/``write``/``triage``/``read``/``none`` of ``user`` on the repo."""
        return self.call(
            f"reading {user}'s permission", lambda: self.repo.get_collaborator_permission(user)
        )

    def configured_login(self) -> str | None:
        """The kit's account when configured (docs/security.md), else None."""
        login = self.settings.login
        if login and login.lower() == "auto":
            return self.kit_login()
        return login or (ACTIONS_LOGIN if self.settings.actions else None)

    def kit_login(self, pr: int | None = None) -> str:
        """The kit's own account: :meth:`configured_login`, else the token's account."""
        if self._kit_login:
            return self._kit_login
        login = self.settings.login
        found = None if login and login.lower() == "auto" else self.configured_login()
        if found is None:
            try:
                found = self.authenticated_login(pr)
            except GitHubError as exc:
                if getattr(exc, "status", None) != 403:  # an installation token cannot say
                    raise
                raise GitHubError(
                    f"{exc}. Set {LOGIN_VAR} to the account that posts the kit's comments "
                    f"(e.g. {ACTIONS_LOGIN} for a workflow's GITHUB_TOKEN)"
                ) from None
        self._kit_login = found
        return found

    # ------------------------------------------------------------------ Actions
    def workflow_runs(
        self, workflow_file: str, *, branch: str, event: str, status: str = "success"
    ) -> Iterator[Any]:
        """Runs of a workflow, newest first, filtered by branch, event and conclusion."""
        workflow = self.repo.get_workflow(workflow_file)
        runs = workflow.get_runs(branch=branch, event=event, status=status)
        return self.iterate(f"listing runs of {workflow_file}", runs)

    def run_artifacts(self, run: Any) -> list[Any]:
        """Artifacts of a workflow run (name, expired, archive_download_url, size_in_bytes)."""
        return list(self.iterate(f"listing artifacts of run #{run.id}", run.get_artifacts()))

    def download(
        self,
        url: str,
        doing: str = "downloading an artifact",
        *,
        max_bytes: int | None = None,
        limit_name: str = "artifact_max_bytes",
    ) -> bytes:
        """GET ``url``, 5xx retried; the token goes to the API host only, never along a
        redirect to a storage host. Past ``max_bytes`` a GitHubError names ``limit_name``."""
        s = self.settings
        retry = Retry(
            **s.retry_args(),
            status_forcelist=list(range(500, 600)),
            allowed_methods={"GET"},
            redirect=0,
            raise_on_redirect=False,
            raise_on_status=False,
        )
        with requests.Session() as session:
            session.trust_env = False  # no netrc credentials either
            adapter = HTTPAdapter(max_retries=retry)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            target = url
            for _hop in range(6):
                headers = {"User-Agent": "perfgate", "Accept": "application/vnd.github+json"}
                origin = _origin(target)
                if origin is not None and origin == _origin(s.api_url):
                    headers["Authorization"] = f"Bearer {s.token}"
                try:
                    resp = session.get(
                        target,
                        headers=headers,
                        allow_redirects=False,
                        timeout=(s.timeout, 30),
                        stream=True,
                    )
                except (requests.exceptions.RequestException, ValueError) as exc:
                    raise self.error(exc, doing) from None  # ValueError: a Location's bad port
                if resp.is_redirect or resp.status_code in (301, 302, 303, 307, 308):
                    target = urljoin(target, resp.headers.get("Location", ""))
                    continue
                if resp.status_code == 200:
                    return _read_capped(resp, max_bytes, limit_name, doing)
                message = _error_message(resp)
                refused = github.GithubException(resp.status_code, {"message": message}, None)
                raise self.error(refused, doing)
        raise GitHubError(f"too many redirects while {doing} ({self.where()})")


def _error_message(resp: requests.Response) -> str:
    """What a refused download's answer says: its JSON ``message``, else its first 200
    characters (an XML error of a storage host, a JSON array)."""
    try:
        data = resp.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        return str(data.get("message", ""))
    return resp.text[:200]


def _read_capped(
    resp: requests.Response, max_bytes: int | None, limit_name: str, doing: str
) -> bytes:
    """The streamed body of ``resp``; stops reading once it passes ``max_bytes``."""
    chunks: list[bytes] = []
    total = 0
    try:
        for chunk in resp.iter_content(chunk_size=1 << 16):
            total += len(chunk)
            if max_bytes is not None and total > max_bytes:
                raise GitHubError(
                    f"{doing}: the download passed {max_bytes:,} bytes, the limit "
                    f"{limit_name} (parameters/limits.yaml); stopped"
                )
            chunks.append(chunk)
    finally:
        resp.close()
    return b"".join(chunks)


# ---------------------------------------------------------------------- comments
@dataclass(frozen=True)
class CommentResult:
    """What :func:`upsert_comment` did. ``removed``: ids of duplicate comments deleted."""

    action: str  # "created" | "updated" | "unchanged"
    comment_id: int
    url: str
    removed: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "removed": list(self.removed)}


def check_body(body: str, source: str = "comment body", sentinel: str = SENTINEL) -> str:
    """The body ready to send: redacted, sentinel first, at most 65,536 characters."""
    body = redact(body)
    if not body.strip():
        raise UsageError(f"{source} is empty")
    if not body.startswith(sentinel):
        body = f"{sentinel}\n{body}"
    if len(body) > MAX_COMMENT_CHARS:
        raise CommentTooLong(
            f"{source} has {len(body):,} characters; GitHub accepts at most "
            f"{MAX_COMMENT_CHARS:,}. Nothing was sent."
        )
    return body


def _by(comment: Any, login: str) -> bool:
    user = comment.user
    return user is not None and str(user.login or "").lower() == login.lower()


def sentinel_comments(
    client: GitHubClient, pr: int, *, sentinel: str = SENTINEL, login: str | None = None
) -> list[Any]:
    """The PR's comments by ``login`` (default: the kit's account) that start with
    ``sentinel`` (all pages), oldest first."""
    login = login or client.kit_login(pr)
    issue = client.repo.get_issue(pr)
    found = [
        c
        for c in client.iterate("listing PR comments", issue.get_comments(), pr)
        if (c.body or "").startswith(sentinel) and _by(c, login)
    ]
    return sorted(found, key=lambda comment: (comment.created_at, comment.id))


def kit_comment(client: GitHubClient, pr: int, *, sentinel: str = SENTINEL) -> Any | None:
    """The PR's canonical kit comment (the oldest sentinel comment, the one the kit edits
    and reads its state from), or None."""
    found = sentinel_comments(client, pr, sentinel=sentinel)
    return found[0] if found else None


def upsert_comment(
    client: GitHubClient,
    pr: int,
    body: str,
    *,
    sentinel: str = SENTINEL,
    login: str | None = None,
    source: str = "comment body",
) -> CommentResult:
    """Keep exactly one sentinel comment of the kit's account on ``pr``, carrying ``body``.
    Race-safe: after writing, re-list; of several (a concurrent run posted too) keep the
    oldest, give it the most recently written body, delete the rest."""
    body = check_body(body, source, sentinel)
    login = login if login is not None else client.kit_login(pr)
    existing = sentinel_comments(client, pr, sentinel=sentinel, login=login)
    if existing:
        target = existing[0]
        action = "unchanged" if target.body == body else "updated"
        if action == "updated":
            client.call("updating the perf-gate comment", lambda: target.edit(body), pr)
    else:
        issue = client.repo.get_issue(pr)
        target = client.call(
            "posting the perf-gate comment", lambda: issue.create_comment(body), pr
        )
        action = "created"
        if not _by(target, login):
            raise GitHubError(
                f"the perf-gate comment on PR #{pr} was posted as "
                f"{getattr(target.user, 'login', None)!r}, but the kit's account is {login!r}: "
                f"set {LOGIN_VAR} to the account the token posts as ({client.where(pr)})"
            )
    current = sentinel_comments(client, pr, sentinel=sentinel, login=login)
    removed = _keep_oldest(client, pr, current) if len(current) > 1 else []
    target = current[0] if current else target
    return CommentResult(action, target.id, target.html_url or target.url, tuple(removed))


def _keep_oldest(client: GitHubClient, pr: int, comments: list[Any]) -> list[int]:
    """Give the oldest comment the most recently written body, delete the others; their ids."""
    keeper = comments[0]
    newest = max(comments, key=lambda c: (c.updated_at or c.created_at, c.id))
    if keeper.body != newest.body:
        client.call("updating the perf-gate comment", lambda: keeper.edit(newest.body), pr)
    removed = []
    for extra in comments[1:]:
        try:
            extra.delete()
        except github.UnknownObjectException:
            continue  # the other run deleted it already
        except (github.GithubException, requests.exceptions.RequestException) as exc:
            raise client.error(exc, "deleting a duplicate perf-gate comment", pr) from None
        removed.append(extra.id)
    return removed
