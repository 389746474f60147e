"""Web UI figures (issue 12): the server-side cost of the HTML pages against the JSON endpoint of
the same data, on the production server, in the same run.

An organization with a Shopify store and 1,000 orders (1 to 3 lines each, in dollars, yen and
dinars), and a signed-in session (the cookies a browser holds after signing in). Every route is
requested with the same session cookie, so authentication is the same on both sides:

* ``/api/v1/orders`` — the baseline: the newest 50 orders with their lines as JSON.
* ``/orders`` — the orders page: the same 50 orders (the same filters, order and cursor: one
  query shape in ``orders.repository``, the page reading only the columns it shows), the sync
  panel (the stores and the latest sync jobs), the layout (the viewer, their organizations).
* ``/`` — the dashboard: connections, the order count, the last sync.

Figures, per server (``web.<server>.<route>``), each with the JSON endpoint's figure of the
same run as baseline:

* ``.render_ms`` — the server-side time of one request: the median latency with one request at
  a time (``wrk -c1``, no queueing), over loopback, in short rounds that take every route in
  turn (``harness.interleaved``: ``ROUND_SECONDS`` each, three times ``--duration`` in all per
  route; the round with the median figure counts). **Ratio = how many times the JSON's time
  the page takes. Target: ≤ 1.5.**
* ``.rps`` — throughput under the run's ``wrk`` load (``--connections``, one worker).
* ``.ms_per_request`` — 1000 / rps: the cost of a request at saturation, when the server, its
  PostgreSQL and ``wrk`` share the machine's cores (every extra round trip costs PostgreSQL
  CPU too, so this ratio is higher than the render time's).
* ``.p50`` / ``.p99`` — latencies under that load.

Before measuring, each route is checked: 200, the page shows the newest order of the measured
organization and none of another organization seeded after it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy.ext.asyncio import AsyncSession

from bench.harness import (
    BenchError,
    Figure,
    LoadSpec,
    Route,
    WrkResult,
    emit,
    free_port,
    http_get,
    interleaved,
    load,
    log,
    production_env,
    run_secrets,
    running_server,
)

ORDERS = 1_000
PUBLIC_URL = "https://bench.invalid"  # production_env's; the session's issuer
JSON_PATH = "/api/v1/orders"
PAGES = {"orders_page": "/orders", "dashboard": "/"}
TARGET_RATIO = 1.5
CURRENCIES = (("USD", 1999), ("USD", 4900), ("JPY", 1500), ("KWD", 12_345))


@dataclass(frozen=True)
class WebSeed:
    cookie: str  # the Cookie header of the signed-in session
    newest_number: str
    other_prefix: str  # order numbers of the organization seeded after the measured one


async def _seed_orders(
    session: AsyncSession, organization_id: uuid.UUID, prefix: str, count: int
) -> str:
    from sellerhub.commerce.orders import mapping
    from sellerhub.commerce.orders import service as orders
    from sellerhub.connections import service as connections
    from sellerhub.db.tenancy import set_tenant

    set_tenant(session, organization_id)
    shop = f"{prefix.lower()}-bench.myshopify.com"
    connection, _ = await connections.activate(
        session, organization_id=organization_id, provider="shopify", account=shop
    )
    rng = random.Random(prefix)  # deterministic bench data
    start = datetime(2026, 1, 1, tzinfo=UTC)
    number = ""
    for n in range(count):
        currency, price = CURRENCIES[n % len(CURRENCIES)]
        lines = [
            mapping.NormalisedLine(
                external_id=f"{n}-{i}",
                sku=f"SKU-{rng.randrange(40)}",
                title=f"Bench product {rng.randrange(40)}",
                quantity=rng.randint(1, 3),
                unit_price_minor=price,
            )
            for i in range(rng.randint(1, 3))
        ]
        number = f"{prefix}{1000 + n}"
        placed = start + timedelta(minutes=17 * n)
        await orders.apply(
            session,
            organization_id,
            "shopify",
            connection.id,
            mapping.NormalisedOrder(
                external_id=str(9_000_000 + n),
                number=number,
                status=("paid", "pending", "refunded")[n % 3],
                currency=currency,
                total_minor=sum(line.quantity * line.unit_price_minor for line in lines),
                customer_email=f"buyer{n}@example.com",
                placed_at=placed,
                updated_at=placed,
                lines=lines,
            ),
        )
    return number


async def _seed(database_url: str, data_dir: Path) -> WebSeed:
    """Two organizations with 1,000 orders each (the measured one first), and a session of the
    measured one's owner, started the way every sign-in starts one."""
    import sellerhub.db.models  # noqa: F401 - complete metadata before the first flush
    from sellerhub.config import Environment, Settings
    from sellerhub.db.session import unit_of_work
    from sellerhub.identity import service as identity
    from sellerhub.identity.sessions.cookies import ACCESS_COOKIE, CSRF_COOKIE
    from sellerhub.identity.sessions.endpoints import session_policy
    from sellerhub.identity.sessions.service import start_session
    from sellerhub.runtime import Runtime

    settings = Settings(
        env=Environment.TEST,
        database_url=database_url,
        encryption_keys=run_secrets()["SELLERHUB_ENCRYPTION_KEYS"],
        public_url=PUBLIC_URL,
        data_dir=data_dir,
        _env_file=None,
    )
    runtime = Runtime.create(settings)
    try:
        await runtime.open()
        assert runtime.keystore is not None
        async with unit_of_work(runtime.sessionmaker) as session:
            user = await identity.create_user(
                session, email="bench-web@bench.invalid", name="Web Bench"
            )
            org = await identity.create_organization(session, name="Bench Web Shop", owner=user)
            newest = await _seed_orders(session, org.id, "A", ORDERS)
        async with unit_of_work(runtime.sessionmaker) as session:
            other_user = await identity.create_user(session, email="bench-web-b@bench.invalid")
            other = await identity.create_organization(
                session, name="Bench Web Other", owner=other_user
            )
            await _seed_orders(session, other.id, "B", ORDERS)
        async with unit_of_work(runtime.sessionmaker) as session:
            issued = await start_session(
                session,
                runtime.keystore,
                session_policy(settings),
                user_id=user.id,
                organization_id=org.id,
                method="bench",
            )
    finally:
        await runtime.close()
    # Statistics, as autovacuum gathers them on a live database: without them the planner reads
    # each order's lines through the organization-only index (the JSON baseline took 19 ms in
    # PostgreSQL instead of 1, measured with EXPLAIN ANALYZE).
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        for table in ("orders", "order_lines", "connections", "sync_jobs", "memberships"):
            await conn.execute(f"ANALYZE {table}")
    cookie = f"{ACCESS_COOKIE}={issued.access_token}; {CSRF_COOKIE}={issued.csrf_token}"
    return WebSeed(cookie=cookie, newest_number=newest, other_prefix="B")


def _check(base_url: str, seed: WebSeed) -> None:
    headers = {"Cookie": seed.cookie}
    status, body = http_get(base_url + JSON_PATH, headers)
    if status != 200:
        raise BenchError(f"{JSON_PATH} answered {status}: {body[:300]!r}")
    items = json.loads(body)["items"]
    numbers = [item["number"] for item in items]
    if len(items) != 50 or numbers[0] != seed.newest_number:
        raise BenchError(f"{JSON_PATH} did not answer the newest 50 orders: {numbers[:3]}")
    if any(n.startswith(seed.other_prefix) for n in numbers):
        raise BenchError(f"{JSON_PATH} returned orders of another organization")
    for name, path in PAGES.items():
        status, body = http_get(base_url + path, headers)
        html = body.decode()
        if status != 200 or "<html" not in html:
            raise BenchError(f"{path} answered {status}: {html[:300]!r}")
        if name == "orders_page":
            shown = html.count('<th scope="row">')
            if shown != 50 or seed.newest_number not in html:
                raise BenchError(f"{path} shows {shown} orders, not the newest 50")
            if f">{seed.other_prefix}1" in html:
                raise BenchError(f"{path} shows orders of another organization")
        elif f"{ORDERS:,}" not in html:
            raise BenchError(f"{path} does not show the order count {ORDERS:,}")
    log(f"{JSON_PATH}, {', '.join(PAGES.values())} answer the session's organization only")


def _figures(
    server: str,
    name: str,
    single: WrkResult,
    single_json: WrkResult,
    page: WrkResult,
    json_: WrkResult,
) -> list[Figure]:
    prefix = f"web.{server}.{name}"
    return [
        Figure(f"{prefix}.render_ms", single.p50_ms, "ms", single_json.p50_ms),
        Figure(f"{prefix}.rps", page.rps, "req/s", json_.rps),
        Figure(f"{prefix}.ms_per_request", 1000 / page.rps, "ms", 1000 / json_.rps),
        Figure(f"{prefix}.p50", page.p50_ms, "ms", json_.p50_ms),
        Figure(f"{prefix}.p99", page.p99_ms, "ms", json_.p99_ms),
    ]


def run(
    *, database_url: str, spec: LoadSpec, workers: int, work_dir: Path, servers: list[str]
) -> None:
    seed_dir = work_dir / "web-seed"
    seed_dir.mkdir(exist_ok=True)
    log(f"seeding two organizations with {ORDERS:,} orders each, and a session")
    seed = asyncio.run(_seed(database_url, seed_dir))
    headers = {"Cookie": seed.cookie}
    for server in servers:
        port = free_port()
        data_dir = work_dir / f"web-data-{server}"
        data_dir.mkdir(exist_ok=True)
        env = production_env(
            database_url=database_url, server=server, port=port, workers=workers, data_dir=data_dir
        )
        one_at_a_time = dataclasses.replace(spec, connections=1, threads=1)
        with running_server(server, env, port, cwd=work_dir) as running:
            _check(running.base_url, seed)
            paths = {"orders_json": JSON_PATH, **PAGES}
            single = interleaved(
                {n: Route(running.base_url + p, headers) for n, p in paths.items()},
                one_at_a_time,
                median_of=lambda r: r.p50_ms,
            )
            loaded = {n: load(running.base_url + p, spec, headers) for n, p in paths.items()}
        emit(Figure(f"web.{server}.orders_json.render_ms", single["orders_json"].p50_ms, "ms"))
        emit(Figure(f"web.{server}.orders_json.rps", loaded["orders_json"].rps, "req/s"))
        emit(
            Figure(
                f"web.{server}.orders_json.ms_per_request", 1000 / loaded["orders_json"].rps, "ms"
            )
        )
        for name in PAGES:
            for figure in _figures(
                server,
                name,
                single[name],
                single["orders_json"],
                loaded[name],
                loaded["orders_json"],
            ):
                emit(figure)
            ratio = single[name].p50_ms / single["orders_json"].p50_ms
            mark = "meets" if ratio <= TARGET_RATIO else "MISSES"
            saturated = loaded["orders_json"].rps / loaded[name].rps
            log(
                f"web.{server}.{name}: {ratio:.2f}x the JSON endpoint's render time ({mark} "
                f"target {TARGET_RATIO}x); {saturated:.2f}x its cost per request at saturation"
            )
