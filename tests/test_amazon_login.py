"""Login with Amazon, driven like a browser over real HTTP against the live server and its
mounted LWA emulator: start → consent form → callback → cookie session → /api/auth/me."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text

from sellerhub.runtime import Runtime
from tests.browser import Browser

APPROVE = ("decision", "approve")
DENY = ("decision", "deny")


@pytest.fixture
def browser(live_server: str, runtime: Runtime) -> Iterator[Browser]:
    b = Browser(live_server)
    yield b
    b.close()


def _consent(browser: Browser, next_url: str = "/welcome") -> httpx.Response:
    page = browser.get(f"/api/auth/amazon/start?next={next_url}")
    assert page.status_code == 200, page.text
    assert "/_emulators/amazon/ap/oa" in str(page.url)
    return page


def _back_from_amazon(browser: Browser, page: httpx.Response, **overrides: str) -> httpx.Response:
    redirect = browser.submit(page, APPROVE, follow=False, overrides=overrides)
    assert redirect.status_code == 302
    assert urlsplit(redirect.headers["location"]).path == "/api/auth/amazon/callback"
    return redirect


def test_full_journey(browser: Browser, live_server: str) -> None:
    start = browser.client.get(live_server + "/api/auth/amazon/start?next=/welcome")
    assert start.status_code == 302
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["response_type"] == ["code"] and query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == [live_server + "/api/auth/amazon/callback"]
    assert len(query["state"][0]) >= 40 and query["scope"] == ["profile"]
    assert start.headers["cache-control"] == "no-store"
    page = browser.get(start.headers["location"])
    assert [b for b in browser.history[-1:]]
    callback = _back_from_amazon(browser, page)
    landed = browser.get(callback.headers["location"], follow=False)
    assert landed.status_code == 302 and landed.headers["location"] == "/welcome"
    cookies = landed.headers.get_list("set-cookie")
    assert any(c.startswith("sh_access=") and "HttpOnly" in c for c in cookies)
    me = browser.client.get(live_server + "/api/auth/me")
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["via"] == "session" and body["role"] == "owner"
    assert body["user"]["email"] == "seller@example.com" and body["user"]["amazon_linked"]
    assert body["organizations"][0]["name"] == "Emulated Seller organization"


def test_second_sign_in_finds_the_same_user(browser: Browser, live_server: str) -> None:
    for _ in range(2):
        page = _consent(browser)
        callback = _back_from_amazon(browser, page)
        assert browser.get(callback.headers["location"], follow=False).status_code == 302
    me = browser.client.get(live_server + "/api/auth/me").json()
    assert len(me["organizations"]) == 1


async def test_tokens_are_stored_encrypted(browser: Browser, runtime: Runtime) -> None:
    page = _consent(browser)
    browser.get(_back_from_amazon(browser, page).headers["location"], follow=False)
    async with runtime.engine.connect() as conn:
        row = (
            await conn.execute(text("SELECT access_token, refresh_token FROM amazon_logins"))
        ).one()
    assert row.access_token.startswith("v1.") and "Atza|" not in row.access_token
    assert row.refresh_token.startswith("v1.") and "Atzr|" not in row.refresh_token


def test_deny_ends_on_a_clear_page(browser: Browser) -> None:
    page = _consent(browser)
    back = browser.submit(page, DENY, follow=False)
    assert "error=access_denied" in back.headers["location"]
    result = browser.get(back.headers["location"], follow=False)
    assert result.status_code == 303  # back to the sign-in page, which says why in words
    assert result.headers["location"] == "/login?failed=amazon-denied"
    assert "sh_access" not in " ".join(result.headers.get_list("set-cookie"))
    login = browser.get(result.headers["location"], follow=False)
    assert login.status_code == 200
    assert "Sign-in cancelled" in login.text and "denied permission on Amazon" in login.text


def test_replayed_state_is_refused(browser: Browser) -> None:
    page = _consent(browser)
    callback = _back_from_amazon(browser, page).headers["location"]
    assert browser.get(callback, follow=False).status_code == 302
    replay = browser.client.get(callback, headers={"Accept": "application/json"})
    assert replay.status_code == 400 and replay.json()["code"] == "state-replayed"


def test_state_from_another_browser_is_refused(browser: Browser, live_server: str) -> None:
    page = _consent(browser)
    callback = _back_from_amazon(browser, page).headers["location"]
    other = Browser(live_server)
    try:
        stolen = other.client.get(callback, headers={"Accept": "application/json"})
    finally:
        other.close()
    assert stolen.status_code == 400 and stolen.json()["code"] == "state-browser-mismatch"
    # ... and the state is used up: the rightful browser must start again.
    assert browser.get(callback, follow=False).status_code == 400


async def test_expired_state_is_refused(browser: Browser, runtime: Runtime) -> None:
    page = _consent(browser)
    callback = _back_from_amazon(browser, page).headers["location"]
    async with runtime.engine.begin() as conn:
        await conn.execute(text("UPDATE oauth_states SET expires_at = now() - interval '1 second'"))
    late = browser.client.get(callback, headers={"Accept": "application/json"})
    assert late.status_code == 400 and late.json()["code"] == "state-expired"


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/x", "//evil.example", "/\\evil.example", "javascript:alert(1)", "x"],
)
def test_tampered_next_is_refused(browser: Browser, live_server: str, target: str) -> None:
    response = browser.client.get(live_server + "/api/auth/amazon/start", params={"next": target})
    assert response.status_code == 422
    assert response.json()["code"] == "unsafe-redirect"
    assert "location" not in response.headers


def test_unknown_state_is_refused(browser: Browser, live_server: str) -> None:
    response = browser.client.get(
        live_server + "/api/auth/amazon/callback?state=forged&code=x",
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid-state"


def test_token_endpoint_failing(browser: Browser, live_server: str) -> None:
    admin = live_server + "/_emulators/amazon/_admin/config"
    assert browser.client.post(
        admin, json={"fail": {"endpoint": "token", "status": 503, "count": 1}}
    ).status_code in (200, 204)
    page = _consent(browser)
    callback = _back_from_amazon(browser, page).headers["location"]
    failed = browser.client.get(callback, headers={"Accept": "application/json"})
    assert failed.status_code == 502 and failed.json()["code"] == "amazon-unavailable"
    # A code Amazon refuses (tampered) is the seller's problem to retry, not a 500.
    page = _consent(browser)
    callback = _back_from_amazon(browser, page).headers["location"]
    tampered = callback.replace("code=", "code=x")
    refused = browser.client.get(tampered, headers={"Accept": "application/json"})
    assert refused.status_code == 400 and refused.json()["code"] == "amazon-rejected"


async def test_amazon_never_links_by_email(browser: Browser, runtime: Runtime) -> None:
    from sellerhub.db.session import unit_of_work
    from sellerhub.identity import service as identity

    async with unit_of_work(runtime.sessionmaker) as session:
        await identity.create_user(session, email="seller@example.com", password="a" * 12)
    page = _consent(browser)
    callback = _back_from_amazon(browser, page).headers["location"]
    conflict = browser.client.get(callback, headers={"Accept": "application/json"})
    assert conflict.status_code == 409 and conflict.json()["code"] == "email-already-registered"
    async with runtime.engine.connect() as conn:
        linked = await conn.scalar(
            text("SELECT count(*) FROM users WHERE amazon_user_id IS NOT NULL")
        )
    assert linked == 0
