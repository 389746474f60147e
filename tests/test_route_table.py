"""The route table, walked: every route that needs a caller refuses an anonymous one (401), every
route that needs a role refuses a caller without it (403), and every route that names a tenant's
row by id answers 404 for another organization's row. A new route is covered the day it is
added; a route with an id the table cannot make a row for fails here until it can."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import select, text

from sellerhub import deps
from sellerhub.audit.models import AuditEvent
from sellerhub.billing.commissions.models import Commission
from sellerhub.billing.customers.models import StripePaymentMethod
from sellerhub.commerce.catalog.models import Product, ProductListing
from sellerhub.commerce.claims.models import Claim
from sellerhub.commerce.inventory.fba.models import FbaSnapshot
from sellerhub.commerce.inventory.models import InventoryImport, Location, Reservation
from sellerhub.commerce.sync.models import SyncJob
from sellerhub.connections.models import Connection
from sellerhub.core.clock import utcnow
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.identity.apikeys.models import ApiKey
from sellerhub.identity.organizations.models import Role
from sellerhub.runtime import Runtime
from sellerhub.webhooks.models import WebhookEvent
from tests.conftest import Tenant, make_tenant

PLATFORM = "platform-admin"
# Values for path parameters that are not ids.
PLAIN_PARAMS = {"carrier": "fedex", "path": "orders", "app_id": "no-such-app"}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _needs_caller(route: APIRoute) -> bool:
    authenticating = {deps.current_principal, deps.tenant_reader}
    return any(
        call in authenticating
        or getattr(call, "__qualname__", "").startswith("require_permission.")
        for call in _calls(route.dependant)
    )


def _needed_role(route: APIRoute) -> Role | str | None:
    """The role a route's guards ask for (the highest), or ``PLATFORM``."""
    needed: list[Role | str] = []
    for call in _calls(route.dependant):
        qualname = getattr(call, "__qualname__", "")
        if qualname.startswith("require_role."):
            needed.append(inspect.getclosurevars(call).nonlocals["minimum"])
        elif qualname.startswith("require_platform_admin."):
            needed.append(PLATFORM)
        elif qualname.startswith("require_permission."):
            users = inspect.getclosurevars(call).nonlocals["users"]
            needed.append(users if users is not None else PLATFORM)
    if PLATFORM in needed:
        return PLATFORM
    roles = [r for r in needed if isinstance(r, Role)]
    return max(roles, key=lambda r: r.rank) if roles else None


def _routes(app: FastAPI) -> list[tuple[APIRoute, str]]:
    return [
        (route, method)
        for route in app.routes
        if isinstance(route, APIRoute)
        for method in sorted((route.methods or set()) - {"HEAD"})
    ]


def _path(route: APIRoute, ids: dict[str, str] | None = None) -> str:
    values = {name: PLAIN_PARAMS.get(name, str(uuid.uuid4())) for name in route.param_convertors}
    values.update(ids or {})
    return route.path_format.format(**values)


# Bodies for routes whose body has required fields (the body is validated before the row is
# looked up, so an empty one would be a 422, not the 404 checked).
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/products/{product_id}/listings"): {
        "channel": "shopify",
        "connection_id": str(uuid.uuid4()),
        "external_id": "1",
    },
    ("POST", "/api/v1/claims/{claim_id}/file"): {"case_id": "1234567890"},
    ("POST", "/api/v1/claims/{claim_id}/reject"): {"reason": "not a claim"},
}


async def _call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    headers: dict[str, str],
    route: APIRoute | None = None,
) -> httpx.Response:
    body: dict[str, Any] | None = {} if method in ("POST", "PUT", "PATCH") else None
    if route is not None and (method, route.path) in BODIES:
        body = BODIES[(method, route.path)]
    return await client.request(method, path, json=body, headers=headers)


def test_the_walk_finds_what_it_checks(app: FastAPI) -> None:
    """Guards against a walk that silently finds nothing (a renamed dependency, say)."""
    routes = _routes(app)
    assert sum(_needs_caller(r) for r, _ in routes) >= 30
    assert {_needed_role(r) for r, _ in routes} >= {Role.ADMIN, PLATFORM, None}


async def test_every_route_that_needs_a_caller_refuses_an_anonymous_one(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    wrong = []
    for route, method in _routes(app):
        if not _needs_caller(route):
            continue
        response = await _call(client, method, _path(route), {})
        if response.status_code != 401 or response.json().get("code") != "unauthenticated":
            wrong.append(f"{method} {route.path}: {response.status_code}")
    assert wrong == []


async def test_every_route_that_needs_a_role_refuses_a_caller_without_it(
    app: FastAPI, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    member = await make_tenant(runtime, "Members Inc", role=Role.MEMBER)
    admin = await make_tenant(runtime, "Admins Inc", role=Role.ADMIN)
    owner = await make_tenant(runtime, "Owners Inc")  # not a platform administrator
    below = {Role.ADMIN: [member], Role.OWNER: [member, admin], PLATFORM: [member, admin, owner]}
    wrong = []
    checked = 0
    for route, method in _routes(app):
        needed = _needed_role(route)
        for caller in below.get(needed, []) if needed is not None else []:
            response = await _call(client, method, _path(route), caller.headers)
            checked += 1
            if response.status_code != 403 or response.json().get("code") != "forbidden":
                wrong.append(
                    f"{method} {route.path} as {caller.organization.name}: {response.status_code}"
                )
    assert checked >= 10 and wrong == []


# --- another organization's rows -----------------------------------------------------------

RowFactory = Callable[[Runtime, Tenant], Awaitable[str]]


async def _connection(runtime: Runtime, owner: Tenant) -> str:
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, owner.organization.id)
        connection = Connection(
            organization_id=owner.organization.id,
            provider="fedex",
            external_account_id=f"acct-{uuid.uuid4().hex[:8]}",
            scopes=[],
            details={},
        )
        connection.ensure_id()
        session.add(connection)
    return str(connection.id)


async def _sync_job(runtime: Runtime, owner: Tenant) -> str:
    connection_id = uuid.UUID(await _connection(runtime, owner))
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, owner.organization.id)
        job = SyncJob(
            organization_id=owner.organization.id,
            connection_id=connection_id,
            channel="shopify",
            status="failed",
        )
        job.ensure_id()
        session.add(job)
    return str(job.id)


async def _audit_event(runtime: Runtime, owner: Tenant) -> str:
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, owner.organization.id)
        event_id = await session.scalar(
            select(AuditEvent.id).where(AuditEvent.organization_id == owner.organization.id)
        )
    return str(event_id)


async def _api_key(runtime: Runtime, owner: Tenant) -> str:
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, owner.organization.id)
        key_id = await session.scalar(
            select(ApiKey.id).where(ApiKey.organization_id == owner.organization.id)
        )
    return str(key_id)


async def _webhook_event(runtime: Runtime, owner: Tenant) -> str:
    async with unit_of_work(runtime.sessionmaker) as session:
        event = WebhookEvent(
            source="shopify",
            external_id=f"evt-{uuid.uuid4().hex}",
            topic="orders/create",
            organization_id=owner.organization.id,
            payload={},
            headers={},
            status="failed",
            attempts=1,
        )
        event.ensure_id()
        session.add(event)
    return str(event.id)


async def _inventory_import(runtime: Runtime, owner: Tenant) -> str:
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, owner.organization.id)
        item = InventoryImport(
            organization_id=owner.organization.id, file_format="csv", status="rejected"
        )
        item.ensure_id()
        session.add(item)
    return str(item.id)


async def _product(runtime: Runtime, owner: Tenant) -> str:
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, owner.organization.id)
        product = Product(organization_id=owner.organization.id, sku=uuid.uuid4().hex)
        product.ensure_id()
        session.add(product)
    return str(product.id)


async def _listing(runtime: Runtime, owner: Tenant) -> str:
    product_id = uuid.UUID(await _product(runtime, owner))
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, owner.organization.id)
        listing = ProductListing(
            organization_id=owner.organization.id,
            product_id=product_id,
            channel="shopify",
            connection_id=uuid.uuid4(),
            external_id=uuid.uuid4().hex,
        )
        listing.ensure_id()
        session.add(listing)
    return str(listing.id)


async def _location(runtime: Runtime, owner: Tenant) -> str:
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, owner.organization.id)
        location = Location(
            organization_id=owner.organization.id, code=uuid.uuid4().hex, kind="warehouse"
        )
        location.ensure_id()
        session.add(location)
    return str(location.id)


async def _reservation(runtime: Runtime, owner: Tenant) -> str:
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, owner.organization.id)
        reservation = Reservation(
            organization_id=owner.organization.id,
            idempotency_key=uuid.uuid4().hex,
            request_hash="0" * 64,
            status="active",
        )
        reservation.ensure_id()
        session.add(reservation)
    return str(reservation.id)


async def _fba_snapshot(runtime: Runtime, owner: Tenant) -> str:
    job_id = uuid.UUID(await _sync_job(runtime, owner))
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, owner.organization.id)
        snapshot = FbaSnapshot(
            organization_id=owner.organization.id,
            connection_id=uuid.uuid4(),
            sync_job_id=job_id,
            taken_at=utcnow(),
        )
        snapshot.ensure_id()
        session.add(snapshot)
    return str(snapshot.id)


async def _claim(runtime: Runtime, owner: Tenant) -> str:
    today = utcnow().date()
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, owner.organization.id)
        claim = Claim(
            organization_id=owner.organization.id,
            connection_id=uuid.uuid4(),
            key=uuid.uuid4().hex,
            kind="warehouse_lost",
            quantity=1,
            event_date=today,
            eligible_from=today,
            deadline=today,
            status="ready",
            last_detected_on=today,
        )
        claim.ensure_id()
        session.add(claim)
    return str(claim.id)


async def _payment_method(runtime: Runtime, owner: Tenant) -> str:
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, owner.organization.id)
        card = StripePaymentMethod(
            organization_id=owner.organization.id,
            stripe_payment_method_id=f"pm_{uuid.uuid4().hex}",
            stripe_customer_id=f"cus_{uuid.uuid4().hex}",
            set_up_at=utcnow(),
            brand="visa",
            last4="4242",
            exp_month=12,
            exp_year=2034,
        )
        card.ensure_id()
        session.add(card)
    return str(card.id)


async def _commission(runtime: Runtime, owner: Tenant) -> str:
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, owner.organization.id)
        commission = Commission(
            organization_id=owner.organization.id,
            recovery_id=uuid.uuid4(),
            recovery_amount_minor=1000,
            currency="USD",
            rate_bps=2000,
            amount_minor=200,
            state="requires_action",
            payment_intent_id=f"pi_{uuid.uuid4().hex}",
        )
        commission.ensure_id()
        session.add(commission)
    return str(commission.id)


async def _credit_subscription(runtime: Runtime, owner: Tenant) -> str:
    row_id, package_id = uuid.uuid4(), uuid.uuid4()
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO credit_packages (id, name, credits, price_minor, currency, active,"
                " interval) VALUES (:p, 'plan', 10, 100, 'USD', true, 'month')"
            ),
            {"p": package_id},
        )
        await conn.execute(
            text(
                "INSERT INTO credit_subscriptions (id, organization_id, checkout_session_id,"
                " stripe_subscription_id, package_id, credits, status, invoices_paid)"
                " VALUES (:id, :org, :cs, :sub, :p, 10, 'active', 1)"
            ),
            {
                "id": row_id,
                "org": owner.organization.id,
                "cs": f"cs_test_{row_id.hex}",
                "sub": f"sub_{row_id.hex}",
                "p": package_id,
            },
        )
    return str(row_id)


# (path prefix, parameter) -> a row of the given organization; the longest prefix wins.
ROWS: dict[tuple[str, str], RowFactory] = {
    ("/api/v1/audit-events/", "event_id"): _audit_event,
    ("/api/v1/claims/", "claim_id"): _claim,
    ("/api/v1/billing/commissions/", "commission_id"): _commission,
    ("/api/v1/api-keys/", "key_id"): _api_key,
    ("/api/v1/connections/", "connection_id"): _connection,
    ("/api/v1/sync-jobs/", "job_id"): _sync_job,
    ("/api/v1/inventory/imports/", "import_id"): _inventory_import,
    ("/api/v1/products/", "product_id"): _product,
    ("/api/v1/products/", "listing_id"): _listing,
    ("/api/v1/locations/", "location_id"): _location,
    ("/api/v1/inventory/reservations/", "reservation_id"): _reservation,
    ("/api/v1/inventory/fba/snapshots/", "snapshot_id"): _fba_snapshot,
    ("/api/v1/webhook-events/", "event_id"): _webhook_event,
    ("/api/v1/billing/payment-methods/", "payment_method_id"): _payment_method,
    ("/api/v1/credits/subscriptions/", "subscription_id"): _credit_subscription,
}


def _factory(route: APIRoute, param: str) -> RowFactory | None:
    matches = [
        (p, f) for (p, name), f in ROWS.items() if name == param and route.path.startswith(p)
    ]
    return max(matches, key=lambda m: len(m[0]))[1] if matches else None


async def test_every_tenant_route_answers_404_for_another_organizations_row(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, runtime: Runtime
) -> None:
    uncovered, wrong = [], []
    checked = 0
    for route, method in _routes(app):
        id_params = [p for p in route.param_convertors if p not in PLAIN_PARAMS]
        if not _needs_caller(route) or not id_params:
            continue
        ids = {}
        for param in id_params:
            factory = _factory(route, param)
            if factory is None:
                uncovered.append(f"{method} {route.path} ({param})")
                continue
            ids[param] = await factory(runtime, other_tenant)
        if len(ids) != len(id_params):
            continue
        response = await _call(client, method, _path(route, ids), tenant.headers, route)
        checked += 1
        if response.status_code != 404 or response.json().get("code") != "not-found":
            wrong.append(f"{method} {route.path}: {response.status_code} {response.text[:120]}")
    assert uncovered == [], "add a row factory to ROWS for these routes"
    assert checked >= 10 and wrong == []


@pytest.mark.parametrize("role", [Role.MEMBER])
async def test_a_member_still_reads_what_members_may(
    client: httpx.AsyncClient, runtime: Runtime, role: Role
) -> None:
    """The 403s above are about roles, not a broken key: the same member reads its own data."""
    member = await make_tenant(runtime, "Readers Inc", role=role)
    assert (await client.get("/api/v1/connections", headers=member.headers)).status_code == 200
