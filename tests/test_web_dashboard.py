"""The dashboard's cards read the connections by their providers' names (in-process; the
browser journeys are in tests/web/)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import text

from sellerhub.connections.models import Connection, ConnectionStatus
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.identity.sessions import service as sessions
from sellerhub.identity.sessions.cookies import ACCESS_COOKIE, CSRF_COOKIE
from sellerhub.identity.sessions.endpoints import session_policy
from sellerhub.runtime import Runtime
from tests.conftest import Tenant


async def _signed_in(client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        issued = await sessions.start_session(
            session,
            runtime.keystore,
            session_policy(runtime.settings),
            user_id=tenant.user.id,
            organization_id=tenant.organization.id,
            method="test",
        )
    client.cookies.set(ACCESS_COOKIE, issued.access_token)
    client.cookies.set(CSRF_COOKIE, issued.csrf_token)


async def test_an_amazon_connection_shows_on_the_dashboard(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    await _signed_in(client, runtime, tenant)
    before = await client.get("/")
    assert before.status_code == 200 and "Connect your Amazon account" in before.text
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        connection = Connection(
            organization_id=tenant.organization.id,
            provider="amazon_spapi",
            external_account_id="A1SELLER",
            display_name="My EU store",
            scopes=[],
            details={},
            status=ConnectionStatus.NEEDS_REAUTH,
        )
        connection.ensure_id()
        session.add(connection)
    after = await client.get("/")
    assert "Connect your Amazon account" not in after.text
    assert "Amazon Seller Central" in after.text and "My EU store" in after.text
    assert "Needs re-auth" in after.text and "need your attention" not in after.text
    assert "1 connection needs your attention" in after.text


async def test_disconnected_connections_are_listed_with_a_way_back(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    """Issue 12: every connection shows its badge, Disconnected too, with Reconnect (the same
    consent again) and no Test or Disconnect."""
    await _signed_in(client, runtime, tenant)
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        gone = Connection(
            organization_id=tenant.organization.id,
            provider="shopify",
            external_account_id="gone-shop.myshopify.com",
            scopes=[],
            details={"shop": "gone-shop.myshopify.com"},
            status=ConnectionStatus.DISCONNECTED,
        )
        gone.ensure_id()
        session.add(gone)
    page = await client.get("/connections")
    assert page.status_code == 200
    assert "<summary>Disconnected (1)</summary>" in page.text
    card = page.text.split(f'id="connection-{gone.id}"', 1)[1].split("</article>", 1)[0]
    assert '<span class="badge disconnected" data-status>Disconnected</span>' in card
    assert 'hx-post="/connections/shopify"' in card and "Reconnect" in card
    assert "/test" not in card and "hx-delete" not in card


async def test_a_member_removed_or_deactivated_no_longer_sees_the_pages(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, other_tenant: Tenant
) -> None:
    """The layout reads the viewer through their membership of the session's organization: a
    token that still verifies is not enough once the user left it, or was deactivated."""
    await _signed_in(client, runtime, tenant)
    client.cookies.delete(CSRF_COOKIE)  # a sign-in that is needed is then a redirect to /login
    assert (await client.get("/")).status_code == 200
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("DELETE FROM memberships WHERE user_id = :u AND organization_id = :o"),
            {"u": tenant.user.id, "o": tenant.organization.id},
        )
    for path in ("/", "/orders", "/orders/list"):
        gone = await client.get(path)
        assert gone.status_code == 303 and gone.headers["location"].startswith("/login?next=")
    await _signed_in(client, runtime, other_tenant)
    client.cookies.delete(CSRF_COOKIE)
    assert (await client.get("/orders")).status_code == 200
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE users SET is_active = false WHERE id = :u"), {"u": other_tenant.user.id}
        )
    assert (await client.get("/orders")).status_code == 303


async def test_the_dashboard_counts_its_own_organization_only(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, other_tenant: Tenant
) -> None:
    from sellerhub.commerce.orders import mapping
    from sellerhub.commerce.orders import service as orders
    from sellerhub.connections import service as connections

    for owner, count in ((tenant, 2), (other_tenant, 3)):
        async with unit_of_work(runtime.sessionmaker) as session:
            set_tenant(session, owner.organization.id)
            connection, _ = await connections.activate(
                session,
                organization_id=owner.organization.id,
                provider="shopify",
                account=f"{owner.organization.slug}.myshopify.com",
            )
            for n in range(count):
                await orders.apply(
                    session,
                    owner.organization.id,
                    "shopify",
                    connection.id,
                    mapping.NormalisedOrder(
                        external_id=str(n),
                        number=f"#{owner.organization.slug}-{n}",
                        status="paid",
                        currency="USD",
                        total_minor=100,
                        customer_email=None,
                        placed_at=None,
                        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
                        lines=[],
                    ),
                )
    await _signed_in(client, runtime, tenant)
    page = await client.get("/")
    assert page.status_code == 200
    assert "<strong>2</strong> orders" in page.text
    assert other_tenant.organization.slug + ".myshopify.com" not in page.text
    listed = await client.get("/orders")
    assert listed.text.count('<th scope="row">') == 2
    assert f"#{other_tenant.organization.slug}" not in listed.text
