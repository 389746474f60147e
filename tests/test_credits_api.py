"""The credit API over HTTP, through the app, on PostgreSQL: the seed's cross-app routes with
app tokens, service tokens and users; 1,000 concurrent consumes on a 500-credit wallet;
idempotent retries and reused keys; permissions and organizations refused; holds; the
dashboard's wallet, history (JSON and CSV), grants and packages."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from sellerhub.billing.credits import repository as repo
from sellerhub.billing.credits import service
from sellerhub.runtime import Runtime
from tests import test_cross_app as cross_app
from tests.conftest import Tenant
from tests.test_cross_app import ORIGIN, World, app_tokens, bearer, register
from tests.test_service_principals import _created_organization, _service_token

world = cross_app.world  # fixtures
_fresh_registry = cross_app._fresh_registry

ORG = "X-Sellerhub-Organization"
CONSUME = "/api/cross-app/credits/consume"
ADS_ORIGIN = {"Origin": "https://ads.example.com"}


@pytest.fixture(autouse=True)
async def _no_packages(runtime: Runtime) -> AsyncIterator[None]:
    # Packages are not an organization's: not truncated with them. Before and after each test
    # (their purchases and subscriptions go with them).
    async with runtime.engine.begin() as conn:
        await conn.execute(text("TRUNCATE credit_packages CASCADE"))
    yield
    async with runtime.engine.begin() as conn:
        await conn.execute(text("TRUNCATE credit_packages CASCADE"))


async def fund(runtime: Runtime, organization_id: uuid.UUID | str, amount: int) -> None:
    async with runtime.writes.connection() as conn:
        await service.grant(
            conn, uuid.UUID(str(organization_id)), amount=amount, key=f"fund-{uuid.uuid4()}"
        )


async def ads_token(client: httpx.AsyncClient, world: World, *perms: str) -> dict[str, str]:
    """The tenant's user's token for the adsight app (every permission unless named)."""
    body: dict[str, Any] = {"permissions": list(perms)} if perms else {}
    out = await app_tokens(client, world, "adsight", **body)
    return {**bearer(out["access_token"]), **ADS_ORIGIN}


async def proved(runtime: Runtime) -> None:
    async with runtime.writes.connection() as conn:
        report = await repo.reconcile(conn)
    assert report.ok, service.describe(report)


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


async def test_a_thousand_concurrent_consumes_on_500_credits(
    client: httpx.AsyncClient, runtime: Runtime, world: World, tenant: Tenant
) -> None:
    await fund(runtime, tenant.organization.id, 500)
    headers = await ads_token(client, world)

    async def one(n: int) -> httpx.Response:
        body = {"amount": 1, "service": "ocr", "idempotency_key": f"job-{n}"}
        return await client.post(CONSUME, json=body, headers=headers)

    responses = await asyncio.gather(*(one(n) for n in range(1000)))
    made = [r for r in responses if r.status_code == 201]
    short = [r for r in responses if r.status_code == 402]
    assert len(made) == 500 and len(short) == 500, {r.status_code for r in responses}
    for r in short:
        assert problem(r, 402, "insufficient-credits")["balance"] == 0
    # Each success saw a distinct balance after it: 499 … 0, no credit spent twice.
    assert sorted(r.json()["balance_after"] for r in made) == list(range(500))
    assert {r.json()["app_id"] for r in made} == {"adsight"}

    wallet = await client.get("/api/v1/credits", headers=tenant.headers)
    assert wallet.json()["balance"] == 0 and wallet.json()["available"] == 0
    assert wallet.json()["usage"] == [
        {"app_id": "adsight", "service": "ocr", "credits": 500, "transfers": 500}
    ]
    assert wallet.json()["packages"] == []
    async with runtime.engine.connect() as db:
        count = await db.scalar(
            text(
                "SELECT count(*) FROM credit_transfers WHERE organization_id = :o"
                " AND code = 'consume'"
            ),
            {"o": tenant.organization.id},
        )
    assert count == 500
    await proved(runtime)


async def test_retries_answer_the_same_transfer_and_a_reused_key_is_a_409(
    client: httpx.AsyncClient, runtime: Runtime, world: World, tenant: Tenant
) -> None:
    await fund(runtime, tenant.organization.id, 10)
    headers = await ads_token(client, world)
    body = {"amount": 3, "service": "ocr", "idempotency_key": "k1", "metadata": {"page": 4}}
    first = await client.post(CONSUME, json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["balance_after"] == 7 and first.json()["code"] == "consume"
    retries = await asyncio.gather(
        *(client.post(CONSUME, json=body, headers=headers) for _ in range(20))
    )
    assert {r.status_code for r in retries} == {200}
    assert all(r.json() == first.json() for r in retries)
    problem(
        await client.post(CONSUME, json={**body, "amount": 4}, headers=headers),
        409,
        "idempotency-key-reused",
    )
    problem(
        await client.post(CONSUME, json={**body, "service": "tts"}, headers=headers),
        409,
        "idempotency-key-reused",
    )
    # The organization's own users have their own key space.
    mine = await client.post(CONSUME, json=body, headers=tenant.headers)
    assert mine.status_code == 201 and mine.json()["app_id"] is None
    check = await client.post("/api/cross-app/credit-check", json={"required": 4}, headers=headers)
    assert check.json() == {"sufficient": True, "balance": 4}
    check = await client.post("/api/cross-app/credit-check", json={"required": 5}, headers=headers)
    assert check.json() == {"sufficient": False, "balance": 4}
    await proved(runtime)


async def test_bad_consumes_are_precise_4xx(
    client: httpx.AsyncClient, runtime: Runtime, world: World, tenant: Tenant
) -> None:
    headers = await ads_token(client, world)
    for body in (
        {"amount": 0, "service": "ocr", "idempotency_key": "k"},
        {"amount": -1, "service": "ocr", "idempotency_key": "k"},
        {"amount": 1.5, "service": "ocr", "idempotency_key": "k"},
        {"amount": 10**13, "service": "ocr", "idempotency_key": "k"},
        {"amount": 1, "service": "", "idempotency_key": "k"},
        {"amount": 1, "service": "a b", "idempotency_key": "k"},
        {"amount": 1, "service": "ocr", "idempotency_key": ""},
        {"amount": 1, "service": "ocr", "idempotency_key": "k" * 201},
        {"amount": 1, "service": "ocr"},
        {"amount": 1, "service": "ocr", "idempotency_key": "k", "extra": 1},
        # metadata the ledger cannot store: an integer beyond 64 bits (the fuzz run's 500), or
        # a document larger than 4 KiB
        {"amount": 1, "service": "ocr", "idempotency_key": "k", "metadata": {"n": 2**70}},
        {"amount": 1, "service": "ocr", "idempotency_key": "k", "metadata": {"x": "y" * 5000}},
    ):
        problem(await client.post(CONSUME, json=body, headers=headers), 422, "validation-failed")
    # An empty wallet is a 402, not an error.
    empty = await client.post(
        CONSUME, json={"amount": 1, "service": "ocr", "idempotency_key": "k"}, headers=headers
    )
    assert problem(empty, 402, "insufficient-credits")["balance"] == 0


async def test_permissions_and_organizations_are_enforced(
    client: httpx.AsyncClient, runtime: Runtime, world: World, tenant: Tenant,
    other_tenant: Tenant,
) -> None:  # fmt: skip
    await fund(runtime, tenant.organization.id, 10)
    body = {"amount": 1, "service": "ocr", "idempotency_key": "k"}
    # amzreimb has credits:read only.
    reimb = await app_tokens(client, world, "amzreimb")
    reimb_headers = {**bearer(reimb["access_token"]), "Origin": ORIGIN}
    problem(await client.post(CONSUME, json=body, headers=reimb_headers), 403,
            "app-permission-missing")  # fmt: skip
    ok = await client.get("/api/cross-app/credits", headers=reimb_headers)
    assert ok.status_code == 200 and ok.json()["balance"] == 10
    # A token asked without credits:consume is refused too.
    read_only = await ads_token(client, world, "credits:read")
    problem(await client.post(CONSUME, json=body, headers=read_only), 403,
            "app-permission-missing")  # fmt: skip
    # The token names its organization: a request for another one is refused.
    headers = await ads_token(client, world)
    problem(
        await client.post(
            CONSUME, json=body, headers={**headers, ORG: str(other_tenant.organization.id)}
        ),
        403,
        "organization-not-granted",
    )
    same = await client.post(
        CONSUME, json=body, headers={**headers, ORG: str(tenant.organization.id)}
    )
    assert same.status_code == 201
    # A browser at an origin the app did not register; no or a bad token.
    problem(
        await client.post(CONSUME, json=body, headers={**headers, "Origin": "https://evil.test"}),
        403,
        "origin-not-allowed",
    )
    problem(await client.post(CONSUME, json=body), 401, "unauthenticated")
    bad = {"Authorization": "Bearer not-a-token"}
    assert (await client.post(CONSUME, json=body, headers=bad)).status_code == 401
    # A user's API key is bound to its organization as well.
    problem(
        await client.post(
            CONSUME, json=body, headers={**tenant.headers, ORG: str(other_tenant.organization.id)}
        ),
        403,
        "organization-not-granted",
    )
    # The other organization's wallet was not touched.
    other = await client.get("/api/v1/credits", headers=other_tenant.headers)
    assert other.json()["balance"] == 0


async def test_service_principals_consume_in_organizations_their_app_created(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    svc = await register(
        client, world.admin_headers, "billing-svc", kind="service", allowed_origins=[],
        permissions=["credits:consume", "credits:read", "users:create"],
    )  # fmt: skip
    reader = await register(
        client, world.admin_headers, "reader-svc", kind="service", allowed_origins=[],
        permissions=["credits:read", "users:create"],
    )  # fmt: skip
    token = await _service_token(client, svc)
    mine = await _created_organization(client, svc)
    theirs = await _created_organization(client, reader)
    await fund(runtime, mine, 5)
    body = {"amount": 2, "service": "batch", "idempotency_key": "s1"}
    made = await client.post(CONSUME, json=body, headers={**bearer(token), ORG: mine})
    assert made.status_code == 201, made.text
    assert made.json()["app_id"] == "billing-svc" and made.json()["balance_after"] == 3
    problem(
        await client.post(CONSUME, json=body, headers={**bearer(token), ORG: theirs}),
        403,
        "organization-not-granted",
    )
    reader_token = await _service_token(client, reader)
    problem(
        await client.post(CONSUME, json=body, headers={**bearer(reader_token), ORG: theirs}),
        403,
        "permission-missing",
    )
    seen = await client.get("/api/cross-app/credits", headers={**bearer(token), ORG: mine})
    assert seen.json()["balance"] == 3


async def test_holds_over_http(
    client: httpx.AsyncClient, runtime: Runtime, world: World, tenant: Tenant,
    other_tenant: Tenant,
) -> None:  # fmt: skip
    await fund(runtime, tenant.organization.id, 100)
    headers = await ads_token(client, world)
    body = {"amount": 60, "service": "video", "idempotency_key": "h1", "timeout_seconds": 300}
    made = await client.post("/api/v1/credits/holds", json=body, headers=headers)
    assert made.status_code == 201, made.text
    hold = made.json()
    assert hold["phase"] == "pending" and hold["balance_after"] == 40 and hold["timeout_at"]
    again = await client.post("/api/v1/credits/holds", json=body, headers=headers)
    assert again.status_code == 200 and again.json()["id"] == hold["id"]
    wallet = (await client.get("/api/v1/credits", headers=tenant.headers)).json()
    assert (wallet["balance"], wallet["held"], wallet["available"]) == (100, 60, 40)
    big = {"amount": 41, "service": "ocr", "idempotency_key": "c"}
    problem(await client.post(CONSUME, json=big, headers=headers), 402, "insufficient-credits")

    post = f"/api/v1/credits/holds/{hold['id']}/post"
    problem(await client.post(post, json={"amount": 61}, headers=headers), 409, "hold-exceeded")
    foreign = await client.post(post, json={"amount": 1}, headers=other_tenant.headers)
    problem(foreign, 404, "not-found")
    posted = await client.post(post, json={"amount": 45}, headers=headers)
    assert posted.status_code == 200, posted.text
    assert posted.json()["amount"] == 45 and posted.json()["balance_after"] == 55
    assert posted.json()["pending_id"] == hold["id"]
    wallet = (await client.get("/api/v1/credits", headers=tenant.headers)).json()
    assert (wallet["balance"], wallet["held"], wallet["available"]) == (55, 0, 55)
    void = f"/api/v1/credits/holds/{hold['id']}/void"
    problem(await client.post(void, headers=headers), 409, "hold-resolved")
    problem(
        await client.post(f"/api/v1/credits/holds/{uuid.uuid4()}/void", headers=headers),
        404,
        "not-found",
    )
    second = await client.post(
        "/api/v1/credits/holds",
        json={**body, "amount": 30, "idempotency_key": "h2"},
        headers=headers,
    )
    voided = await client.post(f"/api/v1/credits/holds/{second.json()['id']}/void",
                               headers=tenant.headers)  # fmt: skip
    assert voided.status_code == 200 and voided.json()["phase"] == "void"
    assert voided.json()["balance_after"] == 55
    await proved(runtime)


async def test_history_pages_and_exports(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    await fund(runtime, tenant.organization.id, 10)
    for n in range(4):
        body = {"amount": 1, "service": "=cmd", "idempotency_key": f"k{n}"}
        assert (await client.post(CONSUME, json=body, headers=tenant.headers)).status_code == 422
        body["service"] = "ocr"
        assert (await client.post(CONSUME, json=body, headers=tenant.headers)).status_code == 201
    page = await client.get("/api/v1/credits/transfers?limit=3", headers=tenant.headers)
    first = page.json()
    assert [i["balance_after"] for i in first["items"]] == [6, 7, 8]
    rest = await client.get(
        f"/api/v1/credits/transfers?limit=3&cursor={first['next_cursor']}",
        headers=tenant.headers,
    )
    assert [i["code"] for i in rest.json()["items"]] == ["consume", "grant"]
    assert rest.json()["next_cursor"] is None
    exported = await client.get("/api/v1/credits/transfers?format=csv&limit=2",
                                headers=tenant.headers)  # fmt: skip
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["balance_after"] for r in rows] == ["6", "7"]
    assert exported.headers["X-Next-Cursor"] == rows[-1]["id"]
    problem(await client.get("/api/v1/credits/transfers?format=xml", headers=tenant.headers),
            422, "validation-failed")  # fmt: skip


async def test_grants_and_packages_are_for_platform_admins(
    client: httpx.AsyncClient, runtime: Runtime, world: World, tenant: Tenant
) -> None:
    grant = {"organization_id": str(tenant.organization.id), "amount": 25,
             "idempotency_key": "promo", "reason": "welcome"}  # fmt: skip
    problem(await client.post("/api/v1/credits/grants", json=grant, headers=tenant.headers),
            403, "forbidden")  # fmt: skip
    made = await client.post("/api/v1/credits/grants", json=grant, headers=world.admin_headers)
    assert made.status_code == 201 and made.json()["balance_after"] == 25
    again = await client.post("/api/v1/credits/grants", json=grant, headers=world.admin_headers)
    assert again.status_code == 200 and again.json()["id"] == made.json()["id"]
    problem(
        await client.post("/api/v1/credits/grants", json={**grant, "amount": 26},
                          headers=world.admin_headers),
        409, "idempotency-key-reused",
    )  # fmt: skip
    async with runtime.engine.connect() as db:
        actions = (
            (
                await db.execute(
                    text("SELECT action FROM audit_events WHERE organization_id = :o"),
                    {"o": tenant.organization.id},
                )
            )
            .scalars()
            .all()
        )
    assert actions.count("credits.granted") == 1
    nobody = {**grant, "organization_id": str(uuid.uuid4()), "idempotency_key": "x"}
    problem(await client.post("/api/v1/credits/grants", json=nobody, headers=world.admin_headers),
            404, "not-found")  # fmt: skip

    package = {"name": "Starter", "credits": 100, "price_minor": 999, "currency": "eur"}
    problem(await client.post("/api/v1/credits/packages", json=package, headers=tenant.headers),
            403, "forbidden")  # fmt: skip
    made = await client.post("/api/v1/credits/packages", json=package, headers=world.admin_headers)
    assert made.status_code == 201 and made.json()["currency"] == "EUR"
    problem(
        await client.post("/api/v1/credits/packages", json={**package, "credits": 0},
                          headers=world.admin_headers),
        422, "validation-failed",
    )  # fmt: skip
    headers = await ads_token(client, world)
    offered = await client.get("/api/cross-app/credits", headers=headers)
    assert offered.json()["balance"] == 25
    assert [p["name"] for p in offered.json()["packages"]] == ["Starter"]
    dashboard = await client.get("/api/v1/credits", headers=tenant.headers)
    assert [p["price_minor"] for p in dashboard.json()["packages"]] == [999]
    changed = await client.patch("/api/v1/credits/packages",
                                 json={"id": made.json()["id"], "active": False},
                                 headers=world.admin_headers)  # fmt: skip
    assert changed.status_code == 200 and changed.json()["active"] is False
    offered = await client.get("/api/cross-app/credits", headers=headers)
    assert offered.json()["packages"] == []
    listed = await client.get("/api/v1/credits/packages", headers=world.admin_headers)
    assert [p["active"] for p in listed.json()] == [False]
    problem(
        await client.patch("/api/v1/credits/packages",
                           json={"id": str(uuid.uuid4()), "active": True},
                           headers=world.admin_headers),
        404, "not-found",
    )  # fmt: skip
    await proved(runtime)


CREDIT_ROUTES = [
    ("POST", "/api/cross-app/credit-check", {"required": 1}),
    ("GET", "/api/cross-app/credits", None),
    ("POST", CONSUME, {"amount": 1, "service": "s", "idempotency_key": "k"}),
    ("GET", "/api/v1/credits", None),
    ("GET", "/api/v1/credits/transfers", None),
    ("POST", "/api/v1/credits/holds", {"amount": 1, "service": "s", "idempotency_key": "k"}),
    ("POST", f"/api/v1/credits/holds/{uuid.uuid4()}/post", {}),
    ("POST", f"/api/v1/credits/holds/{uuid.uuid4()}/void", None),
    ("POST", "/api/v1/credits/grants", {}),
    ("GET", "/api/v1/credits/packages", None),
    ("POST", "/api/v1/credits/packages", {}),
    ("PATCH", "/api/v1/credits/packages", {}),
]


@pytest.mark.parametrize(("method", "path", "body"), CREDIT_ROUTES)
async def test_every_credit_route_refuses_an_anonymous_caller(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = await client.request(method, path, json=body)
    problem(response, 401, "unauthenticated")


async def test_concurrent_holds_never_reserve_more_than_the_wallet(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    await fund(runtime, tenant.organization.id, 100)

    async def hold(n: int) -> httpx.Response:
        body = {"amount": 10, "service": "render", "idempotency_key": f"h{n}"}
        return await client.post("/api/v1/credits/holds", json=body, headers=tenant.headers)

    responses = await asyncio.gather(*(hold(n) for n in range(40)))
    assert sorted(r.status_code for r in responses) == [201] * 10 + [402] * 30
    made = [r.json() for r in responses if r.status_code == 201]
    assert sorted(h["balance_after"] for h in made) == list(range(0, 100, 10))
    posts = await asyncio.gather(
        *(
            client.post(f"/api/v1/credits/holds/{h['id']}/post", json={"amount": 3},
                        headers=tenant.headers)
            for h in made
        )
    )  # fmt: skip
    assert {p.status_code for p in posts} == {200}
    wallet = (await client.get("/api/v1/credits", headers=tenant.headers)).json()
    assert (wallet["balance"], wallet["held"], wallet["available"]) == (70, 0, 70)
    await proved(runtime)
