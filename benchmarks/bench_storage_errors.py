"""Time to fail for storage that cannot be reached (issue 11: within 5 s, one line).

Each case runs ``perfgate compare BASELINE URL`` in a fresh process (start-up included)
and reads the same URL once in-process; prints seconds, exit code and the error line.
Cases: gs:// without credentials, https:// on a host that does not resolve, http:// on a
port that refuses, and gs:// against an endpoint that refuses (gcsfs's own retries took
~30 s there). Prints figures; asserts nothing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "parameters" / "examples" / "tier1_baseline.json"
PROBE = """
import sys, time
from perfgate_lib.verdict.report import load_report
started = time.monotonic()
try:
    load_report(sys.argv[1])
except Exception as exc:
    print(f"{time.monotonic() - started:.2f} s in-process: {type(exc).__name__}")
"""


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(home: str, **extra: str) -> dict[str, str]:
    drop = ("STORAGE_EMULATOR_HOST", "FSSPEC_GS_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "HOME": home, "CLOUDSDK_CONFIG": os.path.join(home, "gcloud"), **extra}


def run_case(name: str, url: str, env: dict[str, str]) -> None:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "perfgate_lib", "compare", str(BASE), url],
        capture_output=True,
        text=True,
        env=env,
        cwd=env["HOME"],
    )
    elapsed = time.monotonic() - started
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, url], capture_output=True, text=True, env=env, cwd=ROOT
    )
    print(f"{name}: {elapsed:.2f} s (process), exit {proc.returncode}, {len(lines)} stderr line(s)")
    print(f"  {probe.stdout.strip()}")
    print(f"  {lines[-1] if lines else '(no output)'}")


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        run_case("gs:// no credentials", "gs://nonexistent-bucket-xyz/r.json", environment(home))
        run_case("https:// no such host", "https://perfgate-test.invalid/r.json", environment(home))
        port = closed_port()
        run_case("http:// refused", f"http://127.0.0.1:{port}/r.json", environment(home))
        refusing = environment(
            home, STORAGE_EMULATOR_HOST=f"http://127.0.0.1:{port}", FSSPEC_GS_TOKEN="anon"
        )
        run_case("gs:// endpoint refuses", "gs://perfgate-bucket/r.json", refusing)


if __name__ == "__main__":
    main()
