"""Webhook ingress figures on the production server: verified, persisted Shopify deliveries per
second and their p50/p99 latency, against the trivial route of the same server in the same run.

Every request is a new event: the body (and so its valid signature) is fixed, while the wrk
script gives each request its own ``X-Shopify-Event-Id``, so each one is verified, inserted into
the inbox and answered only after its commit. ``webhooks.ingress.stored_events`` counts the rows
afterwards (baseline: the requests wrk completed), proving nothing was dropped."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import replace
from pathlib import Path

import psycopg

from bench.harness import (
    Figure,
    LoadSpec,
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


def _script(path: Path, body: str, signature: str, run: str) -> Path:
    path.write_text(
        "local counter = 0\n"
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["X-Shopify-Hmac-Sha256"] = {json.dumps(signature)}\n'
        'wrk.headers["X-Shopify-Topic"] = "orders/updated"\n'
        f'wrk.headers["X-Shopify-Shop-Domain"] = {json.dumps(SHOP)}\n'
        'wrk.headers["X-Shopify-API-Version"] = "2026-10"\n'
        "request = function()\n"
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


def run(*, database_url: str, work_dir: Path, spec: LoadSpec) -> None:
    port = free_port()
    env = production_env(
        database_url=database_url, server="uvicorn", port=port, workers=1, data_dir=work_dir
    )
    secret = env["SELLERHUB_SHOPIFY_CLIENT_SECRET"]
    body = json.dumps({"id": 1, "updated_at": "2026-11-20T10:00:00Z", "currency": "USD"})
    signature = base64.b64encode(
        hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    ).decode()
    url_script = _script(work_dir / "webhooks.lua", body, signature, "m")
    with psycopg.connect(database_url, autocommit=True) as conn:  # the shop is connected
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
    with running_server("uvicorn", env, port, work_dir) as server:
        trivial = load(server.base_url + "/healthz", spec)
        if spec.warmup:
            load(
                server.base_url + "/webhooks/shopify",
                replace(spec, duration=spec.warmup, warmup=0),
                script=url_script,
            )
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("TRUNCATE webhook_events")
        ingress = load(
            server.base_url + "/webhooks/shopify", replace(spec, warmup=0), script=url_script
        )
        with psycopg.connect(database_url, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM webhook_events").fetchone()
            stored = int(row[0]) if row else 0
    emit(Figure("webhooks.ingress.events_per_s", ingress.rps, "events/s", trivial.rps))
    emit(Figure("webhooks.ingress.p50", ingress.p50_ms, "ms", trivial.p50_ms))
    emit(Figure("webhooks.ingress.p99", ingress.p99_ms, "ms", trivial.p99_ms))
    emit(Figure("webhooks.ingress.stored_events", stored, "events", ingress.requests))
    log(
        f"webhook ingress: {ingress.rps:.0f} events/s (target {TARGET_RPS:.0f}), "
        f"p99 {ingress.p99_ms:.1f} ms (target {TARGET_P99_MS:.0f}); stored {stored} "
        f"of {ingress.requests}"
    )
