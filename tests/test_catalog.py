"""Catalog over HTTP: products (SKU unique per organization, 409 in words), search and cursor
paging, update, archive, channel listings; another organization's products are 404; members
read, admins write."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from sellerhub.commerce.catalog.schemas import ProductOut, ProductPage
from sellerhub.connections.models import Connection
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.identity.organizations.models import Role
from sellerhub.runtime import Runtime
from tests.conftest import Tenant, make_tenant


async def _product(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/products", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    ProductOut.model_validate(response.json())
    return dict(response.json())


async def _shop(runtime: Runtime, tenant: Tenant, provider: str = "shopify") -> uuid.UUID:
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        connection = Connection(
            organization_id=tenant.organization.id,
            provider=provider,
            external_account_id=f"{uuid.uuid4().hex[:8]}.myshopify.com",
            scopes=[],
            details={},
        )
        connection.ensure_id()
        session.add(connection)
    return connection.id


async def test_create_get_update_archive(client: httpx.AsyncClient, tenant: Tenant) -> None:
    made = await _product(client, tenant, sku="MUG-1", title="Mug", asin="B000TEST01")
    assert (made["sku"], made["title"], made["asin"], made["archived_at"]) == (
        "MUG-1",
        "Mug",
        "B000TEST01",
        None,
    )
    got = await client.get(f"/api/v1/products/{made['id']}", headers=tenant.headers)
    assert got.status_code == 200 and got.json()["sku"] == "MUG-1"
    changed = await client.patch(
        f"/api/v1/products/{made['id']}",
        json={"title": "Big mug", "barcode": "4006381333931"},
        headers=tenant.headers,
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["title"], changed.json()["barcode"]) == ("Big mug", "4006381333931")
    archived = await client.post(f"/api/v1/products/{made['id']}/archive", headers=tenant.headers)
    assert archived.status_code == 200 and archived.json()["archived_at"] is not None
    listed = await client.get("/api/v1/products", headers=tenant.headers)
    assert listed.json()["items"] == []
    listed = await client.get("/api/v1/products?archived=true", headers=tenant.headers)
    assert [p["sku"] for p in listed.json()["items"]] == ["MUG-1"]


async def test_sku_unique_per_organization(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    first = await _product(client, tenant, sku="SAME")
    again = await client.post("/api/v1/products", json={"sku": "SAME"}, headers=tenant.headers)
    assert again.status_code == 409
    assert again.json()["code"] == "sku-taken" and "'SAME'" in again.json()["detail"]
    await _product(client, other_tenant, sku="SAME")  # another organization may
    second = await _product(client, tenant, sku="OTHER")
    renamed = await client.patch(
        f"/api/v1/products/{second['id']}", json={"sku": "SAME"}, headers=tenant.headers
    )
    assert renamed.status_code == 409 and renamed.json()["code"] == "sku-taken"
    assert first["id"] != second["id"]


async def test_search_and_cursor(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for n in range(5):
        await _product(client, tenant, sku=f"TEE-{n}", title=f"T-shirt {n}")
    await _product(client, tenant, sku="CAP-1", title="Cap 100%_cotton")
    page = await client.get("/api/v1/products?limit=2&search=tee", headers=tenant.headers)
    body = ProductPage.model_validate(page.json())
    seen = [p.sku for p in body.items]
    while body.next_cursor is not None:
        page = await client.get(
            f"/api/v1/products?limit=2&search=tee&cursor={body.next_cursor}",
            headers=tenant.headers,
        )
        body = ProductPage.model_validate(page.json())
        seen += [p.sku for p in body.items]
    assert seen == [f"TEE-{n}" for n in range(5)]
    by_title = await client.get("/api/v1/products?search=shirt 3", headers=tenant.headers)
    assert [p["sku"] for p in by_title.json()["items"]] == ["TEE-3"]
    literal = await client.get("/api/v1/products?search=%25_c", headers=tenant.headers)
    assert [p["sku"] for p in literal.json()["items"]] == ["CAP-1"]  # % and _ taken literally


async def test_listings_per_channel(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, other_tenant: Tenant
) -> None:
    shop = await _shop(runtime, tenant)
    made = await _product(
        client,
        tenant,
        sku="VAR-1",
        listings=[{"channel": "shopify", "connection_id": str(shop), "external_id": "4711"}],
    )
    assert [(x["channel"], x["external_id"]) for x in made["listings"]] == [("shopify", "4711")]
    other = await _product(client, tenant, sku="VAR-2")
    taken = await client.post(
        f"/api/v1/products/{other['id']}/listings",
        json={"channel": "shopify", "connection_id": str(shop), "external_id": "4711"},
        headers=tenant.headers,
    )
    assert taken.status_code == 409 and taken.json()["code"] == "listing-taken"
    wrong = await client.post(
        f"/api/v1/products/{other['id']}/listings",
        json={"channel": "woocommerce", "connection_id": str(shop), "external_id": "9"},
        headers=tenant.headers,
    )
    assert wrong.status_code == 422 and "shopify" in wrong.json()["detail"]
    foreign_shop = await _shop(runtime, other_tenant)
    foreign = await client.post(
        f"/api/v1/products/{other['id']}/listings",
        json={"channel": "shopify", "connection_id": str(foreign_shop), "external_id": "1"},
        headers=tenant.headers,
    )
    assert foreign.status_code == 404
    listing_id = made["listings"][0]["id"]
    gone = await client.delete(
        f"/api/v1/products/{made['id']}/listings/{listing_id}", headers=tenant.headers
    )
    assert gone.status_code == 204
    again = await client.get(f"/api/v1/products/{made['id']}", headers=tenant.headers)
    assert again.json()["listings"] == []


async def test_other_organization_products_are_not_found(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    made = await _product(client, tenant, sku="MINE")
    for method, path, body in (
        ("GET", f"/api/v1/products/{made['id']}", None),
        ("PATCH", f"/api/v1/products/{made['id']}", {"title": "x"}),
        ("POST", f"/api/v1/products/{made['id']}/archive", None),
        ("GET", f"/api/v1/products/{made['id']}/levels", None),
    ):
        response = await client.request(method, path, json=body, headers=other_tenant.headers)
        assert response.status_code == 404, (method, path, response.text)
    listed = await client.get("/api/v1/products", headers=other_tenant.headers)
    assert listed.json()["items"] == []


async def test_members_read_and_admins_write(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    member = await make_tenant(runtime, role=Role.MEMBER)
    refused = await client.post("/api/v1/products", json={"sku": "X"}, headers=member.headers)
    assert refused.status_code == 403 and "admin" in refused.json()["detail"]
    assert (await client.get("/api/v1/products", headers=member.headers)).status_code == 200
    bad = await client.post("/api/v1/products", json={"sku": "  "}, headers=tenant.headers)
    assert bad.status_code == 422
    signed_out = await client.get("/api/v1/products")
    assert signed_out.status_code == 401
