"""In-process GCS emulator (gcp-storage-emulator) that real gcsfs talks to.

Usage: ``with gcs_emulator() as base_url: ...`` sets ``STORAGE_EMULATOR_HOST`` and
the gcsfs variables docs/development.md lists, and wipes the emulator on exit.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

_GCS_ENV = {
    "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
    "FSSPEC_GS_TOKEN": "anon",
    "NO_GCE_CHECK": "true",
}


@contextlib.contextmanager
def gcs_emulator(bucket: str = "marin-us-central1") -> Iterator[str]:
    """Start the emulator on a free loopback port with ``bucket`` created."""
    for key, value in _GCS_ENV.items():
        os.environ.setdefault(key, value)
    from gcp_storage_emulator.server import create_server

    # Port 0: the server binds a port the kernel picks, so no other process can take it
    # between choosing and binding (the emulator has no public accessor for the bound
    # port; its API thread's HTTPServer is read once, after start() returned).
    server = create_server("127.0.0.1", 0, in_memory=True, default_bucket=bucket)
    server.start()
    url = f"http://127.0.0.1:{server._api._httpd.server_port}"
    old = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = url
    import gcsfs

    gcsfs.GCSFileSystem.clear_instance_cache()
    try:
        yield url
    finally:
        server.wipe()
        server.stop()
        gcsfs.GCSFileSystem.clear_instance_cache()
        if old is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = old
