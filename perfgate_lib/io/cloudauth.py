"""Google Cloud credentials for ``gs://``: found or not, quickly and quietly.

:func:`require_gcs_credentials` asks google-auth once per process, bounded in time, and
raises a one-line :class:`~perfgate_lib.errors.StorageError` of kind ``credentials``.
Skipped when ``FSSPEC_GS_TOKEN`` or ``STORAGE_EMULATOR_HOST`` is set. Why:
``docs/development.md`` (Known pitfalls).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import warnings

from perfgate_lib.errors import StorageError
from perfgate_lib.io.storage_errors import CREDENTIALS

QUIET_LOGGERS = ("gcsfs", "google.auth", "google.cloud", "fsspec")
HOW_TO = "set GOOGLE_APPLICATION_CREDENTIALS or run `gcloud auth application-default login`"


def quiet_cloud_logs() -> None:
    """Silence gcsfs / google-auth logging (perfgate reports storage errors itself)
    unless ``PERFGATE_DEBUG`` is set."""
    if os.environ.get("PERFGATE_DEBUG", "") in ("", "0"):
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)


def _find_credentials() -> str | None:
    """None when google-auth finds default credentials, else why not (one line)."""
    import google.auth
    import google.auth.exceptions

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            google.auth.default()
        except google.auth.exceptions.DefaultCredentialsError:
            return "no Google Cloud credentials found"
        except google.auth.exceptions.GoogleAuthError as exc:
            return " ".join(str(exc).split())[:200]
    return None


@functools.lru_cache(maxsize=8)
def _credentials_problem(timeout_s: float, _env_key: tuple[str, ...]) -> str | None:
    found: list[str | None] = []
    worker = threading.Thread(target=lambda: found.append(_find_credentials()), daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not found:
        return f"no Google Cloud credentials found within {timeout_s:g} s"
    return found[0]


def require_gcs_credentials(url: str, timeout_s: float) -> None:
    """Raise StorageError(kind credentials) for ``url`` when there are no credentials."""
    quiet_cloud_logs()
    if os.environ.get("FSSPEC_GS_TOKEN") or os.environ.get("STORAGE_EMULATOR_HOST"):
        return  # gcsfs is given its token, or talks to an emulator: no default credentials
    env_key = tuple(
        os.environ.get(v, "")
        for v in ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG", "HOME", "NO_GCE_CHECK")
    )
    problem = _credentials_problem(timeout_s, env_key)
    if problem:
        raise StorageError(url, CREDENTIALS, f"{problem.rstrip('.')}; {HOW_TO}")
