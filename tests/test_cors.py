"""CORS: only registered, enabled apps' origins are answered, on the cross-app paths; the
public discovery documents are readable from anywhere."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from sellerhub.identity.apps.cache import app_registry
from sellerhub.runtime import Runtime
from tests.test_cross_app import ORIGIN, platform_admin, register

VALIDATE = "/api/cross-app/validate-token"


@pytest.fixture(autouse=True)
def _fresh_registry() -> None:
    app_registry.clear()


@pytest.fixture
async def registered(client: httpx.AsyncClient, runtime: Runtime) -> dict[str, str]:
    _, admin_headers = await platform_admin(runtime)
    app = await register(client, admin_headers, "amzreimb")
    return app.basic


def _preflight(origin: str, method: str = "POST", headers: str = "") -> dict[str, str]:
    out = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        out["Access-Control-Request-Headers"] = headers
    return out


def _cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


async def test_registered_origin_is_echoed(
    client: httpx.AsyncClient, registered: dict[str, str]
) -> None:
    response = await client.post(
        VALIDATE, json={"token": "x.y.z"}, headers={**registered, "Origin": ORIGIN}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "x-request-id" in response.headers["access-control-expose-headers"]
    assert "Origin" in response.headers.get_list("vary")
    # Errors are readable by the app too (its page must see why).
    refused = await client.post(VALIDATE, json={"token": "x"}, headers={"Origin": ORIGIN})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == ORIGIN


async def test_preflight_of_a_registered_origin(
    client: httpx.AsyncClient, registered: dict[str, str]
) -> None:
    response = await client.options(
        "/api/cross-app/user", headers=_preflight(ORIGIN, "GET", "Authorization, X-Request-Id")
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert set(response.headers["access-control-allow-methods"].split(", ")) == {"GET", "POST"}
    allowed = response.headers["access-control-allow-headers"]
    assert "authorization" in allowed and "x-csrf-token" in allowed
    assert response.headers["access-control-max-age"] == "600"
    assert "Origin" in response.headers["vary"]
    assert response.headers["x-request-id"]  # inside the request-context middleware
    token_endpoint = await client.options("/oauth/token", headers=_preflight(ORIGIN))
    assert token_endpoint.status_code == 204


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "https://reimb.example.com.evil.example",
        "http://reimb.example.com",  # another scheme is another origin
        "https://reimb.example.com:8443",
        "null",
    ],
)
async def test_unregistered_origins_get_nothing(
    client: httpx.AsyncClient, registered: dict[str, str], origin: str
) -> None:
    response = await client.post(
        VALIDATE, json={"token": "x.y.z"}, headers={**registered, "Origin": origin}
    )
    # The endpoint refuses the origin too; the browser is not even allowed to read that.
    assert response.status_code == 403 and response.json()["code"] == "origin-not-allowed"
    assert _cors_headers(response) == {}
    preflight = await client.options(VALIDATE, headers=_preflight(origin))
    assert preflight.status_code == 403
    assert _cors_headers(preflight) == {}
    assert preflight.json()["code"] == "cors-origin-not-allowed"


async def test_preflight_refuses_methods_and_headers(
    client: httpx.AsyncClient, registered: dict[str, str]
) -> None:
    method = await client.options(VALIDATE, headers=_preflight(ORIGIN, "DELETE"))
    assert method.status_code == 400 and _cors_headers(method) == {}
    header = await client.options(VALIDATE, headers=_preflight(ORIGIN, "POST", "X-Secret-Thing"))
    assert header.status_code == 400 and _cors_headers(header) == {}


async def test_disabled_apps_lose_cors(
    client: httpx.AsyncClient, runtime: Runtime, registered: dict[str, str]
) -> None:
    ok = await client.options(VALIDATE, headers=_preflight(ORIGIN))
    assert ok.status_code == 204
    async with runtime.engine.begin() as conn:
        await conn.execute(text("UPDATE apps SET disabled_at = now()"))
    app_registry.clear()  # what the cache's TTL does on its own
    gone = await client.options(VALIDATE, headers=_preflight(ORIGIN))
    assert gone.status_code == 403


async def test_service_app_origins_are_not_cors_origins(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, admin_headers = await platform_admin(runtime)
    await register(client, admin_headers, "billing-svc", kind="service", allowed_origins=[])
    preflight = await client.options(VALIDATE, headers=_preflight(ORIGIN))
    assert preflight.status_code == 403


async def test_other_paths_are_untouched_and_cheap(
    client: httpx.AsyncClient,
    registered: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[Any] = []
    original = app_registry.origins

    async def counting(*args: Any) -> frozenset[str]:
        calls.append(args)
        return await original(*args)

    monkeypatch.setattr(app_registry, "origins", counting)
    # A registered origin on a path outside the cross-app API: no CORS, no lookup.
    me = await client.get("/api/auth/me", headers={"Origin": ORIGIN})
    assert _cors_headers(me) == {}
    health = await client.get("/healthz", headers={"Origin": ORIGIN})
    assert _cors_headers(health) == {}
    # No Origin on a cross-app path: no lookup either, but caches are told it varies.
    plain = await client.post(VALIDATE, json={"token": "x"}, headers=registered)
    assert _cors_headers(plain) == {} and "Origin" in plain.headers["vary"]
    assert calls == []
    await client.post(VALIDATE, json={"token": "x"}, headers={**registered, "Origin": ORIGIN})
    assert len(calls) == 1


async def test_public_documents_allow_any_origin(client: httpx.AsyncClient) -> None:
    jwks = await client.get("/.well-known/jwks.json", headers={"Origin": "https://anyone.example"})
    assert jwks.status_code == 200
    assert jwks.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in jwks.headers
    preflight = await client.options(
        "/.well-known/openid-configuration", headers=_preflight("https://anyone.example", "GET")
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    post = await client.options(
        "/.well-known/jwks.json", headers=_preflight("https://anyone.example", "POST")
    )
    assert post.status_code == 400
    no_origin = await client.get("/.well-known/jwks.json")
    assert _cors_headers(no_origin) == {}


async def test_the_endpoint_still_checks_the_origin_per_app(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """CORS lets any registered origin read; the endpoints refuse an origin of another app."""
    _, admin_headers = await platform_admin(runtime)
    await register(client, admin_headers, "amzreimb")
    ads = await register(
        client, admin_headers, "adsight", allowed_origins=["https://ads.example.com"]
    )
    response = await client.post(
        VALIDATE, json={"token": "x"}, headers={**ads.basic, "Origin": ORIGIN}
    )
    assert response.status_code == 403 and response.json()["code"] == "origin-not-allowed"
    assert response.headers["access-control-allow-origin"] == ORIGIN
