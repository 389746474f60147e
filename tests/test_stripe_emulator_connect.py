# ruff: noqa: F811 - the fixtures come from test_stripe_emulator by import
"""Stripe emulator, Connect (providers.md §8.4): accounts with controller properties, the
single-use onboarding link, transfers and reversals, payouts, refunds and disputes made
through ``_admin``, and their Connect events (``account`` set) delivered signed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stripe

from sellerhub_emulators.stripe import WEBHOOK_SECRET

from .test_stripe_emulator import (  # noqa: F401 - fixtures
    AUTH,
    FakeClock,
    Receiver,
    api,
    charge_params,
    clock,
    emu,
    emu_app,
    receiver,
    saved_card,
    sdk,
)

# The official SDK posts its form body as httpx data=<str>, which httpx deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

CONTROLLER: Any = {
    "controller": {
        "fees": {"payer": "application"},
        "losses": {"payments": "application"},
        "stripe_dashboard": {"type": "express"},
        "requirement_collection": "stripe",
    },
    "country": "US",
    "email": "seller@example.com",
    "business_profile": {"name": "Seller One"},
    "business_type": "company",
    "capabilities": {"card_payments": {"requested": True}, "transfers": {"requested": True}},
    "metadata": {"organization_id": "org-1"},
}


async def onboard(api: httpx.AsyncClient, sdk: stripe.StripeClient, account: str) -> None:
    link = await sdk.v1.account_links.create_async(
        params={
            "account": account,
            "type": "account_onboarding",
            "refresh_url": "https://app.example/refresh",
            "return_url": "https://app.example/return",
        }
    )
    form = await api.get(link.url)
    assert form.status_code == 200
    done = await api.post(
        link.url, data={"session": link.url.rsplit("/", 1)[1], "action": "submit"}
    )
    assert done.status_code == 303 and done.headers["location"] == "https://app.example/return"


async def test_account_and_single_use_link(
    sdk: stripe.StripeClient, api: httpx.AsyncClient, clock: FakeClock, receiver: Receiver
) -> None:
    acct = await sdk.v1.accounts.create_async(params=CONTROLLER)
    assert acct.id.startswith("acct_") and acct.type == "express"
    assert acct.charges_enabled is False and acct.payouts_enabled is False
    assert acct.details_submitted is False
    assert acct.requirements is not None and acct.requirements.currently_due
    assert acct.controller is not None and acct.controller.fees is not None
    assert acct.controller.fees.payer == "application"
    link = await sdk.v1.account_links.create_async(
        params={
            "account": acct.id,
            "type": "account_onboarding",
            "refresh_url": "https://app.example/refresh",
            "return_url": "https://app.example/return",
            "collection_options": {"fields": "eventually_due"},
        }
    )
    assert link.object == "account_link" and link.expires_at == link.created + 300
    first = await api.get(link.url)
    assert first.status_code == 200 and acct.id in first.text
    reused = await api.get(link.url)
    assert reused.status_code == 303 and reused.headers["location"] == "https://app.example/refresh"
    # An expired link also goes to refresh_url.
    late = await sdk.v1.account_links.create_async(
        params={
            "account": acct.id,
            "type": "account_onboarding",
            "refresh_url": "https://app.example/refresh",
            "return_url": "https://app.example/return",
        }
    )
    clock.advance(301)
    expired = await api.get(late.url)
    assert expired.headers["location"] == "https://app.example/refresh"
    await onboard(api, sdk, acct.id)
    after = await sdk.v1.accounts.retrieve_async(acct.id)
    assert after.charges_enabled and after.payouts_enabled and after.details_submitted
    assert after.requirements is not None and after.requirements.currently_due == []
    await receiver.wait_for(1)
    hook = receiver.requests[-1]
    event = stripe.Webhook.construct_event(
        hook.body.decode(), hook.headers["stripe-signature"], WEBHOOK_SECRET
    )
    assert event.type == "account.updated" and event.account == acct.id
    previous = event.data.to_dict()["previous_attributes"]
    assert previous["charges_enabled"] is False
    # The Connect event is listed for the connected account, not the platform.
    platform = await sdk.v1.events.list_async(params={"type": "account.updated"})
    assert platform.data == []
    as_account = await sdk.v1.events.list_async(
        params={"type": "account.updated"}, options={"stripe_account": acct.id}
    )
    assert [e.id for e in as_account.data] == [event.id]
    # Requirements due again: payouts stop, account.updated.
    await api.post(
        f"/_admin/accounts/{acct.id}/requirements",
        json={"currently_due": ["individual.verification.document"]},
    )
    again = await sdk.v1.accounts.retrieve_async(acct.id)
    assert again.payouts_enabled is False and again.requirements is not None
    assert again.requirements.currently_due == ["individual.verification.document"]


async def test_controller_rules_and_legacy_type(
    sdk: stripe.StripeClient, api: httpx.AsyncClient
) -> None:
    legacy = await sdk.v1.accounts.create_async(params={"type": "express", "country": "GB"})
    assert legacy.controller is not None and legacy.controller.stripe_dashboard is not None
    assert legacy.controller.stripe_dashboard.type == "express"
    assert legacy.default_currency == "gbp"
    bad = await api.post(
        "/v1/accounts",
        data={
            "controller[requirement_collection]": "application",
            "controller[fees][payer]": "account",
        },
        headers=AUTH,
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "controller[requirement_collection]"
    update_link = await api.post(
        "/v1/account_links",
        data={
            "account": legacy.id,
            "type": "account_update",
            "refresh_url": "https://a.example/r",
            "return_url": "https://a.example/b",
        },
        headers=AUTH,
    )
    assert update_link.status_code == 400 and update_link.json()["error"]["param"] == "type"
    missing = await api.post(
        "/v1/account_links",
        data={"account": "acct_none", "type": "account_onboarding"},
        headers=AUTH,
    )
    assert missing.json()["error"]["code"] == "resource_missing"
    unknown_account = await api.get("/v1/customers", headers=AUTH | {"Stripe-Account": "acct_none"})
    assert unknown_account.status_code == 403
    listed = await sdk.v1.accounts.list_async()
    assert [a.id for a in listed.data] == [legacy.id]


async def test_transfer_reversal_and_payouts(
    sdk: stripe.StripeClient, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    acct = await sdk.v1.accounts.create_async(params=CONTROLLER)
    params: Any = {"amount": 1000, "currency": "usd", "destination": acct.id}
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await sdk.v1.transfers.create_async(params=params)
    assert raised.value.code == "insufficient_capabilities_for_transfer"
    await onboard(api, sdk, acct.id)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await sdk.v1.transfers.create_async(params=params)
    assert raised.value.code == "balance_insufficient"
    cus, pm = await saved_card(sdk)
    pi = await sdk.v1.payment_intents.create_async(params=charge_params(cus, pm))
    assert isinstance(pi.latest_charge, str)
    transfer = await sdk.v1.transfers.create_async(
        params=params
        | {
            "source_transaction": pi.latest_charge,
            "transfer_group": "recovery:rec-1",
            "metadata": {"recovery_id": "rec-1"},
        },
        options={"idempotency_key": "payout:rec-1"},
    )
    assert transfer.id.startswith("tr_") and transfer.destination == acct.id
    replay = await sdk.v1.transfers.create_async(
        params=params
        | {
            "source_transaction": pi.latest_charge,
            "transfer_group": "recovery:rec-1",
            "metadata": {"recovery_id": "rec-1"},
        },
        options={"idempotency_key": "payout:rec-1"},
    )
    assert replay.id == transfer.id
    too_much = await api.post(
        "/v1/transfers",
        data={
            "amount": "1500",
            "currency": "usd",
            "destination": acct.id,
            "source_transaction": pi.latest_charge,
        },
        headers=AUTH,
    )
    assert too_much.status_code == 400
    reversal = await sdk.v1.transfers.reversals.create_async(transfer.id, params={"amount": 400})
    assert reversal.amount == 400
    again = await sdk.v1.transfers.retrieve_async(transfer.id)
    assert again.amount_reversed == 400 and again.reversed is False
    balance = await sdk.v1.balance.retrieve_async(options={"stripe_account": acct.id})
    assert balance.available[0].amount == 600
    paid = (await api.post("/_admin/payouts", json={"account": acct.id})).json()
    assert paid["status"] == "paid" and paid["amount"] == 600
    failed = await api.post("/_admin/payouts", json={"account": acct.id, "outcome": "failed"})
    assert failed.status_code == 400 and failed.json()["error"]["code"] == "balance_insufficient"
    await api.post("/_admin/balance", json={"account": acct.id, "amount": 250})
    failed = await api.post("/_admin/payouts", json={"account": acct.id, "outcome": "failed"})
    assert failed.json()["status"] == "failed" and failed.json()["failure_code"] == "account_closed"
    payouts = await sdk.v1.payouts.list_async(options={"stripe_account": acct.id})
    assert [p.status for p in payouts.data] == ["failed", "paid"]
    await receiver.wait_for(1)
    kinds = {(e["type"], e.get("account")) for e in (await _all_events(api, acct.id))}
    assert ("payout.paid", acct.id) in kinds and ("payout.failed", acct.id) in kinds
    platform = {e.type for e in (await sdk.v1.events.list_async(params={"limit": 100})).data}
    assert {"transfer.created", "transfer.reversed"} <= platform


async def _all_events(api: httpx.AsyncClient, account: str) -> list[dict[str, Any]]:
    answer = await api.get(
        "/v1/events", params={"limit": 100}, headers=AUTH | {"Stripe-Account": account}
    )
    rows: list[dict[str, Any]] = answer.json()["data"]
    return rows


async def test_refund_and_dispute_from_admin(
    sdk: stripe.StripeClient, api: httpx.AsyncClient
) -> None:
    cus, pm = await saved_card(sdk)
    pi = await sdk.v1.payment_intents.create_async(params=charge_params(cus, pm))
    refunded = await api.post("/_admin/refund", json={"charge": pi.latest_charge, "amount": 500})
    assert refunded.json()["amount"] == 500
    charge = await sdk.v1.charges.retrieve_async(str(pi.latest_charge))
    assert charge.amount_refunded == 500 and charge.refunded is False
    opened = (await api.post("/_admin/dispute", json={"charge": pi.latest_charge})).json()
    assert opened["status"] == "needs_response"
    closed = (
        await api.post("/_admin/dispute", json={"dispute": opened["id"], "status": "lost"})
    ).json()
    assert closed["status"] == "lost"
    types = [e.type for e in (await sdk.v1.events.list_async(params={"limit": 5})).data]
    assert types[:4] == [
        "charge.dispute.closed",
        "charge.dispute.created",
        "refund.created",
        "charge.refunded",
    ]
    full = await sdk.v1.refunds.create_async(params={"payment_intent": pi.id})
    assert full.amount == 1500
    with pytest.raises(stripe.InvalidRequestError):
        await sdk.v1.refunds.create_async(params={"payment_intent": pi.id})


async def test_destination_charge_transfers_on_success(
    sdk: stripe.StripeClient, api: httpx.AsyncClient
) -> None:
    acct = await sdk.v1.accounts.create_async(params=CONTROLLER)
    cus, pm = await saved_card(sdk)
    params: Any = charge_params(cus, pm) | {
        "transfer_data": {"destination": acct.id},
        "application_fee_amount": 300,
    }
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await sdk.v1.payment_intents.create_async(params=params)
    assert raised.value.code == "insufficient_capabilities_for_transfer"
    await onboard(api, sdk, acct.id)
    pi = await sdk.v1.payment_intents.create_async(
        params=params | {"expand": ["latest_charge.transfer"]}
    )
    charge = pi.latest_charge
    assert isinstance(charge, stripe.Charge)
    transfer = charge.transfer
    assert isinstance(transfer, stripe.Transfer)
    assert transfer.amount == 1700 and transfer.destination == acct.id
    assert transfer.source_transaction == charge.id


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/v1/accounts", {"controller[fees]": "x"}),
        ("/v1/accounts", {"capabilities[transfers]": "yes"}),
        ("/v1/payment_intents", {"amount": "100", "currency": "usd", "metadata[a][b]": "x"}),
        ("/v1/payment_intents", {"amount[]": "100", "currency": "usd"}),
        ("/v1/customers", {"invoice_settings": "x"}),
        (
            "/v1/checkout/sessions",
            {"mode": "payment", "success_url": "https://a.example/", "line_items": "x"},
        ),
        ("/v1/customers", {"a[b": "x"}),
    ],
)
async def test_malformed_parameters_are_400(
    api: httpx.AsyncClient, path: str, data: dict[str, str]
) -> None:
    answer = await api.post(path, data=data, headers=AUTH)
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"
