"""One refresh-token family for sessions and app tokens: a password reset (sign-out everywhere)
ends both kinds, and every kind of refresh token is covered by ``end_all_for_user``."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from sqlalchemy import text

from sellerhub.db.session import unit_of_work
from sellerhub.identity.apps.models import AppRefreshToken
from sellerhub.identity.refresh_tokens import service as refresh_tokens
from sellerhub.identity.refresh_tokens.models import REFRESH_TOKEN_MODELS
from sellerhub.identity.sessions.models import RefreshToken
from sellerhub.runtime import Runtime
from tests.conftest import Tenant
from tests.test_cross_app import (  # noqa: F401 - fixtures
    World,
    _fresh_registry,
    app_tokens,
    platform_admin,
    register,
    sign_in,
    world,
)

PASSWORD = "correct horse 42"
NEW_PASSWORD = "brand new pass 7"
CODE_RE = re.compile(r"code is (\d{6})")


async def _scalar(runtime: Runtime, sql: str, **params: Any) -> Any:
    async with runtime.engine.connect() as conn:
        return await conn.scalar(text(sql), params)


async def _reset_password(client: httpx.AsyncClient, email: str) -> None:
    requested = await client.post("/api/auth/password-reset/request", json={"email": email})
    assert requested.status_code == 202
    mails = (await client.get("/api/v1/dev/mail", params={"to": email})).json()["items"]
    found = CODE_RE.search(mails[0]["body_text"])
    assert found
    done = await client.post(
        "/api/auth/password-reset/confirm",
        json={"email": email, "code": found.group(1), "new_password": NEW_PASSWORD},
    )
    assert done.status_code == 200, done.text


async def test_password_reset_ends_app_refresh_tokens_too(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """The docs promise sign-out everywhere: an app's refresh token of the user is refused after
    a password reset, at both of its endpoints, like a session's."""
    _, admin_headers = await platform_admin(runtime)
    reimb = await register(client, admin_headers, "amzreimb")
    email = f"seller-{uuid.uuid4().hex[:8]}@example.com"
    signup = await client.post("/api/auth/signup", json={"email": email, "password": PASSWORD})
    assert signup.status_code == 201
    login = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    user_headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    pair = await client.post(
        "/api/cross-app/auth", json={"app_id": "amzreimb"}, headers=user_headers
    )
    assert pair.status_code == 200, pair.text
    other = await client.post(
        "/api/cross-app/auth", json={"app_id": "amzreimb"}, headers=user_headers
    )
    app_refresh, grant_refresh = pair.json()["refresh_token"], other.json()["refresh_token"]

    await _reset_password(client, email)

    session = await client.post(
        "/api/auth/refresh", json={"refresh_token": login.json()["refresh_token"]}
    )
    assert session.status_code == 401
    app = await client.post(
        "/api/cross-app/refresh-token", json={"refresh_token": app_refresh}, headers=reimb.basic
    )
    assert app.status_code == 401 and app.json()["code"] == "invalid-refresh-token"
    grant = await client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": grant_refresh},
        headers=reimb.basic,
    )
    assert grant.status_code == 400 and grant.json()["error"] == "invalid_grant"
    live = await _scalar(
        runtime, "SELECT count(*) FROM app_refresh_tokens WHERE revoked_at IS NULL"
    )
    assert live == 0
    data = await _scalar(
        runtime, "SELECT data FROM audit_events WHERE action = 'PASSWORD_RESET' LIMIT 1"
    )
    assert data["sessions_revoked"] == 1 and data["app_sessions_revoked"] == 2


async def test_end_all_for_user_ends_every_kind_and_only_that_users(
    client: httpx.AsyncClient,
    runtime: Runtime,
    world: World,  # noqa: F811 - the fixture
    tenant: Tenant,
    other_tenant: Tenant,
) -> None:
    assert {RefreshToken, AppRefreshToken} <= set(REFRESH_TOKEN_MODELS)
    mine = await app_tokens(client, world, "amzreimb")
    session = await sign_in(runtime, tenant)
    bystander = await sign_in(runtime, other_tenant)

    async with unit_of_work(runtime.sessionmaker) as db:
        ended = await refresh_tokens.end_all_for_user(db, tenant.user.id, "test")
    # The world's sign-in, this test's and the app's family.
    assert ended.of("session") == 2 and ended.of("app") == 1 and ended.total == 3

    refused = await client.post(
        "/api/cross-app/refresh-token",
        json={"refresh_token": mine["refresh_token"]},
        headers=world.reimb.basic,
    )
    assert refused.status_code == 401
    assert (
        await client.post("/api/auth/refresh", json={"refresh_token": session.refresh_token})
    ).status_code == 401
    assert (
        await client.post("/api/auth/refresh", json={"refresh_token": bystander.refresh_token})
    ).status_code == 200
