"""Webhook ingress: signatures over the raw body, the inbox with exactly-once storage,
asynchronous processing, re-drive, and the Shopify lifecycle/compliance topics."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from sellerhub.connections import vault
from sellerhub.connections.models import Connection
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.runtime import Runtime
from sellerhub.webhooks.verification import SignatureInvalid, stripe_signature, verify_stripe
from tests.conftest import Tenant
from tests.jobs_helpers import redrive_lost_webhooks, run_worker

SHOPIFY_SECRET = "shopify-emulator-secret"
STRIPE_SECRET = "whsec_sellerhub_development"
SHOP = "acme-store.myshopify.com"


def _shopify_headers(body: bytes, *, event_id: str, topic: str = "orders/create") -> dict[str, str]:
    # Shopify's documented algorithm, computed here independently of the code under test.
    digest = hmac.new(SHOPIFY_SECRET.encode(), body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Webhook-Id": f"wh-{event_id}",
        "X-Shopify-Event-Id": event_id,
    }


async def _count(runtime: Runtime) -> int:
    async with runtime.engine.connect() as conn:
        return int(await conn.scalar(text("SELECT count(*) FROM webhook_events")) or 0)


async def _work() -> None:
    await run_worker()


async def test_shopify_delivery_is_stored_once(client: httpx.AsyncClient, runtime: Runtime) -> None:
    body = json.dumps({"id": 1001, "email": "a@example.com"}).encode()
    headers = _shopify_headers(body, event_id="evt-1")
    first = await client.post("/webhooks/shopify", content=body, headers=headers)
    assert first.status_code == 200 and first.json() == {"received": True, "duplicate": False}
    again = await client.post("/webhooks/shopify", content=body, headers=headers)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert await _count(runtime) == 1


async def test_concurrent_duplicates_store_one_event(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    body = json.dumps({"id": 2002}).encode()
    headers = _shopify_headers(body, event_id="evt-race")
    answers = await asyncio.gather(
        *(client.post("/webhooks/shopify", content=body, headers=headers) for _ in range(10))
    )
    assert {a.status_code for a in answers} == {200}
    assert sum(not a.json()["duplicate"] for a in answers) == 1
    assert await _count(runtime) == 1


@pytest.mark.parametrize("tamper", ["body", "signature", "missing", "secret"])
async def test_bad_shopify_signatures_are_401(
    client: httpx.AsyncClient, runtime: Runtime, tamper: str
) -> None:
    body = json.dumps({"id": 3003}).encode()
    headers = _shopify_headers(body, event_id="evt-bad")
    if tamper == "body":
        body = body.replace(b"3003", b"3004")
    elif tamper == "signature":
        headers["X-Shopify-Hmac-Sha256"] = base64.b64encode(b"x" * 32).decode()
    elif tamper == "missing":
        del headers["X-Shopify-Hmac-Sha256"]
    else:
        wrong = hmac.new(b"another-secret", body, hashlib.sha256).digest()
        headers["X-Shopify-Hmac-Sha256"] = base64.b64encode(wrong).decode()
    response = await client.post("/webhooks/shopify", content=body, headers=headers)
    assert response.status_code == 401 and response.json()["code"] == "invalid-signature"
    assert await _count(runtime) == 0


async def test_malformed_and_oversized_bodies(client: httpx.AsyncClient, runtime: Runtime) -> None:
    body = b"{not json"
    malformed = await client.post(
        "/webhooks/shopify", content=body, headers=_shopify_headers(body, event_id="evt-m")
    )
    assert malformed.status_code == 400 and malformed.json()["code"] == "malformed-webhook"
    nul = b'{"id": 1, "note": "a\\u0000b"}'  # valid JSON that jsonb cannot hold
    refused = await client.post(
        "/webhooks/shopify", content=nul, headers=_shopify_headers(nul, event_id="evt-nul")
    )
    assert refused.status_code == 400 and "NUL" in refused.json()["detail"]
    array = b"[1, 2]"
    not_object = await client.post(
        "/webhooks/shopify", content=array, headers=_shopify_headers(array, event_id="evt-arr")
    )
    assert not_object.status_code == 400
    ok = b'{"id": 3}'
    no_topic = {
        k: v for k, v in _shopify_headers(ok, event_id="e").items() if k != "X-Shopify-Topic"
    }
    missing = await client.post("/webhooks/shopify", content=ok, headers=no_topic)
    assert missing.status_code == 400 and "Topic" in missing.json()["detail"]
    big = b'{"x": "' + b"a" * (runtime.settings.webhook_max_body_bytes + 10) + b'"}'
    oversized = await client.post(
        "/webhooks/shopify", content=big, headers=_shopify_headers(big, event_id="evt-big")
    )
    assert oversized.status_code == 413
    assert await _count(runtime) == 0


def test_stripe_signature_scheme() -> None:
    body = b'{"id": "evt_1", "type": "invoice.paid"}'
    now = int(time.time())
    good = stripe_signature(STRIPE_SECRET, body, now)
    assert verify_stripe(STRIPE_SECRET, body, f"t={now},v1=deadbeef,v1={good}") == now
    with pytest.raises(SignatureInvalid, match="tolerance"):
        verify_stripe(
            STRIPE_SECRET,
            body,
            f"t={now - 301},v1={stripe_signature(STRIPE_SECRET, body, now - 301)}",
        )
    with pytest.raises(SignatureInvalid):
        verify_stripe(STRIPE_SECRET, body, f"t={now},v1=deadbeef")
    with pytest.raises(SignatureInvalid):
        verify_stripe(STRIPE_SECRET, body, None)
    # The hex HMAC of "<t>.<body>", computed independently.
    expected = hmac.new(STRIPE_SECRET.encode(), f"{now}.".encode() + body, hashlib.sha256)
    assert good == expected.hexdigest()


async def test_stripe_events_are_stored_once(client: httpx.AsyncClient, runtime: Runtime) -> None:
    body = json.dumps({"id": "evt_123", "type": "payment_intent.succeeded"}).encode()
    now = int(time.time())
    headers = {"Stripe-Signature": f"t={now},v1={stripe_signature(STRIPE_SECRET, body, now)}"}
    assert (await client.post("/webhooks/stripe", content=body, headers=headers)).json()[
        "duplicate"
    ] is False
    assert (await client.post("/webhooks/stripe", content=body, headers=headers)).json()[
        "duplicate"
    ] is True
    stale = {
        "Stripe-Signature": f"t={now - 400},v1={stripe_signature(STRIPE_SECRET, body, now - 400)}"
    }
    assert (await client.post("/webhooks/stripe", content=body, headers=stale)).status_code == 401


async def test_a_connect_endpoint_s_own_secret_is_accepted_too(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stripe signs a Connect endpoint's deliveries with that endpoint's secret: with
    ``stripe_connect_webhook_secret`` set, either secret verifies; any other is refused."""
    from pydantic import SecretStr

    connect_secret = "whsec_connect_endpoint"
    body = json.dumps({"id": "evt_acct_1", "type": "account.updated", "account": "acct_1"})
    now = int(time.time())

    def signed(secret: str, event_id: str) -> tuple[bytes, dict[str, str]]:
        raw = body.replace("evt_acct_1", event_id).encode()
        return raw, {"Stripe-Signature": f"t={now},v1={stripe_signature(secret, raw, now)}"}

    raw, headers = signed(connect_secret, "evt_acct_1")
    assert (await client.post("/webhooks/stripe", content=raw, headers=headers)).status_code == 401
    monkeypatch.setattr(
        runtime.settings, "stripe_connect_webhook_secret", SecretStr(connect_secret)
    )
    answer = await client.post("/webhooks/stripe", content=raw, headers=headers)
    assert answer.status_code == 200 and answer.json()["duplicate"] is False
    raw, headers = signed(STRIPE_SECRET, "evt_platform_1")
    assert (await client.post("/webhooks/stripe", content=raw, headers=headers)).status_code == 200
    raw, headers = signed("whsec_someone_else", "evt_forged_1")
    assert (await client.post("/webhooks/stripe", content=raw, headers=headers)).status_code == 401
    async with runtime.engine.connect() as conn:
        stored = await conn.execute(text("SELECT external_id, account FROM webhook_events"))
        assert sorted(tuple(r) for r in stored) == [
            ("evt_acct_1", "acct_1"),
            ("evt_platform_1", "acct_1"),
        ]


async def _woo_connection(runtime: Runtime, tenant: Tenant, secret: str) -> uuid.UUID:
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        connection = Connection(
            organization_id=tenant.organization.id,
            provider="woocommerce",
            external_account_id="https://shop.example",
            scopes=[],
            details={"store_url": "https://shop.example"},
        )
        connection.ensure_id()
        vault.store_webhook_secret(runtime.keyring, connection, secret)
        session.add(connection)
    return connection.id


async def test_woocommerce_ping_and_signed_delivery(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    connection_id = await _woo_connection(runtime, tenant, "woo-secret")
    url = f"/webhooks/woocommerce/{connection_id}"
    ping = await client.post(
        url, content=b"webhook_id=17", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert ping.status_code == 200 and ping.json() == {"ping": True}
    body = json.dumps({"id": 55, "status": "processing"}).encode()
    signature = base64.b64encode(hmac.new(b"woo-secret", body, hashlib.sha256).digest()).decode()
    headers = {
        "X-WC-Webhook-Signature": signature,
        "X-WC-Webhook-Topic": "order.created",
        "X-WC-Webhook-Delivery-ID": "901",
        "Content-Type": "application/json",
    }
    assert (await client.post(url, content=body, headers=headers)).json()["duplicate"] is False
    assert (await client.post(url, content=body, headers=headers)).json()["duplicate"] is True
    wrong = {**headers, "X-WC-Webhook-Signature": base64.b64encode(b"y" * 32).decode()}
    assert (await client.post(url, content=body, headers=wrong)).status_code == 401
    unknown = await client.post(
        f"/webhooks/woocommerce/{uuid.uuid4()}", content=body, headers=headers
    )
    assert unknown.status_code == 401
    async with runtime.engine.connect() as conn:
        org = await conn.scalar(text("SELECT organization_id FROM webhook_events"))
    assert org == tenant.organization.id


async def test_events_are_processed_and_redriven(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    body = json.dumps({"id": 4004}).encode()
    await client.post(
        "/webhooks/shopify", content=body, headers=_shopify_headers(body, event_id="evt-p")
    )
    # Simulate a lost dispatch: the job request is gone, the event still pending.
    async with runtime.engine.begin() as conn:
        await conn.execute(text("DELETE FROM procrastinate_jobs"))
        await conn.execute(
            text("UPDATE webhook_events SET received_at = now() - interval '1 hour'")
        )
    assert await redrive_lost_webhooks(runtime) == 1
    await _work()
    async with runtime.engine.connect() as conn:
        status, attempts = (
            await conn.execute(text("SELECT status, attempts FROM webhook_events"))
        ).one()
    assert status == "processed" and attempts >= 1


async def test_shopify_uninstall_and_redaction(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        connection = Connection(
            organization_id=tenant.organization.id,
            provider="shopify",
            external_account_id=SHOP,
            scopes=[],
            details={},
        )
        connection.ensure_id()
        vault.store_client_secret(runtime.keyring, connection, "client", "secret")
        session.add(connection)
    order = json.dumps(
        {
            "id": 1,
            "email": "buyer@example.com",
            "customer": {"id": 77},
            "currency": "USD",
            "total_price": "1.00",
            "updated_at": "2026-11-20T10:00:00Z",
        }
    ).encode()
    await client.post(
        "/webhooks/shopify", content=order, headers=_shopify_headers(order, event_id="o1")
    )
    redact = json.dumps(
        {"shop_domain": SHOP, "customer": {"id": 77, "email": "buyer@example.com"}}
    ).encode()
    await client.post(
        "/webhooks/shopify",
        content=redact,
        headers=_shopify_headers(redact, event_id="r1", topic="customers/redact"),
    )
    uninstall = json.dumps({"domain": SHOP}).encode()
    await client.post(
        "/webhooks/shopify",
        content=uninstall,
        headers=_shopify_headers(uninstall, event_id="u1", topic="app/uninstalled"),
    )
    await _work()
    async with runtime.engine.connect() as conn:
        payloads = [
            p
            for (p,) in await conn.execute(
                text("SELECT payload FROM webhook_events ORDER BY received_at")
            )
        ]
        status, secret = (
            await conn.execute(text("SELECT status, client_secret FROM connections"))
        ).one()
        statuses = {s for (s,) in await conn.execute(text("SELECT status FROM webhook_events"))}
    assert "buyer@example.com" not in json.dumps(payloads)
    assert status == "disconnected" and secret is None
    assert statuses == {"processed"}


async def test_group_commit_answers_each_delivery_and_isolates_a_bad_row(
    runtime: Runtime,
) -> None:
    """Concurrent deliveries share multi-row statements; each caller learns whether its own
    event was new, duplicates inside one batch count once, and a row the database refuses
    (here an organization that does not exist) fails alone."""
    from sellerhub.core.ids import uuid7
    from sellerhub.webhooks.repository import insert_committed

    def row(external_id: str, organization_id: object = None) -> dict[str, Any]:
        return {
            "id": uuid7(),
            "source": "shopify",
            "external_id": external_id,
            "topic": "orders/create",
            "payload": {"id": external_id},
            "headers": {},
            "organization_id": organization_id,
            "connection_id": None,
            "account": "group.myshopify.com",
        }

    pool = runtime.ingress_pool
    assert pool is not None
    clean = [row(f"c-{i}") for i in range(40)] + [row("c-3")]
    answers = await asyncio.gather(*(insert_committed(pool, r) for r in clean))
    assert answers == [True] * 40 + [False]
    assert await _count(runtime) == 40
    rows = [row(f"g-{i}") for i in range(60)] + [row("g-7"), row("g-8")]
    rows.append(row("g-bad", organization_id=uuid7()))
    outcomes = await asyncio.gather(
        *(insert_committed(pool, r) for r in rows), return_exceptions=True
    )
    assert [o for o in outcomes[:60]] == [True] * 60
    assert outcomes[60:62] == [False, False]  # same event ids as two of the first sixty
    assert isinstance(outcomes[62], Exception)
    assert await _count(runtime) == 100


async def test_the_documented_routes_answer_like_the_ingress_lane(runtime: Runtime) -> None:
    """Without the lane (an app of the router alone), the FastAPI routes give the same
    answers: stored once, duplicate, 401, 413, 400."""
    from fastapi import FastAPI

    from sellerhub.core import problems
    from sellerhub.webhooks.endpoints import router

    bare = FastAPI()
    problems.install(bare)
    bare.include_router(router)
    bare.state.settings = runtime.settings
    bare.state.runtime = runtime
    transport = httpx.ASGITransport(app=bare)
    async with httpx.AsyncClient(transport=transport, base_url="http://bare") as plain:
        body = json.dumps({"id": 4004}).encode()
        headers = _shopify_headers(body, event_id="bare-1")
        first = await plain.post("/webhooks/shopify", content=body, headers=headers)
        assert first.json() == {"received": True, "duplicate": False}
        again = await plain.post("/webhooks/shopify", content=body, headers=headers)
        assert again.json()["duplicate"] is True
        forged = await plain.post(
            "/webhooks/shopify",
            content=body,
            headers=headers | {"X-Shopify-Hmac-Sha256": "AAAA"},
        )
        assert forged.status_code == 401 and forged.json()["code"] == "invalid-signature"
        big = b"{" + b" " * (runtime.settings.webhook_max_body_bytes + 1) + b"}"
        too_big = await plain.post(
            "/webhooks/shopify", content=big, headers=_shopify_headers(big, event_id="b")
        )
        assert too_big.status_code == 413
        broken = b"[]"
        bad = await plain.post(
            "/webhooks/shopify", content=broken, headers=_shopify_headers(broken, event_id="c")
        )
        assert bad.status_code == 400
        ping = await plain.post(
            f"/webhooks/woocommerce/{uuid.uuid4()}",
            content=b"webhook_id=12",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert ping.status_code == 200 and ping.json() == {"ping": True}
    assert await _count(runtime) == 1


async def test_lane_keeps_request_context_and_answers_503_when_the_database_is_down(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    from sellerhub.webhooks import service  # the module the ingress lane calls

    body = json.dumps({"id": 5005}).encode()
    ok = await client.post(
        "/webhooks/shopify",
        content=body,
        headers=_shopify_headers(body, event_id="ctx-1") | {"X-Request-ID": "req-12345678"},
    )
    assert ok.headers["x-request-id"] == "req-12345678"
    assert ok.headers["x-content-type-options"] == "nosniff"
    metrics = (await client.get("/metrics")).text
    assert 'route="/webhooks/shopify"' in metrics

    async def down(*args: object, **kwargs: object) -> bool:
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(service, "receive", down)
    refused = await client.post(
        "/webhooks/shopify", content=body, headers=_shopify_headers(body, event_id="ctx-2")
    )
    assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "database-unavailable"
    assert "connection refused" not in refused.text


async def test_the_inbox_writer_keeps_its_flush_alive_until_it_ends(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event loop holds tasks only weakly: a flush nobody references, waiting on its
    statement, can be garbage-collected mid-flight and its callers wait forever. The writer
    holds every flush until it ends."""
    import gc
    import weakref

    from sellerhub.webhooks import repository

    started = asyncio.Event()
    seen: dict[str, weakref.ref[Any]] = {}

    async def slow_insert(pool: object, values: dict[str, Any]) -> bool:
        statement: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        seen["statement"] = weakref.ref(statement)  # only this flush holds it
        seen["flush"] = weakref.ref(asyncio.current_task())
        started.set()
        return await statement

    monkeypatch.setattr(repository, "_insert_one", slow_insert)
    assert runtime.ingress_pool is not None
    writer = repository.InboxWriter(runtime.ingress_pool)
    caller = asyncio.create_task(writer.insert({"id": uuid.uuid4()}))
    await started.wait()
    gc.collect()
    statement = seen["statement"]()
    assert statement is not None, "the flush was garbage-collected while writing"
    assert seen["flush"]() in writer.flushing
    statement.set_result(True)
    assert await asyncio.wait_for(caller, 5) is True
    await asyncio.sleep(0)
    assert not writer.flushing  # released once it ended


async def test_the_inbox_writer_answers_every_caller_when_a_write_fails_unexpectedly(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error no branch of the write expects (not a psycopg one) reaches each caller of the
    batch instead of ending the flush with its callers still waiting."""
    from sellerhub.webhooks import repository

    async def broken(pool: object, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(repository, "_insert_many", broken)
    assert runtime.ingress_pool is not None
    writer = repository.InboxWriter(runtime.ingress_pool)
    outcomes = await asyncio.wait_for(
        asyncio.gather(
            *(writer.insert({"id": uuid.uuid4()}) for _ in range(10)), return_exceptions=True
        ),
        5,
    )
    assert all(isinstance(o, RuntimeError) for o in outcomes), outcomes
    await asyncio.sleep(0)
    assert not writer.flushing


async def test_a_burst_for_one_connection_looks_it_up_once(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 deliveries at once for a connection not yet cached share one lookup: before, each
    took a pool connection of its own and the tail waited past the pool timeout (503)."""
    from sellerhub.webhooks import ingress

    connection_id = await _woo_connection(runtime, tenant, "woo-secret")
    lookups: list[uuid.UUID | None] = []
    real = ingress.find_for_webhook  # type: ignore[attr-defined]

    async def counted(session: Any, **where: Any) -> Any:
        lookups.append(where.get("connection_id"))
        await asyncio.sleep(0.05)  # the burst arrives while the lookup is in flight
        return await real(session, **where)

    monkeypatch.setattr(ingress, "find_for_webhook", counted)

    def delivery(n: int) -> tuple[bytes, dict[str, str]]:
        body = json.dumps({"id": n, "status": "processing"}).encode()
        digest = hmac.new(b"woo-secret", body, hashlib.sha256).digest()
        return body, {
            "X-WC-Webhook-Signature": base64.b64encode(digest).decode(),
            "X-WC-Webhook-Topic": "order.created",
            "X-WC-Webhook-Delivery-ID": str(n),
            "Content-Type": "application/json",
        }

    url = f"/webhooks/woocommerce/{connection_id}"
    answers = await asyncio.gather(
        *(client.post(url, content=b, headers=h) for b, h in map(delivery, range(200)))
    )
    assert [a.status_code for a in answers] == [200] * 200
    assert lookups == [connection_id]
    assert await _count(runtime) == 200


async def test_a_failed_lookup_fails_its_waiters_and_the_next_delivery_tries_again(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlalchemy.exc

    from sellerhub.webhooks import ingress

    calls = 0
    real = ingress.find_for_webhook  # type: ignore[attr-defined]

    async def failing_once(session: Any, **where: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(0.05)
            raise sqlalchemy.exc.TimeoutError("pool exhausted")
        return await real(session, **where)

    monkeypatch.setattr(ingress, "find_for_webhook", failing_once)
    bodies = [json.dumps({"id": n}).encode() for n in range(20)]
    answers = await asyncio.gather(
        *(
            client.post(
                "/webhooks/shopify", content=b, headers=_shopify_headers(b, event_id=f"f-{n}")
            )
            for n, b in enumerate(bodies)
        )
    )
    assert [a.status_code for a in answers] == [503] * 20  # the provider delivers again
    assert all(a.headers["retry-after"] == "2" for a in answers) and calls == 1
    again = await client.post(
        "/webhooks/shopify", content=bodies[0], headers=_shopify_headers(bodies[0], event_id="f-0")
    )
    assert again.status_code == 200 and calls == 2
    assert await _count(runtime) == 1
