"""Email + password accounts: signup, verification codes, login, password reset, their rate
limits, account-enumeration resistance, and what reaches the logs."""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import text

from sellerhub.config import Settings
from sellerhub.core.logging import configure_logging
from sellerhub.core.passwords import needs_rehash
from sellerhub.db.session import unit_of_work
from sellerhub.identity import service as identity
from sellerhub.identity.accounts.tasks import prune
from sellerhub.identity.sessions.cookies import ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE
from sellerhub.identity.users.repository import UserRepository
from sellerhub.jobs import app as jobs
from sellerhub.runtime import Runtime
from tests.conftest import restore_suite_logging

PASSWORD = "correct horse 42"
CODE_RE = re.compile(r"code is (\d{6})")


@asynccontextmanager
async def client_from(app: FastAPI, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests come from ``ip`` (a separate HTTP session each time)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def _email() -> str:
    return f"seller-{uuid.uuid4().hex[:8]}@example.com"


async def _signup(client: httpx.AsyncClient, email: str, **extra: Any) -> httpx.Response:
    response = await client.post(
        "/api/auth/signup", json={"email": email, "password": PASSWORD, **extra}
    )
    assert response.status_code == 201, response.text
    return response


async def _mails(client: httpx.AsyncClient, to: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/dev/mail", params={"to": to})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _code(client: httpx.AsyncClient, to: str) -> str:
    """The code of the newest mail to ``to``."""
    newest = (await _mails(client, to))[0]
    found = CODE_RE.search(newest["body_text"])
    assert found, newest["subject"]
    return found.group(1)


async def _login(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, **extra: Any
) -> httpx.Response:
    return await client.post(
        "/api/auth/login", json={"email": email, "password": password, **extra}
    )


def _bearer(response: httpx.Response) -> dict[str, str]:
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _scalar(runtime: Runtime, sql: str, **params: Any) -> Any:
    async with runtime.engine.connect() as conn:
        return await conn.scalar(text(sql), params)


async def _run_worker() -> None:
    await jobs.queue_app.run_worker_async(
        wait=False, install_signal_handlers=False, listen_notify=False, concurrency=1
    )


# --- the whole journey ------------------------------------------------------------------------


async def test_signup_verify_login_me(client: httpx.AsyncClient, runtime: Runtime) -> None:
    email = _email()
    signup = await _signup(client, email, name="Ada Seller", organization_name="Ada's Shop")
    assert signup.json()["status"] == "check_email"
    assert "set-cookie" not in signup.headers  # signup starts no session

    mails = await _mails(client, email)
    assert len(mails) == 1 and mails[0]["to_address"] == email
    assert mails[0]["subject"] == "Confirm your email address for sellerhub"
    code = await _code(client, email)
    # Stored only as an HMAC.
    stored = await _scalar(runtime, "SELECT code_hash FROM email_codes")
    assert code not in stored and len(stored) == 64

    verified = await client.post("/api/auth/verify-email", json={"email": email, "code": code})
    assert verified.status_code == 200, verified.text
    assert verified.json()["status"] == "email_verified"

    login = await _login(client, email.upper())  # addresses are case-insensitive
    assert login.status_code == 200, login.text
    body = login.json()
    assert body["token_type"] == "Bearer" and body["access_token"] and body["refresh_token"]
    assert body["email_verified"] is True and 0 < body["expires_in"] <= 900
    cookies = login.headers.get_list("set-cookie")
    for name in (ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE):
        cookie = next(c for c in cookies if c.startswith(name + "="))
        assert "Secure" in cookie  # test env: cookie_secure
    assert "HttpOnly" in next(c for c in cookies if c.startswith(ACCESS_COOKIE + "="))

    me = await client.get("/api/auth/me", headers=_bearer(login))
    assert me.status_code == 200, me.text
    user = me.json()["user"]
    assert user["email"] == email and user["name"] == "Ada Seller" and user["email_verified"]
    assert [(o["name"], o["role"]) for o in me.json()["organizations"]] == [("Ada's Shop", "owner")]
    assert me.json()["organization_id"] == body["organization_id"]
    # The refresh token works like any other session's.
    refreshed = await client.post(
        "/api/auth/refresh", json={"refresh_token": body["refresh_token"]}
    )
    assert refreshed.status_code == 200

    events = await client.get("/api/v1/audit-events", headers=_bearer(login))
    actions = {e["action"] for e in events.json()["items"]}
    assert {"SIGNED_UP", "EMAIL_VERIFIED", "LOGIN_SUCCEEDED", "SESSION_STARTED"} <= actions
    hashed = await _scalar(runtime, "SELECT password_hash FROM users WHERE email = :e", e=email)
    assert hashed.startswith("$argon2id$")


async def test_unverified_accounts_may_sign_in_flagged(client: httpx.AsyncClient) -> None:
    email = _email()
    await _signup(client, email)
    login = await _login(client, email)
    assert login.status_code == 200 and login.json()["email_verified"] is False
    me = await client.get("/api/auth/me", headers=_bearer(login))
    assert me.json()["user"]["email_verified"] is False


async def test_duplicate_signup_is_indistinguishable(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    email = _email()
    first = await _signup(client, email)
    again = await client.post(
        "/api/auth/signup", json={"email": email.upper(), "password": "another pass 99"}
    )
    assert again.status_code == first.status_code == 201
    assert again.content == first.content
    assert "set-cookie" not in again.headers
    assert await _scalar(runtime, "SELECT count(*) FROM users") == 1
    assert await _scalar(runtime, "SELECT count(*) FROM organizations") == 1
    # The owner of the address is told, without a code.
    notice, verification = await _mails(client, email)
    assert notice["subject"] == "Someone tried to sign up to sellerhub with your address"
    assert not CODE_RE.search(notice["body_text"])
    assert CODE_RE.search(verification["body_text"])
    # The first password stands.
    assert (await _login(client, email, "another pass 99")).status_code == 401
    assert (await _login(client, email)).status_code == 200


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, ["email"]),
        ({"email": "a@b", "password": PASSWORD}, ["email"]),
        ({"email": "a b@example.com", "password": PASSWORD}, ["email"]),
        ({"email": "ok@example.com", "password": "Short1!"}, ["password"]),
        ({"email": "ok@example.com", "password": "alllowercaseletters"}, ["password"]),
        ({"email": "ok@example.com", "password": "12345678901234"}, ["password"]),
        ({"email": "ok@example.com", "password": "OK@example.com"}, ["password"]),
        ({"email": "nope", "password": "short"}, ["email", "password"]),
        ({"email": "ok@example.com"}, ["password"]),
    ],
)
async def test_signup_validation_names_the_field(
    client: httpx.AsyncClient, runtime: Runtime, payload: dict[str, str], fields: list[str]
) -> None:
    response = await client.post("/api/auth/signup", json=payload)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "validation-failed"
    assert [e["field"] for e in problem["errors"]] == fields
    if "password" in payload:
        assert payload["password"] not in response.text
    assert await _scalar(runtime, "SELECT count(*) FROM users") == 0


# --- login ------------------------------------------------------------------------------------


async def test_unknown_email_and_wrong_password_are_identical(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    email = _email()
    await _signup(client, email)
    wrong = await _login(client, email, "wrong password 1")
    unknown = await _login(client, _email(), "wrong password 1")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.content == unknown.content  # byte-identical
    assert wrong.json()["code"] == "invalid-credentials"
    for header in ("content-type", "www-authenticate", "content-length"):
        assert wrong.headers.get(header) == unknown.headers.get(header)
    assert "set-cookie" not in wrong.headers
    # LOGIN_FAILED is recorded (committed although the request failed) for the known account.
    failed = await _scalar(
        runtime, "SELECT count(*) FROM audit_events WHERE action = 'LOGIN_FAILED'"
    )
    assert failed == 1


async def test_account_without_password_or_disabled_gives_the_same_401(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        await identity.create_user(session, email="amazon-only@example.com")  # no password
    email = _email()
    await _signup(client, email)
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE users SET is_active = false WHERE email = :e"), {"e": email}
        )
    reference = await _login(client, _email())
    for address in ("amazon-only@example.com", email):
        response = await _login(client, address)
        assert response.status_code == 401 and response.content == reference.content


async def test_login_picks_the_organization(client: httpx.AsyncClient, runtime: Runtime) -> None:
    email = _email()
    await _signup(client, email, organization_name="Zeta Goods")
    async with unit_of_work(runtime.sessionmaker) as session:
        user = await UserRepository(session).by_email(email)
        assert user is not None
        alpha = await identity.create_organization(session, name="Alpha Traders", owner=user)
    async with unit_of_work(runtime.sessionmaker) as session:
        other_owner = await identity.create_user(session, email=_email())
        foreign = await identity.create_organization(session, name="Foreign", owner=other_owner)

    default = await _login(client, email)
    assert default.json()["organization_id"] == str(alpha.id)  # first by name
    zeta = (await client.get("/api/auth/me", headers=_bearer(default))).json()["organizations"]
    zeta_id = next(o["id"] for o in zeta if o["name"] == "Zeta Goods")
    chosen = await _login(client, email, organization_id=zeta_id)
    assert chosen.status_code == 200 and chosen.json()["organization_id"] == zeta_id
    me = await client.get("/api/auth/me", headers=_bearer(chosen))
    assert me.json()["organization_id"] == zeta_id
    refused = await _login(client, email, organization_id=str(foreign.id))
    assert refused.status_code == 404 and "set-cookie" not in refused.headers


async def test_login_rate_limit_per_account(app: FastAPI, runtime: Runtime) -> None:
    """5 attempts per account per window, whatever the IP and whatever the HTTP session; the
    counts are committed although every attempt failed."""
    email = _email()
    async with client_from(app, "10.0.0.1") as c:
        await _signup(c, email)
    for i in range(5):
        async with client_from(app, f"10.0.1.{i}") as c:
            assert (await _login(c, email, "wrong password 1")).status_code == 401
    async with client_from(app, "10.0.2.1") as c:
        blocked = await _login(c, email)  # even the right password now
    assert blocked.status_code == 429
    assert blocked.headers["content-type"] == "application/problem+json"
    assert blocked.json()["code"] == "rate-limited"
    retry_after = int(blocked.headers["retry-after"])
    assert 0 < retry_after <= 900 and blocked.json()["retry_after"] == retry_after
    # Unknown addresses are limited the same way (no enumeration through the limiter).
    ghost = _email()
    for i in range(5):
        async with client_from(app, f"10.0.3.{i}") as c:
            assert (await _login(c, ghost)).status_code == 401
    async with client_from(app, "10.0.4.1") as c:
        assert (await _login(c, ghost)).status_code == 429


async def test_login_rate_limit_per_ip(
    app: FastAPI, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "ratelimit_login_per_ip", 3)
    async with client_from(app, "192.0.2.7") as c:
        for _ in range(3):
            assert (await _login(c, _email())).status_code == 401
        blocked = await _login(c, _email())
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    async with client_from(app, "192.0.2.8") as other:
        assert (await _login(other, _email())).status_code == 401  # another IP is not limited


async def test_successful_login_clears_the_account_counter(client: httpx.AsyncClient) -> None:
    email = _email()
    await _signup(client, email)
    for _ in range(4):
        assert (await _login(client, email, "wrong password 1")).status_code == 401
    assert (await _login(client, email)).status_code == 200
    for _ in range(4):
        assert (await _login(client, email, "wrong password 1")).status_code == 401
    assert (await _login(client, email)).status_code == 200


# --- codes ------------------------------------------------------------------------------------


async def test_code_expires(client: httpx.AsyncClient, runtime: Runtime) -> None:
    email = _email()
    await _signup(client, email)
    code = await _code(client, email)
    async with runtime.engine.begin() as conn:
        await conn.execute(text("UPDATE email_codes SET expires_at = now() - interval '1 second'"))
    response = await client.post("/api/auth/verify-email", json={"email": email, "code": code})
    assert response.status_code == 400 and response.json()["code"] == "invalid-code"


async def test_five_wrong_attempts_kill_the_code(
    client: httpx.AsyncClient, runtime: Runtime, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "ratelimit_code_per_account", 100)  # isolate the code's own limit
    email = _email()
    await _signup(client, email)
    code = await _code(client, email)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        response = await client.post("/api/auth/verify-email", json={"email": email, "code": wrong})
        assert response.status_code == 400
    # Every attempt was committed although each request failed.
    assert await _scalar(runtime, "SELECT attempts FROM email_codes") == 5
    dead = await client.post("/api/auth/verify-email", json={"email": email, "code": code})
    assert dead.status_code == 400 and dead.content == response.content
    me = await client.get("/api/auth/me", headers=_bearer(await _login(client, email)))
    assert me.json()["user"]["email_verified"] is False


async def test_code_is_single_use_and_typed_loosely(client: httpx.AsyncClient) -> None:
    email = _email()
    await _signup(client, email)
    code = await _code(client, email)
    typed = f"{code[:3]} {code[3:]}"
    ok = await client.post("/api/auth/verify-email", json={"email": email, "code": typed})
    assert ok.status_code == 200, ok.text
    again = await client.post("/api/auth/verify-email", json={"email": email, "code": code})
    assert again.status_code == 400


async def test_new_code_invalidates_the_old_one(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    email = _email()
    await _signup(client, email)
    old = await _code(client, email)
    resent = await client.post("/api/auth/resend-verification", json={"email": email})
    unknown = await client.post("/api/auth/resend-verification", json={"email": _email()})
    assert resent.status_code == unknown.status_code == 202 and resent.content == unknown.content
    new = await _code(client, email)
    assert await _scalar(runtime, "SELECT count(*) FROM email_codes") == 1
    stale = await client.post("/api/auth/verify-email", json={"email": email, "code": old})
    if old != new:  # one in a million they are equal
        assert stale.status_code == 400
    fresh = await client.post("/api/auth/verify-email", json={"email": email, "code": new})
    assert fresh.status_code == 200
    # Verified accounts get no more codes.
    await client.post("/api/auth/resend-verification", json={"email": email})
    assert len(await _mails(client, email)) == 2


async def test_codes_are_bound_to_user_and_purpose(client: httpx.AsyncClient) -> None:
    alice, bob = _email(), _email()
    await _signup(client, alice)
    await _signup(client, bob)
    alice_code = await _code(client, alice)
    crossed = await client.post("/api/auth/verify-email", json={"email": bob, "code": alice_code})
    assert crossed.status_code == 400
    # A verification code is not a reset code.
    reset = await client.post(
        "/api/auth/password-reset/confirm",
        json={"email": alice, "code": alice_code, "new_password": "brand new pass 7"},
    )
    assert reset.status_code == 400
    unknown = await client.post(
        "/api/auth/verify-email", json={"email": _email(), "code": alice_code}
    )
    assert unknown.status_code == 400 and unknown.content == crossed.content


async def test_verify_rate_limit_per_account_and_ip(
    app: FastAPI, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = _email()
    async with client_from(app, "10.9.0.1") as c:
        await _signup(c, email)
    for i in range(5):
        async with client_from(app, f"10.9.1.{i}") as c:
            r = await c.post("/api/auth/verify-email", json={"email": email, "code": "000000"})
            assert r.status_code == 400
    async with client_from(app, "10.9.2.1") as c:
        blocked = await c.post("/api/auth/verify-email", json={"email": email, "code": "000000"})
    assert blocked.status_code == 429 and "retry-after" in blocked.headers

    monkeypatch.setattr(settings, "ratelimit_code_per_ip", 2)
    async with client_from(app, "10.9.3.1") as c:
        for _ in range(2):
            r = await c.post("/api/auth/verify-email", json={"email": _email(), "code": "1"})
            assert r.status_code == 400
        r = await c.post("/api/auth/verify-email", json={"email": _email(), "code": "1"})
        assert r.status_code == 429


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def test_mistyped_five_times_then_a_new_code_works(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The code dies after five wrong tries and the account's check counter is full; asking
    for a new code gives the account a fresh set of tries for it, at once."""
    email = _email()
    await _signup(client, email)
    first = await _code(client, email)
    for _ in range(5):
        r = await client.post(
            "/api/auth/verify-email", json={"email": email, "code": _wrong(first)}
        )
        assert r.status_code == 400
    blocked = await client.post("/api/auth/verify-email", json={"email": email, "code": first})
    assert blocked.status_code == 429
    assert blocked.json()["detail"].endswith("or ask for a new code")
    resent = await client.post("/api/auth/resend-verification", json={"email": email})
    assert resent.status_code == 202
    new = await _code(client, email)
    async with client_from(app, "10.77.0.1") as elsewhere:  # nothing to do with the IP
        verified = await elsewhere.post(
            "/api/auth/verify-email", json={"email": email, "code": new}
        )
    assert verified.status_code == 200, verified.text
    assert verified.json()["status"] == "email_verified"


async def test_mistyped_reset_code_five_times_then_a_new_one_works(
    client: httpx.AsyncClient,
) -> None:
    email = _email()
    await _signup(client, email)
    await client.post("/api/auth/password-reset/request", json={"email": email})
    first = await _code(client, email)
    for _ in range(5):
        r = await client.post(
            "/api/auth/password-reset/confirm",
            json={"email": email, "code": _wrong(first), "new_password": "brand new pass 7"},
        )
        assert r.status_code == 400
    again = await client.post("/api/auth/password-reset/request", json={"email": email})
    assert again.status_code == 202
    new = await _code(client, email)
    done = await client.post(
        "/api/auth/password-reset/confirm",
        json={"email": email, "code": new, "new_password": "brand new pass 7"},
    )
    assert done.status_code == 200, done.text
    assert (await _login(client, email, "brand new pass 7")).status_code == 200


async def test_a_request_that_issues_no_code_gives_no_new_tries(
    client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Codes issued per address are bounded (the mail quota); once it is spent, asking again
    issues nothing, and the dead code stays dead: the tries belong to the code, not to the
    request. An address without an account answers the same at every step."""
    monkeypatch.setattr(settings, "ratelimit_mail_per_address", 2)
    monkeypatch.setattr(settings, "ratelimit_code_per_ip", 100)  # one client tries both
    email, ghost = _email(), _email()
    await _signup(client, email)
    answers: dict[str, list[tuple[int, bytes]]] = {email: [], ghost: []}
    for _round in range(4):  # 1 code at signup + 2 within the quota, then none
        for address in (email, ghost):
            code = await _code(client, email)
            for _ in range(5):
                r = await client.post(
                    "/api/auth/verify-email", json={"email": address, "code": _wrong(code)}
                )
                answers[address].append((r.status_code, r.content))
            r = await client.post("/api/auth/resend-verification", json={"email": address})
            answers[address].append((r.status_code, r.content))
    assert answers[email] == answers[ghost]
    assert {status for status, _ in answers[email]} == {400, 202}
    codes = [CODE_RE.search(m["body_text"]) for m in await _mails(client, email)]
    assert all(codes) and len(codes) == 1 + 2
    newest = await _code(client, email)
    dead = await client.post("/api/auth/verify-email", json={"email": email, "code": newest})
    assert dead.status_code == 400 and dead.json()["code"] == "invalid-code"


LIMITED_ROUTES = [
    ("/api/auth/signup", {"password": PASSWORD}, "ratelimit_signup_per_ip", 201),
    ("/api/auth/verify-email", {"code": "000000"}, "ratelimit_code_per_ip", 400),
    ("/api/auth/login", {"password": PASSWORD}, "ratelimit_login_per_ip", 401),
    ("/api/auth/resend-verification", {}, "ratelimit_signup_per_ip", 202),
    ("/api/auth/password-reset/request", {}, "ratelimit_signup_per_ip", 202),
    (
        "/api/auth/password-reset/confirm",
        {"code": "000000", "new_password": "brand new pass 7"},
        "ratelimit_code_per_ip",
        400,
    ),
]


@pytest.mark.parametrize(("path", "body", "setting", "first_status"), LIMITED_ROUTES)
async def test_every_limited_route_says_when_to_retry(
    app: FastAPI,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    body: dict[str, str],
    setting: str,
    first_status: int,
) -> None:
    monkeypatch.setattr(settings, setting, 1)
    window = {
        "ratelimit_signup_per_ip": settings.ratelimit_signup_window_seconds,
        "ratelimit_code_per_ip": settings.ratelimit_code_window_seconds,
        "ratelimit_login_per_ip": settings.ratelimit_login_window_seconds,
    }[setting]
    async with client_from(app, "198.51.100.20") as c:
        first = await c.post(path, json={"email": _email(), **body})
        assert first.status_code == first_status, first.text
        blocked = await c.post(path, json={"email": _email(), **body})
    assert blocked.status_code == 429, blocked.text
    assert blocked.headers["content-type"] == "application/problem+json"
    problem = blocked.json()
    assert problem["code"] == "rate-limited"
    retry_after = int(blocked.headers["retry-after"])
    assert window - 60 < retry_after <= window
    assert problem["retry_after"] == retry_after
    words = "1 hour" if window == 3600 else "15 minutes"
    assert problem["detail"].startswith(f"too many attempts; try again in {words}")


async def test_signup_and_reset_request_rate_limit_per_ip(
    app: FastAPI, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "ratelimit_signup_per_ip", 2)
    async with client_from(app, "203.0.113.5") as c:
        await _signup(c, _email())
        await _signup(c, _email())
        blocked = await c.post("/api/auth/signup", json={"email": _email(), "password": PASSWORD})
        assert blocked.status_code == 429
        assert 3500 < int(blocked.headers["retry-after"]) <= 3600
        for _ in range(2):
            r = await c.post("/api/auth/password-reset/request", json={"email": _email()})
            assert r.status_code == 202
        r = await c.post("/api/auth/password-reset/request", json={"email": _email()})
        assert r.status_code == 429


async def test_mail_to_one_address_is_capped_silently(
    client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "ratelimit_mail_per_address", 2)
    email = _email()
    await _signup(client, email)  # the verification code mail is not counted
    answers = {
        (await client.post("/api/auth/password-reset/request", json={"email": email})).content
        for _ in range(4)
    }
    assert len(answers) == 1  # the same 202 every time
    assert len(await _mails(client, email)) == 1 + 2


# --- password reset ---------------------------------------------------------------------------


async def test_password_reset_signs_out_everywhere(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    email = _email()
    await _signup(client, email)
    first = await _login(client, email)
    second = await _login(client, email)
    known = await client.post("/api/auth/password-reset/request", json={"email": email})
    unknown = await client.post("/api/auth/password-reset/request", json={"email": _email()})
    assert known.status_code == unknown.status_code == 202 and known.content == unknown.content
    mail = (await _mails(client, email))[0]
    assert mail["subject"] == "Reset your sellerhub password"
    code = await _code(client, email)

    weak = await client.post(
        "/api/auth/password-reset/confirm",
        json={"email": email, "code": code, "new_password": "weak"},
    )
    assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "new_password"
    not_it = "999999" if code != "999999" else "000000"
    wrong = await client.post(
        "/api/auth/password-reset/confirm",
        json={"email": email, "code": not_it, "new_password": "brand new pass 7"},
    )
    assert wrong.status_code == 400
    done = await client.post(
        "/api/auth/password-reset/confirm",
        json={"email": email, "code": code, "new_password": "brand new pass 7"},
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "password_reset"
    assert any(c.startswith(REFRESH_COOKIE + '=""') for c in done.headers.get_list("set-cookie"))

    for session in (first, second):
        refresh = await client.post(
            "/api/auth/refresh", json={"refresh_token": session.json()["refresh_token"]}
        )
        assert refresh.status_code == 401
    live = await _scalar(runtime, "SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL")
    assert live == 0
    assert (await _login(client, email)).status_code == 401
    fresh = await _login(client, email, "brand new pass 7")
    assert fresh.status_code == 200
    assert fresh.json()["email_verified"] is True  # the code proved the mailbox
    events = await client.get("/api/v1/audit-events", headers=_bearer(fresh))
    reset = next(e for e in events.json()["items"] if e["action"] == "PASSWORD_RESET")
    assert reset["data"]["sessions_revoked"] == 2
    reused = await client.post(
        "/api/auth/password-reset/confirm",
        json={"email": email, "code": code, "new_password": "another new pass 8"},
    )
    assert reused.status_code == 400


# --- logs -------------------------------------------------------------------------------------


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("INFO", json=True, stream=stream)
    yield stream
    restore_suite_logging()


async def test_logs_carry_neither_code_nor_password(
    client: httpx.AsyncClient, runtime: Runtime, json_log: io.StringIO
) -> None:
    email = _email()
    await _signup(client, email)
    await _run_worker()  # the mail.send job: the outbox delivery, logged
    code = await _code(client, email)
    await client.post("/api/auth/verify-email", json={"email": email, "code": "123 456"})
    await client.post("/api/auth/verify-email", json={"email": email, "code": code})
    await _login(client, email, "wrong password 1")
    await client.post("/api/auth/password-reset/request", json={"email": email})
    await _run_worker()
    reset_code = await _code(client, email)
    await client.post(
        "/api/auth/password-reset/confirm",
        json={"email": email, "code": reset_code, "new_password": "brand new pass 7"},
    )
    output = json_log.getvalue()
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    outbox = [line for line in lines if line["event"] == "mail.outbox"]
    assert [line["subject"] for line in outbox] == [
        "Confirm your email address for sellerhub",
        "Reset your sellerhub password",
    ]
    assert all(line["to"] == email for line in outbox)
    for secret in (PASSWORD, "wrong password 1", "brand new pass 7"):
        assert secret not in output
    for one_time in (code, reset_code):  # not even inside an id or a timestamp's microseconds
        assert not re.search(rf"(?<![0-9A-Za-z.:-]){one_time}(?![0-9A-Za-z])", output)
    assert not any("body" in line or "body_text" in line for line in lines)


async def test_account_without_organization_cannot_sign_in(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        await identity.create_user(session, email="loner@example.com", password=PASSWORD)
    response = await _login(client, "loner@example.com")
    assert response.status_code == 403 and response.json()["code"] == "no-organization"
    assert "set-cookie" not in response.headers


async def test_outdated_password_hash_is_upgraded_at_login(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    email = _email()
    await _signup(client, email)
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    async with runtime.engine.begin() as conn:
        await conn.execute(text("UPDATE users SET password_hash = :h"), {"h": weak})
    assert (await _login(client, email)).status_code == 200
    upgraded = await _scalar(runtime, "SELECT password_hash FROM users")
    assert upgraded != weak and not needs_rehash(upgraded)


async def test_prune_job_drops_expired_codes_and_idle_counters(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    email = _email()
    await _signup(client, email)
    await _login(client, email)
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE rate_limit_counters SET window_start = now() - interval '2 days' "
                "WHERE key LIKE 'login:ip:%'"
            )
        )
    await _signup(client, _email())
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE email_codes SET expires_at = now() - interval '2 days' "
                "WHERE user_id = (SELECT id FROM users WHERE email = :e)"
            ),
            {"e": email},
        )
    async with unit_of_work(runtime.sessionmaker) as session:
        await prune(session)
    assert await _scalar(runtime, "SELECT count(*) FROM email_codes") == 1
    async with runtime.engine.connect() as conn:
        keys = list((await conn.execute(text("SELECT key FROM rate_limit_counters"))).scalars())
    assert not any(k.startswith("login:ip:") for k in keys)
    assert any(k.startswith("signup:ip:") for k in keys)
