"""Revoked sign-ins: an access token whose refresh-token family (``sid``) was revoked — reuse,
sign-out, sign-out everywhere — is refused before it expires, by validate-token, the app
bearer endpoints and every user endpoint; at once in the revoking process and within the poll
period in every other one (``identity.refresh_tokens.revocations``)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.db.session import unit_of_work
from sellerhub.identity.refresh_tokens import service as refresh_tokens
from sellerhub.identity.refresh_tokens.revocations import (
    Revocations,
    RevocationsUnavailable,
    revocations,
)
from sellerhub.identity.sessions.cookies import ACCESS_COOKIE, CSRF_COOKIE
from sellerhub.runtime import Runtime
from tests.conftest import Tenant
from tests.test_cross_app import (  # noqa: F401 - fixtures
    World,
    _fresh_registry,
    app_tokens,
    bearer,
    sign_in,
    world,
)

VALIDATE = "/api/cross-app/validate-token"


async def _active(client: httpx.AsyncClient, world: World, token: str) -> bool:  # noqa: F811
    response = await client.post(VALIDATE, json={"token": token}, headers=world.reimb.basic)
    assert response.status_code == 200, response.text
    active: bool = response.json()["active"]
    return active


async def _revoked_rows(runtime: Runtime) -> set[str]:
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(text("SELECT family_id::text FROM revoked_families"))
    return {r[0] for r in rows}


async def test_reuse_makes_every_token_of_the_app_sign_in_inactive_at_once(
    client: httpx.AsyncClient,
    runtime: Runtime,
    world: World,  # noqa: F811
) -> None:
    first = await app_tokens(client, world, "amzreimb")
    rotated = await client.post(
        "/api/cross-app/refresh-token",
        json={"refresh_token": first["refresh_token"]},
        headers=world.reimb.basic,
    )
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert await _active(client, world, first["access_token"])
    assert await _active(client, world, second["access_token"])
    user_info = await client.get("/api/cross-app/user-info", headers=bearer(second["access_token"]))
    assert user_info.status_code == 200

    reused = await client.post(
        "/api/cross-app/refresh-token",
        json={"refresh_token": first["refresh_token"]},
        headers=world.reimb.basic,
    )
    assert reused.status_code == 401 and reused.json()["code"] == "refresh-token-reused"

    # Both access tokens of the family (the cached verification too) are inactive now.
    assert not await _active(client, world, first["access_token"])
    assert not await _active(client, world, second["access_token"])
    refused = await client.get("/api/cross-app/user-info", headers=bearer(second["access_token"]))
    assert refused.status_code == 401 and refused.json()["code"] == "invalid-app-token"
    sid = jwt.decode(second["access_token"], options={"verify_signature": False})["sid"]
    assert sid in await _revoked_rows(runtime)  # what the other processes read

    # Another sign-in of the same user to the same app is untouched.
    fresh = await app_tokens(client, world, "amzreimb")
    assert await _active(client, world, fresh["access_token"])


async def test_a_process_that_did_not_revoke_refuses_within_its_poll_period(
    client: httpx.AsyncClient,
    runtime: Runtime,
    world: World,  # noqa: F811
) -> None:
    """Another process is another ``Revocations``: it has loaded the set before the revocation,
    still accepts the token until its poll period ends, and refuses it from then on."""
    other = Revocations(poll_seconds=0.5)
    issued = await app_tokens(client, world, "amzreimb")
    claims = jwt.decode(issued["access_token"], options={"verify_signature": False})
    assert await other.check(runtime.sessionmaker, claims)

    revoked = await client.post(
        "/api/cross-app/refresh-token",
        json={"refresh_token": issued["refresh_token"]},
        headers=world.reimb.basic,
    )
    assert revoked.status_code == 200
    again = await client.post(
        "/api/cross-app/refresh-token",
        json={"refresh_token": issued["refresh_token"]},
        headers=world.reimb.basic,
    )
    assert again.status_code == 401  # reuse: the family is revoked, committed

    assert await other.check(runtime.sessionmaker, claims)  # still within its period
    await asyncio.sleep(0.55)
    assert not await other.check(runtime.sessionmaker, claims)
    # And this process's own set, reloaded from the table alone, has it too.
    revocations.clear()
    assert not await _active(client, world, issued["access_token"])


async def test_sign_out_refuses_the_sessions_access_token(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    issued = await sign_in(runtime, tenant)
    me = await client.get("/api/auth/me", headers=bearer(issued.access_token))
    assert me.status_code == 200
    cookies = {ACCESS_COOKIE: issued.access_token, CSRF_COOKIE: issued.csrf_token}
    client.cookies.update(cookies)
    try:
        assert (await client.get("/api/auth/me")).status_code == 200
    finally:
        client.cookies.clear()

    out = await client.post("/api/auth/logout", json={"refresh_token": issued.refresh_token})
    assert out.status_code == 204

    after = await client.get("/api/auth/me", headers=bearer(issued.access_token))
    assert after.status_code == 401 and after.json()["code"] == "unauthenticated"
    assert "ended" in after.json()["detail"]
    client.cookies.update(cookies)
    try:
        by_cookie = await client.get("/api/auth/me")
    finally:
        client.cookies.clear()
    assert by_cookie.status_code == 401
    # Another session of the same user still works.
    other = await sign_in(runtime, tenant)
    assert (await client.get("/api/auth/me", headers=bearer(other.access_token))).status_code == 200


async def test_sign_out_everywhere_refuses_every_access_token(
    client: httpx.AsyncClient,
    runtime: Runtime,
    world: World,  # noqa: F811
    tenant: Tenant,
) -> None:
    session_token = world.user_headers["Authorization"].removeprefix("Bearer ")
    app_token = (await app_tokens(client, world, "amzreimb"))["access_token"]
    assert await _active(client, world, app_token)

    async with unit_of_work(runtime.sessionmaker) as session:
        ended = await refresh_tokens.end_all_for_user(session, tenant.user.id, "test")
    assert ended.of("session") == 1 and ended.of("app") == 1

    assert not await _active(client, world, app_token)
    me = await client.get("/api/auth/me", headers=bearer(session_token))
    assert me.status_code == 401
    assert len(await _revoked_rows(runtime)) == 2


async def test_rolled_back_revocations_refuse_nothing(
    client: httpx.AsyncClient,
    runtime: Runtime,
    world: World,  # noqa: F811
    tenant: Tenant,
) -> None:
    app_token = (await app_tokens(client, world, "amzreimb"))["access_token"]

    async def revoke_then_fail() -> None:
        async with unit_of_work(runtime.sessionmaker) as session:
            await refresh_tokens.end_all_for_user(session, tenant.user.id, "test")
            raise RuntimeError("the caller failed after the revocation")

    with pytest.raises(RuntimeError):
        await revoke_then_fail()
    assert await _active(client, world, app_token)
    revocations.clear()
    assert await _active(client, world, app_token)
    assert await _revoked_rows(runtime) == set()


async def test_a_process_that_cannot_read_the_list_fails_closed(runtime: Runtime) -> None:
    """Within ``max_stale_seconds`` of its last reload a process answers from what it has; past
    it, it refuses (503) rather than accept a token revoked meanwhile."""
    claims: dict[str, Any] = {"sid": str(uuid.uuid4())}
    checker = Revocations(poll_seconds=0.0, max_stale_seconds=0.3)
    assert await checker.check(runtime.sessionmaker, claims)

    def broken() -> AsyncSession:
        raise OSError("the database is down")

    assert await checker.check(broken, claims)  # type: ignore[arg-type]
    await asyncio.sleep(0.35)
    with pytest.raises(RevocationsUnavailable) as refused:
        await checker.check(broken, claims)  # type: ignore[arg-type]
    assert refused.value.status == 503
    assert await checker.check(runtime.sessionmaker, claims)  # back once it can read again
    # A token without a sign-in (sid) is not a session's: nothing to look up.
    assert await Revocations(max_stale_seconds=0).check(broken, {})  # type: ignore[arg-type]


async def test_the_prune_job_forgets_families_whose_tokens_expired(runtime: Runtime) -> None:
    old, recent = uuid.uuid4(), uuid.uuid4()
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO revoked_families (family_id, kind, revoked_at) VALUES"
                " (:old, 'session', now() - interval '2 hours'),"
                " (:recent, 'session', now() - interval '5 minutes')"
            ),
            {"old": old, "recent": recent},
        )
    async with unit_of_work(runtime.sessionmaker) as session:
        assert await refresh_tokens.prune_revocations(session) == 1
    assert await _revoked_rows(runtime) == {str(recent)}
