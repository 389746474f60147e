"""Managing apps (platform admins, ``/api/cross-app/apps``): list and show, change origins and
redirect URLs, disable and enable (a disabled app's credentials, tokens, introspection and
sign-ins are refused), rotate the secret with a grace period for the old one — concurrent
rotations and token requests included — audited in the platform's trail."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import httpx
from sqlalchemy import text

from sellerhub.identity.apps.cache import AppRegistry, app_registry
from sellerhub.runtime import Runtime
from tests.conftest import Tenant, make_tenant
from tests.test_cross_app import (  # noqa: F401 - fixtures
    ORIGIN,
    RegisteredApp,
    World,
    _fresh_registry,
    app_tokens,
    basic,
    bearer,
    register,
    world,
)

APPS = "/api/cross-app/apps"
VALIDATE = "/api/cross-app/validate-token"


def problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


async def _platform_audit(runtime: Runtime, app_id: str) -> list[tuple[str, str, Any]]:
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT action, actor_type, data FROM platform_audit_events"
                " WHERE target_type = 'app' AND target_id = :a ORDER BY id"
            ),
            {"a": app_id},
        )
    return [(r[0], r[1], r[2]) for r in rows]


async def _cc_token(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=headers
    )


async def _service_app(client: httpx.AsyncClient, world: World) -> RegisteredApp:  # noqa: F811
    return await register(
        client,
        world.admin_headers,
        "billing-svc",
        kind="service",
        allowed_origins=[],
        permissions=["credits:read", "credits:consume"],
    )


# --- list, show, update ------------------------------------------------------------------------


async def test_list_and_show_are_for_platform_admins(
    client: httpx.AsyncClient,
    runtime: Runtime,
    world: World,  # noqa: F811
    tenant: Tenant,
) -> None:
    listed = await client.get(APPS, headers=world.admin_headers)
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [a["app_id"] for a in items] == ["adsight", "amzreimb"]
    hidden = {"client_secret", "client_secret_hash", "secret_hash", "previous_secret_hash"}
    assert all(not hidden & set(a) for a in items)
    shown = await client.get(f"{APPS}/amzreimb", headers=world.admin_headers)
    assert shown.status_code == 200 and shown.json()["allowed_origins"] == [ORIGIN]
    assert shown.json()["disabled_at"] is None

    problem(await client.get(f"{APPS}/ghost", headers=world.admin_headers), 404, "app-not-found")
    # An organization's owner is no platform admin: 403 on every route, whatever the app.
    for method, path in (
        ("GET", APPS),
        ("GET", f"{APPS}/amzreimb"),
        ("PATCH", f"{APPS}/amzreimb"),
        ("POST", f"{APPS}/amzreimb/disable"),
        ("POST", f"{APPS}/amzreimb/enable"),
        ("POST", f"{APPS}/amzreimb/rotate-secret"),
    ):
        response = await client.request(method, path, headers=tenant.headers, json={})
        problem(response, 403, "forbidden")
        anonymous = await client.request(method, path, json={})
        problem(anonymous, 401, "unauthenticated")
    # An app's own credentials are not an admin's either.
    problem(await client.get(APPS, headers=world.reimb.basic), 401, "unauthenticated")


async def test_update_origins_and_redirects(
    client: httpx.AsyncClient,
    runtime: Runtime,
    world: World,  # noqa: F811
) -> None:
    new_origin = "https://new.reimb.example.com"
    changed = await client.patch(
        f"{APPS}/amzreimb",
        json={
            "allowed_origins": [new_origin + "/", "https://NEW.reimb.example.com:443"],
            "redirect_urls": ["https://new.reimb.example.com/callback"],
        },
        headers=world.admin_headers,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["allowed_origins"] == [new_origin]  # normalized, deduplicated
    assert body["redirect_urls"] == ["https://new.reimb.example.com/callback"]
    assert body["name"] == "Amzreimb" and body["updated_at"] is not None

    # This process uses the new origins at once: the old origin is refused, the new one not.
    old = await client.post(
        "/api/cross-app/auth",
        json={"app_id": "amzreimb"},
        headers={**world.user_headers, "Origin": ORIGIN},
    )
    problem(old, 403, "origin-not-allowed")
    new = await client.post(
        "/api/cross-app/auth",
        json={"app_id": "amzreimb"},
        headers={**world.user_headers, "Origin": new_origin},
    )
    assert new.status_code == 200, new.text
    preflight = await client.options(
        "/api/cross-app/validate-token",
        headers={"Origin": new_origin, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.headers.get("access-control-allow-origin") == new_origin

    audit = await _platform_audit(runtime, "amzreimb")
    assert [(a, t) for a, t, _ in audit] == [("APP_UPDATED", "user")]
    data = audit[0][2]
    assert data["allowed_origins"] == {"from": [ORIGIN], "to": [new_origin]}
    assert data["via"] == "api"

    # The same body again changes nothing and records nothing.
    same = await client.patch(
        f"{APPS}/amzreimb", json={"allowed_origins": [new_origin]}, headers=world.admin_headers
    )
    assert same.status_code == 200
    assert len(await _platform_audit(runtime, "amzreimb")) == 1


async def test_update_validates(
    client: httpx.AsyncClient,
    world: World,  # noqa: F811
) -> None:
    bad = await client.patch(
        f"{APPS}/amzreimb",
        json={"allowed_origins": ["https://ok.example.com", "http://evil.example.com/x"]},
        headers=world.admin_headers,
    )
    problem(bad, 422, "validation-failed")
    assert [e["field"] for e in bad.json()["errors"]] == ["allowed_origins.1"]
    unknown_field = await client.patch(
        f"{APPS}/amzreimb", json={"permissions": ["users:create"]}, headers=world.admin_headers
    )
    assert unknown_field.status_code == 422
    service = await _service_app(client, world)
    for field in ("allowed_origins", "redirect_urls"):
        refused = await client.patch(
            f"{APPS}/{service.app_id}",
            json={field: ["https://svc.example.com"]},
            headers=world.admin_headers,
        )
        problem(refused, 422, "validation-failed")
        assert refused.json()["errors"][0]["field"] == field
    missing = await client.patch(
        f"{APPS}/ghost", json={"allowed_origins": []}, headers=world.admin_headers
    )
    problem(missing, 404, "app-not-found")
    # Nothing was changed by the refusals.
    shown = (await client.get(f"{APPS}/amzreimb", headers=world.admin_headers)).json()
    assert shown["allowed_origins"] == [ORIGIN] and shown["updated_at"] is None


# --- disable and enable ------------------------------------------------------------------------


async def test_a_disabled_app_is_refused_everywhere_and_enabling_restores_it(
    client: httpx.AsyncClient,
    runtime: Runtime,
    world: World,  # noqa: F811
) -> None:
    service = await _service_app(client, world)
    pair = await app_tokens(client, world, "amzreimb")
    service_token = (await _cc_token(client, service.basic)).json()["access_token"]
    validate = {"token": pair["access_token"]}
    assert (await client.post(VALIDATE, json=validate, headers=world.reimb.basic)).json()[
        "active"
    ] is True

    for app_id in ("amzreimb", service.app_id):
        disabled = await client.post(f"{APPS}/{app_id}/disable", headers=world.admin_headers)
        assert disabled.status_code == 200 and disabled.json()["disabled_at"] is not None
    first_time = (await client.get(f"{APPS}/amzreimb", headers=world.admin_headers)).json()
    again = await client.post(f"{APPS}/amzreimb/disable", headers=world.admin_headers)
    assert again.json()["disabled_at"] == first_time["disabled_at"]  # idempotent

    # Its client credentials: a clear refusal (the secret is right, the app is disabled).
    refused = await client.post(VALIDATE, json=validate, headers=world.reimb.basic)
    problem(refused, 403, "app-disabled")
    assert "disabled" in refused.json()["detail"]
    # A wrong secret of a disabled app says nothing about the app.
    wrong = await client.post(VALIDATE, json=validate, headers=basic("amzreimb", "sha_wrong"))
    problem(wrong, 401, "invalid-client")
    problem(
        await client.post(
            "/api/cross-app/refresh-token",
            json={"refresh_token": pair["refresh_token"]},
            headers=world.reimb.basic,
        ),
        403,
        "app-disabled",
    )
    oauth = await _cc_token(client, service.basic)
    assert oauth.status_code == 400 and oauth.json()["error"] == "unauthorized_client"
    # Its tokens.
    info = await client.get("/api/cross-app/user-info", headers=bearer(pair["access_token"]))
    problem(info, 401, "invalid-app-token")
    assert "disabled" in info.json()["detail"]
    # Sign-ins to it.
    sign_in = await client.post(
        "/api/cross-app/auth", json={"app_id": "amzreimb"}, headers=world.user_headers
    )
    problem(sign_in, 403, "app-disabled")
    # CORS no longer answers its origins.
    preflight = await client.options(
        VALIDATE, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.headers.get("access-control-allow-origin") is None

    for app_id in ("amzreimb", service.app_id):
        enabled = await client.post(f"{APPS}/{app_id}/enable", headers=world.admin_headers)
        assert enabled.status_code == 200 and enabled.json()["disabled_at"] is None
    assert (await client.post(VALIDATE, json=validate, headers=world.reimb.basic)).json()[
        "active"
    ] is True
    rotated = await client.post(
        "/api/cross-app/refresh-token",
        json={"refresh_token": pair["refresh_token"]},
        headers=world.reimb.basic,
    )
    assert rotated.status_code == 200  # the users' app sign-ins were kept
    assert (await _cc_token(client, service.basic)).status_code == 200
    assert service_token  # issued before the disable; its refusal is in test_service_principals

    actions = [a for a, _, _ in await _platform_audit(runtime, "amzreimb")]
    assert actions == ["APP_DISABLED", "APP_ENABLED"]  # the second disable changed nothing
    problem(
        await client.post(f"{APPS}/ghost/disable", headers=world.admin_headers),
        404,
        "app-not-found",
    )


async def test_other_processes_see_a_disabled_app_within_the_cache_period(
    client: httpx.AsyncClient,
    runtime: Runtime,
    world: World,  # noqa: F811
) -> None:
    """Another process is another registry: it answers from its snapshot until the snapshot
    is ``ttl_seconds`` old (SELLERHUB_APP_CACHE_SECONDS), then reads the app again."""
    other = AppRegistry(ttl_seconds=0.5)
    before = await other.get(runtime.sessionmaker, "amzreimb")
    assert before is not None and before.enabled
    disabled = await client.post(f"{APPS}/amzreimb/disable", headers=world.admin_headers)
    assert disabled.status_code == 200
    stale = await other.get(runtime.sessionmaker, "amzreimb")
    assert stale is not None and stale.enabled
    await asyncio.sleep(0.55)
    fresh = await other.get(runtime.sessionmaker, "amzreimb")
    assert fresh is not None and not fresh.enabled


# --- secret rotation ---------------------------------------------------------------------------


async def test_rotation_shows_a_new_secret_once_and_keeps_the_old_for_the_grace(
    client: httpx.AsyncClient,
    runtime: Runtime,
    world: World,  # noqa: F811
) -> None:
    token = (await app_tokens(client, world, "amzreimb"))["access_token"]
    old = world.reimb.basic
    rotated = await client.post(
        f"{APPS}/amzreimb/rotate-secret", json={"grace_seconds": 3600}, headers=world.admin_headers
    )
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    new_secret = body["client_secret"]
    assert new_secret.startswith("sha_") and new_secret != world.reimb.secret
    assert body["client_id"] == "amzreimb" and body["secret_rotated_at"] is not None
    expires = body["previous_secret_expires_at"]
    assert expires is not None
    new = basic("amzreimb", new_secret)

    for headers in (old, new):  # both, during the grace
        response = await client.post(VALIDATE, json={"token": token}, headers=headers)
        assert response.status_code == 200 and response.json()["active"] is True
    shown = (await client.get(f"{APPS}/amzreimb", headers=world.admin_headers)).json()
    assert "client_secret" not in shown and shown["previous_secret_expires_at"] == expires

    # The grace ends: the old secret is refused (here: its end moved to the past).
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE apps SET previous_secret_expires_at = now() - interval '1 second'"
                " WHERE app_id = 'amzreimb'"
            )
        )
    app_registry.clear()
    expired = await client.post(VALIDATE, json={"token": token}, headers=old)
    problem(expired, 401, "invalid-client")
    assert (await client.post(VALIDATE, json={"token": token}, headers=new)).status_code == 200

    audit = await _platform_audit(runtime, "amzreimb")
    assert [(a, t, d["grace_seconds"]) for a, t, d in audit] == [
        ("APP_SECRET_ROTATED", "user", 3600)
    ]
    assert world.reimb.secret not in str(audit) and new_secret not in str(audit)


async def test_rotation_without_grace_and_twice_in_a_row(
    client: httpx.AsyncClient,
    world: World,  # noqa: F811
) -> None:
    token = (await app_tokens(client, world, "amzreimb"))["access_token"]
    url = f"{APPS}/amzreimb/rotate-secret"
    first = (await client.post(url, json={"grace_seconds": 0}, headers=world.admin_headers)).json()
    assert first["previous_secret_expires_at"] is None
    problem(
        await client.post(VALIDATE, json={"token": token}, headers=world.reimb.basic),
        401,
        "invalid-client",
    )
    # Default grace (24 h), then again during that grace: the grace is kept for the secret the
    # clients use (the first), not extended; the secret the second rotation showed ends now.
    second = (await client.post(url, headers=world.admin_headers)).json()
    third = (await client.post(url, headers=world.admin_headers)).json()
    assert second["previous_secret_expires_at"] is not None
    assert third["previous_secret_expires_at"] == second["previous_secret_expires_at"]
    secrets = [first["client_secret"], second["client_secret"], third["client_secret"]]
    answers = [
        (await client.post(VALIDATE, json={"token": token}, headers=basic("amzreimb", s)))
        for s in secrets
    ]
    assert [a.status_code for a in answers] == [200, 401, 200]
    # Grace 0 ends every older secret at once (a leak).
    fourth = await client.post(url, json={"grace_seconds": 0}, headers=world.admin_headers)
    assert fourth.json()["previous_secret_expires_at"] is None
    for s in secrets:
        answer = await client.post(VALIDATE, json={"token": token}, headers=basic("amzreimb", s))
        assert answer.status_code == 401
    for grace in (-1, 30 * 86_400 + 1):
        bad = await client.post(url, json={"grace_seconds": grace}, headers=world.admin_headers)
        assert bad.status_code == 422
    problem(
        await client.post(f"{APPS}/ghost/rotate-secret", headers=world.admin_headers),
        404,
        "app-not-found",
    )


async def test_a_process_with_the_old_snapshot_accepts_the_new_secret(
    client: httpx.AsyncClient,
    world: World,  # noqa: F811
) -> None:
    """The secret was rotated in another process: this one still holds the app from before,
    and reads it again when a presented secret matches nothing it knows."""
    service = await _service_app(client, world)
    before = app_registry._apps["billing-svc"][1]
    assert before is not None
    rotated = await client.post(
        f"{APPS}/billing-svc/rotate-secret", json={"grace_seconds": 0}, headers=world.admin_headers
    )
    new = basic("billing-svc", rotated.json()["client_secret"])
    aged = dataclasses.replace(before, loaded_at=time.monotonic() - 5)
    app_registry.put("billing-svc", aged)  # as another process would hold it
    assert (await _cc_token(client, new)).status_code == 200
    # ...and now holds the new snapshot: the old secret (no grace) is refused.
    assert (await _cc_token(client, service.basic)).status_code == 401


async def test_rotation_racing_token_requests(
    client: httpx.AsyncClient,
    runtime: Runtime,
    world: World,  # noqa: F811
) -> None:
    """Token requests with the old secret while two rotations run: every request succeeds (the
    old secret is still current, or in its grace, which the second rotation keeps), the
    rotations serialize on the app's row, and afterwards the original secret and the last
    rotation's work while the first rotation's (replaced during the grace) does not."""
    service = await _service_app(client, world)
    url = f"{APPS}/billing-svc/rotate-secret"

    async def rotate() -> httpx.Response:
        return await client.post(url, json={"grace_seconds": 600}, headers=world.admin_headers)

    async def token(delay: float) -> httpx.Response:
        await asyncio.sleep(delay)
        return await _cc_token(client, service.basic)

    results = await asyncio.gather(
        rotate(), *(token(i * 0.01) for i in range(10)), rotate(), *(token(0.1) for _ in range(5))
    )
    rotations = [results[0], results[11]]
    requests = results[1:11] + results[12:]
    assert all(r.status_code == 200 for r in rotations)
    assert [r.status_code for r in requests] == [200] * len(requests)

    earlier, later = sorted((r.json() for r in rotations), key=lambda b: b["secret_rotated_at"])
    assert earlier["previous_secret_expires_at"] == later["previous_secret_expires_at"]
    app_registry.clear()
    later_token = await _cc_token(client, basic("billing-svc", later["client_secret"]))
    assert later_token.status_code == 200
    earlier_token = await _cc_token(client, basic("billing-svc", earlier["client_secret"]))
    assert earlier_token.status_code == 401
    assert (await _cc_token(client, service.basic)).status_code == 200
    actions = [a for a, _, _ in await _platform_audit(runtime, "billing-svc")]
    assert actions == ["APP_SECRET_ROTATED", "APP_SECRET_ROTATED"]


async def test_another_platform_admin_manages_the_same_apps(
    client: httpx.AsyncClient,
    runtime: Runtime,
    world: World,  # noqa: F811
) -> None:
    """Apps belong to the platform, not to the organization of the admin who registered them."""
    other = await make_tenant(runtime, "Other Platform Org")
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE users SET user_type = 'admin' WHERE id = :id"), {"id": other.user.id}
        )
    listed = await client.get(APPS, headers=other.headers)
    assert listed.status_code == 200 and len(listed.json()["items"]) == 2
