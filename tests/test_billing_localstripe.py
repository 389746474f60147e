"""Billing's card path against a Stripe fake we did not write: localstripe (PyPI, GPL, run as a
separate process by the fixture below; none of its code is used here), so that our code is not
only right against our own emulator.

Our real code runs against it: the client (``billing.stripe.client``, the SDK's async client),
the customer (``customers.ensure_customer`` / ``create_customer_setup``), the SetupIntent
(``usage=off_session``), its confirmation (as Stripe.js would: a card, then confirm), the card
stored and made the default from ``setup_intent.succeeded`` (``record_setup_succeeded``, which
reads the intent back from Stripe and updates the customer), then an off-session PaymentIntent
(``commissions.charge.send``, the commission's one call) and its decline, and removing the card.

localstripe's known gaps, and what the tests do about them:
* no Connect (``/v1/accounts``, account links, transfers answer 404): Connect is tested against
  our emulator only (tests/test_billing_connect.py);
* no Checkout Sessions;
* ``Idempotency-Key`` is ignored (the same key twice makes two objects): exactly-once is tested
  against our emulator, which keeps Stripe's v1 semantics;
* SCA: an off-session PaymentIntent with an authentication-required card comes back
  ``requires_action`` instead of Stripe's 402 ``authentication_required``;
* ``setup_intents.create(confirm=true, payment_method=…)`` is rejected: we create, then confirm;
* errors are always ``invalid_request_error`` (a card decline is a 402 with ``code`` but that
  type, and no ``decline_code``): the client treats any 402 as a card refusal;
* no ``setup_intent.*`` events are emitted (no webhooks for them): the test hands our handler
  the event Stripe would send;
* a confirmed SetupIntent leaves its card unattached (Stripe attaches it to the customer on
  success): the test attaches it, as Stripe would have.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from pydantic import SecretStr

from sellerhub.billing.commissions import charge
from sellerhub.billing.customers import service as customers
from sellerhub.billing.stripe.client import StripeConfig, build, calling
from sellerhub.billing.stripe.errors import CardRefused
from sellerhub.config import Settings
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.runtime import Runtime
from tests.conftest import Tenant, make_tenant

KEY = "sk_test_localstripe_sellerhub"  # any sk_ key opens localstripe
VISA, DECLINED = "4242424242424242", "4000000000000341"  # 341: attaches, then declines charges


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def localstripe(suite_logs: Path) -> Iterator[str]:
    """``localstripe --port <free> --from-scratch`` until the module ends; its base URL once it
    answers."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with (suite_logs / "localstripe.log").open("ab") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "localstripe", "--port", str(port), "--from-scratch"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, "localstripe exited"
                try:
                    answer = httpx.get(
                        f"{base}/v1/customers", headers={"Authorization": f"Bearer {KEY}"}
                    )
                    if answer.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "localstripe did not start"
                time.sleep(0.1)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def stripe_settings(settings: Settings, localstripe: str) -> Settings:
    """The suite's settings with Stripe at localstripe."""
    return settings.model_copy(
        update={
            "stripe_api_base": localstripe,
            "stripe_secret_key": SecretStr(KEY),
            "stripe_max_network_retries": 1,
        }
    )


@pytest.fixture
def client(stripe_settings: Settings) -> stripe.StripeClient:
    return build(StripeConfig.of(stripe_settings))


async def _card(client: stripe.StripeClient, number: str) -> str:
    """What Stripe.js does with the card form: a PaymentMethod (the number goes to Stripe only)."""
    method = await client.v1.payment_methods.create_async(
        {
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    return method.id


async def _save_card(
    runtime: Runtime, settings: Settings, client: stripe.StripeClient, tenant: Tenant, number: str
) -> tuple[str, str]:
    """Setup (our code), confirmation (the browser's part), the webhook (our handler);
    answers the customer and the card."""
    org = tenant.organization.id
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, org)
        setup = await customers.create_customer_setup(
            session, client, settings, org, name="Acme", email="owner@example.com"
        )
    assert setup.client_secret and setup.setup_intent_id.startswith("seti_")
    assert setup.hosted_url is None  # not the emulator: Stripe.js does the confirmation
    method = await _card(client, number)
    confirmed = await client.v1.setup_intents.confirm_async(
        setup.setup_intent_id, {"payment_method": method}
    )
    assert confirmed.status == "succeeded"
    await client.v1.payment_methods.attach_async(method, {"customer": setup.customer_id})
    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "setup_intent.succeeded",
        "created": int(time.time()),
        "data": {"object": confirmed.to_dict()},
    }
    async with unit_of_work(runtime.sessionmaker) as session:
        await customers.record_setup_succeeded(session, client, event)
    return setup.customer_id, method


async def test_customer_setup_card_and_off_session_charge(
    runtime: Runtime, stripe_settings: Settings, client: stripe.StripeClient
) -> None:
    tenant = await make_tenant(runtime)
    customer, method = await _save_card(runtime, stripe_settings, client, tenant, VISA)
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        card = await customers.default_payment_method(session, tenant.organization.id)
        (row,) = await customers.payment_methods(session, tenant.organization.id)
    assert card == (customer, method)
    assert (row.brand, row.last4, row.exp_month, row.exp_year) == ("visa", "4242", 12, 2034)
    stored = (await client.v1.customers.retrieve_async(customer)).to_dict()
    assert stored["invoice_settings"]["default_payment_method"] == method
    assert stored["metadata"]["organization_id"] == str(tenant.organization.id)
    # The customer is reused by the next setup.
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        again = await customers.create_customer_setup(
            session, client, stripe_settings, tenant.organization.id, name="Acme", email=None
        )
    assert again.customer_id == customer

    recovery = uuid.uuid4()
    params = {
        "amount": 2000,
        "currency": "usd",
        "customer": customer,
        "payment_method": method,
        "payment_method_types": ["card"],
        "off_session": True,
        "confirm": True,
        "metadata": {"recovery_id": str(recovery)},
    }
    answer = await charge.send(client, params, f"commission:{recovery}:1")
    assert answer.intent is not None and answer.error is None, answer
    assert answer.intent["status"] == "succeeded" and answer.intent["amount"] == 2000


async def test_declined_card_is_a_card_refusal(
    runtime: Runtime, stripe_settings: Settings, client: stripe.StripeClient
) -> None:
    tenant = await make_tenant(runtime)
    customer, method = await _save_card(runtime, stripe_settings, client, tenant, DECLINED)
    params: dict[str, Any] = {
        "amount": 1500,
        "currency": "usd",
        "customer": customer,
        "payment_method": method,
        "off_session": True,
        "confirm": True,
    }
    answer = await charge.send(client, params, f"commission:{uuid.uuid4()}:1")
    assert answer.error is not None and answer.error.get("code") == "card_declined", answer
    with pytest.raises(CardRefused) as refused:
        async with calling("payment_intents.create"):
            await client.v1.payment_intents.create_async(params)  # type: ignore[arg-type]
    assert refused.value.status == 402 and refused.value.card_code == "card_declined"


async def test_removing_the_card_detaches_it(
    runtime: Runtime, stripe_settings: Settings, client: stripe.StripeClient
) -> None:
    tenant = await make_tenant(runtime)
    _, method = await _save_card(runtime, stripe_settings, client, tenant, VISA)
    org = tenant.organization.id
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, org)
        (row,) = await customers.payment_methods(session, org)
        await customers.remove_payment_method(session, client, org, row.id, actor_user_id=None)
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, org)
        assert await customers.payment_methods(session, org) == []
        assert await customers.default_payment_method(session, org) is None
    detached = await client.v1.payment_methods.retrieve_async(method)
    assert detached.customer is None
