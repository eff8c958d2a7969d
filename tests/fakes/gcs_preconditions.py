"""GCS request preconditions for the in-process emulator (gcp-storage-emulator 2026.7
ignores them): ``ifGenerationMatch`` on uploads and deletes, as GCS documents them.

GCS answers HTTP 412 Precondition Failed when the object's current generation is not
the one given, and ``ifGenerationMatch=0`` means "only if no live object exists". The
emulator serves one request at a time; the check and the write happen inside the same
request (and under a lock besides). Call :func:`install` once; it patches the routing
table in place, so it applies to every emulator in the process.
"""

from __future__ import annotations

import threading
from http import HTTPStatus

_LOCK = threading.Lock()
_INSTALLED: list[bool] = []


def _current_generation(storage, bucket: str, name: str) -> str:
    from gcp_storage_emulator.exceptions import NotFound

    try:
        return str(storage.get_file_obj(bucket, name)["generation"])
    except NotFound:
        return "0"


def _object_name(request) -> str | None:
    if "object_id" in request.params:
        return request.params["object_id"]
    if "name" in request.query:
        return request.query["name"][0]
    data = request.data
    if isinstance(data, dict):
        meta = data.get("meta") if isinstance(data.get("meta"), dict) else data
        return meta.get("name")
    return None


def _guarded(handler):
    def run(request, response, storage, *args, **kwargs):
        wanted = (request.query.get("ifGenerationMatch") or [None])[0]
        if wanted is None:
            return handler(request, response, storage, *args, **kwargs)
        with _LOCK:
            name = _object_name(request)
            bucket = request.params["bucket_name"]
            if name is None or _current_generation(storage, bucket, name) != str(wanted):
                response.status = HTTPStatus.PRECONDITION_FAILED
                response.json(
                    {
                        "error": {
                            "code": 412,
                            "message": "At least one of the pre-conditions "
                            "you specified did not hold.",
                        }
                    }
                )
                return None
            return handler(request, response, storage, *args, **kwargs)

    run.__wrapped__ = handler
    return run


def install() -> None:
    """Honour ``ifGenerationMatch`` on object uploads (POST .../o) and deletes."""
    if _INSTALLED:
        return
    from gcp_storage_emulator import server
    from gcp_storage_emulator.handlers import objects

    wrapped = {objects.insert: _guarded(objects.insert), objects.delete: _guarded(objects.delete)}
    for _regex, handlers in server.HANDLERS:
        for method, handler in list(handlers.items()):
            if handler in wrapped:
                handlers[method] = wrapped[handler]
    objects.insert = wrapped[objects.insert]  # the router's fallback for bare POST .../o
    _INSTALLED.append(True)
