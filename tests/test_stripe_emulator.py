"""Stripe emulator, core (providers.md §8): customers, test PaymentMethods, SetupIntents with
the hosted page, PaymentIntents on and off session with 3-D Secure, search, idempotency keys,
errors, events with signed delivery, and fault injection. Driven through the official SDK
(async methods) and plain httpx over ASGI; webhooks go to a tiny receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import stripe
from fastapi import FastAPI

from sellerhub_emulators.app import create_emulators_app
from sellerhub_emulators.stripe import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET, StripeEmulator

# The official SDK posts its form body as httpx data=<str>, which httpx deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

BASE = "http://testserver/stripe"
AUTH = {"Authorization": f"Bearer {SECRET_KEY}"}


class FakeClock:
    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Receiver:
    url: str = ""
    status: int = 200
    requests: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append(Received(headers, body))
        self.arrived.set()
        writer.write(
            f"HTTP/1.1 {self.status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()

    def types(self) -> list[str]:
        return [r.event()["type"] for r in self.requests]

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.requests) < count:
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emu_app(clock: FakeClock) -> FastAPI:
    return create_emulators_app(clock=clock)


@pytest.fixture
def emu(emu_app: FastAPI) -> StripeEmulator:
    found = emu_app.state.emulators["stripe"]
    assert isinstance(found, StripeEmulator)
    return found


@pytest.fixture
async def api(emu_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=emu_app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield client


def make_sdk(app: FastAPI, key: str = SECRET_KEY, **options: Any) -> stripe.StripeClient:
    http_client = stripe.HTTPXClient()
    # The SDK's own httpx client, pointed at the app in process (no socket).
    http_client._client_async = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    return stripe.StripeClient(
        key,
        base_addresses={"api": BASE},
        http_client=http_client,
        max_network_retries=options.pop("max_network_retries", 0),
        **options,
    )


@pytest.fixture
def sdk(emu_app: FastAPI) -> stripe.StripeClient:
    return make_sdk(emu_app)


@pytest.fixture
async def receiver(api: httpx.AsyncClient) -> AsyncIterator[Receiver]:
    target = Receiver()
    server = await asyncio.start_server(target.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    target.url = f"http://127.0.0.1:{port}/webhooks/stripe"
    config = {"webhook_url": target.url, "delivery_delay_seconds": 0, "retry_delays": [0.05, 0.1]}
    assert (await api.post("/_admin/config", json=config)).status_code == 200
    async with server:
        yield target
        server.close()


async def saved_card(sdk: stripe.StripeClient, pm: str = "pm_card_visa") -> tuple[str, str]:
    cus = await sdk.v1.customers.create_async(params={"email": "seller@example.com"})
    create: Any = {"customer": cus.id, "payment_method_types": ["card"]}
    si = await sdk.v1.setup_intents.create_async(params=create)
    si = await sdk.v1.setup_intents.confirm_async(si.id, params={"payment_method": pm})
    assert si.status == "succeeded"
    assert isinstance(si.payment_method, str)
    return cus.id, si.payment_method


async def deliveries(api: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    """The recorded attempts once ``count`` are there (an attempt is recorded after its answer)."""
    for _ in range(100):
        rows: list[dict[str, Any]] = (await api.get("/_admin/deliveries")).json()["deliveries"]
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {count} deliveries")


def redirect_url(intent: stripe.PaymentIntent | stripe.SetupIntent) -> str:
    assert intent.next_action is not None and intent.next_action.redirect_to_url is not None
    url = intent.next_action.redirect_to_url.url
    assert url is not None
    return url


def charge_params(cus: str, pm: str, **extra: Any) -> Any:
    return {
        "amount": 2000,
        "currency": "usd",
        "customer": cus,
        "payment_method": pm,
        "off_session": True,
        "confirm": True,
        "metadata": {"recovery_id": "rec-1"},
    } | extra


# -- customers and payment methods -------------------------------------------------------------


async def test_customer_lifecycle_and_default_payment_method(sdk: stripe.StripeClient) -> None:
    cus = await sdk.v1.customers.create_async(
        params={"email": "a@example.com", "name": "A", "metadata": {"org": "o1"}}
    )
    assert cus.id.startswith("cus_") and cus.object == "customer" and cus.livemode is False
    pm = await sdk.v1.payment_methods.attach_async(
        "pm_card_mastercard", params={"customer": cus.id}
    )
    assert pm.id.startswith("pm_") and pm.id != "pm_card_mastercard"
    assert pm.card is not None and pm.card.brand == "mastercard" and pm.card.last4 == "4444"
    assert pm.customer == cus.id
    updated = await sdk.v1.customers.update_async(
        cus.id,
        params={
            "invoice_settings": {"default_payment_method": pm.id},
            "metadata": {"org": "", "tier": "x"},
        },
    )
    assert updated.invoice_settings and updated.invoice_settings.default_payment_method == pm.id
    assert updated.metadata and updated.metadata.to_dict() == {"tier": "x"}
    listed = await sdk.v1.customers.payment_methods.list_async(cus.id)
    assert [p.id for p in listed.data] == [pm.id]
    by_query = await sdk.v1.payment_methods.list_async(params={"customer": cus.id, "type": "card"})
    assert [p.id for p in by_query.data] == [pm.id]
    detached = await sdk.v1.payment_methods.detach_async(pm.id)
    assert detached.customer is None
    again = await sdk.v1.customers.retrieve_async(cus.id)
    assert again.invoice_settings and again.invoice_settings.default_payment_method is None
    customers = await sdk.v1.customers.list_async(params={"email": "a@example.com"})
    assert [c.id for c in customers.data] == [cus.id]


async def test_default_payment_method_must_be_attached(sdk: stripe.StripeClient) -> None:
    cus = await sdk.v1.customers.create_async()
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await sdk.v1.customers.update_async(
            cus.id, params={"invoice_settings": {"default_payment_method": "pm_nope"}}
        )
    assert raised.value.param == "invoice_settings[default_payment_method]"


async def test_same_card_same_fingerprint(sdk: stripe.StripeClient) -> None:
    _, first = await saved_card(sdk)
    _, second = await saved_card(sdk)
    a = await sdk.v1.payment_methods.retrieve_async(first)
    b = await sdk.v1.payment_methods.retrieve_async(second)
    assert a.id != b.id and a.card and b.card and a.card.fingerprint == b.card.fingerprint


# -- errors and authentication -----------------------------------------------------------------


async def test_wrong_key_is_401(emu_app: FastAPI, api: httpx.AsyncClient) -> None:
    bad = make_sdk(emu_app, key="sk_test_wrong_key_123456")
    with pytest.raises(stripe.AuthenticationError) as raised:
        await bad.v1.customers.list_async()
    assert raised.value.http_status == 401
    none = await api.get("/v1/customers")
    assert none.status_code == 401 and none.json()["error"]["type"] == "invalid_request_error"
    pk = await api.get("/v1/customers", headers={"Authorization": f"Bearer {PUBLISHABLE_KEY}"})
    assert pk.status_code == 401
    basic = await api.get("/v1/customers", auth=(SECRET_KEY, ""))
    assert basic.status_code == 200 and basic.json()["object"] == "list"


async def test_unknown_id_is_404_resource_missing(
    sdk: stripe.StripeClient, api: httpx.AsyncClient
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await sdk.v1.payment_intents.retrieve_async("pi_missing")
    assert raised.value.http_status == 404 and raised.value.code == "resource_missing"
    body = (await api.get("/v1/customers/cus_missing", headers=AUTH)).json()["error"]
    assert body == {
        "type": "invalid_request_error",
        "code": "resource_missing",
        "doc_url": "https://stripe.com/docs/error-codes/resource_missing",
        "message": "No such customer: 'cus_missing'",
        "param": "id",
    }
    unknown = await api.get("/v1/nothing", headers=AUTH)
    assert unknown.status_code == 404
    extra = await api.post("/v1/customers", data={"colour": "red"}, headers=AUTH)
    assert extra.status_code == 400 and extra.json()["error"]["code"] == "parameter_unknown"
    amount = await api.post(
        "/v1/payment_intents", data={"amount": "ten", "currency": "usd"}, headers=AUTH
    )
    assert amount.status_code == 400 and amount.json()["error"]["param"] == "amount"
    small = await api.post(
        "/v1/payment_intents", data={"amount": "10", "currency": "usd"}, headers=AUTH
    )
    assert small.json()["error"]["code"] == "amount_too_small"


# -- off-session payments ----------------------------------------------------------------------


async def test_visa_off_session_succeeds_with_charge(sdk: stripe.StripeClient) -> None:
    cus, pm = await saved_card(sdk)
    pi = await sdk.v1.payment_intents.create_async(
        params=charge_params(cus, pm, description="Commission", transfer_group="g1")
        | {"expand": ["latest_charge.balance_transaction"]}
    )
    assert pi.id.startswith("pi_") and pi.status == "succeeded" and pi.amount_received == 2000
    charge = pi.latest_charge
    assert isinstance(charge, stripe.Charge)
    assert charge.id.startswith("ch_") and charge.status == "succeeded" and charge.paid
    assert charge.metadata.to_dict() == {"recovery_id": "rec-1"}
    txn = charge.balance_transaction
    assert isinstance(txn, stripe.BalanceTransaction)
    assert txn.amount == 2000 and txn.fee == 88 and txn.net == 1912
    types = [e.type for e in (await sdk.v1.events.list_async(params={"limit": 3})).data]
    assert types[:2] == ["payment_intent.succeeded", "charge.succeeded"]


@pytest.mark.parametrize(
    ("pm", "code", "decline_code"),
    [
        ("pm_card_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"),
        ("pm_card_chargeDeclined", "card_declined", "generic_decline"),
        ("pm_card_expiredCard", "expired_card", "expired_card"),
        ("pm_card_authenticationRequired", "authentication_required", "authentication_required"),
    ],
)
async def test_declines_off_session_are_402(
    sdk: stripe.StripeClient, pm: str, code: str, decline_code: str
) -> None:
    cus = (await sdk.v1.customers.create_async()).id
    with pytest.raises(stripe.CardError) as raised:
        await sdk.v1.payment_intents.create_async(params=charge_params(cus, pm))
    err = raised.value
    assert err.http_status == 402 and err.code == code
    assert err.error is not None and err.error.decline_code == decline_code
    assert err.error.type == "card_error"
    intent = err.error.payment_intent
    assert intent is not None and intent.status == "requires_payment_method"
    assert intent.last_payment_error is not None and intent.last_payment_error.code == code
    types = [e.type for e in (await sdk.v1.events.list_async(params={"limit": 2})).data]
    assert types == ["payment_intent.payment_failed", "charge.failed"]


async def test_declining_cards_fail_setup_but_insufficient_funds_saves(
    sdk: stripe.StripeClient,
) -> None:
    cus = await sdk.v1.customers.create_async()
    si = await sdk.v1.setup_intents.create_async(params={"customer": cus.id})
    assert si.usage == "off_session" and str(si.client_secret).startswith(f"{si.id}_secret_")
    with pytest.raises(stripe.CardError) as raised:
        await sdk.v1.setup_intents.confirm_async(
            si.id, params={"payment_method": "pm_card_chargeDeclined"}
        )
    assert raised.value.error is not None and raised.value.error.setup_intent is not None
    assert raised.value.error.setup_intent.status == "requires_payment_method"
    ok = await sdk.v1.setup_intents.confirm_async(
        si.id, params={"payment_method": "pm_card_chargeDeclinedInsufficientFunds"}
    )
    assert ok.status == "succeeded"


async def test_authentication_on_session_through_hosted_page(
    sdk: stripe.StripeClient, api: httpx.AsyncClient
) -> None:
    cus = (await sdk.v1.customers.create_async()).id
    si = await sdk.v1.setup_intents.create_async(params={"customer": cus})
    si = await sdk.v1.setup_intents.confirm_async(
        si.id, params={"payment_method": "pm_card_authenticationRequiredOnSetup"}
    )
    assert si.status == "requires_action" and si.next_action is not None
    challenge = redirect_url(si)
    assert challenge is not None
    shown = await api.post(
        challenge.split("?")[0], data={"client_secret": si.client_secret, "action": "complete"}
    )
    assert shown.status_code == 200  # no return_url: the page says what happened
    pm = (await sdk.v1.setup_intents.retrieve_async(si.id)).payment_method
    assert isinstance(pm, str)
    # Set up off session: later off-session charges need no authentication.
    assert (await sdk.v1.payment_intents.create_async(params=charge_params(cus, pm))).status == (
        "succeeded"
    )
    cus2 = (await sdk.v1.customers.create_async()).id
    with pytest.raises(stripe.CardError) as raised:
        await sdk.v1.payment_intents.create_async(
            params=charge_params(cus2, "pm_card_authenticationRequired")
        )
    assert raised.value.error is not None and raised.value.error.payment_intent is not None
    pi_id = raised.value.error.payment_intent.id
    # The seller comes back: on-session confirm -> requires_action -> 3-D Secure page.
    pi = await sdk.v1.payment_intents.confirm_async(
        pi_id,
        params={
            "payment_method": "pm_card_authenticationRequired",
            "return_url": "https://app.example/back",
        },
    )
    assert pi.status == "requires_action" and pi.next_action is not None
    url = redirect_url(pi)
    assert url is not None
    page = await api.get(url)
    assert page.status_code == 200 and "3-D Secure" in page.text
    form = parse_qs(urlsplit(url).query)
    done = await api.post(
        url.split("?")[0],
        data={"client_secret": form["client_secret"][0], "action": "complete"},
    )
    assert done.status_code == 303
    back = urlsplit(done.headers["location"])
    assert back.netloc == "app.example"
    query = parse_qs(back.query)
    assert query["payment_intent"] == [pi_id] and query["redirect_status"] == ["succeeded"]
    final = await sdk.v1.payment_intents.retrieve_async(pi_id)
    assert final.status == "succeeded" and final.latest_charge
    types = [e.type for e in (await sdk.v1.events.list_async(params={"limit": 3})).data]
    assert types == [
        "payment_intent.succeeded",
        "charge.succeeded",
        "payment_intent.requires_action",
    ]


async def test_authentication_failed_on_page(
    sdk: stripe.StripeClient, api: httpx.AsyncClient
) -> None:
    cus = (await sdk.v1.customers.create_async()).id
    pi = await sdk.v1.payment_intents.create_async(
        params={
            "amount": 500,
            "currency": "eur",
            "customer": cus,
            "payment_method": "pm_card_authenticationRequired",
            "confirm": True,
            "return_url": "https://app.example/back",
        }
    )
    assert pi.status == "requires_action" and pi.next_action is not None
    url = redirect_url(pi)
    assert url is not None
    secret = parse_qs(urlsplit(url).query)["client_secret"][0]
    failed = await api.post(url.split("?")[0], data={"client_secret": secret, "action": "fail"})
    assert parse_qs(urlsplit(failed.headers["location"]).query)["redirect_status"] == ["failed"]
    after = await sdk.v1.payment_intents.retrieve_async(pi.id)
    assert after.status == "requires_payment_method"
    assert after.last_payment_error is not None
    assert after.last_payment_error.code == "payment_intent_authentication_failure"
    wrong = await api.post(url.split("?")[0], data={"client_secret": "nope", "action": "complete"})
    assert wrong.status_code == 404


async def test_hosted_setup_page(sdk: stripe.StripeClient, api: httpx.AsyncClient) -> None:
    cus = await sdk.v1.customers.create_async()
    si = await sdk.v1.setup_intents.create_async(
        params={"customer": cus.id, "automatic_payment_methods": {"enabled": True}}
    )
    path = f"/pages/setup/{si.id}"
    shown = await api.get(path, params={"client_secret": si.client_secret})
    assert shown.status_code == 200 and "pm_card_chargeDeclined" in shown.text
    saved = await api.post(
        path,
        data={
            "client_secret": si.client_secret,
            "return_url": "https://app.example/billing?x=1",
            "payment_method": "pm_card_visa",
        },
    )
    assert saved.status_code == 303
    query = parse_qs(urlsplit(saved.headers["location"]).query)
    assert query["setup_intent"] == [si.id] and query["redirect_status"] == ["succeeded"]
    assert query["x"] == ["1"]
    after = await sdk.v1.setup_intents.retrieve_async(si.id)
    assert after.status == "succeeded"
    methods = await sdk.v1.customers.payment_methods.list_async(cus.id)
    assert [m.id for m in methods.data] == [after.payment_method]
    # A declining card: redirected with redirect_status=failed, setup_failed emitted.
    si2 = await sdk.v1.setup_intents.create_async(params={"customer": cus.id})
    failed = await api.post(
        f"/pages/setup/{si2.id}",
        data={
            "client_secret": si2.client_secret,
            "return_url": "https://app.example/billing",
            "payment_method": "pm_card_chargeDeclined",
        },
    )
    assert parse_qs(urlsplit(failed.headers["location"]).query)["redirect_status"] == ["failed"]
    # A card asking for 3-D Secure goes through the challenge page, then back.
    si3 = await sdk.v1.setup_intents.create_async(params={"customer": cus.id})
    step = await api.post(
        f"/pages/setup/{si3.id}",
        data={
            "client_secret": si3.client_secret,
            "return_url": "https://app.example/billing",
            "payment_method": "pm_card_authenticationRequiredOnSetup",
        },
    )
    assert step.status_code == 303 and "/pages/authenticate/" in step.headers["location"]
    challenge = step.headers["location"]
    done = await api.post(
        challenge.split("?")[0],
        data={"client_secret": si3.client_secret, "action": "complete"},
    )
    final = parse_qs(urlsplit(done.headers["location"]).query)
    assert final["setup_intent"] == [si3.id] and final["redirect_status"] == ["succeeded"]
    types = [e.type for e in (await sdk.v1.events.list_async(params={"limit": 50})).data]
    assert types.count("setup_intent.succeeded") == 2
    assert types.count("setup_intent.setup_failed") == 1
    assert "setup_intent.requires_action" in types


async def test_publishable_key_confirms_with_client_secret(
    sdk: stripe.StripeClient, api: httpx.AsyncClient
) -> None:
    cus = await sdk.v1.customers.create_async()
    si = await sdk.v1.setup_intents.create_async(params={"customer": cus.id})
    wrong = await api.post(
        f"/v1/setup_intents/{si.id}/confirm",
        data={"key": PUBLISHABLE_KEY, "client_secret": "x", "payment_method": "pm_card_visa"},
    )
    assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "client_secret"
    ok = await api.post(
        f"/v1/setup_intents/{si.id}/confirm",
        data={
            "key": PUBLISHABLE_KEY,
            "client_secret": si.client_secret,
            "payment_method": "pm_card_visa",
        },
    )
    assert ok.status_code == 200 and ok.json()["status"] == "succeeded"
    cancel = await sdk.v1.setup_intents.create_async(params={"customer": cus.id})
    canceled = await sdk.v1.setup_intents.cancel_async(cancel.id)
    assert canceled.status == "canceled"


# -- search ------------------------------------------------------------------------------------


async def test_search_by_metadata(sdk: stripe.StripeClient, api: httpx.AsyncClient) -> None:
    cus, pm = await saved_card(sdk)
    first = await sdk.v1.payment_intents.create_async(params=charge_params(cus, pm))
    await sdk.v1.payment_intents.create_async(
        params=charge_params(cus, pm, metadata={"recovery_id": "rec-2"})
    )
    found = await sdk.v1.payment_intents.search_async(
        params={"query": "metadata['recovery_id']:'rec-1' AND status:'succeeded'"}
    )
    assert [p.id for p in found.data] == [first.id]
    assert found.to_dict()["object"] == "search_result" and found.has_more is False
    none = await sdk.v1.payment_intents.search_async(
        params={"query": 'metadata["recovery_id"]:"rec-3"'}
    )
    assert none.data == []
    bad = await api.get("/v1/payment_intents/search", params={"query": "nonsense"}, headers=AUTH)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "query"
    listed = await sdk.v1.payment_intents.list_async(params={"customer": cus, "limit": 1})
    assert len(listed.data) == 1 and listed.has_more is True


async def test_search_lag(
    sdk: stripe.StripeClient, api: httpx.AsyncClient, clock: FakeClock
) -> None:
    await api.post("/_admin/config", json={"search_lag_seconds": 30.0})
    cus, pm = await saved_card(sdk)
    await sdk.v1.payment_intents.create_async(params=charge_params(cus, pm))
    query: Any = {"query": "metadata['recovery_id']:'rec-1'"}
    assert (await sdk.v1.payment_intents.search_async(params=query)).data == []
    clock.advance(31)
    assert len((await sdk.v1.payment_intents.search_async(params=query)).data) == 1


# -- idempotency -------------------------------------------------------------------------------


async def test_idempotency_replay_and_mismatch(
    sdk: stripe.StripeClient, api: httpx.AsyncClient
) -> None:
    cus, pm = await saved_card(sdk)
    data = {
        "amount": "2000",
        "currency": "usd",
        "customer": cus,
        "payment_method": pm,
        "off_session": "true",
        "confirm": "true",
        "metadata[recovery_id]": "rec-9",
    }
    headers = AUTH | {"Idempotency-Key": "commission:rec-9:1"}
    first = await api.post("/v1/payment_intents", data=data, headers=headers)
    again = await api.post("/v1/payment_intents", data=data, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Original-Request"] == first.headers["Request-Id"]
    assert "Idempotent-Replayed" not in first.headers
    other = await api.post("/v1/payment_intents", data=data | {"amount": "3000"}, headers=headers)
    assert other.status_code == 400 and other.json()["error"]["type"] == "idempotency_error"
    summary = (await api.get("/_admin/summary")).json()
    assert summary["counts"] == {"rec-9": 1}
    # Through the SDK: the same key replays the same PaymentIntent.
    params = charge_params(cus, pm, metadata={"recovery_id": "rec-10"})
    a = await sdk.v1.payment_intents.create_async(params=params, options={"idempotency_key": "k10"})
    b = await sdk.v1.payment_intents.create_async(params=params, options={"idempotency_key": "k10"})
    assert a.id == b.id


async def test_idempotency_replays_card_errors_and_skips_validation_failures(
    api: httpx.AsyncClient,
) -> None:
    cus = (await api.post("/v1/customers", headers=AUTH)).json()["id"]
    data = {
        "amount": "2000",
        "currency": "usd",
        "customer": cus,
        "payment_method": "pm_card_chargeDeclined",
        "off_session": "true",
        "confirm": "true",
    }
    headers = AUTH | {"Idempotency-Key": "decline-1"}
    first = await api.post("/v1/payment_intents", data=data, headers=headers)
    again = await api.post("/v1/payment_intents", data=data, headers=headers)
    assert first.status_code == again.status_code == 402 and first.json() == again.json()
    invalid = {"amount": "x", "currency": "usd"}
    bad = await api.post(
        "/v1/payment_intents", data=invalid, headers=AUTH | {"Idempotency-Key": "v"}
    )
    assert bad.status_code == 400
    good = await api.post(
        "/v1/payment_intents",
        data={"amount": "100", "currency": "usd"},
        headers=AUTH | {"Idempotency-Key": "v"},
    )
    assert good.status_code == 200  # the failed validation was not stored


async def test_idempotency_concurrent_409(api: httpx.AsyncClient) -> None:
    await api.post("/_admin/config", json={"latency_ms": 200})
    headers = AUTH | {"Idempotency-Key": "same"}
    first, second = await asyncio.gather(
        api.post("/v1/customers", data={"email": "x@example.com"}, headers=headers),
        api.post("/v1/customers", data={"email": "x@example.com"}, headers=headers),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    loser = first if first.status_code == 409 else second
    assert loser.json()["error"]["code"] == "idempotency_key_in_use"
    await api.post("/_admin/config", json={"latency_ms": 0})
    replay = await api.post("/v1/customers", data={"email": "x@example.com"}, headers=headers)
    assert replay.headers["Idempotent-Replayed"] == "true"


async def test_idempotency_keys_pruned_after_24h(api: httpx.AsyncClient, clock: FakeClock) -> None:
    headers = AUTH | {"Idempotency-Key": "old"}
    first = await api.post("/v1/customers", headers=headers)
    clock.advance(23 * 3600)
    assert (await api.post("/v1/customers", headers=headers)).json()["id"] == first.json()["id"]
    clock.advance(3600)
    fresh = await api.post("/v1/customers", headers=headers)
    assert fresh.json()["id"] != first.json()["id"]
    assert "Idempotent-Replayed" not in fresh.headers
    # _admin/advance_clock moves the emulator's own time the same way.
    await api.post("/_admin/advance_clock", json={"seconds": 86_400})
    third = await api.post("/v1/customers", headers=headers)
    assert third.json()["id"] != fresh.json()["id"]


# -- faults ------------------------------------------------------------------------------------


async def test_faults_error_and_after(
    sdk: stripe.StripeClient, api: httpx.AsyncClient, emu_app: FastAPI
) -> None:
    cus, pm = await saved_card(sdk)
    rule = {"method": "POST", "path": "/v1/payment_intents", "mode": "error", "status": 429}
    await api.post("/_admin/faults", json=rule)
    with pytest.raises(stripe.RateLimitError):
        await sdk.v1.payment_intents.create_async(params=charge_params(cus, pm))
    await api.post("/_admin/faults", json=rule | {"status": 500})
    with pytest.raises(stripe.APIError):
        await sdk.v1.payment_intents.create_async(params=charge_params(cus, pm))
    assert (await api.get("/_admin/summary")).json()["succeeded_payment_intents"] == 0
    # Refused before running: nothing stored, so the SDK's retry (same key) goes through.
    await api.post("/_admin/faults", json=rule | {"status": 500, "count": 1})
    retrying = make_sdk(emu_app, max_network_retries=1)
    done = await retrying.v1.payment_intents.create_async(
        params=charge_params(cus, pm, metadata={"recovery_id": "rec-retry"})
    )
    assert done.status == "succeeded"
    assert (await api.get("/_admin/summary")).json()["counts"] == {"rec-retry": 1}
    # Performed, then answered 500: the charge exists; the same key replays the 500.
    await api.post("/_admin/faults", json=rule | {"mode": "after"})
    key: Any = {"idempotency_key": "after-1"}
    for _ in range(2):
        with pytest.raises(stripe.APIError):
            await sdk.v1.payment_intents.create_async(params=charge_params(cus, pm), options=key)
    charges = (await api.get("/_admin/charges", params={"metadata[recovery_id]": "rec-1"})).json()
    assert charges["count"] == 1
    found = await sdk.v1.payment_intents.search_async(
        params={"query": "metadata['recovery_id']:'rec-1'"}
    )
    assert [p.status for p in found.data] == ["succeeded"]


async def test_fault_after_drop(sdk: stripe.StripeClient, api: httpx.AsyncClient) -> None:
    cus, pm = await saved_card(sdk)
    await api.post("/_admin/faults", json={"path": "/v1/payment_intents", "mode": "after_drop"})
    with pytest.raises(stripe.APIConnectionError):
        await sdk.v1.payment_intents.create_async(
            params=charge_params(cus, pm), options={"idempotency_key": "drop-1"}
        )
    # Stripe finished the request: the retry with the same key gets the stored answer.
    pi = await sdk.v1.payment_intents.create_async(
        params=charge_params(cus, pm), options={"idempotency_key": "drop-1"}
    )
    assert pi.status == "succeeded"
    assert (await api.get("/_admin/summary")).json()["counts"] == {"rec-1": 1}


async def test_common_fail_rule(sdk: stripe.StripeClient, api: httpx.AsyncClient) -> None:
    await api.post("/_admin/config", json={"fail": {"endpoint": "customers", "status": 500}})
    with pytest.raises(stripe.APIError):
        await sdk.v1.customers.create_async()
    assert (await sdk.v1.customers.create_async()).id
    assert (await api.get("/_admin/stats")).json()["requests"]["customers"] == 2


# -- webhooks ----------------------------------------------------------------------------------


async def test_signed_delivery_verified_by_sdk(
    sdk: stripe.StripeClient, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    cus, pm = await saved_card(sdk)
    pi = await sdk.v1.payment_intents.create_async(
        params=charge_params(cus, pm), options={"idempotency_key": "hook-1"}
    )
    await receiver.wait_for(7)
    types = receiver.types()
    assert types[-2:] == ["charge.succeeded", "payment_intent.succeeded"]
    last = receiver.requests[-1]
    event = stripe.Webhook.construct_event(
        last.body.decode(), last.headers["stripe-signature"], WEBHOOK_SECRET
    )
    assert event.type == "payment_intent.succeeded"
    assert event.data.object["id"] == pi.id
    assert event.request is not None and event.request.idempotency_key == "hook-1"
    assert event.api_version and event.livemode is False
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            last.body.decode(), last.headers["stripe-signature"], "whsec_other_secret"
        )
    await deliveries(api, 7)
    same = await sdk.v1.events.retrieve_async(event.id)
    assert same.type == event.type and same.pending_webhooks == 0


async def test_resend_and_reversed_order(
    sdk: stripe.StripeClient, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    await api.post("/_admin/config", json={"delivery": "hold"})
    cus, pm = await saved_card(sdk)
    await sdk.v1.payment_intents.create_async(params=charge_params(cus, pm))
    held = (await api.get("/_admin/deliveries")).json()["held"]
    assert len(held) == 7 and receiver.requests == []
    answer = (await api.post("/_admin/deliver", json={"held": True, "order": "reversed"})).json()
    assert [d["status"] for d in answer["deliveries"]] == [200] * 7
    assert receiver.types()[0] == "payment_intent.succeeded"
    assert receiver.types()[-1] == "customer.created"
    first = receiver.requests[0].event()["id"]
    again = (await api.post(f"/_admin/events/{first}/resend")).json()
    assert again["status"] == 200 and receiver.requests[-1].event()["id"] == first
    assert (await api.post("/_admin/events/evt_none/resend")).status_code == 404


async def test_signature_uses_the_real_time(
    sdk: stripe.StripeClient, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    await api.post("/_admin/advance_clock", json={"seconds": 86_400})
    await sdk.v1.customers.create_async()
    await receiver.wait_for(1)
    hook = receiver.requests[0]
    event = stripe.Webhook.construct_event(
        hook.body.decode(), hook.headers["stripe-signature"], WEBHOOK_SECRET
    )
    signed_at = int(hook.headers["stripe-signature"].split(",")[0].removeprefix("t="))
    assert event.created - signed_at >= 86_000  # the event's time is the emulator's


async def test_failed_delivery_is_retried(
    sdk: stripe.StripeClient, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.status = 500
    await sdk.v1.customers.create_async()
    await receiver.wait_for(1)
    receiver.status = 200
    await receiver.wait_for(2)
    rows = await deliveries(api, 2)
    assert [(r["attempt"], r["status"]) for r in rows[:2]] == [(1, 500), (2, 200)]
    assert len({r.event()["id"] for r in receiver.requests}) == 1


async def test_reset(api: httpx.AsyncClient) -> None:
    cus = (await api.post("/v1/customers", headers=AUTH)).json()["id"]
    await api.post("/_admin/reset")
    assert (await api.get(f"/v1/customers/{cus}", headers=AUTH)).status_code == 404
    config = (await api.get("/_admin/config")).json()
    assert config["secret_key"] == SECRET_KEY and config["webhook_secret"] == WEBHOOK_SECRET
