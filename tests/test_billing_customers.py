"""The card on file, end to end over real HTTP: the seller (a browser of the live server) asks
for a customer setup, opens the emulator's hosted page, picks a test card; Stripe's
``setup_intent.succeeded`` arrives signed at /webhooks/stripe, the drain stores the card (brand,
last four, expiry) as the default here and on the Stripe customer; listing, removing, roles,
another organization, duplicate and out-of-order events, Stripe failing, and no secret in any
log."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
import stripe
from sqlalchemy import text

from sellerhub.billing.stripe.client import translate
from sellerhub.billing.stripe.errors import CardRefused
from sellerhub.config import Settings
from sellerhub.identity.organizations.models import Role
from sellerhub.runtime import Runtime
from sellerhub.webhooks import service as webhooks
from tests.browser import Browser, forms_of
from tests.conftest import Tenant, make_tenant
from tests.stripe_helpers import (
    admin,
    drain,
    event_statuses,
    live_jobs,  # noqa: F401 - fixture
    stripe_reset,  # noqa: F401 - fixture
    wait_for_event,
)

pytestmark = pytest.mark.usefixtures("live_jobs", "stripe_reset")

SETUP = "/api/v1/stripe/create-customer-setup"
CARDS = "/api/v1/billing/payment-methods"


def _setup(seller: Browser) -> dict[str, Any]:
    answer = seller.client.post(SETUP, headers=seller.csrf())
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _pick_card(seller: Browser, setup: dict[str, Any], card: str = "pm_card_visa") -> str:
    """Open the hosted page, pick ``card``; the redirect's ``redirect_status``."""
    page = seller.get(setup["hosted_url"])
    assert page.status_code == 200, page.text
    back = seller.submit(page, ("action", "save"), follow=False, overrides={"payment_method": card})
    assert back.status_code == 303, back.text
    query = parse_qs(urlsplit(back.headers["location"]).query)
    assert query["setup_intent"] == [setup["setup_intent_id"]]
    return query["redirect_status"][0]


async def _save_card(
    seller: Browser, runtime: Runtime, card: str = "pm_card_visa", saved_before: int = 0
) -> dict[str, Any]:
    setup = _setup(seller)
    assert _pick_card(seller, setup, card) == "succeeded"
    await wait_for_event(runtime, "setup_intent.succeeded", saved_before + 1)
    await drain(runtime)
    return setup


def _cards(browser: Browser) -> list[dict[str, Any]]:
    answer = browser.client.get(CARDS)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def _customers(live_server: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{live_server}/_emulators/stripe/v1/customers",
        headers={"Authorization": "Bearer sk_test_sellerhub_emulator"},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["data"])


def _customer(live_server: str, customer_id: str) -> dict[str, Any]:
    answer = httpx.get(
        f"{live_server}/_emulators/stripe/v1/customers/{customer_id}",
        headers={"Authorization": "Bearer sk_test_sellerhub_emulator"},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_card_saved_through_the_hosted_page(
    seller: Browser, runtime: Runtime, live_server: str
) -> None:
    setup = await _save_card(seller, runtime)
    assert setup["customer_id"].startswith("cus_")
    assert setup["publishable_key"] == "pk_test_sellerhub_emulator"
    assert setup["client_secret"].startswith(setup["setup_intent_id"])
    (card,) = _cards(seller)
    assert card["brand"] == "visa" and card["last4"] == "4242" and card["is_default"]
    assert 1 <= card["exp_month"] <= 12 and card["exp_year"] >= 2026
    assert set(card) == {
        "id",
        "stripe_payment_method_id",
        "brand",
        "last4",
        "exp_month",
        "exp_year",
        "is_default",
        "created_at",
    }
    customer = _customer(live_server, setup["customer_id"])
    assert (
        customer["invoice_settings"]["default_payment_method"] == card["stripe_payment_method_id"]
    )
    assert customer["metadata"]["organization_id"]
    # A second setup reuses the customer.
    assert _setup(seller)["customer_id"] == setup["customer_id"]
    assert [s for s, _ in await event_statuses(runtime, "setup_intent.succeeded")] == ["processed"]


async def test_newest_card_is_default_and_removal_moves_it(
    seller: Browser, runtime: Runtime, live_server: str
) -> None:
    setup = await _save_card(seller, runtime, "pm_card_visa")
    await _save_card(seller, runtime, "pm_card_mastercard", saved_before=1)
    cards = _cards(seller)
    assert [(c["brand"], c["is_default"]) for c in cards] == [
        ("mastercard", True),
        ("visa", False),
    ]
    removed = seller.client.delete(f"{CARDS}/{cards[0]['id']}", headers=seller.csrf())
    assert removed.status_code == 204, removed.text
    (left,) = _cards(seller)
    assert left["brand"] == "visa" and left["is_default"]
    customer = _customer(live_server, setup["customer_id"])
    assert (
        customer["invoice_settings"]["default_payment_method"] == left["stripe_payment_method_id"]
    )
    again = seller.client.delete(f"{CARDS}/{cards[0]['id']}", headers=seller.csrf())
    assert again.status_code == 404 and again.json()["code"] == "not-found"
    last = seller.client.delete(f"{CARDS}/{left['id']}", headers=seller.csrf())
    assert last.status_code == 204
    assert _cards(seller) == []
    async with runtime.engine.connect() as conn:
        actions = {
            a
            for (a,) in await conn.execute(
                text("SELECT action FROM audit_events WHERE action LIKE 'BILLING_CARD%'")
            )
        }
    assert actions == {"BILLING_CARD_SAVED", "BILLING_CARD_REMOVED"}


async def test_duplicate_and_late_events_change_nothing(
    seller: Browser, runtime: Runtime, live_server: str
) -> None:
    """The first card's event delivered again after a newer card was saved, and after that
    newer card was removed: the default stays the newest live card, a removed card stays
    removed."""
    await _save_card(seller, runtime, "pm_card_visa")
    (first_event,) = admin(live_server, "deliveries")["deliveries"][:1] or [None]
    await _save_card(seller, runtime, "pm_card_amex", saved_before=1)
    events = [
        d
        for d in admin(live_server, "deliveries")["deliveries"]
        if d.get("type") == "setup_intent.succeeded"
    ]
    assert len(events) >= 2, events
    assert first_event is not None
    cards = _cards(seller)
    assert [(c["brand"], c["is_default"]) for c in cards] == [("amex", True), ("visa", False)]
    # Resend both events: Stripe sends a duplicate with the same id (stored once) — we replay
    # the event under a new id, as a late retry of the older one would look.
    await _replay_as_new(runtime, "setup_intent.succeeded")
    await drain(runtime)
    assert [(c["brand"], c["is_default"]) for c in _cards(seller)] == [
        ("amex", True),
        ("visa", False),
    ]
    amex = cards[0]
    assert seller.client.delete(f"{CARDS}/{amex['id']}", headers=seller.csrf()).status_code == 204
    await _replay_as_new(runtime, "setup_intent.succeeded")
    await drain(runtime)
    (visa,) = _cards(seller)
    assert visa["brand"] == "visa" and visa["is_default"]
    statuses = await event_statuses(runtime, "setup_intent.succeeded")
    assert {s for s, _ in statuses} == {"processed"}, statuses


async def _replay_as_new(runtime: Runtime, topic: str) -> None:
    """Store every stored event of ``topic`` again under a new id (oldest first), fresh."""
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO webhook_events (id, source, external_id, topic, payload, headers, "
                "status, attempts) SELECT gen_random_uuid(), source, external_id || '-late-' || "
                "md5(random()::text), topic, payload, headers, 'pending', 0 FROM webhook_events "
                "WHERE source = 'stripe' AND topic = :t AND external_id NOT LIKE '%-late-%'"
            ),
            {"t": topic},
        )


async def test_refused_card_is_recorded_not_saved(seller: Browser, runtime: Runtime) -> None:
    setup = _setup(seller)
    assert _pick_card(seller, setup, "pm_card_chargeDeclined") == "failed"
    await wait_for_event(runtime, "setup_intent.setup_failed")
    await drain(runtime)
    assert _cards(seller) == []
    async with runtime.engine.connect() as conn:
        data = (
            await conn.execute(
                text("SELECT data FROM audit_events WHERE action = 'BILLING_CARD_REFUSED'")
            )
        ).scalar_one()
    assert data["code"] == "card_declined"


async def test_member_reads_but_cannot_change(
    runtime: Runtime, live_server: str, client: httpx.AsyncClient
) -> None:
    member = await make_tenant(runtime, role=Role.MEMBER)
    refused = await client.post(SETUP, headers=member.headers)
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    listed = await client.get(CARDS, headers=member.headers)
    assert listed.status_code == 200 and listed.json() == []
    gone = await client.delete(f"{CARDS}/{uuid.uuid4()}", headers=member.headers)
    assert gone.status_code == 403


async def test_another_organizations_card_is_404(
    seller: Browser, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    await _save_card(seller, runtime)
    (card,) = _cards(seller)
    stranger: Tenant = await make_tenant(runtime)
    answer = await client.delete(f"{CARDS}/{card['id']}", headers=stranger.headers)
    assert answer.status_code == 404 and answer.json()["code"] == "not-found"
    assert (await client.get(CARDS, headers=stranger.headers)).json() == []
    assert len(_cards(seller)) == 1


async def test_stripe_failing_is_retried_then_a_clear_503(
    seller: Browser, live_server: str
) -> None:
    # One 500: the SDK retries (same Idempotency-Key) and the setup is made.
    admin(live_server, "faults", {"method": "POST", "path": "/v1/customers", "status": 500})
    assert seller.client.post(SETUP, headers=seller.csrf()).status_code == 201
    # Failing longer than the retries: 503 with Retry-After, nothing half made.
    admin(
        live_server,
        "faults",
        {"method": "POST", "path": "/v1/setup_intents", "status": 500, "count": 10},
    )
    answer = seller.client.post(SETUP, headers=seller.csrf())
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "stripe-unavailable"
    assert answer.headers["retry-after"] == "30"
    admin(live_server, "faults", method="DELETE")
    # Throttled (429, which Stripe does not ask to retry at once): 503 too.
    admin(live_server, "faults", {"method": "POST", "path": "/v1/setup_intents", "status": 429})
    throttled = seller.client.post(SETUP, headers=seller.csrf())
    assert throttled.status_code == 503 and throttled.json()["code"] == "stripe-unavailable"
    assert seller.client.post(SETUP, headers=seller.csrf()).status_code == 201


async def test_no_key_client_secret_or_card_data_in_logs(
    seller: Browser, runtime: Runtime, live_server: str, suite_logs: Path
) -> None:
    """A card saved, one refused, Stripe failing: the logs of this process and of the live
    server (INFO, everything billing logs) hold no key, webhook secret, client secret or card
    number (the suite scans again at the end of the run)."""
    setup = await _save_card(seller, runtime)
    refused = _setup(seller)
    assert _pick_card(seller, refused, "pm_card_chargeDeclined") == "failed"
    await wait_for_event(runtime, "setup_intent.setup_failed")
    await drain(runtime)
    admin(
        live_server,
        "faults",
        {"method": "POST", "path": "/v1/setup_intents", "status": 500, "count": 10},
    )
    assert seller.client.post(SETUP, headers=seller.csrf()).status_code == 503
    admin(live_server, "faults", method="DELETE")
    logs = _read_logs(suite_logs)
    assert "billing.setup_created" in logs and "stripe.call_failed" in logs
    for forbidden in (
        "sk_test_sellerhub_emulator",
        "whsec_sellerhub_development",
        setup["client_secret"],
        refused["client_secret"],
        "_secret_",
        "4242424242424242",
        "4000000000000002",
        "cvc",
    ):
        assert forbidden not in logs, forbidden


def _read_logs(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(folder.iterdir()))


async def test_card_needing_authentication_once_is_saved(seller: Browser, runtime: Runtime) -> None:
    """A card that asks for 3-D Secure at setup: the hosted page sends the browser to the bank's
    page; completed, the SetupIntent succeeds and the card is saved."""
    setup = _setup(seller)
    page = seller.get(setup["hosted_url"])
    overrides = {"payment_method": "pm_card_authenticationRequiredOnSetup"}
    challenge = seller.submit(page, ("action", "save"), follow=True, overrides=overrides)
    assert challenge.status_code == 200 and "3-D Secure" in challenge.text, challenge.text
    back = seller.submit(challenge, ("action", "complete"), follow=False)
    assert back.status_code == 303
    assert parse_qs(urlsplit(back.headers["location"]).query)["redirect_status"] == ["succeeded"]
    await wait_for_event(runtime, "setup_intent.succeeded")
    await drain(runtime)
    (card,) = _cards(seller)
    assert card["is_default"] and card["last4"] == "3155"


async def test_concurrent_setups_make_one_customer(seller: Browser, live_server: str) -> None:
    """Two tabs ask at once: one Stripe customer (one Idempotency-Key), one row."""

    async def ask() -> httpx.Response:
        return await asyncio.to_thread(seller.client.post, SETUP, headers=seller.csrf())

    first, second = await asyncio.gather(ask(), ask())
    assert first.status_code == 201 and second.status_code == 201, (first.text, second.text)
    assert first.json()["customer_id"] == second.json()["customer_id"]
    assert first.json()["setup_intent_id"] != second.json()["setup_intent_id"]
    assert [c["id"] for c in _customers(live_server)] == [first.json()["customer_id"]]


async def test_a_session_needs_the_csrf_header(seller: Browser) -> None:
    refused = seller.client.post(SETUP)
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")


def _sdk_error(kind: type[stripe.StripeError], status: int, **error: str) -> stripe.StripeError:
    body = {"error": {"message": "Stripe's words", **error}}
    code = error.get("code")
    if issubclass(kind, stripe.CardError):
        return kind(
            "Stripe's words", None, code or "card_declined", http_status=status, json_body=body
        )
    if issubclass(kind, stripe.InvalidRequestError):
        return kind("Stripe's words", None, code, http_status=status, json_body=body)
    return kind("Stripe's words", http_status=status, json_body=body)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (
            _sdk_error(stripe.CardError, 402, type="card_error", decline_code="insufficient_funds"),
            402,
            "card-refused",
        ),
        (
            _sdk_error(
                stripe.InvalidRequestError, 402, type="invalid_request_error", code="card_declined"
            ),
            402,
            "card-refused",
        ),
        (
            _sdk_error(
                stripe.InvalidRequestError,
                404,
                type="invalid_request_error",
                code="resource_missing",
            ),
            404,
            "stripe-object-missing",
        ),
        (
            _sdk_error(
                stripe.InvalidRequestError,
                400,
                type="invalid_request_error",
                code="parameter_unknown",
            ),
            502,
            "stripe-refused",
        ),
        (
            _sdk_error(stripe.IdempotencyError, 400, type="idempotency_error"),
            409,
            "stripe-idempotency",
        ),
        (_sdk_error(stripe.AuthenticationError, 401), 503, "stripe-misconfigured"),
        (_sdk_error(stripe.PermissionError, 403), 503, "stripe-misconfigured"),
        (_sdk_error(stripe.RateLimitError, 429), 503, "stripe-unavailable"),
        (_sdk_error(stripe.APIError, 500, type="api_error"), 503, "stripe-unavailable"),
        (stripe.APIConnectionError("timed out"), 503, "stripe-unavailable"),  # type: ignore[no-untyped-call]
    ],
)
def test_stripe_errors_become_domain_errors(
    error: stripe.StripeError, status: int, code: str
) -> None:
    translated = translate(error)
    assert (translated.status, translated.code) == (status, code)
    if code == "card-refused":
        assert isinstance(translated, CardRefused) and translated.card_code
    if status == 503 and code == "stripe-unavailable":
        assert translated.extra["retry_after"] == 30


def test_stripe_api_base_follows_the_emulators() -> None:
    dev = Settings(_env_file=None, public_url="http://127.0.0.1:9000")
    assert dev.stripe_api == "http://127.0.0.1:9000/_emulators/stripe" and dev.stripe_emulated
    off = Settings(_env_file=None, emulators=False)
    assert off.stripe_api == "https://api.stripe.com" and not off.stripe_emulated
    mine = Settings(_env_file=None, stripe_api_base="https://stripe.internal/")
    assert mine.stripe_api == "https://stripe.internal"


async def test_two_organizations_events_in_one_drain(
    seller: Browser, runtime: Runtime, live_server: str
) -> None:
    """Stripe's events carry no organization, so one drain handles both sellers' events in one
    transaction: each card lands in its own organization."""
    other = await make_tenant(runtime, "Initech")
    setup_a = _setup(seller)
    async with httpx.AsyncClient(base_url=live_server, timeout=15) as api:
        answer = await api.post(SETUP, headers=other.headers)
        assert answer.status_code == 201, answer.text
        page = await api.get(answer.json()["hosted_url"])
        assert page.status_code == 200
        (form,) = forms_of(page.text)
        saved = await api.post(
            urljoin(str(page.url), form.action or str(page.url)),
            data={**form.fields, "payment_method": "pm_card_mastercard", "action": "save"},
        )
        assert saved.status_code == 303, saved.text
    assert _pick_card(seller, setup_a, "pm_card_visa") == "succeeded"
    await wait_for_event(runtime, "setup_intent.succeeded", 2)
    await webhooks.drain(runtime.sessionmaker)
    assert [c["brand"] for c in _cards(seller)] == ["visa"]
    async with httpx.AsyncClient(base_url=live_server, timeout=15) as api:
        theirs = (await api.get(CARDS, headers=other.headers)).json()
    assert [(c["brand"], c["is_default"]) for c in theirs] == [("mastercard", True)]
    assert {s for s, _ in await event_statuses(runtime, "setup_intent.succeeded")} == {"processed"}
