"""Logs carry request context and never carry secrets."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import structlog
from fastapi import FastAPI, Request
from pydantic import SecretStr

from sellerhub.core.logging import REDACTED, bind_context, configure_logging, get_logger, redact
from sellerhub.deps import CurrentPrincipal
from sellerhub.runtime import Runtime
from tests.conftest import Tenant, restore_suite_logging


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("INFO", json=True, stream=stream)
    yield stream
    restore_suite_logging()


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


SECRETS = {
    "bearer": "Bearer abcdefghijklmnopqrstuvwxyz012345",
    "lwa": "Atzr|IwEBIExampleRefreshToken0123456789",
    "stripe": "sk_live_51Habcdefghijklmnop",
    "jwt": "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2lnbmF0dXJl",
    "cipher": "v1.k1a2b3c4.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "apikey": "shk_0123456789abcdefghijklmnopqrstuv",
}


def test_secret_keys_and_values_are_redacted(json_log: io.StringIO) -> None:
    log = get_logger("test")
    log.info(
        "provider.call",
        password="hunter2-password",
        client_secret="cs-very-secret",
        headers={"Authorization": "Basic dXNlcjpwYXNz", "Accept": "application/json"},
        nested={"deeper": {"refresh_token": "rt-secret-value"}},
        url="postgresql://app:db-password@db.internal/sellerhub",
        note=f"got {SECRETS['lwa']} and {SECRETS['bearer']}",
        items=[SECRETS["stripe"], SECRETS["jwt"], SECRETS["cipher"], SECRETS["apikey"]],
        setting=SecretStr("pydantic-secret"),
    )
    output = json_log.getvalue()
    for leaked in [
        "hunter2-password",
        "cs-very-secret",
        "dXNlcjpwYXNz",
        "rt-secret-value",
        "db-password",
        "pydantic-secret",
        *SECRETS.values(),
    ]:
        assert leaked.split("|")[-1] not in output, leaked
    line = _lines(json_log)[0]
    assert line["password"] == REDACTED
    assert line["headers"] == {"Authorization": REDACTED, "Accept": "application/json"}
    assert line["url"] == f"postgresql://app:{REDACTED}@db.internal/sellerhub"


def test_event_and_stdlib_logs_are_redacted_too(json_log: io.StringIO) -> None:
    import logging

    get_logger("test").info(f"token is {SECRETS['apikey']}")
    logging.getLogger("thirdparty").warning("auth header Bearer abcdefghijklmnopqrstuvwxyz")
    output = json_log.getvalue()
    assert SECRETS["apikey"] not in output and "abcdefghijklmnopqrstuvwxyz" not in output
    assert output.count(REDACTED) >= 2


def test_context_is_bound(json_log: io.StringIO) -> None:
    structlog.contextvars.clear_contextvars()
    bind_context(request_id="req-1", organization_id="org-1", user_id="user-1", job_id=None)
    get_logger("test").info("did.something")
    structlog.contextvars.clear_contextvars()
    line = _lines(json_log)[0]
    assert (line["request_id"], line["organization_id"], line["user_id"]) == (
        "req-1",
        "org-1",
        "user-1",
    )
    assert "job_id" not in line
    assert line["level"] == "info" and "timestamp" in line


def test_redact_keeps_ordinary_data() -> None:
    data = {"name": "Acme", "count": 3, "ids": ["a", "b"], "token_count": 2}
    assert redact({"name": "Acme", "count": 3, "ids": ["a", "b"]}) == {
        "name": "Acme",
        "count": 3,
        "ids": ["a", "b"],
    }
    assert redact(data)["token_count"] == REDACTED  # secret-looking keys are redacted anyway


async def test_request_logs_carry_ids_and_no_api_key(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, json_log: io.StringIO
) -> None:
    @app.get("/_test/log")
    async def logs_something(principal: CurrentPrincipal) -> dict[str, str]:
        get_logger("test").info("inside.request", auth=f"Bearer {tenant.api_key}")
        return {"ok": "yes"}

    try:
        await client.get("/_test/log", headers={**tenant.headers, "X-Request-ID": "rid-12345678"})
    finally:
        app.router.routes.pop()
    line = next(x for x in _lines(json_log) if x["event"] == "inside.request")
    assert line["request_id"] == "rid-12345678"
    assert line["organization_id"] == str(tenant.organization.id)
    assert line["user_id"] == str(tenant.user.id)
    assert tenant.api_key not in json_log.getvalue()


# --- unhandled errors: what is finally written holds no secret, in either renderer -------------

UNHANDLED_SECRETS = {
    "body_password": "body-password-Zq81",
    "header_key": "shk_headerkey0123456789abcdefghij",
    "local_token": "decrypted-fedex-token-7Hk2",
    "local_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g",
    "consumer_secret": "cs_0123456789abcdef0123456789abcdef01234567",
}


@pytest.fixture(params=[False, True], ids=["console", "json"])
def any_log(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("INFO", json=request.param, stream=stream)
    yield stream
    restore_suite_logging()


async def test_an_unhandled_error_logs_no_secret_and_no_locals(
    app: FastAPI, client: httpx.AsyncClient, any_log: io.StringIO
) -> None:
    @app.post("/_test/boom")
    async def boom(request: Request) -> dict[str, str]:
        body = await request.json()  # holds a password
        authorization = request.headers["authorization"]
        decrypted_token = UNHANDLED_SECRETS["local_token"]
        password_hash = UNHANDLED_SECRETS["local_hash"]
        consumer_secret = UNHANDLED_SECRETS["consumer_secret"]
        raise RuntimeError(
            f"failed for {authorization} with {password_hash}"
            + str(len(body) + len(decrypted_token) + len(consumer_secret))
        )

    try:
        response = await client.post(
            "/_test/boom",
            json={"email": "a@example.com", "password": UNHANDLED_SECRETS["body_password"]},
            headers={"Authorization": f"Bearer {UNHANDLED_SECRETS['header_key']}"},
        )
    finally:
        app.router.routes.pop()
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    output = any_log.getvalue()
    assert "RuntimeError" in output and "Traceback" in output  # the error is still diagnosable
    for name, secret in UNHANDLED_SECRETS.items():
        assert secret not in output, name
    assert "locals" not in output
    # Logged once, not again by the server's own "Exception in ASGI application".
    assert output.count("RuntimeError") == 1 or output.count("http.unhandled") == 1


def test_stdlib_exception_logs_are_plain_and_redacted(any_log: io.StringIO) -> None:
    import logging

    def fail(password: str) -> None:
        api_key = UNHANDLED_SECRETS["header_key"]
        raise ValueError(f"rejected key {api_key}")

    try:
        fail(UNHANDLED_SECRETS["body_password"])
    except ValueError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    output = any_log.getvalue()
    assert "ValueError" in output and "Traceback" in output
    assert UNHANDLED_SECRETS["header_key"] not in output
    assert UNHANDLED_SECRETS["body_password"] not in output
    assert "locals" not in output


async def test_database_errors_log_no_parameters(runtime: Runtime, any_log: io.StringIO) -> None:
    from sqlalchemy import text

    email, name = "param-leak-4411@example.com", "Param Leak Name"
    try:
        async with runtime.engine.begin() as conn:
            await conn.execute(text("CREATE TEMP TABLE leak (email text UNIQUE, name text)"))
            for _ in range(2):
                await conn.execute(
                    text("INSERT INTO leak VALUES (:email, :name)"), {"email": email, "name": name}
                )
    except Exception:
        get_logger("test").exception("db.failed")
    output = any_log.getvalue()
    assert "UniqueViolation" in output
    assert email not in output and name not in output


def test_deep_and_odd_values_are_checked_too(json_log: io.StringIO) -> None:
    deep: dict[str, object] = {"v": SECRETS["apikey"]}
    for _ in range(10):
        deep = {"x": deep}

    class Opaque:
        def __repr__(self) -> str:
            return f"Opaque({SECRETS['lwa']})"

        __str__ = __repr__

    get_logger("test").info("odd.values", deep=deep, thing=Opaque(), exc=ValueError(SECRETS["jwt"]))
    output = json_log.getvalue()
    for value in (SECRETS["apikey"], SECRETS["lwa"].split("|")[-1], SECRETS["jwt"]):
        assert value not in output


def test_constraint_details_are_redacted() -> None:
    text_ = (
        'duplicate key value violates unique constraint "users_email_key"\n'
        "DETAIL:  Key (email)=(someone@example.com) already exists."
    )
    assert "someone@example.com" not in redact(text_)


def test_the_suite_log_scan_finds_a_leak(tmp_path: Path) -> None:
    from tests.conftest import leaked_secrets, remember_secret

    remember_secret("scan-me-fixture-secret")
    (tmp_path / "clean.log").write_text("event=ok user=someone\n")
    assert leaked_secrets(tmp_path) == []
    (tmp_path / "server.log").write_text(
        "x password=scan-me-fixture-secret\nkey shk_0123456789abcdefghijklmn\n"
    )
    found = leaked_secrets(tmp_path)
    assert any("fixture secret" in f for f in found) and any("API key" in f for f in found)
