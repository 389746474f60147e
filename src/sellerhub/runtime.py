"""Process resources shared by the API, the worker and the CLI: settings, database (embedded or
external), engine, session factory, key ring and the job queue connection."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import sellerhub.db.models  # noqa: F401 - every mapper is configured before the first query
from sellerhub.config import Settings
from sellerhub.core.crypto import KeyRing, keyring_from_settings
from sellerhub.core.http import provider_client
from sellerhub.db import reads
from sellerhub.db.engine import Database, create_engine
from sellerhub.db.session import make_sessionmaker, unit_of_work
from sellerhub.identity.apikeys.cache import principal_cache
from sellerhub.identity.jwt.service import KeyStore, ensure_signing_key
from sellerhub.jobs import app as jobs


@dataclass
class Runtime:
    settings: Settings
    database: Database
    url: str
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    keyring: KeyRing
    queue_pool: AsyncConnectionPool | None = field(default=None)
    read_pool: AsyncConnectionPool | None = field(default=None)
    ingress_pool: AsyncConnectionPool | None = field(default=None)
    keystore: KeyStore | None = field(default=None)
    http: httpx.AsyncClient = field(default_factory=provider_client)

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        """Resolve the database (starting the embedded one if needed) and build the engine."""
        settings.check()
        database = Database(settings)
        url = database.url()
        engine = create_engine(url, pool_size=settings.database_pool_size)
        keys = settings.encryption_keys.get_secret_value() if settings.encryption_keys else None
        keyring = keyring_from_settings(keys, settings.data_dir, settings.is_production)
        principal_cache.ttl_seconds = settings.auth_cache_seconds
        return cls(settings, database, url, engine, make_sessionmaker(engine), keyring)

    async def open(self) -> None:
        """Open the pools (tenant reads, job queue) and load the JWT signing keys, creating the
        first one on a new database."""
        async with unit_of_work(self.sessionmaker) as session:
            await ensure_signing_key(session, self.keyring)
        self.keystore = KeyStore(self.sessionmaker, self.keyring, issuer=self.settings.public_url)
        await self.keystore.load()
        self.read_pool = reads.read_pool(self.url, self.settings.database_pool_size)
        await self.read_pool.open(wait=True, timeout=30)
        self.ingress_pool = AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=self.settings.database_pool_size,
            kwargs={"autocommit": True},
            open=False,
        )
        await self.ingress_pool.open(wait=True, timeout=30)
        await self.open_queue()

    async def open_queue(self) -> None:
        """Open the job queue on its own small pool, and give jobs their session factory."""
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
            self.url, min_size=1, max_size=max(2, self.settings.jobs_concurrency + 2), open=False
        )
        await self.queue_pool.open(wait=True, timeout=30)
        await jobs.queue_app.open_async(self.queue_pool)

    async def close(self) -> None:
        await self.http.aclose()
        if self.read_pool is not None:
            await self.read_pool.close()
            self.read_pool = None
        if self.ingress_pool is not None:
            await self.ingress_pool.close()
            self.ingress_pool = None
        if self.queue_pool is not None:
            await jobs.queue_app.close_async()
            self.queue_pool = None
        await self.engine.dispose()
        self.database.close()
