# ruff: noqa: F811 - the fixtures come from test_stripe_emulator by import
"""Stripe emulator, Checkout (providers.md §8.4): sessions in payment, setup and subscription
mode paid (or canceled) on the hosted page, async payments settled later, expiry, line items,
products and prices, and subscription renewals billed through ``_admin``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import stripe

from .test_stripe_emulator import (  # noqa: F401 - fixtures
    AUTH,
    FakeClock,
    api,
    clock,
    emu,
    emu_app,
    sdk,
)

# The official SDK posts its form body as httpx data=<str>, which httpx deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

PAYMENT: Any = {
    "mode": "payment",
    "line_items": [
        {
            "price_data": {
                "currency": "usd",
                "unit_amount": 2500,
                "product_data": {"name": "1,000 credits"},
            },
            "quantity": 2,
        }
    ],
    "success_url": "https://app.example/credits/done?session={CHECKOUT_SESSION_ID}",
    "cancel_url": "https://app.example/credits",
    "client_reference_id": "org-1",
    "metadata": {"package": "p1000"},
    "customer_email": "buyer@example.com",
    "payment_intent_data": {"metadata": {"package": "p1000"}},
}


async def pay(api: httpx.AsyncClient, url: str, method: str = "pm_card_visa") -> httpx.Response:
    path = urlsplit(url).path.removeprefix("/stripe")
    return await api.post(path, data={"action": "pay", "payment_method": method})


async def types(sdk: stripe.StripeClient, limit: int = 100) -> list[str]:
    return [e.type for e in (await sdk.v1.events.list_async(params={"limit": limit})).data]


async def test_payment_mode_paid_on_page(sdk: stripe.StripeClient, api: httpx.AsyncClient) -> None:
    session = await sdk.v1.checkout.sessions.create_async(params=PAYMENT)
    assert session.id.startswith("cs_test_") and session.status == "open"
    assert session.amount_total == 5000 and session.payment_status == "unpaid"
    assert session.url is not None and session.expires_at == session.created + 86_400
    shown = await api.get(urlsplit(session.url).path.removeprefix("/stripe"))
    assert shown.status_code == 200 and "1,000 credits" in shown.text
    declined = await pay(api, session.url, "pm_card_chargeDeclined")
    assert declined.status_code == 402 and "declined" in declined.text
    done = await pay(api, session.url)
    assert done.status_code == 303
    assert done.headers["location"] == f"https://app.example/credits/done?session={session.id}"
    after = await sdk.v1.checkout.sessions.retrieve_async(
        session.id, params={"expand": ["payment_intent"]}
    )
    assert after.status == "complete" and after.payment_status == "paid"
    pi = after.payment_intent
    assert isinstance(pi, stripe.PaymentIntent) and pi.status == "succeeded"
    assert pi.amount == 5000 and pi.metadata and pi.metadata.to_dict() == {"package": "p1000"}
    items = await sdk.v1.checkout.sessions.line_items.list_async(session.id)
    assert [(i.quantity, i.amount_total) for i in items.data] == [(2, 5000)]
    assert (await types(sdk, 1)) == ["checkout.session.completed"]
    again = await api.get(urlsplit(session.url).path.removeprefix("/stripe"))
    assert again.status_code == 409


async def test_cancel_expire_and_validation(
    sdk: stripe.StripeClient, api: httpx.AsyncClient, clock: FakeClock
) -> None:
    session = await sdk.v1.checkout.sessions.create_async(params=PAYMENT)
    assert session.url is not None
    path = urlsplit(session.url).path.removeprefix("/stripe")
    canceled = await api.post(path, data={"action": "cancel"})
    assert canceled.headers["location"] == "https://app.example/credits"
    expired = await sdk.v1.checkout.sessions.expire_async(session.id)
    assert expired.status == "expired"
    with pytest.raises(stripe.InvalidRequestError):
        await sdk.v1.checkout.sessions.expire_async(session.id)
    late = await sdk.v1.checkout.sessions.create_async(params=PAYMENT)
    clock.advance(86_400)
    assert (await sdk.v1.checkout.sessions.retrieve_async(late.id)).status == "expired"
    assert (await types(sdk)).count("checkout.session.expired") == 2
    no_items = await api.post(
        "/v1/checkout/sessions",
        data={"mode": "payment", "success_url": "https://app.example/ok"},
        headers=AUTH,
    )
    assert no_items.status_code == 400 and no_items.json()["error"]["param"] == "line_items"
    recurring_in_payment = await api.post(
        "/v1/checkout/sessions",
        data={
            "mode": "payment",
            "success_url": "https://app.example/ok",
            "line_items[0][price_data][currency]": "usd",
            "line_items[0][price_data][unit_amount]": "100",
            "line_items[0][price_data][product_data][name]": "x",
            "line_items[0][price_data][recurring][interval]": "month",
            "line_items[0][quantity]": "1",
        },
        headers=AUTH,
    )
    assert recurring_in_payment.status_code == 400


@pytest.mark.parametrize(
    ("method", "success", "event"),
    [
        ("async_succeeds", True, "checkout.session.async_payment_succeeded"),
        ("async_fails", False, "checkout.session.async_payment_failed"),
    ],
)
async def test_async_payment_settles_later(
    sdk: stripe.StripeClient, api: httpx.AsyncClient, method: str, success: bool, event: str
) -> None:
    session = await sdk.v1.checkout.sessions.create_async(params=PAYMENT)
    assert session.url is not None
    assert (await pay(api, session.url, method)).status_code == 303
    after = await sdk.v1.checkout.sessions.retrieve_async(session.id)
    assert after.status == "complete" and after.payment_status == "unpaid"
    assert (await types(sdk, 1)) == ["checkout.session.completed"]
    settled = await api.post(f"/_admin/checkout/{session.id}/settle", json={})
    assert settled.json()["payment_status"] == ("paid" if success else "unpaid")
    assert (await types(sdk, 1)) == [event]
    twice = await api.post(f"/_admin/checkout/{session.id}/settle", json={})
    assert twice.status_code == 400


async def test_setup_mode_saves_a_card(sdk: stripe.StripeClient, api: httpx.AsyncClient) -> None:
    cus = await sdk.v1.customers.create_async(params={"email": "s@example.com"})
    session = await sdk.v1.checkout.sessions.create_async(
        params={
            "mode": "setup",
            "customer": cus.id,
            "currency": "usd",
            "success_url": "https://app.example/card?s={CHECKOUT_SESSION_ID}",
            "setup_intent_data": {"metadata": {"organization_id": "org-1"}},
        }
    )
    assert session.payment_status == "no_payment_required" and session.url
    assert (await pay(api, session.url)).status_code == 303
    after = await sdk.v1.checkout.sessions.retrieve_async(
        session.id, params={"expand": ["setup_intent"]}
    )
    si = after.setup_intent
    assert isinstance(si, stripe.SetupIntent) and si.status == "succeeded"
    assert si.metadata and si.metadata.to_dict() == {"organization_id": "org-1"}
    methods = await sdk.v1.customers.payment_methods.list_async(cus.id)
    assert [m.id for m in methods.data] == [si.payment_method]


async def test_subscription_mode_and_renewals(
    sdk: stripe.StripeClient, api: httpx.AsyncClient
) -> None:
    product = await sdk.v1.products.create_async(params={"name": "sellerhub Pro"})
    price = await sdk.v1.prices.create_async(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 4900,
            "recurring": {"interval": "month"},
            "lookup_key": "pro_monthly",
        }
    )
    assert price.type == "recurring" and price.recurring and price.recurring.interval == "month"
    found = await sdk.v1.prices.list_async(params={"lookup_keys": ["pro_monthly"]})
    assert [p.id for p in found.data] == [price.id]
    session = await sdk.v1.checkout.sessions.create_async(
        params={
            "mode": "subscription",
            "line_items": [{"price": price.id, "quantity": 1}],
            "success_url": "https://app.example/plan",
            "customer_email": "owner@example.com",
            "subscription_data": {"metadata": {"organization_id": "org-1"}},
        }
    )
    assert session.url is not None
    assert (await pay(api, session.url, "pm_card_authenticationRequired")).status_code == 303
    after = await sdk.v1.checkout.sessions.retrieve_async(session.id)
    assert after.status == "complete" and isinstance(after.subscription, str)
    sub = await sdk.v1.subscriptions.retrieve_async(after.subscription)
    assert sub.status == "active" and isinstance(sub.customer, str)
    invoices = await sdk.v1.invoices.list_async(params={"subscription": sub.id})
    assert [(i.status, i.billing_reason) for i in invoices.data] == [
        ("paid", "subscription_create")
    ]
    seen = await types(sdk)
    assert {"customer.subscription.created", "invoice.paid", "checkout.session.completed"} <= set(
        seen
    )
    # The card asks for 3-D Secure on every payment: the off-session renewal needs the customer.
    renewal = (await api.post(f"/_admin/subscriptions/{sub.id}/advance", json={})).json()
    assert renewal["status"] == "open" and renewal["billing_reason"] == "subscription_cycle"
    assert (await sdk.v1.subscriptions.retrieve_async(sub.id)).status == "past_due"
    assert "invoice.payment_action_required" in await types(sdk, 5)
    canceled = await sdk.v1.subscriptions.cancel_async(sub.id)
    assert canceled.status == "canceled"
    assert (await types(sdk, 1)) == ["customer.subscription.deleted"]


async def test_subscription_renewal_paid(sdk: stripe.StripeClient, api: httpx.AsyncClient) -> None:
    session = await sdk.v1.checkout.sessions.create_async(
        params={
            "mode": "subscription",
            "line_items": [
                {
                    "price_data": {
                        "currency": "eur",
                        "unit_amount": 900,
                        "product_data": {"name": "Basic"},
                        "recurring": {"interval": "year"},
                    },
                    "quantity": 1,
                }
            ],
            "success_url": "https://app.example/plan",
        }
    )
    assert session.url is not None
    await pay(api, session.url)
    sub_id = (await sdk.v1.checkout.sessions.retrieve_async(session.id)).subscription
    assert isinstance(sub_id, str)
    before = await sdk.v1.subscriptions.retrieve_async(sub_id)
    renewal = (await api.post(f"/_admin/subscriptions/{sub_id}/advance", json={})).json()
    assert renewal["status"] == "paid" and renewal["amount_paid"] == 900
    after = await sdk.v1.subscriptions.retrieve_async(sub_id)
    assert after.to_dict()["current_period_start"] == before.to_dict()["current_period_end"]
    assert (await types(sdk, 100)).count("invoice.paid") == 2
