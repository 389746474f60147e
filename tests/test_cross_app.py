"""Cross-app identity: app registry, app-scoped user tokens (issue, validate, refresh), the
user behind a token, credit-only signups and the client-credentials token endpoint."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import text

from sellerhub.core.errors import Unauthenticated
from sellerhub.db.session import unit_of_work
from sellerhub.identity.apps.cache import AppRegistry, app_registry
from sellerhub.identity.jwt.service import ALGORITHM, LEEWAY_SECONDS
from sellerhub.identity.sessions import service as sessions
from sellerhub.identity.sessions.cookies import ACCESS_COOKIE, CSRF_COOKIE
from sellerhub.identity.sessions.endpoints import session_policy
from sellerhub.runtime import Runtime
from tests.conftest import Tenant, make_tenant

ORIGIN = "https://reimb.example.com"
ALL_PERMS = ["credits:consume", "credits:purchase", "credits:read", "profile:read", "users:create"]


@pytest.fixture(autouse=True)
def _fresh_registry() -> None:
    app_registry.clear()


async def sign_in(runtime: Runtime, tenant: Tenant) -> sessions.IssuedSession:
    assert runtime.keystore is not None
    async with unit_of_work(runtime.sessionmaker) as session:
        return await sessions.start_session(
            session,
            runtime.keystore,
            session_policy(runtime.settings),
            user_id=tenant.user.id,
            organization_id=tenant.organization.id,
            method="test",
        )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(app_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{app_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


async def platform_admin(runtime: Runtime) -> tuple[Tenant, dict[str, str]]:
    """A platform operator: a user whose user_type is admin, with a session token."""
    admin = await make_tenant(runtime, "Platform")
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE users SET user_type = 'admin' WHERE id = :id"), {"id": admin.user.id}
        )
    issued = await sign_in(runtime, admin)
    return admin, bearer(issued.access_token)


@dataclass
class RegisteredApp:
    app_id: str
    secret: str
    body: dict[str, Any]

    @property
    def basic(self) -> dict[str, str]:
        return basic(self.app_id, self.secret)


async def register(
    client: httpx.AsyncClient, admin_headers: dict[str, str], app_id: str, **fields: Any
) -> RegisteredApp:
    body = {
        "app_id": app_id,
        "name": app_id.title(),
        "allowed_origins": [ORIGIN],
        "permissions": ALL_PERMS,
        **fields,
    }
    response = await client.post("/api/cross-app/register", json=body, headers=admin_headers)
    assert response.status_code == 201, response.text
    out = response.json()
    return RegisteredApp(app_id, out["client_secret"], out)


@dataclass
class World:
    admin: Tenant
    admin_headers: dict[str, str]
    user_headers: dict[str, str]  # the tenant's signed-in user (session JWT as bearer)
    reimb: RegisteredApp
    ads: RegisteredApp


@pytest.fixture
async def world(client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant) -> World:
    admin, admin_headers = await platform_admin(runtime)
    reimb = await register(
        client, admin_headers, "amzreimb", permissions=["profile:read", "credits:read"]
    )
    ads = await register(
        client, admin_headers, "adsight", allowed_origins=["https://ads.example.com"]
    )
    issued = await sign_in(runtime, tenant)
    return World(admin, admin_headers, bearer(issued.access_token), reimb, ads)


async def app_tokens(
    client: httpx.AsyncClient, world: World, app_id: str, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/cross-app/auth", json={"app_id": app_id, **body}, headers=world.user_headers
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def audit_actions(runtime: Runtime, organization_id: uuid.UUID) -> list[str]:
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT action FROM audit_events WHERE organization_id = :o ORDER BY id"),
            {"o": organization_id},
        )
    return [r[0] for r in rows]


# --- registration ------------------------------------------------------------------------------


async def test_register_is_for_platform_admins_and_shows_the_secret_once(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    body = {"app_id": "amzreimb", "name": "Reimbursements", "allowed_origins": [ORIGIN]}
    anonymous = await client.post("/api/cross-app/register", json=body)
    assert anonymous.status_code == 401
    customer = await client.post("/api/cross-app/register", json=body, headers=tenant.headers)
    assert customer.status_code == 403 and customer.json()["code"] == "forbidden"

    admin, admin_headers = await platform_admin(runtime)
    created = await client.post(
        "/api/cross-app/register",
        json={
            **body,
            "allowed_origins": ["https://Reimb.Example.com:443/", "http://localhost:5173"],
            "redirect_urls": ["https://reimb.example.com/callback"],
            "permissions": ["credits:read", "profile:read", "credits:read"],
        },
        headers=admin_headers,
    )
    assert created.status_code == 201, created.text
    out = created.json()
    secret = out["client_secret"]
    assert secret.startswith("sha_") and len(secret) > 40
    assert out["client_id"] == out["app_id"] == "amzreimb"
    assert out["kind"] == "browser" and out["disabled_at"] is None
    assert out["allowed_origins"] == [ORIGIN, "http://localhost:5173"]  # normalized
    assert out["permissions"] == ["credits:read", "profile:read"]
    async with runtime.engine.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM apps"))).mappings().one()
    assert row["client_secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {str(v) for v in row.values()}
    assert row["created_by_user_id"] == admin.user.id
    assert "APP_REGISTERED" in await audit_actions(runtime, admin.organization.id)

    again = await client.post("/api/cross-app/register", json=body, headers=admin_headers)
    assert again.status_code == 409 and again.json()["code"] == "app-already-registered"
    assert "client_secret" not in again.text


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"allowed_origins": ["https://reimb.example.com/app"]}, "allowed_origins.0"),
        ({"allowed_origins": ["http://reimb.example.com"]}, "allowed_origins.0"),
        ({"allowed_origins": ["https://*.example.com"]}, "allowed_origins.0"),
        ({"allowed_origins": [ORIGIN, "https://u:p@example.com"]}, "allowed_origins.1"),
        ({"allowed_origins": ["null"]}, "allowed_origins.0"),
        ({"redirect_urls": ["http://reimb.example.com/cb"]}, "redirect_urls.0"),
        ({"redirect_urls": ["https://reimb.example.com/cb#x"]}, "redirect_urls.0"),
        ({"redirect_urls": ["/relative"]}, "redirect_urls.0"),
        ({"permissions": ["admin:everything"]}, "permissions.0"),
        ({"app_id": "Bad_Id"}, "app_id"),
        ({"app_id": "sellerhub"}, "app_id"),
        ({"kind": "service"}, "kind"),  # a service app has no origins
        ({"unexpected": 1}, "unexpected"),
    ],
)
async def test_register_validates(
    client: httpx.AsyncClient, runtime: Runtime, fields: dict[str, Any], field: str
) -> None:
    _, admin_headers = await platform_admin(runtime)
    body = {"app_id": "amzreimb", "name": "R", "allowed_origins": [ORIGIN], **fields}
    response = await client.post("/api/cross-app/register", json=body, headers=admin_headers)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in problem["errors"]], problem


# --- app-scoped user tokens --------------------------------------------------------------------


async def test_auth_gives_an_app_scoped_token(
    client: httpx.AsyncClient, runtime: Runtime, world: World, tenant: Tenant
) -> None:
    assert runtime.keystore is not None
    out = await app_tokens(
        client, world, "amzreimb", permissions=["credits:read", "credits:consume"]
    )
    assert out["token_type"] == "Bearer" and 0 < out["expires_in"] <= 900
    assert out["permissions"] == ["credits:read"]  # requested ∩ the app's
    assert out["refresh_token"].startswith("shar_") and out["app_id"] == "amzreimb"
    claims = runtime.keystore.verify(out["access_token"], "amzreimb")
    assert claims["aud"] == "amzreimb" and claims["azp"] == "amzreimb"
    assert claims["sub"] == str(tenant.user.id) and claims["org"] == str(tenant.organization.id)
    assert claims["roles"] == ["owner"] and claims["ut"] == "customer"
    assert claims["perms"] == ["credits:read"]
    assert jwt.get_unverified_header(out["access_token"])["alg"] == ALGORITHM

    default = await app_tokens(client, world, "amzreimb")
    assert default["permissions"] == ["credits:read", "profile:read"]  # all of the app's
    # An API key works as well as a session; the audit trail has each issuance.
    by_key = await client.post(
        "/api/cross-app/auth", json={"app_id": "amzreimb"}, headers=tenant.headers
    )
    assert by_key.status_code == 200
    actions = await audit_actions(runtime, tenant.organization.id)
    assert actions.count("APP_TOKEN_ISSUED") == 3

    # The app token is not a token of the sellerhub API, nor of another app.
    me = await client.get("/api/auth/me", headers=bearer(out["access_token"]))
    assert me.status_code == 401
    with pytest.raises(Unauthenticated):
        runtime.keystore.verify(out["access_token"], "adsight")


async def test_auth_refusals(
    client: httpx.AsyncClient, runtime: Runtime, world: World, tenant: Tenant
) -> None:
    anonymous = await client.post("/api/cross-app/auth", json={"app_id": "amzreimb"})
    assert anonymous.status_code == 401
    unknown = await client.post(
        "/api/cross-app/auth", json={"app_id": "nope"}, headers=world.user_headers
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "app-not-found"
    foreign = await client.post(
        "/api/cross-app/auth",
        json={"app_id": "amzreimb"},
        headers={**world.user_headers, "Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403 and foreign.json()["code"] == "origin-not-allowed"
    other_apps_origin = await client.post(
        "/api/cross-app/auth",
        json={"app_id": "amzreimb"},
        headers={**world.user_headers, "Origin": "https://ads.example.com"},
    )
    assert other_apps_origin.status_code == 403
    allowed = await client.post(
        "/api/cross-app/auth",
        json={"app_id": "amzreimb"},
        headers={**world.user_headers, "Origin": ORIGIN},
    )
    assert allowed.status_code == 200
    bad_permission = await client.post(
        "/api/cross-app/auth",
        json={"app_id": "amzreimb", "permissions": ["root"]},
        headers=world.user_headers,
    )
    assert bad_permission.status_code == 422

    service_app = await register(
        client, world.admin_headers, "billing-svc", kind="service", allowed_origins=[]
    )
    refused = await client.post(
        "/api/cross-app/auth", json={"app_id": service_app.app_id}, headers=world.user_headers
    )
    assert refused.status_code == 403 and refused.json()["code"] == "app-kind-not-allowed"

    async with runtime.engine.begin() as conn:
        await conn.execute(text("UPDATE apps SET disabled_at = now() WHERE app_id = 'adsight'"))
    app_registry.clear()
    disabled = await client.post(
        "/api/cross-app/auth", json={"app_id": "adsight"}, headers=world.user_headers
    )
    # A disabled app is named as such (it exists: the admin who disabled it knows it does).
    assert disabled.status_code == 403 and disabled.json()["code"] == "app-disabled"
    unknown = await client.post(
        "/api/cross-app/auth", json={"app_id": "no-such-app"}, headers=world.user_headers
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "app-not-found"


async def test_auth_with_the_session_cookie_needs_csrf(
    client: httpx.AsyncClient, runtime: Runtime, world: World, tenant: Tenant
) -> None:
    issued = await sign_in(runtime, tenant)
    client.cookies.set(ACCESS_COOKIE, issued.access_token)
    client.cookies.set(CSRF_COOKIE, issued.csrf_token)
    no_csrf = await client.post("/api/cross-app/auth", json={"app_id": "amzreimb"})
    assert no_csrf.status_code == 403 and no_csrf.json()["code"] == "csrf-failed"
    ok = await client.post(
        "/api/cross-app/auth",
        json={"app_id": "amzreimb"},
        headers={"X-CSRF-Token": issued.csrf_token, "Origin": ORIGIN},
    )
    assert ok.status_code == 200, ok.text
    assert ok.headers["cache-control"] == "no-store"


# --- validate-token ----------------------------------------------------------------------------


async def test_validate_token(
    client: httpx.AsyncClient, runtime: Runtime, world: World, tenant: Tenant
) -> None:
    token = (await app_tokens(client, world, "amzreimb"))["access_token"]
    valid = await client.post(
        "/api/cross-app/validate-token", json={"token": token}, headers=world.reimb.basic
    )
    assert valid.status_code == 200, valid.text
    body = valid.json()
    assert body["active"] is True and body["aud"] == "amzreimb"
    assert body["sub"] == str(tenant.user.id) and body["org"] == str(tenant.organization.id)
    assert body["perms"] == ["credits:read", "profile:read"]
    assert body["scope"] == "credits:read profile:read"
    assert body["exp"] > time.time() and body["client_id"] == "amzreimb"
    assert valid.headers["cache-control"] == "no-store"

    # The same, with the credentials in the body (JSON, then form-encoded as in RFC 7662).
    in_body = await client.post(
        "/api/cross-app/validate-token",
        json={"token": token, "app_id": "amzreimb", "client_secret": world.reimb.secret},
    )
    assert in_body.json()["active"] is True
    form = await client.post(
        "/api/cross-app/validate-token",
        data={"token": token, "client_id": "amzreimb", "client_secret": world.reimb.secret},
    )
    assert form.status_code == 200 and form.json()["active"] is True

    # App A's token presented by app B: inactive, and nothing else is said.
    by_other = await client.post(
        "/api/cross-app/validate-token", json={"token": token}, headers=world.ads.basic
    )
    assert by_other.status_code == 200 and by_other.json() == {"active": False}


async def test_validate_token_inactive_cases(
    client: httpx.AsyncClient, runtime: Runtime, world: World, tenant: Tenant
) -> None:
    keystore = runtime.keystore
    assert keystore is not None
    token = (await app_tokens(client, world, "amzreimb"))["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    expired = keystore.sign(
        {**claims, "iat": int(time.time()) - 3600, "exp": int(time.time()) - 600}
    )
    head, _, signature = token.split(".")
    forged_claims = {**claims, "perms": ALL_PERMS}
    forged_payload = (
        base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).rstrip(b"=")
    ).decode()
    no_azp = keystore.sign({k: v for k, v in claims.items() if k != "azp"})
    session_token = world.user_headers["Authorization"].removeprefix("Bearer ")
    hs256 = jwt.encode({**claims}, "k" * 32, algorithm="HS256")
    cases = {
        "expired": expired,
        "tampered": f"{head}.{forged_payload}.{signature}",
        "no azp": no_azp,
        "main session token": session_token,
        "hs256": hs256,
        "garbage": "not-a-token",
    }
    for name, candidate in cases.items():
        response = await client.post(
            "/api/cross-app/validate-token", json={"token": candidate}, headers=world.reimb.basic
        )
        assert response.status_code == 200, name
        assert response.json() == {"active": False}, name


async def test_validate_token_authenticates_the_app(
    client: httpx.AsyncClient, world: World
) -> None:
    token = (await app_tokens(client, world, "amzreimb"))["access_token"]
    url = "/api/cross-app/validate-token"
    wrong = await client.post(url, json={"token": token}, headers=basic("amzreimb", "sha_wrong"))
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid-client"
    unknown = await client.post(url, json={"token": token}, headers=basic("ghost", "sha_x"))
    assert unknown.status_code == 401
    other_secret = await client.post(
        url, json={"token": token}, headers=basic("amzreimb", world.ads.secret)
    )
    assert other_secret.status_code == 401
    missing = await client.post(url, json={"token": token})
    assert missing.status_code == 401
    both = await client.post(
        url,
        json={"token": token, "client_secret": world.reimb.secret},
        headers=world.reimb.basic,
    )
    assert both.status_code == 400 and both.json()["code"] == "ambiguous-client-authentication"
    no_token = await client.post(url, json={}, headers=world.reimb.basic)
    assert no_token.status_code == 422
    not_json = await client.post(
        url, content=b"{", headers={**world.reimb.basic, "Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    bad_basic = await client.post(
        url, json={"token": token}, headers={"Authorization": "Basic !!!"}
    )
    assert bad_basic.status_code == 401


async def test_validate_token_uses_no_database_for_a_cached_app(
    client: httpx.AsyncClient, runtime: Runtime, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = (await app_tokens(client, world, "amzreimb"))["access_token"]
    first = await client.post(
        "/api/cross-app/validate-token", json={"token": token}, headers=world.reimb.basic
    )
    assert first.json()["active"] is True

    def no_database(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the hot path opened a database session")

    monkeypatch.setattr(runtime, "sessionmaker", no_database)
    again = await client.post(
        "/api/cross-app/validate-token", json={"token": token}, headers=world.reimb.basic
    )
    assert again.status_code == 200 and again.json()["active"] is True


def test_verified_tokens_are_remembered_briefly_and_never_past_expiry() -> None:
    registry = AppRegistry(ttl_seconds=10)
    now = time.time()
    registry.remember_verified("fresh", {"exp": now + 600, "aud": "a"})
    registry.remember_verified("expired", {"exp": now - LEEWAY_SECONDS - 1, "aud": "a"})
    assert registry.verified_claims("fresh") == {"exp": now + 600, "aud": "a"}
    assert registry.verified_claims("expired") is None
    assert registry.verified_claims("never seen") is None
    off = AppRegistry(ttl_seconds=0)
    off.remember_verified("fresh", {"exp": now + 600, "aud": "a"})
    assert off.verified_claims("fresh") is None


# --- refresh -----------------------------------------------------------------------------------


async def _refresh(
    client: httpx.AsyncClient, app: RegisteredApp, refresh_token: str
) -> httpx.Response:
    return await client.post(
        "/api/cross-app/refresh-token", json={"refresh_token": refresh_token}, headers=app.basic
    )


async def test_refresh_rotates_and_reuse_revokes(
    client: httpx.AsyncClient, runtime: Runtime, world: World, tenant: Tenant
) -> None:
    assert runtime.keystore is not None
    first = await app_tokens(client, world, "amzreimb", permissions=["credits:read"])
    rotated = await _refresh(client, world.reimb, first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    pair = rotated.json()
    assert pair["refresh_token"] != first["refresh_token"]
    assert pair["permissions"] == ["credits:read"]
    claims = runtime.keystore.verify(pair["access_token"], "amzreimb")
    assert claims["perms"] == ["credits:read"] and claims["sub"] == str(tenant.user.id)
    newest = (await _refresh(client, world.reimb, pair["refresh_token"])).json()["refresh_token"]

    reused = await _refresh(client, world.reimb, first["refresh_token"])
    assert reused.status_code == 401 and reused.json()["code"] == "refresh-token-reused"
    after = await _refresh(client, world.reimb, newest)
    assert after.status_code == 401 and after.json()["code"] == "invalid-refresh-token"
    async with runtime.engine.connect() as conn:
        live = await conn.scalar(
            text("SELECT count(*) FROM app_refresh_tokens WHERE revoked_at IS NULL")
        )
    assert live == 0
    assert "APP_REFRESH_TOKEN_REUSED" in await audit_actions(runtime, tenant.organization.id)


async def test_refresh_tokens_are_bound_to_their_app(
    client: httpx.AsyncClient, runtime: Runtime, world: World, tenant: Tenant
) -> None:
    issued = await app_tokens(client, world, "amzreimb")
    # Another app cannot use it (and trying does not spend it).
    stolen = await _refresh(client, world.ads, issued["refresh_token"])
    assert stolen.status_code == 401 and stolen.json()["code"] == "invalid-refresh-token"
    # Nor is it a session's refresh token, nor is a session's refresh token an app's.
    as_session = await client.post(
        "/api/auth/refresh", json={"refresh_token": issued["refresh_token"]}
    )
    assert as_session.status_code == 401
    session = await sign_in(runtime, tenant)
    as_app = await _refresh(client, world.reimb, session.refresh_token)
    assert as_app.status_code == 401
    still_good = await _refresh(client, world.reimb, issued["refresh_token"])
    assert still_good.status_code == 200
    # The app's credentials are required.
    anonymous = await client.post(
        "/api/cross-app/refresh-token", json={"refresh_token": issued["refresh_token"]}
    )
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "invalid-client"


async def test_refresh_stops_for_a_removed_member(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    issued = await app_tokens(client, world, "amzreimb")
    async with runtime.engine.begin() as conn:
        await conn.execute(text("DELETE FROM memberships"))
    refused = await _refresh(client, world.reimb, issued["refresh_token"])
    assert refused.status_code == 401
    async with runtime.engine.connect() as conn:
        revoked = await conn.scalar(
            text("SELECT count(*) FROM app_refresh_tokens WHERE revoked_at IS NOT NULL")
        )
    assert revoked == 1


# --- user-info and user ------------------------------------------------------------------------


async def test_user_info_and_user(
    client: httpx.AsyncClient, runtime: Runtime, world: World, tenant: Tenant
) -> None:
    token = (await app_tokens(client, world, "amzreimb"))["access_token"]
    info = await client.get("/api/cross-app/user-info", headers=bearer(token))
    assert info.status_code == 200, info.text
    assert info.json() == {
        "sub": str(tenant.user.id),
        "email": tenant.user.email,
        "name": tenant.user.name,
        "email_verified": False,
        "org": str(tenant.organization.id),
        "roles": ["owner"],
        "perms": ["credits:read", "profile:read"],
    }
    user = await client.get("/api/cross-app/user", headers={**bearer(token), "Origin": ORIGIN})
    assert user.status_code == 200, user.text
    body = user.json()
    assert body["id"] == str(tenant.user.id) and body["email"] == tenant.user.email
    assert body["user_type"] == "customer" and body["app_id"] == "amzreimb"
    assert body["organization"] == {
        "id": str(tenant.organization.id),
        "name": "Acme",
        "slug": tenant.organization.slug,
        "role": "owner",
    }
    assert body["permissions"] == ["credits:read", "profile:read"]


async def test_user_info_refusals(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    no_profile = await app_tokens(client, world, "amzreimb", permissions=["credits:read"])
    refused = await client.get(
        "/api/cross-app/user-info", headers=bearer(no_profile["access_token"])
    )
    assert refused.status_code == 403 and refused.json()["code"] == "app-permission-missing"
    session_token = world.user_headers["Authorization"].removeprefix("Bearer ")
    for headers in ({}, bearer(session_token), bearer("x.y.z"), basic("a", "b")):
        response = await client.get("/api/cross-app/user", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["code"] == "invalid-app-token"
    token = (await app_tokens(client, world, "amzreimb"))["access_token"]
    wrong_origin = await client.get(
        "/api/cross-app/user", headers={**bearer(token), "Origin": "https://ads.example.com"}
    )
    assert wrong_origin.status_code == 403
    async with runtime.engine.begin() as conn:
        await conn.execute(text("UPDATE apps SET disabled_at = now() WHERE app_id = 'amzreimb'"))
    app_registry.clear()
    disabled = await client.get("/api/cross-app/user", headers=bearer(token))
    assert disabled.status_code == 401


async def test_an_app_token_is_verified_once_and_its_app_and_sign_in_checked_every_time(
    client: httpx.AsyncClient, runtime: Runtime, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signature of an app token is checked on its first use only (an app sends the same
    token on every request); the app being disabled and the sign-in being revoked still refuse
    the remembered token at once."""
    assert runtime.keystore is not None
    verified: list[str] = []
    verify = runtime.keystore.verify_or_reload

    async def counting(token: str, audience: str) -> dict[str, Any]:
        if audience == "amzreimb":
            verified.append(audience)
        return await verify(token, audience)

    monkeypatch.setattr(runtime.keystore, "verify_or_reload", counting)
    pair = await app_tokens(client, world, "amzreimb")
    for _ in range(3):
        info = await client.get("/api/cross-app/user-info", headers=bearer(pair["access_token"]))
        assert info.status_code == 200, info.text
    assert verified == ["amzreimb"]
    forged = pair["access_token"][:-4] + (
        "AAAA" if not pair["access_token"].endswith("AAAA") else "BBBB"
    )
    refused = await client.get("/api/cross-app/user-info", headers=bearer(forged))
    assert refused.status_code == 401 and verified == ["amzreimb", "amzreimb"]

    # The sign-in revoked (its refresh token replayed): the remembered token is refused.
    rotated = await _refresh(client, world.reimb, pair["refresh_token"])
    assert rotated.status_code == 200
    reused = await _refresh(client, world.reimb, pair["refresh_token"])
    assert reused.json()["code"] == "refresh-token-reused"
    revoked = await client.get("/api/cross-app/user-info", headers=bearer(pair["access_token"]))
    assert revoked.status_code == 401 and revoked.json()["code"] == "invalid-app-token"

    # The app disabled: a remembered token of a live sign-in is refused too.
    live = (await app_tokens(client, world, "amzreimb"))["access_token"]
    assert (await client.get("/api/cross-app/user-info", headers=bearer(live))).status_code == 200
    disabled = await client.post(
        "/api/cross-app/apps/amzreimb/disable", headers=world.admin_headers
    )
    assert disabled.status_code == 200, disabled.text
    after = await client.get("/api/cross-app/user-info", headers=bearer(live))
    assert after.status_code == 401 and "disabled" in after.json()["detail"]


# --- signup ------------------------------------------------------------------------------------


async def test_signup_creates_a_credit_only_account_once(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    body = {"email": "New.Seller@example.com", "name": "New Seller"}
    created = await client.post("/api/cross-app/signup", json=body, headers=world.ads.basic)
    assert created.status_code == 201, created.text
    out = created.json()
    assert out["created"] is True
    again = await client.post(
        "/api/cross-app/signup",
        json={**body, "email": " new.seller@EXAMPLE.com "},
        headers=world.ads.basic,
    )
    assert again.status_code == 200
    assert again.json() == {**out, "created": False}
    async with runtime.engine.connect() as conn:
        user = (
            (await conn.execute(text("SELECT * FROM users WHERE id = :id"), {"id": out["user_id"]}))
            .mappings()
            .one()
        )
        role = await conn.scalar(
            text("SELECT role FROM memberships WHERE user_id = :u AND organization_id = :o"),
            {"u": out["user_id"], "o": out["organization_id"]},
        )
        orgs = await conn.scalar(text("SELECT count(*) FROM organizations"))
    assert user["password_hash"] is None and user["user_type"] == "customer"
    assert user["email"] == "New.Seller@example.com" and user["name"] == "New Seller"
    assert role == "owner"
    assert orgs == 3  # the admin's, the tenant's and the new personal one: no duplicate
    actions = await audit_actions(runtime, uuid.UUID(out["organization_id"]))
    assert "CROSS_APP_SIGNUP" in actions


async def test_concurrent_signups_create_one_account(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    body = {"email": "race@example.com", "name": "Race"}
    responses = await asyncio.gather(
        *(
            client.post("/api/cross-app/signup", json=body, headers=world.ads.basic)
            for _ in range(4)
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201], [
        r.text for r in responses
    ]
    assert len({r.json()["user_id"] for r in responses}) == 1
    async with runtime.engine.connect() as conn:
        users = await conn.scalar(
            text("SELECT count(*) FROM users WHERE email = 'race@example.com'")
        )
    assert users == 1


async def test_signup_refusals(
    client: httpx.AsyncClient, runtime: Runtime, world: World, tenant: Tenant
) -> None:
    url = "/api/cross-app/signup"
    body = {"email": "someone@example.com", "name": "S"}
    # amzreimb lacks users:create.
    no_permission = await client.post(url, json=body, headers=world.reimb.basic)
    assert no_permission.status_code == 403
    assert no_permission.json()["code"] == "app-permission-missing"
    anonymous = await client.post(url, json=body)
    assert anonymous.status_code == 401
    wrong = await client.post(url, json=body, headers=basic("adsight", world.reimb.secret))
    assert wrong.status_code == 401
    bad_email = await client.post(url, json={"email": "not-an-email"}, headers=world.ads.basic)
    assert bad_email.status_code == 422
    # An existing account that this app did not create: sign it in instead.
    existing = await client.post(url, json={"email": tenant.user.email}, headers=world.ads.basic)
    assert existing.status_code == 409 and existing.json()["code"] == "account-exists"
    # Created by another app: not idempotent across apps.
    other = await register(client, world.admin_headers, "catalog", allowed_origins=[])
    assert (await client.post(url, json=body, headers=world.ads.basic)).status_code == 201
    by_other = await client.post(url, json=body, headers=other.basic)
    assert by_other.status_code == 409


# --- /oauth/token ------------------------------------------------------------------------------


@pytest.fixture
async def service_app(client: httpx.AsyncClient, world: World) -> RegisteredApp:
    return await register(
        client,
        world.admin_headers,
        "billing-svc",
        kind="service",
        allowed_origins=[],
        permissions=["credits:read", "credits:consume"],
    )


async def _token(
    client: httpx.AsyncClient, data: dict[str, str], headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post("/oauth/token", data=data, headers=headers or {})


async def test_client_credentials_grant(
    client: httpx.AsyncClient, runtime: Runtime, service_app: RegisteredApp
) -> None:
    assert runtime.keystore is not None
    response = await _token(client, {"grant_type": "client_credentials"}, service_app.basic)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    out = response.json()
    assert set(out) == {"access_token", "token_type", "expires_in", "scope"}
    assert out["token_type"] == "Bearer" and 0 < out["expires_in"] <= 900
    assert out["scope"] == "credits:consume credits:read"
    claims = runtime.keystore.verify(out["access_token"], runtime.settings.jwt_audience)
    assert claims["sub"] == "app:billing-svc" and claims["azp"] == "billing-svc"
    assert claims["perms"] == ["credits:consume", "credits:read"]
    assert "org" not in claims
    # Not a user: the user endpoints refuse it (only endpoints naming a permission accept it).
    me = await client.get("/api/auth/me", headers=bearer(out["access_token"]))
    assert me.status_code == 403 and me.json()["code"] == "service-principal-refused"

    narrowed = await _token(
        client,
        {
            "grant_type": "client_credentials",
            "scope": "credits:read",
            "client_id": "billing-svc",
            "client_secret": service_app.secret,
        },
    )
    assert narrowed.status_code == 200 and narrowed.json()["scope"] == "credits:read"


async def test_token_endpoint_errors_are_rfc6749(
    client: httpx.AsyncClient, world: World, service_app: RegisteredApp
) -> None:
    cc = {"grant_type": "client_credentials"}
    cases: list[tuple[str, httpx.Response, int, str]] = [
        (
            "wrong secret",
            await _token(client, cc, basic("billing-svc", "sha_wrong")),
            401,
            "invalid_client",
        ),
        ("no credentials", await _token(client, cc), 401, "invalid_client"),
        (
            "unknown client",
            await _token(client, {**cc, "client_id": "ghost", "client_secret": "x"}),
            401,
            "invalid_client",
        ),
        (
            "browser app",
            await _token(client, cc, world.reimb.basic),
            400,
            "unauthorized_client",
        ),
        (
            "scope beyond the app's",
            await _token(client, {**cc, "scope": "credits:purchase"}, service_app.basic),
            400,
            "invalid_scope",
        ),
        (
            "unknown scope",
            await _token(client, {**cc, "scope": "root"}, service_app.basic),
            400,
            "invalid_scope",
        ),
        (
            "password grant",
            await _token(client, {"grant_type": "password"}, service_app.basic),
            400,
            "unsupported_grant_type",
        ),
        ("no grant type", await _token(client, {}, service_app.basic), 400, "invalid_request"),
        (
            "two client authentications",
            await _token(client, {**cc, "client_secret": service_app.secret}, service_app.basic),
            400,
            "invalid_request",
        ),
        (
            "JSON body",
            await client.post("/oauth/token", json=cc, headers=service_app.basic),
            400,
            "invalid_request",
        ),
        (
            "repeated parameter",
            await client.post(
                "/oauth/token",
                content=b"grant_type=client_credentials&grant_type=client_credentials",
                headers={
                    **service_app.basic,
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            ),
            400,
            "invalid_request",
        ),
    ]
    for name, response, status, error in cases:
        assert response.status_code == status, (name, response.text)
        body = response.json()
        assert body["error"] == error and body["error_description"], name
        assert response.headers["content-type"] == "application/json", name
        assert response.headers["cache-control"] == "no-store", name
        if status == 401:
            assert response.headers["www-authenticate"].startswith("Basic"), name


async def test_refresh_token_grant(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    assert runtime.keystore is not None
    issued = await app_tokens(client, world, "amzreimb")
    grant = {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]}
    narrowed = await _token(client, {**grant, "scope": "profile:read"}, world.reimb.basic)
    assert narrowed.status_code == 200, narrowed.text
    out = narrowed.json()
    assert out["scope"] == "profile:read" and out["token_type"] == "Bearer"
    claims = runtime.keystore.verify(out["access_token"], "amzreimb")
    assert claims["perms"] == ["profile:read"]
    # The new refresh token still carries the original grant.
    full = await _token(
        client,
        {"grant_type": "refresh_token", "refresh_token": out["refresh_token"]},
        world.reimb.basic,
    )
    assert full.json()["scope"] == "credits:read profile:read"
    beyond = await _token(
        client,
        {
            "grant_type": "refresh_token",
            "refresh_token": full.json()["refresh_token"],
            "scope": "users:create",
        },
        world.reimb.basic,
    )
    assert beyond.status_code == 400 and beyond.json()["error"] == "invalid_scope"
    # Another app, a reused token, a missing token: invalid_grant / invalid_request.
    other = await _token(
        client,
        {"grant_type": "refresh_token", "refresh_token": full.json()["refresh_token"]},
        world.ads.basic,
    )
    assert other.status_code == 400 and other.json()["error"] == "invalid_grant"
    reused = await _token(client, grant, world.reimb.basic)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    async with runtime.engine.connect() as conn:
        live = await conn.scalar(
            text("SELECT count(*) FROM app_refresh_tokens WHERE revoked_at IS NULL")
        )
    assert live == 0  # the reuse revoked the family, and that was committed
    missing = await _token(client, {"grant_type": "refresh_token"}, world.reimb.basic)
    assert missing.json()["error"] == "invalid_request"


async def test_discovery_names_the_token_endpoint(client: httpx.AsyncClient) -> None:
    config = (await client.get("/.well-known/openid-configuration")).json()
    assert config["token_endpoint"].endswith("/oauth/token")
    assert "client_credentials" in config["grant_types_supported"]
