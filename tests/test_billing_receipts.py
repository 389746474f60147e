"""Receipts of commissions: Stripe's ``receipt_url`` of the charge is kept with the commission
(from the intent's expanded ``latest_charge`` in the answer, or ``charge.succeeded``), answered
by ``/api/v1/billing/commissions`` and linked as "Receipt" on the billing page; the emulator's
receipt page is served on its own host. Only https URLs on Stripe's hosts, or the configured
Stripe API's origin, ever become a link: ``javascript:``, ``data:``, foreign hosts, credentials
in the URL, markup characters are not (an XSS and open-redirect guard)."""

from __future__ import annotations

import re
import uuid
from html import unescape

import httpx
import pytest
from sqlalchemy import update

from sellerhub.billing.commissions import rules
from sellerhub.billing.commissions.models import Commission
from sellerhub.billing.commissions.rules import CommissionState as S
from sellerhub.core.clock import utcnow
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant, system_context
from sellerhub.runtime import Runtime
from sellerhub.webhooks import service as webhooks
from tests.browser import Browser
from tests.conftest import Tenant, make_tenant
from tests.stripe_helpers import wait_for_event
from tests.test_billing_commissions import (
    Stripe,
    commission_of,
    emulator,
    recovery,
    request,
    save_card,
)

__all__ = ["emulator"]  # the fixture, shared

API = "http://127.0.0.1:8765/_emulators/stripe"


@pytest.fixture
async def payer(runtime: Runtime) -> Tenant:
    return await make_tenant(runtime, "Receipts Co")


@pytest.mark.parametrize(
    ("url", "api_base", "shown"),
    [
        ("https://pay.stripe.com/receipts/acct_1/ch_1/rcpt_1", "https://api.stripe.com", True),
        ("https://stripe.com/receipt", "https://api.stripe.com", True),
        (f"{API}/pages/receipts/ch_1", API, True),  # the configured API's origin
        ("https://127.0.0.1:8765/pages/receipts/ch_1", API, False),  # another scheme
        ("http://127.0.0.1:9999/pages/receipts/ch_1", API, False),  # another port
        ("http://pay.stripe.com/receipts/ch_1", "https://api.stripe.com", False),  # not https
        ("https://evil.example/receipts/ch_1", "https://api.stripe.com", False),
        ("https://pay.stripe.com.evil.example/r", "https://api.stripe.com", False),
        ("https://evilstripe.com/r", "https://api.stripe.com", False),
        ("https://user:pw@pay.stripe.com/r", "https://api.stripe.com", False),
        ("javascript:alert(1)", "https://api.stripe.com", False),
        ("JaVaScRiPt://pay.stripe.com/%0aalert(1)", "https://api.stripe.com", False),
        ("data:text/html,<script>alert(1)</script>", "https://api.stripe.com", False),
        ('https://pay.stripe.com/r"><script>', "https://api.stripe.com", False),
        ("https://pay.stripe.com/r x", "https://api.stripe.com", False),
        ("//pay.stripe.com/r", "https://api.stripe.com", False),
        ("/pages/receipts/ch_1", API, False),
        ("https://pay.stripe.com/" + "a" * 500, "https://api.stripe.com", False),
        ("", "https://api.stripe.com", False),
        (None, "https://api.stripe.com", False),
    ],
)
def test_only_stripes_or_the_configured_apis_receipts_are_links(
    url: str | None, api_base: str, shown: bool
) -> None:
    assert rules.receipt_link(url, api_base) == (url if shown else None)


async def test_the_charges_receipt_is_kept_answered_and_served(
    runtime: Runtime, emulator: Stripe, payer: Tenant, live_server: str
) -> None:
    seller = payer
    await save_card(runtime, emulator, seller)
    recovery_id = await recovery(runtime, seller, amount=10_000)
    charged = await request(runtime, emulator, seller, recovery_id)
    assert charged.state is S.SUCCEEDED and charged.charge_id
    # From the API's answer (the intent's latest_charge, expanded), on the emulator's host.
    assert charged.receipt_url == f"{emulator.base}/pages/receipts/{charged.charge_id}"
    async with httpx.AsyncClient(base_url=live_server, headers=seller.headers) as api:
        listed = (await api.get("/api/v1/billing/commissions")).json()["items"]
        assert [c["receipt_url"] for c in listed] == [charged.receipt_url]
        one = await api.get(f"/api/v1/billing/commissions/{charged.id}")
        assert one.json()["receipt_url"] == charged.receipt_url
        page = await api.get(charged.receipt_url)
    assert page.status_code == 200 and charged.charge_id in page.text and "2000" in page.text


async def test_a_receipt_learned_from_charge_succeeded(
    runtime: Runtime, emulator: Stripe, payer: Tenant
) -> None:
    """The answer was recorded without its charge (an older answer, a lost expansion): the
    ``charge.succeeded`` event brings the receipt, once."""
    seller = payer
    await save_card(runtime, emulator, seller)
    recovery_id = await recovery(runtime, seller, amount=10_000)
    charged = await request(runtime, emulator, seller, recovery_id)
    async with unit_of_work(runtime.sessionmaker) as session:
        with system_context(session, "test: the receipt not known yet"):
            await session.execute(
                update(Commission).where(Commission.id == charged.id).values(receipt_url=None)
            )
    await wait_for_event(runtime, "charge.succeeded")
    await webhooks.drain(runtime.sessionmaker)
    after = await commission_of(runtime, recovery_id)
    assert after.receipt_url == f"{emulator.base}/pages/receipts/{charged.charge_id}"


async def test_the_billing_page_links_only_safe_receipts(
    seller: Browser, runtime: Runtime, live_server: str
) -> None:
    """Rows whose stored URL is not Stripe's (written behind the guard's back) are shown
    without a link; the API answers null for them."""
    me = seller.client.get("/api/auth/me").json()
    organization_id = uuid.UUID(me["organization_id"])
    base = f"{live_server}/_emulators/stripe"
    urls = {
        "ok_emulator": f"{base}/pages/receipts/ch_safe1",
        "ok_stripe": "https://pay.stripe.com/receipts/acct_1/ch_safe2/rcpt_x",
        "script": "javascript:alert(document.cookie)",
        "foreign": "https://evil.example/receipts/ch_bad",
        "markup": f'{base}/pages/receipts/ch_x"onmouseover="alert(1)',
    }
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, organization_id)
        for n, url in enumerate(urls.values()):
            row = Commission(
                organization_id=organization_id,
                recovery_id=uuid.uuid4(),
                recovery_amount_minor=10_000 + n,
                currency="USD",
                rate_bps=2000,
                amount_minor=2_000 + n,
                state=S.SUCCEEDED,
                attempt=1,
                payment_intent_id=f"pi_receipt{n}",
                charge_id=f"ch_receipt{n}",
                succeeded_at=utcnow(),
                receipt_url=url,
            )
            row.ensure_id()
            session.add(row)
    page = seller.get("/billing")
    assert page.status_code == 200, page.text
    links = [unescape(h) for h in re.findall(r'<a class="receipt" href="([^"]*)"', page.text)]
    assert sorted(links) == sorted([urls["ok_emulator"], urls["ok_stripe"]])
    assert "javascript:" not in page.text and "evil.example" not in page.text
    assert "onmouseover" not in page.text
    answered = seller.client.get("/api/v1/billing/commissions").json()["items"]
    assert sorted(str(c["receipt_url"]) for c in answered) == sorted(
        [urls["ok_emulator"], urls["ok_stripe"], "None", "None", "None"]
    )
