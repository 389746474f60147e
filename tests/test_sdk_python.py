"""The Python SDK (``sdk/python``, package ``sellerhub_sdk``) against a live server over real
HTTP, sync and async: an app registered by a platform admin, a user's app token and a service
app's client credentials, a wallet funded by a platform-admin grant; check, balance, consume
(402 typed with the balance, a retried key answering the same transfer, a reused key a 409),
the ledger iterated across pages, introspection and user info; the offline verifier against
the live JWKS, before and after a signing-key rotation."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sellerhub_sdk import (
    AsyncSellerhubClient,
    ClientCredentials,
    IdempotencyKeyReused,
    InsufficientCredits,
    NotAuthenticated,
    NotFound,
    SellerhubClient,
    TokenVerifier,
    UnknownSigningKey,
    ValidationFailed,
)
from sqlalchemy import text

from sellerhub.core.clock import utcnow
from sellerhub.db.session import unit_of_work
from sellerhub.identity.jwt import service as keys
from sellerhub.identity.jwt.service import KeyStore, KeyTimings
from sellerhub.runtime import Runtime
from tests import test_cross_app as cross_app
from tests.browser import Browser
from tests.conftest import Tenant
from tests.stripe_helpers import drain, live_jobs, stripe_reset, wait_for_event
from tests.test_credits_checkout import _package, _pay
from tests.test_cross_app import RegisteredApp, World, register

world = cross_app.world  # fixtures
_fresh_registry = cross_app._fresh_registry
__all__ = ["live_jobs", "stripe_reset"]  # fixtures


def _app_id(prefix: str) -> str:
    """Unique per test: the live server caches apps by id for a while."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# Everything goes to the live server with API keys: a session token issued in this process
# names this process's issuer, not the live server's.


def _admin(world: World) -> dict[str, str]:
    return world.admin.headers


async def _grant(live_server: str, world: World, organization_id: Any, amount: int) -> None:
    async with httpx.AsyncClient(base_url=live_server) as http:
        response = await http.post(
            "/api/v1/credits/grants",
            json={"organization_id": str(organization_id), "amount": amount,
                  "idempotency_key": f"fund-{uuid.uuid4()}", "reason": "sdk test"},
            headers=_admin(world),
        )  # fmt: skip
    assert response.status_code == 201, response.text


async def _user_app(live_server: str, world: World, tenant: Tenant) -> tuple[RegisteredApp, str]:
    """A browser app registered by the admin, and the tenant's user's token for it."""
    async with httpx.AsyncClient(base_url=live_server) as http:
        app = await register(http, _admin(world), _app_id("sdk"))
        response = await http.post(
            "/api/cross-app/auth", json={"app_id": app.app_id}, headers=tenant.headers
        )
    assert response.status_code == 200, response.text
    return app, response.json()["access_token"]


async def test_sync_client_journey_with_a_users_app_token(
    live_server: str, world: World, tenant: Tenant
) -> None:
    app, token = await _user_app(live_server, world, tenant)
    await _grant(live_server, world, tenant.organization.id, 10)
    with SellerhubClient(live_server, token=token) as sdk:
        check = sdk.credits.check(5)
        assert check.sufficient and check.balance == 10
        assert not sdk.credits.check(11).sufficient
        assert sdk.credits.balance().balance == 10

        first = sdk.credits.consume(3, "ocr", idempotency_key="job-1", metadata={"page": 1})
        assert first.code == "consume" and first.balance_after == 7 and first.app_id == app.app_id
        again = sdk.credits.consume(3, "ocr", idempotency_key="job-1", metadata={"page": 1})
        assert again.id == first.id and again.balance_after == 7  # the same transfer
        with pytest.raises(IdempotencyKeyReused):
            sdk.credits.consume(4, "ocr", idempotency_key="job-1")
        with pytest.raises(InsufficientCredits) as short:
            sdk.credits.consume(8, "ocr")
        assert short.value.balance == 7 and short.value.status == 402
        with pytest.raises(ValidationFailed) as invalid:
            sdk.credits.consume(0, "ocr")
        assert [e["field"] for e in invalid.value.errors] == ["amount"]

        for _ in range(4):  # each call its own key: four transfers
            sdk.credits.consume(1, "tts")
        ledger = list(sdk.credits.transfers(page_size=2))  # 3 pages
        assert [t.code for t in ledger] == ["consume"] * 5 + ["grant"]
        assert [t.balance_after for t in ledger] == [3, 4, 5, 6, 7, 10]

        info = sdk.identity.user_info()
        assert info.sub == str(tenant.user.id) and info.org == str(tenant.organization.id)
        user = sdk.identity.user()
        assert user.app_id == app.app_id and user.organization.id == str(tenant.organization.id)

    with SellerhubClient(
        live_server, credentials=ClientCredentials(app.app_id, app.secret)
    ) as as_app:
        found = as_app.identity.validate_token(token)
        assert found.active and found.subject == str(tenant.user.id)
        assert not as_app.identity.validate_token(token[:-4] + "AAAA").active
    wrong = ClientCredentials(app.app_id, "wrong")
    with SellerhubClient(live_server, credentials=wrong) as bad, pytest.raises(NotAuthenticated):
        bad.identity.validate_token(token)
    anonymous = SellerhubClient(live_server, token="not-a-token")
    with anonymous, pytest.raises(NotAuthenticated):
        anonymous.credits.balance()


async def test_async_client_journey_with_a_service_apps_credentials(
    live_server: str, world: World
) -> None:
    async with httpx.AsyncClient(base_url=live_server) as http:
        service = await register(
            http, _admin(world), _app_id("svc"), kind="service", allowed_origins=[],
            permissions=["credits:consume", "credits:read", "users:create"],
        )  # fmt: skip
    credentials = ClientCredentials(service.app_id, service.secret)
    email = f"buyer-{uuid.uuid4().hex[:8]}@example.com"
    async with AsyncSellerhubClient(live_server, credentials=credentials) as as_app:
        created = await as_app.identity.signup(email, name="Buyer")
        assert created.created
        assert (await as_app.identity.signup(email)).organization_id == created.organization_id
    organization = created.organization_id
    await _grant(live_server, world, organization, 5)
    async with AsyncSellerhubClient(
        live_server, credentials=credentials, organization_id=organization
    ) as sdk:
        # Many tasks at once: one token fetched for all of them.
        checks = await asyncio.gather(*(sdk.credits.check(5) for _ in range(10)))
        assert all(c.sufficient and c.balance == 5 for c in checks)
        made = await asyncio.gather(
            *(sdk.credits.consume(1, "ocr", idempotency_key=f"task-{n % 3}") for n in range(9))
        )
        assert len({t.id for t in made}) == 3  # three keys, three transfers
        assert (await sdk.credits.balance()).balance == 2
        with pytest.raises(InsufficientCredits) as short:
            await sdk.credits.consume(3, "ocr")
        assert short.value.balance == 2
        codes = [t.code async for t in sdk.credits.transfers(page_size=1)]
        assert codes == ["consume", "consume", "consume", "grant"]


async def test_dashboard_lists_with_an_api_key(
    live_server: str, world: World, tenant: Tenant
) -> None:
    """The organization's own API key: its ledger and the dashboard's paged lists (none of
    the latter has rows for a new organization; the routes, filters and pages still answer)."""
    await _grant(live_server, world, tenant.organization.id, 3)
    with SellerhubClient(live_server, token=tenant.api_key) as sdk:
        assert [t.amount for t in sdk.credits.transfers(page_size=1)] == [3]
        assert list(sdk.orders.list(page_size=1, channel="amazon")) == []
        assert list(sdk.claims.list(page_size=1)) == []
        assert list(sdk.billing.commissions.list(page_size=1)) == []
        assert list(sdk.billing.payouts.list(page_size=1)) == []
        assert list(sdk.billing.transactions.list(page_size=1)) == []
        with pytest.raises(ValidationFailed):
            list(sdk.orders.list(page_size=0))
    async with AsyncSellerhubClient(live_server, token=tenant.api_key) as aio:
        assert [o async for o in aio.orders.list()] == []
        assert (await aio.credits.check(3)).sufficient


async def _sign_with_new_key(runtime: Runtime, audience: str, issuer: str) -> tuple[str, str]:
    """Rotate the signing key (short timings: it signs 7 s after it is published) and sign a
    token with it, through the server's own key store."""
    timings = KeyTimings(jwks_max_age=timedelta(0), reload_interval=timedelta(seconds=1))
    async with unit_of_work(runtime.sessionmaker) as session:
        key = await keys.rotate_signing_key(session, runtime.keyring, timings, reason="sdk test")
    await asyncio.sleep(max(0.0, (key.activates_at - utcnow()).total_seconds()) + 0.2)
    store = KeyStore(runtime.sessionmaker, runtime.keyring, issuer, timings)
    await store.load()
    token, _ = store.issue(subject=str(uuid.uuid4()), audience=audience, ttl=timedelta(minutes=5))
    return key.kid, token


async def test_verifier_against_the_live_jwks_across_a_key_rotation(
    runtime: Runtime, live_server: str
) -> None:
    assert runtime.keystore is not None
    await runtime.keystore.load()
    issuer = runtime.keystore.issuer
    before, _ = runtime.keystore.issue(
        subject=str(uuid.uuid4()), audience="sdk-app", ttl=timedelta(minutes=5)
    )
    verifier = TokenVerifier(
        issuer=issuer, audience="sdk-app", jwks_url=f"{live_server}/.well-known/jwks.json",
        min_refetch_seconds=0.5,
    )  # fmt: skip
    assert verifier.verify(before)["aud"] == "sdk-app" and verifier.fetches == 1

    kid, after = await _sign_with_new_key(runtime, "sdk-app", issuer)
    assert keys.unverified_claims(after)["aud"] == "sdk-app"
    claims = await verifier.verify_async(after)  # unknown kid: the JWKS fetched once more
    assert claims["iss"] == issuer and verifier.fetches == 2
    assert verifier.verify(before)  # the retired key stays published for its tokens
    forged_kid, _ = await _sign_with_new_key(runtime, "sdk-app", "https://elsewhere.invalid")
    assert forged_kid != kid
    # Tokens naming kids the server never published: refused, one fetch per interval at most.
    header = '{"alg":"ES256","kid":"nope"}'
    forged = base64.urlsafe_b64encode(header.encode()).rstrip(b"=").decode() + ".e30.AAAA"
    for _ in range(200):
        with pytest.raises(UnknownSigningKey):
            verifier.verify(forged)
    assert verifier.fetches <= 3
    verifier.close()


@pytest.fixture
async def _no_packages(runtime: Runtime) -> AsyncIterator[None]:
    yield
    async with runtime.engine.begin() as conn:  # not an organization's: not truncated with them
        await conn.execute(text("TRUNCATE credit_packages CASCADE"))  # and their purchases


@pytest.mark.usefixtures("live_jobs", "stripe_reset", "_no_packages")
async def test_purchase_through_checkout_credits_the_wallet(
    runtime: Runtime, live_server: str, world: World, tenant: Tenant
) -> None:
    back = "https://sdk.example.com/back"
    async with httpx.AsyncClient(base_url=live_server) as http:
        app = await register(http, _admin(world), _app_id("buy"), redirect_urls=[back])
        response = await http.post(
            "/api/cross-app/auth", json={"app_id": app.app_id}, headers=tenant.headers
        )
    token = response.json()["access_token"]
    package_id = await _package(runtime, credits=100, price=1000)
    with SellerhubClient(live_server, token=token) as sdk:
        offered = sdk.credits.balance().packages  # other modules' packages may be on sale too
        assert (str(package_id), 100, 1000) in [(p.id, p.credits, p.price_minor) for p in offered]
        checkout = sdk.credits.purchase(package_id=str(package_id))
        assert checkout.url.startswith(live_server) and checkout.checkout_session_id
        with pytest.raises(ValidationFailed):
            sdk.credits.purchase(package_id=str(package_id), success_url="https://evil.example")
        browser = Browser(live_server)
        try:
            returned = _pay(browser, checkout.url)
        finally:
            browser.close()
        assert returned.startswith(back) and checkout.checkout_session_id in returned
        # The app's success page: fulfilled from Stripe at once, then the webhook: once.
        cs_id = checkout.checkout_session_id
        assert cs_id is not None
        paid = sdk.credits.purchase_status(cs_id, fulfil=True)
        assert paid.status == "paid" and paid.credits == 100 and paid.amount_minor == 1000
        assert sdk.credits.balance().balance == 100
        await wait_for_event(runtime, "checkout.session.completed")
        await drain(runtime)
        assert sdk.credits.purchase_status(cs_id).status == "paid"
        assert sdk.credits.balance().balance == 100
        with pytest.raises(NotFound):
            sdk.credits.purchase_status("cs_test_unknown")
        bought = next(iter(sdk.credits.transfers()))
        assert bought.code == "purchase" and bought.amount == 100
