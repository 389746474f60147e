"""Stripe emulator mounted in a real ``sellerhub serve`` (uvicorn, every middleware): the
official SDK over sockets, events delivered by default to the same origin's
``/webhooks/stripe`` (signed with the development secret, accepted by sellerhub's ingress), and
a connection dropped after the work was done."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import stripe

from sellerhub.runtime import Runtime
from sellerhub_emulators.stripe import SECRET_KEY

# The official SDK posts its form body as httpx data=<str>, which httpx deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


async def _deliveries(admin: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    for _ in range(200):
        rows: list[dict[str, Any]] = (await admin.get("/_admin/deliveries")).json()["deliveries"]
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} deliveries: {rows}")


async def test_sdk_and_webhooks_through_the_mounted_emulator(
    live_server: str, runtime: Runtime
) -> None:
    base = f"{live_server}/_emulators/stripe"
    client = stripe.StripeClient(
        SECRET_KEY,
        base_addresses={"api": base},
        http_client=stripe.HTTPXClient(),
        max_network_retries=0,
    )
    async with httpx.AsyncClient(base_url=base, timeout=10) as admin:
        await admin.post("/_admin/reset")
        await admin.post("/_admin/config", json={"delivery_delay_seconds": 0})
        cus = await client.v1.customers.create_async(params={"email": "live@example.com"})
        pm = await client.v1.payment_methods.attach_async(
            "pm_card_visa", params={"customer": cus.id}
        )
        await admin.post(
            "/_admin/faults", json={"path": "/v1/payment_intents", "mode": "after_drop"}
        )
        params: Any = {
            "amount": 1234,
            "currency": "usd",
            "customer": cus.id,
            "payment_method": pm.id,
            "off_session": True,
            "confirm": True,
            "metadata": {"recovery_id": "live-1"},
        }
        options: Any = {"idempotency_key": "live-1"}
        with pytest.raises(stripe.APIConnectionError):
            await client.v1.payment_intents.create_async(params=params, options=options)
        pi = await client.v1.payment_intents.create_async(params=params, options=options)
        assert pi.status == "succeeded"
        summary = (await admin.get("/_admin/summary")).json()
        assert summary["counts"] == {"live-1": 1}
        config = (await admin.get("/_admin/config")).json()
        assert config["effective_webhook_url"] == f"{live_server}/webhooks/stripe"
        rows = await _deliveries(admin, 5)
        assert {r["status"] for r in rows} == {200}, rows
        assert {r["url"] for r in rows} == {f"{live_server}/webhooks/stripe"}
        await admin.post("/_admin/reset")
