"""Test fixtures: a real PostgreSQL for the whole run (embedded unless SELLERHUB_DATABASE_URL is
set), a fresh database migrated once, truncation between tests, and the app over ASGI."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.app import create_app
from sellerhub.config import Environment, Settings
from sellerhub.core.crypto import generate_key_entry
from sellerhub.core.logging import configure_logging
from sellerhub.db.engine import EmbeddedPostgres, to_libpq_url, with_database
from sellerhub.db.migrations import upgrade
from sellerhub.db.session import unit_of_work
from sellerhub.identity import service as identity
from sellerhub.identity.organizations.models import Membership, Organization, Role
from sellerhub.identity.principal import Principal
from sellerhub.identity.users.models import User, UserType
from sellerhub.runtime import Runtime
from tests.browser import Browser

# Truncated after each test; signing_keys stay (every process caches the active key).
TABLES = [
    "credit_transfers",  # no foreign key of its own reaches it from organizations
    "fba_snapshot_items",
    "fba_snapshots",
    "inventory_import_errors",
    "inventory_imports",
    "reservation_lines",
    "reservations",
    "stock_movements",
    "stock_levels",
    "locations",
    "product_listings",
    "products",
    "sync_jobs",
    "order_lines",
    "orders",
    "webhook_events",
    "connections",
    "app_signups",
    "app_refresh_tokens",
    "apps",
    "oauth_states",
    "amazon_logins",
    "email_codes",
    "mail_outbox",
    "rate_limit_counters",
    "audit_events",
    "platform_audit_events",
    "api_keys",
    "refresh_tokens",
    "revoked_families",
    "memberships",
    "users",
    "organizations",
    "job_outbox",
]


# --- the suite's logs: written to files, scanned for the fixtures' secrets at the end ------------

# Secrets the fixtures and tests hand to the code (keys issued, passwords, client secrets): none
# may appear in any log the suite writes. Shapes catch the ones no fixture registered.
FIXTURE_SECRETS: set[str] = {
    "correct horse 42",
    "brand new pass 7",
    "another new pass 8",
    "another pass 99",
    "a-real-password-123",
    "fedex-emulator-secret",
    "dhl-emulator-secret",
    "real-spapi-secret",
    "real-shopify-secret",
    "real-lwa-secret",
    "real-ads-secret",
}
SECRET_SHAPES = {
    "API key": re.compile(r"\bshk_[A-Za-z0-9_-]{16,}"),
    "LWA token": re.compile(r"\bAtz[ar]\|[A-Za-z0-9._~+/=-]{8,}"),
    "password hash": re.compile(r"\$argon2(?:id|i|d)\$"),
    "ciphertext": re.compile(r"\bv1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16,}"),
    "traceback locals": re.compile(r"^\s*│?\s*locals\b|╭─+ locals", re.MULTILINE),
}
_suite_log: TextIO | None = None


def remember_secret(*values: str) -> None:
    """Add values to the secrets the end-of-run log scan looks for."""
    FIXTURE_SECRETS.update(v for v in values if len(v) >= 8)


def restore_suite_logging() -> None:
    """Tests that point logging at their own stream put the suite's log back afterwards."""
    if _suite_log is not None:
        configure_logging("INFO", json=False, stream=_suite_log)


def leaked_secrets(folder: Path) -> list[str]:
    found = []
    for path in sorted(folder.iterdir()):
        text = path.read_text(errors="replace")
        found += [
            f"{path.name}: fixture secret {value[:4]}…"
            for value in FIXTURE_SECRETS
            if value in text
        ]
        found += [
            f"{path.name}: {kind}" for kind, shape in SECRET_SHAPES.items() if shape.search(text)
        ]
    return found


@pytest.fixture(scope="session", autouse=True)
def suite_logs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every log line of the run (this process and the servers it starts) goes to a file here; at
    the end the files are scanned, and a fixture's secret or a secret's shape fails the run."""
    global _suite_log
    folder = tmp_path_factory.mktemp("logs")
    with (folder / "suite.log").open("a", buffering=1) as stream:
        _suite_log = stream
        restore_suite_logging()
        yield folder
        _suite_log = None
    leaks = leaked_secrets(folder)
    assert not leaks, f"secrets in the suite's logs ({folder}): {leaks}"


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Admin URL of the PostgreSQL server used by this run."""
    external = os.environ.get("SELLERHUB_DATABASE_URL")
    if external:
        yield to_libpq_url(external)
        return
    embedded = EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    url = embedded.start()
    yield url
    embedded.stop()


def create_database(server_url: str, prefix: str) -> str:
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(server_url, name)


def drop_database(server_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    url = create_database(server_url, "sellerhub_test")
    upgrade(url)
    yield url
    drop_database(server_url, url)


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    built = Settings(
        env=Environment.TEST,
        database_url=database_url,
        encryption_keys=generate_key_entry("test1"),
        data_dir=tmp_path_factory.mktemp("data"),
        log_level="WARNING",
        _env_file=None,
    )
    for name, value in built:
        if name != "database_url" and hasattr(value, "get_secret_value"):
            remember_secret(value.get_secret_value())
    assert built.encryption_keys is not None
    remember_secret(built.encryption_keys.get_secret_value().split(":", 1)[1])
    return built


@pytest.fixture(scope="session")
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    import sellerhub.jobs.registry  # noqa: F401

    rt = Runtime.create(settings)
    await rt.open()
    yield rt
    await rt.close()


@pytest.fixture(autouse=True)
async def _clean_database(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    if "runtime" not in request.fixturenames:
        return
    rt: Runtime = request.getfixturevalue("runtime")
    if "live_server" in request.fixturenames:
        # The live server's Stripe emulator delivers its events to the server itself, after the
        # answer and with retries: cancel what is still in flight, or an event of this test
        # lands in the next one's tables.
        live: str = request.getfixturevalue("live_server")
        async with httpx.AsyncClient(timeout=5) as http:
            with contextlib.suppress(httpx.HTTPError):
                await http.post(f"{live}/_emulators/stripe/_admin/reset")
    from sellerhub.webhooks.ingress import forget_resolved

    forget_resolved()  # per-process caches must not outlive the rows they describe
    async with rt.engine.begin() as conn:
        await conn.execute(
            text(f"TRUNCATE {', '.join(TABLES)}, procrastinate_jobs RESTART IDENTITY CASCADE")
        )


@pytest.fixture(scope="session")
async def app(runtime: Runtime) -> AsyncIterator[FastAPI]:
    application = create_app(runtime=runtime)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@dataclass
class Tenant:
    organization: Organization
    user: User
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def principal(self, role: Role = Role.OWNER) -> Principal:
        return Principal(
            user_id=self.user.id,
            organization_id=self.organization.id,
            role=role,
            user_type=UserType(self.user.user_type),
            via="api_key",
        )


async def make_tenant(runtime: Runtime, name: str | None = None, role: Role = Role.OWNER) -> Tenant:
    """A new organization with one user of ``role`` and an API key acting as that user."""
    name = name or f"Org {uuid.uuid4().hex[:6]}"
    async with unit_of_work(runtime.sessionmaker) as session:
        owner = await identity.create_user(session, email=f"{uuid.uuid4().hex[:10]}@example.com")
        org = await identity.create_organization(session, name=name, owner=owner)
        user = owner
        if role is not Role.OWNER:
            user = await identity.create_user(session, email=f"{uuid.uuid4().hex[:10]}@ex.com")
            session.add(Membership(organization_id=org.id, user_id=user.id, role=role.value))
        acting = Tenant(org, owner, "")
        issued = await identity.issue_api_key(session, acting.principal(Role.OWNER), "test")
        if role is not Role.OWNER:
            issued.key.user_id = user.id
    remember_secret(issued.secret)
    return Tenant(org, user, issued.secret)


@pytest.fixture
async def tenant(runtime: Runtime) -> Tenant:
    return await make_tenant(runtime, "Acme")


@pytest.fixture
async def other_tenant(runtime: Runtime) -> Tenant:
    return await make_tenant(runtime, "Globex")


@pytest.fixture
async def session(runtime: Runtime) -> AsyncIterator[AsyncSession]:
    async with runtime.sessionmaker() as s:
        yield s
        await s.rollback()


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parents[1]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live_server(
    settings: Settings,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    suite_logs: Path,
) -> Iterator[str]:
    """`sellerhub serve` as a real process on a free port, on the test database, with the
    emulators mounted: for journeys that must go over real HTTP (browser, JWKS clients)."""
    import subprocess
    import sys
    import time

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    assert settings.encryption_keys is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELLERHUB_")} | {
        "SELLERHUB_ENV": "test",
        "SELLERHUB_DATABASE_URL": database_url,
        "SELLERHUB_ENCRYPTION_KEYS": settings.encryption_keys.get_secret_value(),
        "SELLERHUB_PORT": str(port),
        "SELLERHUB_PUBLIC_URL": base,
        "SELLERHUB_EMULATORS": "true",
        "SELLERHUB_COOKIE_SECURE": "false",  # plain http on 127.0.0.1, like a local browser
        "SELLERHUB_BREAKER_COOLDOWN_SECONDS": "1.5",
        "SELLERHUB_SERVER": "uvicorn",
        "SELLERHUB_LOG_LEVEL": "INFO",
        "SELLERHUB_REQUEST_HEADER_TIMEOUT_SECONDS": "2",
        "SELLERHUB_REQUEST_BODY_TIMEOUT_SECONDS": "2",
        "SELLERHUB_DATA_DIR": str(tmp_path_factory.mktemp("live")),
    }
    log_file = (suite_logs / "live_server.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sellerhub", "serve"],
        env=env,
        start_new_session=True,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "the live server exited"
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the live server did not become ready"
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log_file.close()


@pytest.fixture
def seller(live_server: str, runtime: Runtime) -> Iterator[Browser]:
    """A browser of the live server signed in with Amazon (owner of a personal organization);
    its client also takes paths relative to the live server."""
    browser = Browser(live_server)
    browser.client.base_url = httpx.URL(live_server)
    page = browser.get("/api/auth/amazon/start?next=/")
    callback = browser.submit(page, ("decision", "approve"), follow=False)
    assert browser.get(callback.headers["location"], follow=False).status_code == 302
    yield browser
    browser.close()
