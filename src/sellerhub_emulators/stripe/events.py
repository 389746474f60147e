"""Events (providers.md §8.3) and their signed delivery.

Every state change records an Event in Stripe's envelope. After the API answer the events of
the request are POSTed, in the order they happened, to the webhook endpoint (Connect events —
those with ``account`` — to the Connect endpoint when one is configured) with
``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "{t}.{body}")>``. A non-2xx answer or
a network error is retried after each of ``retry_delays``. Every attempt is recorded for
``_admin/deliveries``; ``_admin/deliver`` re-sends events (duplicates on purpose) in a chosen
order.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from sellerhub_emulators.stripe import constants as c
from sellerhub_emulators.stripe.state import StripeEmulator


@dataclass(frozen=True, slots=True)
class Origin:
    """The request an event comes from (``request.id``/``idempotency_key``), None for pages and
    automatic changes, as Stripe sends ``null`` for those."""

    request_id: str | None = None
    idempotency_key: str | None = None


AUTOMATIC = Origin()


def emit(
    em: StripeEmulator,
    origin: Origin,
    type_: str,
    obj: dict[str, Any],
    *,
    previous: dict[str, Any] | None = None,
    account: str | None = None,
) -> dict[str, Any]:
    url, _ = em.webhook_target(connect=account is not None)
    event: dict[str, Any] = {
        "id": em.new_id("evt"),
        "object": "event",
    }
    if account is not None:
        event["account"] = account
    event.update(
        api_version=c.API_VERSION,
        created=em.now(),
        data={"object": copy.deepcopy(obj)},
        livemode=False,
        pending_webhooks=1 if url and em.settings.delivery != "off" else 0,
        request={"id": origin.request_id, "idempotency_key": origin.idempotency_key},
        type=type_,
    )
    if previous:
        event["data"]["previous_attributes"] = copy.deepcopy(previous)
    em.put(event, account)
    em.events.append(event["id"])
    em.pending.append(event["id"])
    return event


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


async def send(
    em: StripeEmulator,
    event_id: str,
    *,
    attempt: int = 1,
    reason: str = "auto",
    client: httpx.AsyncClient | None = None,
) -> dict[str, Any]:
    """POST one event once; the attempt is recorded and returned."""
    event = em.objects[event_id]
    url, secret = em.webhook_target(connect="account" in event)
    record: dict[str, Any] = {
        "event": event_id,
        "type": event["type"],
        "account": event.get("account"),
        "url": url,
        "attempt": attempt,
        "reason": reason,
        "at": em.now(),
        "status": None,
        "error": None,
    }
    if url is None:
        record["error"] = "no webhook endpoint configured"
        em.deliveries.append(record)
        return record
    body = json.dumps(event, indent=2).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        # Signed at the real time of sending, as Stripe does, whatever the emulator's clock
        # says (receivers check the timestamp against their own clock).
        "Stripe-Signature": signature_header(secret, body, int(time.time())),
    }
    try:
        if client is not None:
            response = await client.post(url, content=body, headers=headers)
        else:
            async with new_client() as own:
                response = await own.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
    else:
        record["status"] = response.status_code
        if 200 <= response.status_code < 300:
            event["pending_webhooks"] = 0
    em.deliveries.append(record)
    return record


def new_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=httpx.Timeout(c.DELIVERY_TIMEOUT_SECONDS), trust_env=False)


def _ok(record: dict[str, Any]) -> bool:
    status = record["status"]
    return isinstance(status, int) and 200 <= status < 300


async def _deliver_in_order(em: StripeEmulator, event_ids: list[str]) -> None:
    await asyncio.sleep(em.settings.delivery_delay_seconds)
    async with new_client() as client:
        for event_id in event_ids:
            if event_id not in em.objects:  # reset meanwhile
                return
            record = await send(em, event_id, client=client)
            if not _ok(record) and record["url"] is not None:
                _spawn(em, _retry(em, event_id))


async def _retry(em: StripeEmulator, event_id: str) -> None:
    for attempt, delay in enumerate(em.settings.retry_delays, start=2):
        await asyncio.sleep(delay)
        if event_id not in em.objects:
            return
        if _ok(await send(em, event_id, attempt=attempt, reason="retry")):
            return


def _spawn(em: StripeEmulator, coro: Any) -> None:
    """Run a delivery in the background, held by the emulator until it ends (the loop keeps
    only weak references to tasks) and cancelled by its reset."""
    task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
    em.deliveries_in_flight.add(task)
    task.add_done_callback(em.deliveries_in_flight.discard)


def flush(em: StripeEmulator) -> None:
    """Schedule the events the request just emitted (call after the answer is built)."""
    pending, em.pending = em.pending, []
    # Events without an endpoint (none configured, and not mounted in sellerhub) are not sent.
    pending = [
        i for i in pending if em.webhook_target(connect="account" in em.objects[i])[0] is not None
    ]
    if not pending:
        return
    mode = em.settings.delivery
    if mode == "off":
        return
    if mode == "hold":
        em.held.extend(pending)
        return
    _spawn(em, _deliver_in_order(em, pending))
