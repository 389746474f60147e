"""The embedded login (``/embed/login``, docs/sdk.md "Embedded login protocol") against a live
server over real HTTP: the page's checks (app, origin, nonce, PKCE challenge, mode), the
sign-in of a visitor without a session that comes back to the same URL, the consent and its
CSRF, the message the page posts (data-* attributes read by ``static/embed.js``), the per-mode
CSP; the ``authorization_code`` grant at ``/oauth/token`` (one-time, 60 s, PKCE, bound to the
page's origin and the app; a replay revokes the first sign-in); the pair on the cross-app API;
a browser app's secretless refresh and its sign-out (``/api/cross-app/logout``)."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import uuid
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, unquote, urlencode

import httpx
import pytest
from sqlalchemy import text

import sellerhub.jobs.registry  # noqa: F401 - every task module, as the worker has them
from sellerhub.db.session import unit_of_work
from sellerhub.identity.apps import tokens
from sellerhub.jobs import app as jobs_app
from sellerhub.runtime import Runtime
from tests import test_cross_app as cross_app
from tests.browser import Browser
from tests.test_cross_app import RegisteredApp, World, register

world = cross_app.world  # fixtures
_fresh_registry = cross_app._fresh_registry

ORIGIN = "https://reimb.example.com"
OTHER_ORIGIN = "https://second.reimb.example.com"
EVIL = "https://evil.example.net"


def _app_id(prefix: str = "embed") -> str:
    """Unique per test: the live server caches apps by id for a while."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _pkce() -> tuple[str, str]:
    verifier = _b64(secrets.token_bytes(32))
    return verifier, _b64(hashlib.sha256(verifier.encode()).digest())


def _url(app_id: str, code_challenge: str, nonce: str, **over: str) -> str:
    query = {
        "app_id": app_id,
        "origin": ORIGIN,
        "nonce": nonce,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
        "mode": "popup",
    } | over
    return "/embed/login?" + urlencode(query)


class _Message(HTMLParser):
    """The data-* attributes of the page's ``#embed-message`` (what embed.js posts), if any."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if a.get("id") == "embed-message":
            self.found = {k[5:]: v for k, v in a.items() if k.startswith("data-")}


def message_of(html: str) -> dict[str, str] | None:
    parser = _Message()
    parser.feed(html)
    return parser.found


async def _browser_app(live_server: str, world: World, **fields: Any) -> RegisteredApp:
    body: dict[str, Any] = {"allowed_origins": [ORIGIN, OTHER_ORIGIN]} | fields
    async with httpx.AsyncClient(base_url=live_server) as http:
        return await register(http, world.admin.headers, _app_id(), **body)


def _approve(seller: Browser, app_id: str, challenge: str, nonce: str) -> dict[str, str]:
    consent = seller.get(_url(app_id, challenge, nonce))
    assert consent.status_code == 200, consent.text
    assert "Continue" in consent.text
    done = seller.submit(consent, ("action", "continue"))
    assert done.status_code == 200, done.text
    message = message_of(done.text)
    assert message is not None and "code" in message, done.text
    return message


def _exchange(
    live_server: str,
    app_id: str,
    code: str,
    verifier: str,
    origin: str | None = ORIGIN,
    **extra: str,
) -> httpx.Response:
    headers = {"Origin": origin} if origin else {}
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "client_id": app_id,
    } | extra
    return httpx.post(f"{live_server}/oauth/token", data=form, headers=headers, timeout=15)


def _signed_in(seller: Browser, app: RegisteredApp) -> tuple[dict[str, Any], str]:
    verifier, challenge = _pkce()
    nonce = _b64(secrets.token_bytes(32))
    message = _approve(seller, app.app_id, challenge, nonce)
    exchanged = _exchange(seller.base_url, app.app_id, message["code"], verifier)
    assert exchanged.status_code == 200, exchanged.text
    return exchanged.json(), message["code"]


def _refresh(
    live_server: str, app_id: str, refresh_token: str, origin: str | None = ORIGIN
) -> httpx.Response:
    headers = {"Origin": origin} if origin else {}
    return httpx.post(
        f"{live_server}/api/cross-app/refresh-token",
        json={"app_id": app_id, "refresh_token": refresh_token},
        headers=headers,
        timeout=15,
    )


def _user_info(live_server: str, access_token: str) -> httpx.Response:
    return httpx.get(
        f"{live_server}/api/cross-app/user-info",
        headers={"Authorization": f"Bearer {access_token}", "Origin": ORIGIN},
        timeout=15,
    )


async def _codes(runtime: Runtime, app_id: str) -> list[dict[str, Any]]:
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT * FROM app_auth_codes WHERE app_id = :a"), {"a": app_id}
        )
        return [dict(r._mapping) for r in rows]


def _http(method: str, url: str, **options: Any) -> httpx.Response:
    """A request without cookies (a visitor, or the app's page calling the API)."""
    return httpx.request(method, url, timeout=15, **options)


def _nonce() -> str:
    return _b64(secrets.token_bytes(32))


def _oauth_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error, response.text
    assert response.headers["cache-control"] == "no-store"


# --- the page and the code ---------------------------------------------------------------------


async def test_continue_posts_a_code_to_exactly_the_registered_origin_and_the_pair_works(
    seller: Browser, live_server: str, world: World, runtime: Runtime
) -> None:
    app = await _browser_app(live_server, world)
    verifier, challenge = _pkce()
    nonce = _nonce()
    consent = seller.get(_url(app.app_id, challenge, nonce))
    assert consent.status_code == 200
    who = re.search(r'id="embed-who">([^<]*)<', consent.text)
    assert who is not None
    assert who.group(1).startswith(f"Sign in to {app.app_id.title()} as seller@example.com (")
    assert message_of(consent.text) is None  # nothing is posted before Continue
    assert "<script>" not in consent.text and "/static/embed.js" in consent.text

    done = seller.submit(consent, ("action", "continue"))
    message = message_of(done.text)
    assert message is not None
    assert message["origin"] == ORIGIN and message["nonce"] == nonce
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", message["code"])
    assert "error" not in message
    (stored,) = await _codes(runtime, app.app_id)
    assert stored["code_hash"] == hashlib.sha256(message["code"].encode()).hexdigest()
    assert message["code"] not in str(stored)  # only the hash
    assert stored["origin"] == ORIGIN and stored["nonce"] == nonce
    assert stored["code_challenge"] == challenge
    lifetime = (stored["expires_at"] - stored["created_at"]).total_seconds()
    assert 55 <= lifetime <= 65

    pair = _exchange(live_server, app.app_id, message["code"], verifier)
    assert pair.status_code == 200, pair.text
    assert pair.headers["cache-control"] == "no-store"
    assert pair.headers["access-control-allow-origin"] == ORIGIN
    body = pair.json()
    assert body["app_id"] == app.app_id and body["token_type"] == "Bearer"
    assert body["expires_in"] > 0 and body["refresh_expires_in"] > 0
    assert body["permissions"] == sorted(cross_app.ALL_PERMS)
    info = _user_info(live_server, body["access_token"])
    assert info.status_code == 200, info.text
    assert info.json()["email"] == "seller@example.com"
    assert info.json()["perms"] == sorted(cross_app.ALL_PERMS)
    # The secretless refresh of a browser app's page, from one of its origins.
    rotated = _refresh(live_server, app.app_id, body["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    assert (
        _refresh(live_server, app.app_id, rotated.json()["refresh_token"], None).status_code == 401
    )
    assert (
        _refresh(live_server, app.app_id, rotated.json()["refresh_token"], EVIL).status_code == 403
    )
    actions = await cross_app.audit_actions(runtime, stored["organization_id"])
    assert "APP_AUTH_CODE_ISSUED" in actions and "APP_AUTH_CODE_EXCHANGED" in actions


async def test_an_unregistered_origin_gets_words_and_no_message(
    seller: Browser, live_server: str, world: World
) -> None:
    app = await _browser_app(live_server, world)
    _, challenge = _pkce()
    for origin in (EVIL, "", "null", ORIGIN + "/", ORIGIN.upper()):
        page = seller.get(_url(app.app_id, challenge, _nonce(), origin=origin))
        assert page.status_code == 403, origin
        assert message_of(page.text) is None, origin
        assert "is not registered for" in page.text
        assert "Continue" not in page.text
    # Not even a bad nonce makes a page post to an unregistered origin.
    page = seller.get(_url(app.app_id, challenge, "short", origin=EVIL, mode="iframe"))
    assert page.status_code == 403 and message_of(page.text) is None
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


async def test_unknown_service_and_disabled_apps_are_refused(
    seller: Browser, live_server: str, world: World
) -> None:
    _, challenge = _pkce()
    unknown = seller.get(_url("no-such-app", challenge, _nonce()))
    assert unknown.status_code == 404 and message_of(unknown.text) is None
    assert "No app that signs users in has this id" in unknown.text
    async with httpx.AsyncClient(base_url=live_server) as http:
        service_app = await register(
            http,
            world.admin.headers,
            _app_id("svc"),
            kind="service",
            allowed_origins=[],
            permissions=["credits:read"],
        )
    as_service = seller.get(_url(service_app.app_id, challenge, _nonce()))
    assert as_service.status_code == 404 and message_of(as_service.text) is None
    missing = seller.get("/embed/login?origin=" + quote(ORIGIN))
    assert missing.status_code == 400 and message_of(missing.text) is None

    app = await _browser_app(live_server, world)
    async with httpx.AsyncClient(base_url=live_server) as http:
        off = await http.post(
            f"/api/cross-app/apps/{app.app_id}/disable", headers=world.admin.headers
        )
    assert off.status_code == 200, off.text
    nonce = _nonce()
    disabled = seller.get(_url(app.app_id, challenge, nonce))
    assert disabled.status_code == 400
    message = message_of(disabled.text)
    assert message is not None and message["origin"] == ORIGIN and message["nonce"] == nonce
    assert message["error"] == "invalid_request" and "disabled" in message["error-description"]
    assert "code" not in message


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("nonce", "too-short", "nonce"),
        ("nonce", "x" * 129, "nonce"),
        ("nonce", "has spaces in it, sixteen+", "nonce"),
        ("code_challenge", "abc", "code_challenge"),
        ("code_challenge", "=" * 43, "code_challenge"),
        ("code_challenge_method", "plain", "S256"),
        ("mode", "redirect", "mode"),
    ],
)
async def test_a_bad_request_from_a_registered_origin_is_posted_as_invalid_request(
    seller: Browser, live_server: str, world: World, field: str, value: str, words: str
) -> None:
    app = await _browser_app(live_server, world)
    _, challenge = _pkce()
    query = {"nonce": _nonce(), "code_challenge": challenge} | {field: value}
    page = seller.get(_url(app.app_id, **query))
    assert page.status_code == 400
    message = message_of(page.text)
    assert message is not None and message["origin"] == ORIGIN
    assert message["error"] == "invalid_request" and words in message["error-description"]
    assert "code" not in message and "Continue" not in page.text


async def test_a_visitor_without_a_session_signs_in_and_comes_back(
    live_server: str, world: World
) -> None:
    app = await _browser_app(live_server, world)
    verifier, challenge = _pkce()
    url = _url(app.app_id, challenge, _nonce())
    visitor = Browser(live_server)
    try:
        page = visitor.get(url)
        assert page.status_code == 200
        assert "Login with Amazon" in page.text and 'name="password"' in page.text
        assert message_of(page.text) is None
        # The email form returns to this very URL; so does Login with Amazon.
        assert f'data-next="{url.replace("&", "&amp;")}"' in page.text
        link = re.search(r'href="(/api/auth/amazon/start\?next=[^"]+)"', page.text)
        assert link is not None
        start = html.unescape(link.group(1))
        assert unquote(start.split("next=", 1)[1]) == url
        consent_page = visitor.get(start)
        callback = visitor.submit(consent_page, ("decision", "approve"), follow=False)
        back = visitor.get(callback.headers["location"], follow=False)
        assert back.status_code in (302, 303) and back.headers["location"] == url
        consent = visitor.get(url)
        assert "Continue" in consent.text and "seller@example.com" in consent.text
        done = visitor.submit(consent, ("action", "continue"))
        message = message_of(done.text)
        assert message is not None and "code" in message
        assert _exchange(live_server, app.app_id, message["code"], verifier).status_code == 200
    finally:
        visitor.close()


async def test_the_consent_needs_the_sessions_csrf_token(
    seller: Browser, live_server: str, world: World, runtime: Runtime
) -> None:
    app = await _browser_app(live_server, world)
    _, challenge = _pkce()
    consent = seller.get(_url(app.app_id, challenge, _nonce()))
    for forged in ("", "not-the-token"):
        refused = seller.submit(consent, ("action", "continue"), overrides={"csrf_token": forged})
        assert refused.status_code == 403, refused.text
        assert message_of(refused.text) is None
    assert await _codes(runtime, app.app_id) == []
    # A POST without a session gets the sign-in, not a code.
    anonymous = _http(
        "POST",
        f"{live_server}/embed/login",
        data={
            "app_id": app.app_id,
            "origin": ORIGIN,
            "nonce": _nonce(),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "mode": "popup",
            "action": "continue",
            "csrf_token": "x",
        },
    )
    assert anonymous.status_code == 200 and "Login with Amazon" in anonymous.text
    assert message_of(anonymous.text) is None
    assert await _codes(runtime, app.app_id) == []


async def test_cancel_posts_access_denied(
    seller: Browser, live_server: str, world: World, runtime: Runtime
) -> None:
    app = await _browser_app(live_server, world)
    _, challenge = _pkce()
    nonce = _nonce()
    consent = seller.get(_url(app.app_id, challenge, nonce))
    done = seller.submit(consent, ("action", "cancel"))
    assert done.status_code == 200
    message = message_of(done.text)
    assert message == {
        "origin": ORIGIN,
        "nonce": nonce,
        "error": "access_denied",
        "error-description": "the user cancelled the sign-in",
    }
    assert await _codes(runtime, app.app_id) == []


async def test_frame_ancestors_follow_the_mode(
    seller: Browser, live_server: str, world: World
) -> None:
    app = await _browser_app(live_server, world)
    _, challenge = _pkce()
    popup = seller.get(_url(app.app_id, challenge, _nonce(), origin=OTHER_ORIGIN))
    csp = popup.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and popup.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    framed = seller.get(_url(app.app_id, challenge, _nonce(), origin=OTHER_ORIGIN, mode="iframe"))
    csp = framed.headers["content-security-policy"]
    assert f"frame-ancestors {OTHER_ORIGIN};" in csp and ORIGIN + ";" not in csp
    assert "x-frame-options" not in framed.headers
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    done = seller.submit(framed, ("action", "continue"))
    assert f"frame-ancestors {OTHER_ORIGIN};" in done.headers["content-security-policy"]
    message = message_of(done.text)
    assert message is not None and message["origin"] == OTHER_ORIGIN
    anonymous = _http("GET", live_server + _url(app.app_id, challenge, _nonce(), mode="iframe"))
    assert f"frame-ancestors {ORIGIN};" in anonymous.headers["content-security-policy"]


async def test_next_never_leaves_the_site(seller: Browser) -> None:
    embed = "/embed/login?app_id=a&origin=https%3A%2F%2Fx.example&nonce=n"
    ok = seller.get(f"/login?next={quote(embed, safe='')}", follow=False)
    assert ok.status_code == 303 and ok.headers["location"] == embed
    for target in (
        "https://evil.example.net/embed/login",
        "//evil.example.net/embed/login",
        "/\\evil.example.net",
        "javascript:alert(1)",
    ):
        refused = seller.get(f"/login?next={quote(target, safe='')}", follow=False)
        assert refused.status_code == 303 and refused.headers["location"] == "/", target
    visitor = _http("GET", f"{seller.base_url}/login?next={quote(EVIL + '/', safe='')}")
    assert 'data-next="/"' in visitor.text


# --- the exchange ------------------------------------------------------------------------------


async def test_a_code_is_single_use_and_a_replay_revokes_the_first_sign_in(
    seller: Browser, live_server: str, world: World, runtime: Runtime
) -> None:
    app = await _browser_app(live_server, world)
    verifier, challenge = _pkce()
    message = _approve(seller, app.app_id, challenge, _nonce())
    first = _exchange(live_server, app.app_id, message["code"], verifier)
    assert first.status_code == 200, first.text
    pair = first.json()
    assert _user_info(live_server, pair["access_token"]).status_code == 200
    again = _exchange(live_server, app.app_id, message["code"], verifier)
    _oauth_error(again, 400, "invalid_grant")
    assert "already used" in again.json()["error_description"]
    # The sign-in the first use made is over: its refresh token and its access token.
    assert _refresh(live_server, app.app_id, pair["refresh_token"]).status_code == 401
    assert _user_info(live_server, pair["access_token"]).status_code == 401
    (stored,) = await _codes(runtime, app.app_id)
    actions = await cross_app.audit_actions(runtime, stored["organization_id"])
    assert "APP_AUTH_CODE_REPLAYED" in actions


async def test_the_exchange_checks_expiry_verifier_origin_and_client(
    seller: Browser, live_server: str, world: World, runtime: Runtime
) -> None:
    app = await _browser_app(live_server, world)
    other = await _browser_app(live_server, world)
    verifier, challenge = _pkce()
    code = _approve(seller, app.app_id, challenge, _nonce())["code"]

    wrong_verifier, _ = _pkce()
    _oauth_error(_exchange(live_server, app.app_id, code, wrong_verifier), 400, "invalid_grant")
    _oauth_error(
        _exchange(live_server, app.app_id, code, verifier, OTHER_ORIGIN), 400, "invalid_grant"
    )
    _oauth_error(_exchange(live_server, app.app_id, code, verifier, EVIL), 400, "invalid_grant")
    _oauth_error(_exchange(live_server, app.app_id, code, verifier, None), 400, "invalid_grant")
    _oauth_error(_exchange(live_server, other.app_id, code, verifier), 400, "invalid_grant")
    _oauth_error(_exchange(live_server, "no-such-app", code, verifier), 401, "invalid_client")
    _oauth_error(_exchange(live_server, app.app_id, "", verifier), 400, "invalid_request")
    _oauth_error(_exchange(live_server, app.app_id, code, ""), 400, "invalid_request")
    _oauth_error(_exchange(live_server, app.app_id, code, "short"), 400, "invalid_request")
    _oauth_error(
        _exchange(live_server, app.app_id, code, verifier, client_secret=app.secret),
        400,
        "invalid_request",
    )
    # None of those spent the code: the right exchange still works...
    assert _exchange(live_server, app.app_id, code, verifier).status_code == 200

    # ...but not after 60 s.
    late_verifier, late_challenge = _pkce()
    late = _approve(seller, app.app_id, late_challenge, _nonce())["code"]
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE app_auth_codes SET expires_at = now() - interval '1 second' "
                "WHERE code_hash = :h"
            ),
            {"h": hashlib.sha256(late.encode()).hexdigest()},
        )
    expired = _exchange(live_server, app.app_id, late, late_verifier)
    _oauth_error(expired, 400, "invalid_grant")
    assert "expired" in expired.json()["error_description"]


async def test_disabled_and_service_apps_cannot_exchange(
    seller: Browser, live_server: str, world: World
) -> None:
    app = await _browser_app(live_server, world)
    verifier, challenge = _pkce()
    code = _approve(seller, app.app_id, challenge, _nonce())["code"]
    async with httpx.AsyncClient(base_url=live_server) as http:
        service_app = await register(
            http,
            world.admin.headers,
            _app_id("svc"),
            kind="service",
            allowed_origins=[],
            permissions=["credits:read"],
        )
        off = await http.post(
            f"/api/cross-app/apps/{app.app_id}/disable", headers=world.admin.headers
        )
    assert off.status_code == 200
    _oauth_error(_exchange(live_server, app.app_id, code, verifier), 400, "unauthorized_client")
    _oauth_error(
        _exchange(live_server, service_app.app_id, code, verifier), 400, "unauthorized_client"
    )


# --- sign-out ----------------------------------------------------------------------------------


def _logout(
    live_server: str, app_id: str, refresh_token: str, origin: str | None = ORIGIN
) -> httpx.Response:
    headers = {"Origin": origin} if origin else {}
    return httpx.post(
        f"{live_server}/api/cross-app/logout",
        json={"app_id": app_id, "refresh_token": refresh_token},
        headers=headers,
        timeout=15,
    )


async def test_logout_revokes_the_sign_in_and_is_idempotent(
    seller: Browser, live_server: str, world: World, runtime: Runtime
) -> None:
    app = await _browser_app(live_server, world)
    other = await _browser_app(live_server, world)
    pair, _ = _signed_in(seller, app)
    rotated = _refresh(live_server, app.app_id, pair["refresh_token"]).json()
    # Another app cannot end it, nor an unregistered origin.
    assert _logout(live_server, other.app_id, rotated["refresh_token"]).status_code == 204
    refused = _logout(live_server, app.app_id, rotated["refresh_token"], EVIL)
    assert refused.status_code == 403 and refused.json()["code"] == "origin-not-allowed"
    assert _user_info(live_server, rotated["access_token"]).status_code == 200

    out = _logout(live_server, app.app_id, rotated["refresh_token"])
    assert out.status_code == 204 and out.content == b""
    assert out.headers["access-control-allow-origin"] == ORIGIN
    assert _refresh(live_server, app.app_id, rotated["refresh_token"]).status_code == 401
    assert _user_info(live_server, rotated["access_token"]).status_code == 401
    # Idempotent: again, an older link of the family, an unknown token.
    assert _logout(live_server, app.app_id, rotated["refresh_token"]).status_code == 204
    assert _logout(live_server, app.app_id, pair["refresh_token"]).status_code == 204
    assert _logout(live_server, app.app_id, "shar_unknown").status_code == 204
    assert _logout(live_server, app.app_id, "shar_unknown", None).status_code == 204
    unknown = _logout(live_server, "no-such-app", "shar_unknown")
    assert unknown.status_code == 404
    bad = _http("POST", f"{live_server}/api/cross-app/logout", json={"app_id": app.app_id})
    assert bad.status_code == 422
    (stored,) = await _codes(runtime, app.app_id)
    actions = await cross_app.audit_actions(runtime, stored["organization_id"])
    assert actions.count("APP_SIGNED_OUT") == 1


async def test_the_prune_job_deletes_codes_expired_for_a_day(
    seller: Browser, live_server: str, world: World, runtime: Runtime
) -> None:
    app = await _browser_app(live_server, world)
    _, challenge = _pkce()
    old = _approve(seller, app.app_id, challenge, _nonce())["code"]
    recent = _approve(seller, app.app_id, challenge, _nonce())["code"]
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE app_auth_codes SET expires_at = now() - interval '25 hours' "
                "WHERE code_hash = :h"
            ),
            {"h": hashlib.sha256(old.encode()).hexdigest()},
        )
    async with unit_of_work(runtime.sessionmaker) as session:
        assert await tokens.prune_auth_codes(session) == 1
    (kept,) = await _codes(runtime, app.app_id)
    assert kept["code_hash"] == hashlib.sha256(recent.encode()).hexdigest()
    assert "apps.prune_auth_codes" in jobs_app.TASKS  # the registry lists the module
