"""Inventory figures (issue 13): reservations over HTTP.

* ``inventory.reserve.hot_sku.rps`` — ``POST /api/v1/inventory/reservations`` of one unit of
  ONE SKU (every request waits for the same row), a new idempotency key per request, against
  the raw PostgreSQL rate of the same conditional ``UPDATE … SET reserved = reserved + 1 WHERE
  on_hand - reserved >= 1`` on one row of a scratch table with the same CHECKs, by as many
  autocommit connections as wrk has (the baseline). Target ratio ≥ 0.5. After the run: no
  oversell — every level within its CHECKs, each level's reserved equal to its active
  reservations, and the journal replayed equal to the levels.
* ``inventory.reserve.spread.rps`` — the same route with one of 1,000 SKUs per request,
  against the trivial route (``GET /healthz``) of the same server, the two in interleaved rounds
  (``harness.interleaved``; per route the round with the median throughput). Target ratio ≥ 0.4.
* ``.p50`` / ``.p99`` of both, against the trivial route's.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import psycopg

from bench.harness import (
    BenchError,
    Figure,
    LoadSpec,
    Route,
    emit,
    free_port,
    interleaved,
    load,
    log,
    production_env,
    raw_single_row_rate,
    running_server,
)

SKUS = 1000
HOT_TARGET = 0.5
SPREAD_TARGET = 0.4


async def _seed(url: str) -> tuple[uuid.UUID, str]:
    """An organization with an API key (through the services), a location ``main`` and
    1,000 SKUs plus ``HOT`` with a billion units each, their levels journaled like receipts."""
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
            user = await identity.create_user(session, email="bench-inv@bench.invalid", name="Inv")
            org = await identity.create_organization(session, name="Bench Inventory", owner=user)
            owner = Principal(user.id, org.id, Role.OWNER, UserType(user.user_type), via="bench")
            issued = await identity.issue_api_key(session, owner, "bench")
    finally:
        await engine.dispose()
    with psycopg.connect(url, autocommit=False) as conn:
        conn.execute(
            "INSERT INTO locations (id, organization_id, code, name, kind)"
            " VALUES (gen_random_uuid(), %(org)s, 'main', 'Main', 'warehouse')",
            {"org": org.id},
        )
        conn.execute(
            "INSERT INTO products (id, organization_id, sku, title)"
            " SELECT gen_random_uuid(), %(org)s, s, s FROM (SELECT 'HOT' AS s UNION ALL"
            " SELECT 'SKU-' || n FROM generate_series(1, %(n)s) n) skus",
            {"org": org.id, "n": SKUS},
        )
        conn.execute(
            "INSERT INTO stock_levels (organization_id, product_id, location_id, on_hand, reserved)"
            " SELECT p.organization_id, p.id, l.id, 1000000000, 0 FROM products p"
            " JOIN locations l ON l.organization_id = p.organization_id"
            " WHERE p.organization_id = %(org)s",
            {"org": org.id},
        )
        conn.execute(
            "INSERT INTO stock_movements (organization_id, product_id, location_id,"
            " delta_on_hand, delta_reserved, on_hand_after, reserved_after, reason, source)"
            " SELECT organization_id, product_id, location_id, on_hand, 0, on_hand, 0,"
            " 'adjust', 'bench-seed' FROM stock_levels WHERE organization_id = %(org)s",
            {"org": org.id},
        )
        conn.commit()
        # Statistics, as autovacuum would gather them on a live database: without them the
        # planner reaches levels and reservations through the organization-only indexes and
        # discards hundreds of rows per statement (measured with EXPLAIN ANALYZE).
        for table in ("products", "locations", "stock_levels", "stock_movements", "reservations"):
            conn.execute(f"ANALYZE {table}")
        conn.commit()
    return org.id, issued.secret


def _script(path: Path, sku_expression: str) -> Path:
    """wrk: POST a reservation of one unit, a fresh idempotency key per request."""
    path.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        "local counter = 0\n"
        "local prefix = ''\n"
        "init = function(args)\n"
        "  math.randomseed(os.time() * 1000003 + math.floor(os.clock() * 1000000))\n"
        "  prefix = tostring(math.random(1, 2147483646)) .. tostring(math.random(1, 2147483646))\n"
        "end\n"
        "request = function()\n"
        "  counter = counter + 1\n"
        f"  local sku = {sku_expression}\n"
        "  local body = '{\"idempotency_key\":\"' .. prefix .. '-' .. counter .."
        ' \'","lines":[{"sku":"\' .. sku .. \'","location":"main","quantity":1}]}\'\n'
        "  return wrk.format(nil, nil, nil, body)\n"
        "end\n"
    )
    return path


def _check_no_oversell(url: str, organization_id: uuid.UUID) -> int:
    """Levels within their CHECKs (PostgreSQL guarantees it; checked anyway), reserved equal
    to the active reservations' units, the journal replayed equal to the levels. Returns the
    number of active reservations."""
    from sellerhub.commerce.inventory import service
    from sellerhub.db.engine import create_engine
    from sellerhub.db.session import make_sessionmaker

    with psycopg.connect(url) as conn:
        bad = conn.execute(
            "SELECT count(*) FROM stock_levels WHERE reserved > on_hand OR reserved < 0"
            " OR on_hand < 0 OR reserved <> (SELECT coalesce(sum(rl.quantity), 0)"
            " FROM reservation_lines rl JOIN reservations r ON r.id = rl.reservation_id"
            " WHERE r.status = 'active' AND rl.product_id = stock_levels.product_id"
            " AND rl.location_id = stock_levels.location_id)"
        ).fetchone()
        active = conn.execute("SELECT count(*) FROM reservations WHERE status = 'active'")
        count = active.fetchone()
    if bad is None or bad[0] != 0:
        raise BenchError(f"oversell check: {bad[0] if bad else '?'} levels disagree")

    async def verify() -> int:
        engine = create_engine(url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session:
                return len(await service.verify(session, organization_id))
        finally:
            await engine.dispose()

    differing = asyncio.run(verify())
    if differing:
        raise BenchError(f"the journal does not explain {differing} level(s)")
    return int(count[0]) if count else 0


def run(*, database_url: str, work_dir: Path, spec: LoadSpec) -> None:
    log("inventory: seeding 1,001 SKUs")
    organization_id, api_key = asyncio.run(_seed(database_url))
    headers = {"Authorization": f"Bearer {api_key}"}
    hot = _script(work_dir / "reserve-hot.lua", "'HOT'")
    spread = _script(work_dir / "reserve-spread.lua", f"'SKU-' .. math.random(1, {SKUS})")
    port = free_port()
    env = production_env(
        database_url=database_url, server="granian", port=port, workers=1, data_dir=work_dir
    )
    with running_server("inventory server", env, port, work_dir) as server:
        url = server.base_url
        hot_result = load(url + "/api/v1/inventory/reservations", spec, headers, script=hot)
        # The ratio's two sides in interleaved rounds (harness.interleaved): a slow phase of the
        # machine reaches both alike.
        paired = interleaved(
            {
                "trivial": Route(url + "/healthz"),
                "spread": Route(url + "/api/v1/inventory/reservations", headers, spread),
            },
            spec,
            median_of=lambda r: r.rps,
        )
        trivial, spread_result = paired["trivial"], paired["spread"]
    raw = asyncio.run(
        raw_single_row_rate(
            database_url,
            spec.connections,
            spec.duration,
            setup=[
                "CREATE TABLE IF NOT EXISTS bench_hot_row (id int PRIMARY KEY,"
                " on_hand int NOT NULL, reserved int NOT NULL, CHECK (on_hand >= 0),"
                " CHECK (reserved >= 0), CHECK (reserved <= on_hand))",
                "TRUNCATE bench_hot_row",
                "INSERT INTO bench_hot_row VALUES (1, 1000000000, 0)",
            ],
            update="UPDATE bench_hot_row SET reserved = reserved + 1"
            " WHERE id = 1 AND on_hand - reserved >= 1",
        )
    )
    log(f"raw conditional UPDATE on one row: {raw:.0f}/s")
    active = _check_no_oversell(database_url, organization_id)
    log(f"no oversell: {active} active reservations, levels and journal agree")
    figures = [
        Figure("inventory.reserve.hot_sku.rps", hot_result.rps, "req/s", raw),
        Figure("inventory.reserve.hot_sku.p50", hot_result.p50_ms, "ms", trivial.p50_ms),
        Figure("inventory.reserve.hot_sku.p99", hot_result.p99_ms, "ms", trivial.p99_ms),
        Figure("inventory.reserve.spread.rps", spread_result.rps, "req/s", trivial.rps),
        Figure("inventory.reserve.spread.p50", spread_result.p50_ms, "ms", trivial.p50_ms),
        Figure("inventory.reserve.spread.p99", spread_result.p99_ms, "ms", trivial.p99_ms),
        Figure("inventory.raw_update.one_row.per_s", raw, "updates/s"),
        Figure("inventory.trivial.rps", trivial.rps, "req/s"),
    ]
    for figure in figures:
        emit(figure)
    verdicts: list[Any] = [
        ("hot SKU vs raw UPDATE", figures[0].ratio, HOT_TARGET),
        ("1,000 SKUs vs trivial", figures[3].ratio, SPREAD_TARGET),
    ]
    for label, ratio, target in verdicts:
        met = "meets" if ratio is not None and ratio >= target else "MISSES"
        log(f"inventory: {label} {ratio:.2f}x {met} the {target}x target")
