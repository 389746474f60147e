"""Platform core: a trivial route against an authenticated, tenant-scoped database read, under
granian and uvicorn in production mode."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.harness import (
    BenchError,
    Figure,
    LoadSpec,
    WrkResult,
    emit,
    free_port,
    http_get,
    load,
    log,
    production_env,
    running_server,
)

SERVERS = ("granian", "uvicorn")
TRIVIAL_PATH = "/healthz"
DB_READ_PATH = "/api/v1/audit-events?limit=20"
DB_READ_LIMIT = 20
RPS_TARGET_RATIO = 0.40


@dataclass(frozen=True)
class TenantSeed:
    organization_id: uuid.UUID
    api_key: str
    event_ids: frozenset[uuid.UUID]


@dataclass(frozen=True)
class Seed:
    tenant: TenantSeed  # the organization whose API key is measured
    other: TenantSeed  # seeded after it, so unscoped reads would return its events first


@dataclass(frozen=True)
class ServerResult:
    server: str
    trivial: WrkResult
    db_read: WrkResult


# --- seeding ---------------------------------------------------------------------------------


async def _seed_tenant(url: str, *, name: str, email: str, events: int) -> TenantSeed:
    """An organization, its owner, an API key and ``events`` audit events, in one transaction
    through the services (the same path as the API)."""
    import sellerhub.db.models  # noqa: F401 - complete metadata before the first flush
    from sellerhub.audit import service as audit
    from sellerhub.db.engine import create_engine
    from sellerhub.db.session import make_sessionmaker, unit_of_work
    from sellerhub.identity import service as identity
    from sellerhub.identity.organizations.models import Role
    from sellerhub.identity.principal import Principal
    from sellerhub.identity.users.models import UserType

    engine = create_engine(url, pool_size=1)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as session:
            user = await identity.create_user(session, email=email, name=name)
            org = await identity.create_organization(session, name=name, owner=user)
            owner = Principal(user.id, org.id, Role.OWNER, UserType(user.user_type), via="bench")
            issued = await identity.issue_api_key(session, owner, "bench")
            ids = set()
            for n in range(events):
                event = await audit.record(
                    session,
                    organization_id=org.id,
                    action="BENCH_EVENT",
                    actor_user_id=user.id,
                    target_type="bench",
                    target_id=str(n),
                    data={"n": n, "tenant": name},
                )
                ids.add(event.id)
        return TenantSeed(org.id, issued.secret, frozenset(ids))
    finally:
        await engine.dispose()


def seed(url: str, events: int) -> Seed:
    log(f"seeding two organizations with {events} audit events each")
    tenant = asyncio.run(
        _seed_tenant(url, name="Bench Seller A", email="bench-a@bench.invalid", events=events)
    )
    other = asyncio.run(
        _seed_tenant(url, name="Bench Seller B", email="bench-b@bench.invalid", events=events)
    )
    return Seed(tenant, other)


# --- measuring -------------------------------------------------------------------------------


def _auth(seed: Seed) -> dict[str, str]:
    return {"Authorization": f"Bearer {seed.tenant.api_key}"}


def check_db_route(base_url: str, seed: Seed) -> None:
    """The measured route answers 200 with a full page of this tenant's events only."""
    status, body = http_get(base_url + DB_READ_PATH, _auth(seed))
    if status != 200:
        raise BenchError(f"{DB_READ_PATH} answered {status}: {body[:300]!r}")
    items = json.loads(body).get("items") or []
    ids = {uuid.UUID(item["id"]) for item in items}
    if len(ids) != DB_READ_LIMIT:
        raise BenchError(f"{DB_READ_PATH} returned {len(ids)} items, expected {DB_READ_LIMIT}")
    if ids & seed.other.event_ids or not ids <= seed.tenant.event_ids:
        raise BenchError(f"{DB_READ_PATH} returned events of another organization")
    log(f"{DB_READ_PATH} returns {len(ids)} events of the key's organization only")


def measure_server(
    server: str, *, database_url: str, seed: Seed, spec: LoadSpec, workers: int, work_dir: Path
) -> ServerResult:
    port = free_port()
    data_dir = work_dir / f"data-{server}"
    data_dir.mkdir(exist_ok=True)
    env = production_env(
        database_url=database_url, server=server, port=port, workers=workers, data_dir=data_dir
    )
    with running_server(server, env, port, cwd=work_dir) as running:
        check_db_route(running.base_url, seed)
        trivial = load(running.base_url + TRIVIAL_PATH, spec)
        db_read = load(running.base_url + DB_READ_PATH, spec, _auth(seed))
    return ServerResult(server, trivial, db_read)


# --- figures ---------------------------------------------------------------------------------


def server_figures(result: ServerResult) -> list[Figure]:
    prefix = f"core.{result.server}"
    trivial, db = result.trivial, result.db_read
    return [
        Figure(f"{prefix}.trivial.rps", trivial.rps, "req/s"),
        Figure(f"{prefix}.trivial.p50", trivial.p50_ms, "ms"),
        Figure(f"{prefix}.trivial.p99", trivial.p99_ms, "ms"),
        Figure(f"{prefix}.db_read.rps", db.rps, "req/s", trivial.rps),
        Figure(f"{prefix}.db_read.p50", db.p50_ms, "ms", trivial.p50_ms),
        Figure(f"{prefix}.db_read.p99", db.p99_ms, "ms", trivial.p99_ms),
    ]


def comparison_figures(granian: ServerResult, uvicorn: ServerResult) -> list[Figure]:
    prefix = "core.server.granian_vs_uvicorn"
    return [
        Figure(f"{prefix}.trivial.rps", granian.trivial.rps, "req/s", uvicorn.trivial.rps),
        Figure(f"{prefix}.db_read.rps", granian.db_read.rps, "req/s", uvicorn.db_read.rps),
        Figure(f"{prefix}.db_read.p99", granian.db_read.p99_ms, "ms", uvicorn.db_read.p99_ms),
    ]


def _verdict(results: dict[str, ServerResult]) -> str:
    granian, uvicorn = results["granian"], results["uvicorn"]
    parts = []
    for route, g, u in (
        ("trivial", granian.trivial.rps, uvicorn.trivial.rps),
        ("db_read", granian.db_read.rps, uvicorn.db_read.rps),
    ):
        faster, ratio = ("granian", g / u) if g >= u else ("uvicorn", u / g)
        parts.append(f"{route}: {faster} x{ratio:.2f}")
    parts.append(
        f"db_read p99: granian {granian.db_read.p99_ms:.1f} ms, "
        f"uvicorn {uvicorn.db_read.p99_ms:.1f} ms"
    )
    winner = "granian" if granian.db_read.rps >= uvicorn.db_read.rps else "uvicorn"
    return f"faster server: {winner} on the database route ({'; '.join(parts)})"


def _check_target(result: ServerResult) -> None:
    ratio = result.db_read.rps / result.trivial.rps
    mark = "meets" if ratio >= RPS_TARGET_RATIO else "MISSES"
    log(f"{result.server}: db_read/trivial rps = {ratio:.2f} ({mark} target {RPS_TARGET_RATIO})")


def run(
    *,
    database_url: str,
    spec: LoadSpec,
    workers: int,
    events: int,
    work_dir: Path,
    servers: Iterable[str] = SERVERS,
) -> None:
    """Seed, measure every server and print its figures; then the comparison."""
    seeded = seed(database_url, events)
    results: dict[str, ServerResult] = {}
    for server in servers:
        result = measure_server(
            server,
            database_url=database_url,
            seed=seeded,
            spec=spec,
            workers=workers,
            work_dir=work_dir,
        )
        results[server] = result
        for figure in server_figures(result):
            emit(figure)
        _check_target(result)
    if set(SERVERS) <= results.keys():
        for figure in comparison_figures(results["granian"], results["uvicorn"]):
            emit(figure)
        log(_verdict(results))
