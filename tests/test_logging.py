"""Logs carry request context and never carry secrets."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import httpx
import pytest
import structlog
from pydantic import SecretStr

from sellerhub.core.logging import REDACTED, bind_context, configure_logging, get_logger, redact
from sellerhub.deps import CurrentPrincipal
from tests.conftest import Tenant


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("INFO", json=True, stream=stream)
    yield stream
    structlog.reset_defaults()


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
    app, client: httpx.AsyncClient, tenant: Tenant, json_log: io.StringIO
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
