"""Process resources shared by the API, the worker and the CLI: settings, database (embedded or
external), engine, session factory, key ring and the job queue connection.

Every connection has bounded waits, so that while the database is down a request fails at once
(503) instead of hanging: new connections time out (``connect_timeout`` in the URL), a request
waits at most ``SELLERHUB_DATABASE_TIMEOUT_SECONDS`` for a pooled one, and a pool that cannot
reconnect gives its slots up after ``POOL_RECONNECT_SECONDS`` instead of retrying on a growing
backoff, so that the next request after the database is back reconnects at once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import psycopg
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import sellerhub.db.models  # noqa: F401 - every mapper is configured before the first query
from sellerhub.config import Settings
from sellerhub.core.crypto import KeyRing, keyring_from_settings
from sellerhub.core.http import provider_client
from sellerhub.db import reads
from sellerhub.db.engine import Database, create_engine, with_connect_timeout
from sellerhub.db.keyring import HolderHeartbeat
from sellerhub.db.session import make_sessionmaker, unit_of_work
from sellerhub.handlers import WEBHOOK_BATCH_HANDLERS, WEBHOOK_HANDLERS
from sellerhub.identity.apikeys.cache import principal_cache
from sellerhub.identity.jwt.service import KeyStore, KeyTimings, ensure_signing_key
from sellerhub.jobs import app as jobs
from sellerhub.webhooks import service as webhooks

POOL_RECONNECT_SECONDS = 5.0
# The queue's connections serve background work (the worker's fetches, a request's kick after
# its commit, never its answer): they may wait for a pooled connection longer than a request.
QUEUE_WAIT_SECONDS = 10.0


@dataclass
class Runtime:
    settings: Settings
    database: Database
    url: str
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    keyring: KeyRing
    keystore: KeyStore  # built with the runtime, loaded by ``open``
    queue_pool: AsyncConnectionPool | None = field(default=None)
    read_pool: AsyncConnectionPool | None = field(default=None)
    ingress_pool: AsyncConnectionPool | None = field(default=None)
    # Autocommit connections for single-statement tenant writes (inventory reservations).
    write_pool: AsyncConnectionPool | None = field(default=None)
    http: httpx.AsyncClient = field(default_factory=provider_client)
    key_reloads: asyncio.Task[None] | None = field(default=None)
    # This process's record of the encryption keys it holds (db.keyring), while open.
    key_holder: HolderHeartbeat | None = field(default=None)
    key_holder_task: asyncio.Task[None] | None = field(default=None)

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        """Resolve the database (starting the embedded one if needed) and build the engine."""
        settings.check()
        database = Database(settings)
        url = with_connect_timeout(database.url(), settings.database_timeout_seconds)
        engine = create_engine(
            url,
            pool_size=settings.database_pool_size,
            wait_seconds=settings.database_timeout_seconds,
        )
        keys = settings.encryption_keys.get_secret_value() if settings.encryption_keys else None
        keyring = keyring_from_settings(
            keys, settings.data_dir, settings.is_production, settings.encryption_keys_file
        )
        principal_cache.ttl_seconds = settings.auth_cache_seconds
        sessionmaker = make_sessionmaker(engine)
        keystore = KeyStore(
            sessionmaker, keyring, issuer=settings.public_url, timings=KeyTimings.of(settings)
        )
        return cls(settings, database, url, engine, sessionmaker, keyring, keystore)

    async def open(self) -> None:
        """Open the pools (tenant reads, job queue) and load the JWT signing keys, creating the
        first one on a new database."""
        async with unit_of_work(self.sessionmaker) as session:
            await ensure_signing_key(session, self.keyring)
        await self.keystore.load()
        self.key_holder = HolderHeartbeat(self.engine, self.keyring)
        await self.key_holder.beat()
        self.key_holder_task = asyncio.create_task(self.key_holder.run(), name="key-ring-holder")
        self.key_reloads = asyncio.create_task(self.keystore.keep_fresh(), name="signing-keys")
        self.read_pool = self._bounded(
            reads.read_pool(self.url, self.settings.database_pool_size),
            self.settings.database_timeout_seconds,
        )
        await self.read_pool.open(wait=True, timeout=30)
        self.ingress_pool = AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=self.settings.database_pool_size,
            kwargs={"autocommit": True},
            open=False,
            timeout=self.settings.database_timeout_seconds,
            reconnect_timeout=POOL_RECONNECT_SECONDS,
        )
        await self.ingress_pool.open(wait=True, timeout=30)
        self.write_pool = AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=self.settings.database_pool_size,
            kwargs={"autocommit": True, "options": "-c TimeZone=UTC"},
            open=False,
            timeout=self.settings.database_timeout_seconds,
            reconnect_timeout=POOL_RECONNECT_SECONDS,
        )
        await self.write_pool.open(wait=True, timeout=30)
        await self.open_queue()

    @property
    def reads(self) -> AsyncConnectionPool:
        """The tenant-read pool; only while the runtime is open."""
        if self.read_pool is None:
            raise RuntimeError("the runtime is not open")
        return self.read_pool

    @property
    def writes(self) -> AsyncConnectionPool:
        """The autocommit pool of single-statement tenant writes; only while open."""
        if self.write_pool is None:
            raise RuntimeError("the runtime is not open")
        return self.write_pool

    @staticmethod
    def _bounded(pool: AsyncConnectionPool, wait_seconds: float) -> AsyncConnectionPool:
        """The bounded waits of the module docstring, on a pool built elsewhere (not open yet)."""
        pool.timeout = wait_seconds
        pool.reconnect_timeout = POOL_RECONNECT_SECONDS
        return pool

    async def open_queue(self) -> None:
        """Open the job queue on its own small pool, and give jobs their session factory and
        the webhook handler table (composed in ``sellerhub.handlers``)."""
        webhooks.use_handlers(WEBHOOK_HANDLERS, WEBHOOK_BATCH_HANDLERS)
        jobs.configure(
            jobs.JobResources(
                sessionmaker=self.sessionmaker,
                redrive_after=timedelta(seconds=self.settings.outbox_redrive_after_seconds),
                keyring=self.keyring,
                settings=self.settings,
                http=self.http,
            )
        )
        self.queue_pool = AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=max(2, self.settings.jobs_concurrency + 2),
            open=False,
            timeout=QUEUE_WAIT_SECONDS,
            reconnect_timeout=POOL_RECONNECT_SECONDS,
            # Not checked when taken: that is a round trip more on every fetch, kick and finish
            # (webhooks.ingress.events_per_s 0.64 of trivial with it, 0.74 without, one run
            # each; runs here vary by about 0.1). After a database restart the worker's
            # supervisor checks every pool (``reconnect``) and a failed kick retries.
        )
        await self.queue_pool.open(wait=True, timeout=30)
        await jobs.queue_app.open_async(self.queue_pool)

    async def check_database(self) -> None:
        """Raise unless a new connection to the database can be made and answers."""
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            await conn.execute("SELECT 1")

    async def reconnect(self) -> None:
        """After the database came back: let go of the connections that died with it (the
        pools test their idle ones and replace the broken, the engine starts a new pool) and
        wait until the job queue's pool serves again. Raises while the database is still
        unreachable."""
        await self.engine.dispose()
        for pool in (self.read_pool, self.ingress_pool, self.write_pool, self.queue_pool):
            if pool is not None:
                await pool.check()
        if self.queue_pool is not None:
            async with self.queue_pool.connection(timeout=QUEUE_WAIT_SECONDS):
                pass

    async def close(self) -> None:
        if self.key_holder_task is not None:
            self.key_holder_task.cancel()
            self.key_holder_task = None
        if self.key_holder is not None:
            await self.key_holder.leave()
            self.key_holder = None
        if self.key_reloads is not None:
            self.key_reloads.cancel()
            self.key_reloads = None
        await self.http.aclose()
        if self.read_pool is not None:
            await self.read_pool.close()
            self.read_pool = None
        if self.ingress_pool is not None:
            await self.ingress_pool.close()
            self.ingress_pool = None
        if self.write_pool is not None:
            await self.write_pool.close()
            self.write_pool = None
        if self.queue_pool is not None:
            await jobs.queue_app.close_async()
            self.queue_pool = None
        await self.engine.dispose()
        self.database.close()
