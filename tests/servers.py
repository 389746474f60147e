"""Real ``sellerhub serve`` processes for tests that need more than one (rotations seen by every
process, a third-party verifier in front of several replicas)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(
    *, database_url: str, encryption_keys: str, port: int, data_dir: Path, **extra: str
) -> dict[str, str]:
    """The environment of a test server: the test database and key ring, plain http on
    127.0.0.1 (like a local browser), the emulators mounted, short timeouts; ``extra`` as
    ``SELLERHUB_<NAME>`` settings."""
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELLERHUB_")} | {
        "SELLERHUB_ENV": "test",
        "SELLERHUB_DATABASE_URL": database_url,
        "SELLERHUB_ENCRYPTION_KEYS": encryption_keys,
        "SELLERHUB_PORT": str(port),
        "SELLERHUB_PUBLIC_URL": base,
        "SELLERHUB_EMULATORS": "true",
        "SELLERHUB_COOKIE_SECURE": "false",
        "SELLERHUB_BREAKER_COOLDOWN_SECONDS": "1.5",
        "SELLERHUB_SERVER": "uvicorn",
        "SELLERHUB_LOG_LEVEL": "INFO",
        "SELLERHUB_REQUEST_HEADER_TIMEOUT_SECONDS": "2",
        "SELLERHUB_REQUEST_BODY_TIMEOUT_SECONDS": "2",
        "SELLERHUB_DATA_DIR": str(data_dir),
    }
    return env | {f"SELLERHUB_{name.upper()}": value for name, value in extra.items()}


@contextmanager
def serving(env: dict[str, str], log_path: Path, ready_within: float = 60) -> Iterator[str]:
    """Run ``sellerhub serve`` with ``env`` until the block ends; yields its base URL once
    ``/readyz`` answers 200. Its output goes to ``log_path`` (scanned for secrets by the suite)."""
    base = f"http://127.0.0.1:{env['SELLERHUB_PORT']}"
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sellerhub", "serve"],
            env=env,
            start_new_session=True,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + ready_within
            while True:
                assert proc.poll() is None, f"the server on {base} exited"
                try:
                    if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"the server on {base} did not become ready"
                time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
