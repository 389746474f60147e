"""Webhook ingress figures on the production server, against the trivial route of the same
server in the same run:

1. Saturation: verified, persisted Shopify deliveries per second and their p50/p99 latency
   (wrk, closed loop). Every request is a new event: the body (and so its valid signature) is
   fixed, while the wrk script gives each request its own ``X-Shopify-Event-Id``, so each one
   is verified, inserted into the inbox and answered only after its commit.
   ``webhooks.ingress.stored_events`` counts the rows afterwards (baseline: the requests wrk
   completed), proving nothing was dropped.
2. Paced (measured first, from an empty inbox): the same deliveries at about 1,000 events/s
   (each wrk connection pauses a random time between its requests), p50/p99 at that rate; the
   achieved rate is reported with them.
3. Exactly once: distinct orders (``orders/create``, each signed), with repeated deliveries of
   the same event and re-sent orders under new event ids, while a ``sellerhub worker``
   processes them; the worker is SIGKILLed in the middle of the run and started again. When
   every event is processed, the orders table must hold each distinct order exactly once:
   ``webhooks.orders.lost`` and ``webhooks.orders.duplicated`` must both be 0.
4. Processing: the same order deliveries (one line each, its SKU in the catalog with units at
   the shop's channel location) loaded with no worker running, then drained by one
   ``sellerhub worker``: ``webhooks.orders.processed_per_s`` is the events processed per second
   (over the span of their ``processed_at``), each order's line reserved, against the rate
   ingress accepted them in this run as its baseline. Target ≥ 1,000/s.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import psycopg

from bench.harness import (
    BenchError,
    Figure,
    LoadSpec,
    WrkResult,
    emit,
    free_port,
    load,
    log,
    production_env,
    running_server,
)

SHOP = "bench-shop.myshopify.com"
TARGET_RPS = 2500.0
TARGET_P99_MS = 50.0
PACED_RPS = 1000.0
PACED_CONNECTIONS = 24
PACED_LATENCY_MS = 4.0  # a delivery's own time, subtracted from each connection's period
DISTINCT_ORDERS = 5000
KILL_AFTER = 3.0  # seconds into the exactly-once run
RESTART_AFTER = 5.0
DRAIN_TIMEOUT = 240.0
TARGET_PROCESSED = 1000.0  # order events per second per worker, reservations included


def _sign(secret: str, body: str) -> str:
    return base64.b64encode(
        hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    ).decode()


def _headers_lua(topic: str) -> str:
    return (
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["X-Shopify-Topic"] = "{topic}"\n'
        f'wrk.headers["X-Shopify-Shop-Domain"] = {json.dumps(SHOP)}\n'
        'wrk.headers["X-Shopify-API-Version"] = "2026-10"\n'
    )


def _script(path: Path, body: str, signature: str, run: str, delay_ms: float = 0.0) -> Path:
    """Every request a new event id; with ``delay_ms``, each connection pauses that long before
    each request (the paced run)."""
    # Random pauses (uniform, mean ``delay_ms``) keep the connections out of lockstep: equal
    # pauses would send them in bursts of one request per connection.
    pacing = (
        f"delay = function() return math.random(0, {round(2 * delay_ms)}) end\n"
        if delay_ms > 0
        else ""
    )
    path.write_text(
        "local counter = 0\n"
        + _headers_lua("orders/updated")
        + f"wrk.body = {json.dumps(body)}\n"
        + f'wrk.headers["X-Shopify-Hmac-Sha256"] = {json.dumps(signature)}\n'
        + pacing
        + "request = function()\n"
        "  counter = counter + 1\n"
        f'  local id = "{run}-" .. tostring(math.random(1, 2147483647)) .. "-" .. counter\n'
        "  local h = {}\n"
        "  for k, v in pairs(wrk.headers) do h[k] = v end\n"
        '  h["X-Shopify-Event-Id"] = id\n'
        '  h["X-Shopify-Webhook-Id"] = id\n'
        "  return wrk.format(nil, nil, h)\n"
        "end\n"
    )
    return path


def _order(number: int) -> str:
    return json.dumps(
        {
            "id": 9_000_000 + number,
            "name": f"#{number}",
            "email": f"buyer{number}@example.com",
            "currency": "USD",
            "total_price": f"{10 + number % 90}.50",
            "financial_status": "paid",
            "created_at": "2026-11-20T10:00:00Z",
            "updated_at": "2026-11-20T10:00:00Z",
            "line_items": [
                {
                    "id": number,
                    "sku": f"SKU-{number % 40}",
                    "title": "Mug",
                    "quantity": 1,
                    "price": f"{10 + number % 90}.50",
                }
            ],
        },
        separators=(",", ":"),
    )


def _orders_script(path: Path, secret: str) -> Path:
    """Cycles through DISTINCT_ORDERS signed order bodies: a later pass re-delivers the same
    event (same event id: an inbox duplicate); every 25th request re-sends an order under a new
    event id (a new event carrying an order already stored)."""
    bodies = [_order(n) for n in range(DISTINCT_ORDERS)]
    lines = ["local bodies = {"]
    lines += [f"  {{{json.dumps(b)}, {json.dumps(_sign(secret, b))}}}," for b in bodies]
    lines.append("}")
    path.write_text(
        "\n".join(lines)
        + "\nlocal counter = 0\n"
        + _headers_lua("orders/create")
        + "request = function()\n"
        "  counter = counter + 1\n"
        f"  local i = ((counter - 1) % {DISTINCT_ORDERS}) + 1\n"
        "  local id = 'o-' .. i\n"
        "  if counter % 25 == 0 then\n"
        "    id = 'r-' .. counter .. '-' .. math.random(1, 2147483647)\n"
        "  end\n"
        "  local h = {}\n"
        "  for k, v in pairs(wrk.headers) do h[k] = v end\n"
        '  h["X-Shopify-Event-Id"] = id\n'
        '  h["X-Shopify-Webhook-Id"] = id\n'
        '  h["X-Shopify-Hmac-Sha256"] = bodies[i][2]\n'
        "  return wrk.format(nil, nil, h, bodies[i][1])\n"
        "end\n"
    )
    return path


def _connect_shop(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO organizations (id, name, slug) VALUES (gen_random_uuid(), 'Bench Shop',"
            " 'bench-shop-' || md5(random()::text))"
        )
        conn.execute(
            "INSERT INTO connections (id, organization_id, provider, external_account_id,"
            " environment, display_name, scopes, status, refresh_failures, details)"
            " SELECT gen_random_uuid(), id, 'shopify', %s, 'production', '', '[]', 'connected', 0,"
            " '{}' FROM organizations WHERE name = 'Bench Shop' LIMIT 1",
            (SHOP,),
        )


def _truncate(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE webhook_events")
        conn.execute("CHECKPOINT")


def _scalar(database_url: str, sql: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _start_worker(env: Mapping[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "sellerhub", "worker"],
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=sys.stderr,
        start_new_session=True,
    )


def _kill(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def _exactly_once(
    database_url: str, base_url: str, env: Mapping[str, str], work_dir: Path, spec: LoadSpec
) -> None:
    secret = env["SELLERHUB_SHOPIFY_CLIENT_SECRET"]
    script = _orders_script(work_dir / "orders.lua", secret)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE webhook_events, order_lines, orders")
    result: list[WrkResult] = []
    loader = threading.Thread(
        target=lambda: result.append(
            load(base_url + "/webhooks/shopify", replace(spec, warmup=0), script=script)
        )
    )
    worker = _start_worker(env, work_dir)
    started = time.monotonic()
    try:
        loader.start()
        time.sleep(KILL_AFTER)
        _kill(worker)
        log(f"worker SIGKILLed {time.monotonic() - started:.1f}s into the run")
        time.sleep(RESTART_AFTER - KILL_AFTER)
        worker = _start_worker(env, work_dir)
        log(f"worker restarted {time.monotonic() - started:.1f}s into the run")
        loader.join()
        if not result:
            raise BenchError("the exactly-once load did not finish")
        load_end = time.monotonic()
        deadline = load_end + DRAIN_TIMEOUT
        while time.monotonic() < deadline:
            pending = _scalar(
                database_url, "SELECT count(*) FROM webhook_events WHERE status <> 'processed'"
            )
            if pending == 0:
                break
            time.sleep(0.5)
        drained_after = time.monotonic() - load_end
    finally:
        _kill(worker, signal.SIGINT)
    pending = _scalar(
        database_url, "SELECT count(*) FROM webhook_events WHERE status <> 'processed'"
    )
    events = _scalar(database_url, "SELECT count(*) FROM webhook_events")
    expected = _scalar(database_url, "SELECT count(DISTINCT payload->>'id') FROM webhook_events")
    rows = _scalar(database_url, "SELECT count(*) FROM orders")
    distinct = _scalar(database_url, "SELECT count(DISTINCT external_id) FROM orders")
    lost = expected - distinct
    duplicated = rows - distinct
    emit(Figure("webhooks.orders.deliveries", result[0].requests, "requests"))
    emit(Figure("webhooks.orders.events_stored", events, "events", result[0].requests))
    emit(Figure("webhooks.orders.expected", expected, "orders"))
    emit(Figure("webhooks.orders.lost", lost, "orders", expected))
    emit(Figure("webhooks.orders.duplicated", duplicated, "orders", expected))
    emit(Figure("webhooks.orders.unprocessed_events", pending, "events", events))
    emit(Figure("webhooks.orders.drained_after_load_s", round(drained_after, 2), "s"))
    log(
        f"exactly once: {result[0].requests} deliveries, {events} events, {expected} distinct "
        f"orders; lost {lost}, duplicated {duplicated}, unprocessed {pending} "
        f"(drained {drained_after:.1f}s after the load)"
    )


def _seed_stock(database_url: str) -> None:
    """The bench shop's SKUs in the catalog with plenty of units at its channel location, so
    every order line reserves."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE reservations, reservation_lines, stock_movements, stock_levels")
        conn.execute(
            "INSERT INTO products (id, organization_id, sku, title, created_at, updated_at)"
            " SELECT gen_random_uuid(), o.id, 'SKU-' || n, 'Mug', now(), now()"
            " FROM organizations o, generate_series(0, 39) AS n WHERE o.name = 'Bench Shop'"
            " ON CONFLICT DO NOTHING"
        )
        conn.execute(
            "INSERT INTO locations (id, organization_id, code, name, kind, connection_id,"
            " created_at, updated_at)"
            " SELECT gen_random_uuid(), c.organization_id, 'channel-' || c.id, 'shop', 'channel',"
            " c.id, now(), now() FROM connections c WHERE c.external_account_id = %s"
            " ON CONFLICT DO NOTHING",
            (SHOP,),
        )
        conn.execute(
            "INSERT INTO stock_levels (organization_id, product_id, location_id, on_hand,"
            " reserved, updated_at)"
            " SELECT p.organization_id, p.id, l.id, 1000000, 0, now() FROM products p"
            " JOIN locations l ON l.organization_id = p.organization_id AND l.kind = 'channel'"
        )
        conn.execute("ANALYZE")


def _processing(
    database_url: str, base_url: str, env: Mapping[str, str], work_dir: Path, spec: LoadSpec
) -> None:
    """Order events processed per second by one worker, reservations included, against the
    rate at which ingress accepted the same deliveries in this run: the deliveries are loaded
    first (no worker running), then one ``sellerhub worker`` drains them; its rate is the
    events processed over the span of their ``processed_at``."""
    secret = env["SELLERHUB_SHOPIFY_CLIENT_SECRET"]
    script = _orders_script(work_dir / "orders-processing.lua", secret)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE webhook_events, order_lines, orders")
    _seed_stock(database_url)
    accepted = load(base_url + "/webhooks/shopify", replace(spec, warmup=0), script=script)
    events = _scalar(database_url, "SELECT count(*) FROM webhook_events")
    worker = _start_worker(env, work_dir)
    try:
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while time.monotonic() < deadline:
            pending = _scalar(
                database_url, "SELECT count(*) FROM webhook_events WHERE status <> 'processed'"
            )
            if pending == 0:
                break
            time.sleep(0.5)
    finally:
        _kill(worker, signal.SIGINT)
    if pending:
        raise BenchError(f"{pending} order events still unprocessed after {DRAIN_TIMEOUT:.0f} s")
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*), extract(epoch FROM max(processed_at) - min(processed_at))"
            " FROM webhook_events"
        ).fetchone()
        orders, reserved = conn.execute(
            "SELECT (SELECT count(*) FROM orders),"
            " (SELECT count(*) FROM reservations WHERE status = 'active')"
        ).fetchone() or (0, 0)
    assert row is not None
    processed, span = int(row[0]), float(row[1] or 0.0)
    if reserved != orders:
        raise BenchError(f"{orders} orders but {reserved} active reservations")
    rate = processed / span if span > 0 else 0.0
    emit(Figure("webhooks.orders.processed_per_s", rate, "events/s", accepted.rps))
    emit(Figure("webhooks.orders.processed_events", processed, "events", events))
    mark = "meets" if rate >= TARGET_PROCESSED else "MISSES"
    log(
        f"order events processed by one worker with their reservations: {rate:.0f}/s "
        f"({processed} events, {orders} orders, each line reserved; {mark} target "
        f"{TARGET_PROCESSED:.0f}/s) against ingress accepting {accepted.rps:.0f}/s"
    )


def run(*, database_url: str, work_dir: Path, spec: LoadSpec) -> None:
    port = free_port()
    env = production_env(
        database_url=database_url, server="uvicorn", port=port, workers=1, data_dir=work_dir
    )
    secret = env["SELLERHUB_SHOPIFY_CLIENT_SECRET"]
    body = json.dumps({"id": 1, "updated_at": "2026-11-20T10:00:00Z", "currency": "USD"})
    signature = _sign(secret, body)
    url_script = _script(work_dir / "webhooks.lua", body, signature, "m")
    per_connection_ms = PACED_CONNECTIONS * 1000.0 / PACED_RPS
    paced_script = _script(
        work_dir / "paced.lua",
        body,
        signature,
        "p",
        delay_ms=max(per_connection_ms - PACED_LATENCY_MS, 1.0),
    )
    _connect_shop(database_url)
    with running_server("uvicorn", env, port, work_dir) as server:
        trivial = load(server.base_url + "/healthz", spec)
        if spec.warmup:
            load(
                server.base_url + "/webhooks/shopify",
                replace(spec, duration=spec.warmup, warmup=0),
                script=url_script,
            )
        # The paced run first, from an empty inbox: after the saturation run the database is
        # busy for a while (autovacuum of the new rows, checkpoint), which is not the steady
        # state the paced figure describes.
        _truncate(database_url)
        paced = load(
            server.base_url + "/webhooks/shopify",
            replace(spec, warmup=0, connections=PACED_CONNECTIONS),
            script=paced_script,
        )
        _truncate(database_url)
        ingress = load(
            server.base_url + "/webhooks/shopify", replace(spec, warmup=0), script=url_script
        )
        stored = _scalar(database_url, "SELECT count(*) FROM webhook_events")
        emit(Figure("webhooks.ingress.events_per_s", ingress.rps, "events/s", trivial.rps))
        emit(Figure("webhooks.ingress.p50", ingress.p50_ms, "ms", trivial.p50_ms))
        emit(Figure("webhooks.ingress.p99", ingress.p99_ms, "ms", trivial.p99_ms))
        emit(Figure("webhooks.ingress.stored_events", stored, "events", ingress.requests))
        emit(Figure("webhooks.ingress.paced.events_per_s", paced.rps, "events/s", PACED_RPS))
        emit(Figure("webhooks.ingress.paced.p50", paced.p50_ms, "ms", trivial.p50_ms))
        emit(Figure("webhooks.ingress.paced.p99", paced.p99_ms, "ms", TARGET_P99_MS))
        log(
            f"webhook ingress: {ingress.rps:.0f} events/s (target {TARGET_RPS:.0f}; trivial "
            f"route {trivial.rps:.0f}), stored {stored} of {ingress.requests}; at "
            f"{paced.rps:.0f} events/s p99 {paced.p99_ms:.1f} ms (target {TARGET_P99_MS:.0f})"
        )
        _exactly_once(database_url, server.base_url, env, work_dir, spec)
        _processing(database_url, server.base_url, env, work_dir, spec)
