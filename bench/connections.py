"""Connections figures, against the emulators served standalone (``sellerhub emulators``) with
the production server pointed at them:

* ``connections.single_flight.token_requests`` — 500 concurrent proxied calls on a connection
  whose token has expired: token requests seen by the FedEx emulator (target: exactly 1), with
  ``connections.single_flight.errors`` (target 0).
* ``connections.proactive.seconds`` — 10,000 due connections refreshed by the proactive
  refresher against the emulator (target ≤ 60 s); baseline: the target.
* ``connections.proxy.p50_overhead_ms`` — p50 of a proxied FedEx tracking call minus p50 of
  the same call made directly to the emulator (target ≤ 2 ms); baseline: the direct p50.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.harness import (
    BenchError,
    Figure,
    emit,
    free_port,
    log,
    production_env,
    run_secrets,
    running_server,
)

FEDEX_CLIENT = {"client_id": "fedex-emulator-client", "client_secret": "fedex-emulator-secret"}
TRACK_BODY = {
    "includeDetailedScans": False,
    "trackingInfo": [{"trackingNumberInfo": {"trackingNumber": "123456789012"}}],
}
CONCURRENT_CALLS = 500
DUE_CONNECTIONS = 10_000
PROACTIVE_TARGET_SECONDS = 60.0


async def _seed_owner(url: str) -> tuple[uuid.UUID, str]:
    import sellerhub.db.models  # noqa: F401 - complete metadata before the first flush
    from sellerhub.db.engine import create_engine
    from sellerhub.db.session import make_sessionmaker, unit_of_work
    from sellerhub.identity import service as identity
    from sellerhub.identity.organizations.models import Role
    from sellerhub.identity.principal import Principal
    from sellerhub.identity.users.models import UserType

    engine = create_engine(url, pool_size=1)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as session:
            user = await identity.create_user(
                session, email=f"carrier-{uuid.uuid4().hex[:6]}@bench.invalid", name="Carrier"
            )
            org = await identity.create_organization(session, name="Bench Carrier", owner=user)
            owner = Principal(user.id, org.id, Role.OWNER, UserType.CUSTOMER, via="bench")
            key = (await identity.issue_api_key(session, owner, "bench")).secret
            return org.id, key
    finally:
        await engine.dispose()


async def _expire_connections(url: str) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("UPDATE connections SET access_expires_at = now() - interval '1 s'")


async def _single_flight(base: str, emulators: str, key: str, database_url: str) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(timeout=60, headers=auth) as http:
        created = await http.post(
            base + "/api/v1/carriers/fedex/credentials",
            json={**FEDEX_CLIENT, "account_number": "740561073"},
        )
        if created.status_code not in (200, 201):
            raise BenchError(f"connecting FedEx failed: {created.status_code} {created.text}")
        connection_id = created.json()["id"]
        await _expire_connections(database_url)
        before = (await http.get(emulators + "/fedex/_admin/stats")).json()["requests"]["token"]
        url = f"{base}/api/v1/connections/{connection_id}/proxy/track/v1/trackingnumbers"
        answers = await asyncio.gather(
            *(http.post(url, json=TRACK_BODY) for _ in range(CONCURRENT_CALLS)),
            return_exceptions=True,
        )
        after = (await http.get(emulators + "/fedex/_admin/stats")).json()["requests"]["token"]
    errors = sum(1 for a in answers if isinstance(a, BaseException) or a.status_code != 200)
    emit(Figure("connections.single_flight.token_requests", after - before, "requests", 1))
    emit(Figure("connections.single_flight.errors", errors, "errors", CONCURRENT_CALLS))
    log(f"single flight: {after - before} token request(s), {errors} errors in {len(answers)}")


async def _proxy_overhead(base: str, emulators: str, key: str) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(timeout=30) as http:
        connection_id = (await http.get(base + "/api/v1/connections", headers=auth)).json()[0]["id"]
        token = (
            await http.post(
                emulators + "/fedex/oauth/token",
                data={"grant_type": "client_credentials", **FEDEX_CLIENT},
            )
        ).json()["access_token"]
        proxied = f"{base}/api/v1/connections/{connection_id}/proxy/track/v1/trackingnumbers"
        direct = emulators + "/fedex/track/v1/trackingnumbers"

        async def timed(url: str, headers: dict[str, str]) -> float:
            started = time.perf_counter()
            response = await http.post(url, json=TRACK_BODY, headers=headers)
            if response.status_code != 200:
                raise BenchError(f"{url} answered {response.status_code}")
            return (time.perf_counter() - started) * 1000

        for _ in range(50):  # warm up both paths
            await timed(direct, {"Authorization": f"Bearer {token}"})
            await timed(proxied, auth)
        direct_ms, proxied_ms = [], []
        for _ in range(500):  # interleaved, so drift hits both alike
            direct_ms.append(await timed(direct, {"Authorization": f"Bearer {token}"}))
            proxied_ms.append(await timed(proxied, auth))
    direct_p50, proxied_p50 = statistics.median(direct_ms), statistics.median(proxied_ms)
    emit(Figure("connections.proxy.p50_ms", proxied_p50, "ms", direct_p50))
    emit(Figure("connections.proxy.p50_overhead_ms", proxied_p50 - direct_p50, "ms", 2.0))
    log(f"proxy p50 {proxied_p50:.2f} ms vs direct {direct_p50:.2f} ms")


async def _proactive(database_url: str, emulators: str, organization_id: uuid.UUID) -> None:
    import psycopg

    from sellerhub.config import Environment, Settings
    from sellerhub.connections import vault
    from sellerhub.connections.models import Connection
    from sellerhub.connections.providers.base import TokenGrant
    from sellerhub.connections.refresh import RefreshContext
    from sellerhub.connections.tasks import refresh_due
    from sellerhub.core.clock import utcnow
    from sellerhub.runtime import Runtime

    settings = Settings(
        env=Environment.TEST,
        database_url=database_url,
        encryption_keys=run_secrets()["SELLERHUB_ENCRYPTION_KEYS"],
        fedex_api_url=f"{emulators}/fedex",
        database_pool_size=20,
        log_level="WARNING",
        _env_file=None,
    )
    runtime = Runtime.create(settings)
    try:
        log(f"seeding {DUE_CONNECTIONS} due FedEx connections")
        rows: list[dict[str, Any]] = []
        for n in range(DUE_CONNECTIONS):
            c = Connection(
                organization_id=organization_id,
                provider="fedex",
                external_account_id=f"bench-{n}",
                scopes=[],
                details={},
            )
            c.ensure_id()
            vault.store_client_secret(
                runtime.keyring, c, FEDEX_CLIENT["client_id"], FEDEX_CLIENT["client_secret"]
            )
            vault.store_tokens(
                runtime.keyring, c, TokenGrant("old", utcnow() + timedelta(minutes=5))
            )
            rows.append(
                {
                    "id": c.id,
                    "client_secret": c.client_secret,
                    "access_token": c.access_token,
                    "n": n,
                }
            )
        async with await psycopg.AsyncConnection.connect(runtime.url) as conn:
            async with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY connections (id, organization_id, provider, external_account_id, "
                    "environment, display_name, scopes, status, client_id, client_secret, "
                    "access_token, access_expires_at, refresh_failures, details) FROM STDIN"
                ) as copy,
            ):
                for row in rows:
                    await copy.write_row(
                        (
                            row["id"],
                            organization_id,
                            "fedex",
                            f"bench-{row['n']}",
                            "production",
                            "",
                            "[]",
                            "connected",
                            FEDEX_CLIENT["client_id"],
                            row["client_secret"],
                            row["access_token"],
                            utcnow() + timedelta(minutes=5),
                            0,
                            "{}",
                        )
                    )
            await conn.commit()
        ctx = RefreshContext(runtime.sessionmaker, runtime.keyring, settings, runtime.http)
        started = time.perf_counter()
        total = 0
        while True:
            async with runtime.sessionmaker() as session:
                done = await refresh_due(ctx, session, limit=500)
            total += done
            if done < 500:
                break
        elapsed = time.perf_counter() - started
    finally:
        await runtime.close()
    emit(Figure("connections.proactive.seconds", elapsed, "s", PROACTIVE_TARGET_SECONDS))
    log(
        f"proactive refresher: {total} connections in {elapsed:.1f} s "
        f"({total / elapsed:.0f}/s; target {DUE_CONNECTIONS} in ≤ {PROACTIVE_TARGET_SECONDS:.0f} s)"
    )


def run(*, database_url: str, work_dir: Path) -> None:
    organization_id, key = asyncio.run(_seed_owner(database_url))
    emulator_port, api_port = free_port(), free_port()
    emulators = f"http://127.0.0.1:{emulator_port}"
    emulator_env = production_env(
        database_url=database_url,
        server="uvicorn",
        port=emulator_port,
        workers=1,
        data_dir=work_dir,
    ) | {"SELLERHUB_ENV": "development", "SELLERHUB_LOG_LEVEL": "WARNING"}
    api_env = production_env(
        database_url=database_url, server="uvicorn", port=api_port, workers=1, data_dir=work_dir
    ) | {"SELLERHUB_FEDEX_API_URL": f"{emulators}/fedex"}
    with (
        running_server(
            "emulators",
            emulator_env,
            emulator_port,
            work_dir,
            ("emulators", "--port", str(emulator_port)),
        ),
        running_server("uvicorn", api_env, api_port, work_dir) as api,
    ):
        asyncio.run(_single_flight(api.base_url, emulators, key, database_url))
        asyncio.run(_proxy_overhead(api.base_url, emulators, key))
        asyncio.run(_proactive(database_url, emulators, organization_id))
