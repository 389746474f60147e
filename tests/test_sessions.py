"""Sessions: JWT access tokens, rotating refresh tokens with reuse detection, cookies + CSRF,
JWKS and signing-key rotation."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import timedelta

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from sellerhub.core.clock import utcnow
from sellerhub.db.session import unit_of_work
from sellerhub.identity.jwt.service import rotate_signing_key
from sellerhub.identity.organizations.models import Role
from sellerhub.identity.sessions import service as sessions
from sellerhub.identity.sessions.cookies import ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE
from sellerhub.identity.sessions.endpoints import session_policy
from sellerhub.identity.users.models import UserType
from sellerhub.runtime import Runtime
from tests.browser import Browser
from tests.conftest import Tenant


async def _sign_in(runtime: Runtime, tenant: Tenant) -> sessions.IssuedSession:
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


def _cookies(client: httpx.AsyncClient, issued: sessions.IssuedSession) -> None:
    client.cookies.set(ACCESS_COOKIE, issued.access_token)
    client.cookies.set(REFRESH_COOKIE, issued.refresh_token, path="/api/auth")
    client.cookies.set(CSRF_COOKIE, issued.csrf_token)


async def test_cookie_session_and_me(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, other_tenant: Tenant
) -> None:
    issued = await _sign_in(runtime, tenant)
    _cookies(client, issued)
    me = await client.get("/api/auth/me")
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["user"]["id"] == str(tenant.user.id)
    assert body["organization_id"] == str(tenant.organization.id)
    assert body["role"] == "owner" and body["via"] == "session"
    assert [o["name"] for o in body["organizations"]] == ["Acme"]  # not Globex
    events = await client.get("/api/v1/audit-events")
    assert "SESSION_STARTED" in [e["action"] for e in events.json()["items"]]


async def test_access_token_claims(runtime: Runtime, tenant: Tenant) -> None:
    issued = await _sign_in(runtime, tenant)
    header = jwt.get_unverified_header(issued.access_token)
    claims = jwt.decode(issued.access_token, options={"verify_signature": False})
    assert header["alg"] == "ES256" and header["kid"]
    assert claims["sub"] == str(tenant.user.id) and claims["org"] == str(tenant.organization.id)
    assert claims["aud"] == "sellerhub" and claims["iss"] == runtime.settings.public_url
    assert claims["roles"] == ["owner"]
    assert 0 < claims["exp"] - claims["iat"] <= 15 * 60


async def test_csrf_required_for_cookie_writes(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    issued = await _sign_in(runtime, tenant)
    _cookies(client, issued)
    refused = await client.post("/api/v1/api-keys", json={"name": "x"})
    assert refused.status_code == 403 and refused.json()["code"] == "csrf-failed"
    wrong = await client.post(
        "/api/v1/api-keys", json={"name": "x"}, headers={"X-CSRF-Token": "forged"}
    )
    assert wrong.status_code == 403
    ok = await client.post(
        "/api/v1/api-keys", json={"name": "x"}, headers={"X-CSRF-Token": issued.csrf_token}
    )
    assert ok.status_code == 201
    # Bearer tokens are not sent by browsers on their own, so they need no CSRF token.
    client.cookies.clear()
    bearer = await client.post(
        "/api/v1/api-keys",
        json={"name": "y"},
        headers={"Authorization": f"Bearer {issued.access_token}"},
    )
    assert bearer.status_code == 201


async def test_refresh_rotates_and_reuse_revokes_the_family(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    issued = await _sign_in(runtime, tenant)
    first = await client.post("/api/auth/refresh", json={"refresh_token": issued.refresh_token})
    assert first.status_code == 200, first.text
    rotated = first.json()["refresh_token"]
    assert rotated != issued.refresh_token and first.json()["access_token"]
    second = await client.post("/api/auth/refresh", json={"refresh_token": rotated})
    assert second.status_code == 200
    newest = second.json()["refresh_token"]
    # The first token again: theft suspected, the whole family goes.
    reused = await client.post("/api/auth/refresh", json={"refresh_token": issued.refresh_token})
    assert reused.status_code == 401
    assert reused.json()["code"] == "refresh-token-reused"
    after = await client.post("/api/auth/refresh", json={"refresh_token": newest})
    assert after.status_code == 401
    async with runtime.engine.connect() as conn:
        live = await conn.scalar(
            text("SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL")
        )
    assert live == 0


async def test_refresh_by_cookie_needs_csrf_and_sets_cookies(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    issued = await _sign_in(runtime, tenant)
    _cookies(client, issued)
    refused = await client.post("/api/auth/refresh")
    assert refused.status_code == 403
    ok = await client.post("/api/auth/refresh", headers={"X-CSRF-Token": issued.csrf_token})
    assert ok.status_code == 200 and ok.json()["access_token"] is None
    set_cookies = ok.headers.get_list("set-cookie")
    refresh_cookie = next(c for c in set_cookies if c.startswith(REFRESH_COOKIE + "="))
    assert "HttpOnly" in refresh_cookie and "Path=/api/auth" in refresh_cookie
    assert "SameSite=lax" in refresh_cookie and "Secure" in refresh_cookie  # test env: secure
    csrf_cookie = next(c for c in set_cookies if c.startswith(CSRF_COOKIE + "="))
    assert "HttpOnly" not in csrf_cookie


async def test_logout_revokes(client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant) -> None:
    issued = await _sign_in(runtime, tenant)
    out = await client.post("/api/auth/logout", json={"refresh_token": issued.refresh_token})
    assert out.status_code == 204
    again = await client.post("/api/auth/refresh", json={"refresh_token": issued.refresh_token})
    assert again.status_code == 401


async def test_removed_member_cannot_refresh(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    issued = await _sign_in(runtime, tenant)
    async with runtime.engine.begin() as conn:
        await conn.execute(text("DELETE FROM memberships"))
    response = await client.post("/api/auth/refresh", json={"refresh_token": issued.refresh_token})
    assert response.status_code == 401
    # The family is revoked for good (committed with the 401), as an app's is.
    async with runtime.engine.connect() as conn:
        live = await conn.scalar(
            text("SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL")
        )
    assert live == 0


def _tamper(token: str) -> str:
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["org"] = str(uuid.uuid4())
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{sig}"


async def test_bad_access_tokens_are_rejected(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    assert runtime.keystore is not None
    issued = await _sign_in(runtime, tenant)
    other_audience, _ = runtime.keystore.issue(
        subject=str(tenant.user.id),
        audience="another-app",
        ttl=timedelta(minutes=5),
        claims=sessions.access_claims(tenant.organization.id, Role.OWNER, UserType.CUSTOMER),
    )
    # PyJWT requires key=None for alg "none", which its annotation of ``key`` leaves out
    unsigned = jwt.encode({"sub": "x", "aud": "sellerhub"}, key=None, algorithm="none")  # type: ignore[arg-type]
    hs256 = jwt.encode({"sub": "x", "aud": "sellerhub"}, key="k" * 32, algorithm="HS256")
    expired = runtime.keystore.sign(
        {
            "iss": runtime.settings.public_url,
            "sub": str(tenant.user.id),
            "aud": "sellerhub",
            "iat": int(time.time()) - 3600,
            "exp": int(time.time()) - 600,
            **sessions.access_claims(tenant.organization.id, Role.OWNER, UserType.CUSTOMER),
        }
    )
    cases = {
        "tampered": _tamper(issued.access_token),
        "other audience": other_audience,
        "alg none": unsigned,
        "alg hs256": hs256,
        "expired": expired,
        "garbage": "a.b.c",
    }
    for name, token in cases.items():
        response = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert response.headers["content-type"] == "application/problem+json"


async def test_signing_key_rotation(
    app: FastAPI, client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    keystore = runtime.keystore
    assert keystore is not None
    # The session's key store may still hold a key another test's rotation retired: start
    # from the keys as they are now.
    await keystore.load()
    before = await _sign_in(runtime, tenant)
    old_kid = jwt.get_unverified_header(before.access_token)["kid"]
    async with unit_of_work(runtime.sessionmaker) as session:
        new_key = await rotate_signing_key(session, runtime.keyring)
    await keystore.load()
    # Published at once, but the old key keeps signing until the activation delay has passed.
    kids = [k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]]
    assert new_key.kid in kids
    during = await _sign_in(runtime, tenant)
    assert jwt.get_unverified_header(during.access_token)["kid"] == old_kid
    assert new_key.activates_at - utcnow() > keystore.timings.jwks_max_age  # caches refetched
    async with runtime.engine.begin() as conn:  # let the activation delay pass
        await conn.execute(
            text(
                "UPDATE signing_keys SET activates_at = activates_at - :shift, "
                "retired_at = retired_at - :shift"
            ),
            {"shift": keystore.timings.activation_delay + timedelta(seconds=1)},
        )
    await keystore.load()
    after = await _sign_in(runtime, tenant)
    assert jwt.get_unverified_header(after.access_token)["kid"] == new_key.kid != old_kid
    kids = [k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]]
    assert kids[0] == new_key.kid and old_kid in kids  # old one published until tokens expire
    for token in (before.access_token, after.access_token):
        ok = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
    # Once the retired key's tokens have all expired, it leaves the JWKS and stops verifying.
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE signing_keys SET published_until = :t WHERE kid = :kid"),
            {"t": utcnow() - timedelta(seconds=1), "kid": old_kid},
        )
    await keystore.load()
    kids = [k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]]
    assert old_kid not in kids
    gone = await client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {before.access_token}"}
    )
    assert gone.status_code == 401
    # Other processes of the run (the live server) may still sign with the old key until their
    # next reload, as they would in production within the publication window this test cut
    # short: publish it again so their tokens stay verifiable.
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE signing_keys SET published_until = :t WHERE kid = :kid"),
            {"t": utcnow() + timedelta(hours=1), "kid": old_kid},
        )


def test_jwks_verifies_with_pyjwt_client(live_server: str, runtime: Runtime) -> None:
    """A consumer that knows only our JWKS URL verifies our tokens with PyJWT's PyJWKClient:
    a token issued by the live server to a browser that signed in with Amazon."""
    browser = Browser(live_server)
    try:
        page = browser.get("/api/auth/amazon/start?next=/")
        callback = browser.submit(page, ("decision", "approve"), follow=False)
        landed = browser.get(callback.headers["location"], follow=False)
        token = browser.client.cookies.get(ACCESS_COOKIE)
        config = browser.client.get(live_server + "/.well-known/openid-configuration").json()
    finally:
        browser.close()
    assert landed.status_code == 302 and token
    assert config["jwks_uri"] == f"{live_server}/.well-known/jwks.json"
    assert config["issuer"] == live_server
    client = jwt.PyJWKClient(config["jwks_uri"])
    signing_key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token, signing_key.key, algorithms=["ES256"], audience="sellerhub", issuer=live_server
    )
    assert claims["roles"] == ["owner"] and claims["org"]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(_tamper(token), signing_key.key, algorithms=["ES256"], audience="sellerhub")


async def test_session_of_one_organization_cannot_reach_another(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, other_tenant: Tenant
) -> None:
    from sellerhub.audit import service as audit
    from sellerhub.db.tenancy import set_tenant

    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, other_tenant.organization.id)
        theirs = await audit.record(
            session, organization_id=other_tenant.organization.id, action="PRIVATE"
        )
    issued = await _sign_in(runtime, tenant)
    headers = {"Authorization": f"Bearer {issued.access_token}"}
    assert (
        await client.get(f"/api/v1/audit-events/{theirs.id}", headers=headers)
    ).status_code == 404
    listed = (await client.get("/api/v1/audit-events", headers=headers)).json()["items"]
    assert "PRIVATE" not in {e["action"] for e in listed}
    org = (await client.get("/api/v1/organizations/current", headers=headers)).json()
    assert org["id"] == str(tenant.organization.id)
    # A token whose org claim was rewritten fails its signature check.
    forged = await client.get(
        "/api/v1/audit-events", headers={"Authorization": f"Bearer {_tamper(issued.access_token)}"}
    )
    assert forged.status_code == 401


async def test_roles_guard_endpoints(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    from tests.conftest import make_tenant

    member = await make_tenant(runtime, "Members", role=Role.MEMBER)
    issued = await _sign_in(runtime, member)
    headers = {"Authorization": f"Bearer {issued.access_token}"}
    denied = await client.post("/api/v1/api-keys", json={"name": "x"}, headers=headers)
    assert denied.status_code == 403 and "admin" in denied.json()["detail"]
    assert (await client.get("/api/auth/me", headers=headers)).json()["role"] == "member"
