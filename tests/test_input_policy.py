"""The input policy (core.inputs): input that PostgreSQL or a provider cannot take is a precise 4xx
at the edge, never a 500 — for every route, signed in or not."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from starlette.types import Message, Receive, Scope, Send

from sellerhub.core.inputs import InputPolicy, json_depth, json_problem, text_problem
from sellerhub.runtime import Runtime
from tests.conftest import Tenant

PROBLEM = "application/problem+json"


def _refused(response: httpx.Response, status: int = 400) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, object] = response.json()
    return body


# --- NUL characters: body fields, query parameters, path parameters -------------------------

NUL_BODIES = [
    ("/api/auth/signup", {"email": "a\u0000@example.com", "password": "long enough pass 1"}),
    ("/api/auth/login", {"email": "a@example.com", "password": "pass\u0000word"}),
    ("/api/auth/verify-email", {"email": "a@example.com\u0000", "code": "123456"}),
    ("/api/auth/resend-verification", {"email": "\u0000a@example.com"}),
    ("/api/auth/password-reset/request", {"email": "a@exa\u0000mple.com"}),
    ("/api/auth/refresh", {"refresh_token": "rt\u0000"}),
    ("/api/cross-app/validate-token", {"token": "a\u0000b"}),
    ("/oauth/token", {"grant_type": "refresh_token", "refresh_token": "x\u0000"}),
]


@pytest.mark.parametrize(("path", "body"), NUL_BODIES, ids=[p for p, _ in NUL_BODIES])
async def test_nul_in_a_body_field_is_refused_without_signing_in(
    client: httpx.AsyncClient, runtime: Runtime, path: str, body: dict[str, str]
) -> None:
    problem = _refused(await client.post(path, json=body))
    assert problem["code"] == "invalid-input" and "NUL" in str(problem["detail"])


async def test_nul_in_signed_in_bodies_queries_and_paths(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    h = tenant.headers
    _refused(await client.post("/api/v1/api-keys", json={"name": "k\u0000"}, headers=h))
    _refused(await client.get("/api/v1/audit-events?action=A%00B", headers=h))
    _refused(await client.get("/api/v1/orders?search=%00", headers=h))
    _refused(await client.get("/api/v1/connections/%00", headers=h))
    _refused(await client.get("/api/v1/dev/mail?to=a%00b"))
    # The same request without the NUL is answered normally.
    assert (await client.get("/api/v1/audit-events?action=AB", headers=h)).status_code == 200


async def test_nul_in_a_form_field_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/woocommerce/callback",
        content=b"user_id=a%00b&consumer_key=ck",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    _refused(response)


async def test_lone_surrogates_and_deep_nesting_are_refused(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    surrogate = b'{"name": "key \\ud800"}'
    problem = _refused(
        await client.post(
            "/api/v1/api-keys",
            content=surrogate,
            headers={**tenant.headers, "Content-Type": "application/json"},
        )
    )
    assert "surrogate" in str(problem["detail"])
    deep = b'{"name": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    problem = _refused(
        await client.post(
            "/api/auth/signup", content=deep, headers={"Content-Type": "application/json"}
        )
    )
    assert "nests deeper" in str(problem["detail"])
    # A proper pair (an emoji) and an escaped backslash before "u0000" are ordinary text.
    fine = b'{"name": "key \\ud83d\\ude00 and \\\\u0000"}'
    created = await client.post(
        "/api/v1/api-keys",
        content=fine,
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "key \U0001f600 and \\u0000"


async def test_control_characters_in_the_proxy_path(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    for raw in ("%0d%0aHost:%20evil", "%09tab", "a%7fb", "%00"):
        response = await client.get(
            f"/api/v1/connections/01900000-0000-7000-8000-000000000000/proxy/orders{raw}",
            headers=tenant.headers,
        )
        assert _refused(response)["detail"] == "the path contains a control character"


# --- tokens and headers ------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_a_jwt_with_a_deeply_nested_header_is_401(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    header = b'{"alg": "ES256", "kid": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    token = f"{_b64(header)}.{_b64(b'{}')}.{_b64(b'sig')}"
    for path in ("/api/auth/me", "/api/cross-app/user-info"):
        response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (path, response.text)
    nested_payload = f"{_b64(b'{}')}.{_b64(b'[' * 50_000 + b']' * 50_000)}.{_b64(b's')}"
    response = await client.get(
        "/api/cross-app/user-info", headers={"Authorization": f"Bearer {nested_payload}"}
    )
    assert response.status_code == 401


async def test_a_non_ascii_csrf_token_is_a_403(client: httpx.AsyncClient) -> None:
    client.cookies.set("sh_refresh", "some-refresh-token", path="/api/auth")
    client.cookies.set("sh_csrf", "abc")
    response = await client.post(
        "/api/auth/refresh", headers={b"X-CSRF-Token": "\u00e9t\u00e9".encode()}
    )
    assert _refused(response, 403)["code"] == "csrf-failed"


# --- limits ------------------------------------------------------------------------------------


async def test_bodies_over_the_limit_are_413(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    limit = runtime.settings.max_body_bytes
    big = json.dumps({"name": "x" * (limit + 1)}).encode()
    declared = await client.post(
        "/api/v1/api-keys",
        content=big,
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert _refused(declared, 413)["code"] == "payload-too-large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while it arrives
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    streamed = await client.post(
        "/api/auth/login", content=chunks(), headers={"Content-Type": "application/json"}
    )
    _refused(streamed, 413)
    assert (
        await client.post("/api/v1/api-keys", json={"name": "small"}, headers=tenant.headers)
    ).status_code == 201


async def test_a_body_that_arrives_too_slowly_is_408() -> None:
    async def app(
        scope: Scope, receive: Receive, send: Send
    ) -> None:  # pragma: no cover - never reached
        raise AssertionError("the app must not see a slow body")

    policy = InputPolicy(app, max_body_bytes=1024, body_timeout_seconds=0.2)
    sent: list[Message] = []

    async def receive() -> Message:
        await asyncio.sleep(0.1)
        return {"type": "http.request", "body": b"{", "more_body": True}  # never ends

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/auth/login",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
    }
    await policy(scope, receive, send)
    assert sent[0]["status"] == 408
    assert json.loads(sent[1]["body"])["code"] == "request-timeout"


async def test_405_names_the_allowed_methods(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/auth/login", json={})
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["allow"] == "POST"


# --- webhooks: the ingress lane applies the same policy ---------------------------------------


def _shopify(body: bytes, event_id: str) -> dict[str, str]:
    digest = hmac.new(b"shopify-emulator-secret", body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Shop-Domain": "policy-store.myshopify.com",
        "X-Shopify-Webhook-Id": f"wh-{event_id}",
        "X-Shopify-Event-Id": event_id,
    }


async def test_signed_webhooks_with_surrogates_or_deep_nesting_are_400(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    for event_id, body in (
        ("evt-surrogate", b'{"id": 1, "note": "\\udc00"}'),
        ("evt-deep", b'{"id": 2, "x": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"),
    ):
        response = await client.post(
            "/webhooks/shopify", content=body, headers=_shopify(body, event_id)
        )
        assert _refused(response)["code"] == "malformed-webhook"
    async with runtime.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM webhook_events")) == 0


# --- the rules themselves ----------------------------------------------------------------------


def test_rules() -> None:
    assert text_problem("plain text, with\ttabs\nand newlines") is None
    assert text_problem("a\x00b") and text_problem("\udfff")
    assert json_depth(b'{"a": [1, {"b": "[[[[ {{{"}]}') == 3
    assert json_problem(b"[" * 64 + b"]" * 64) is None
    assert json_problem(b"[" * 65 + b"]" * 65) == "nests deeper than 64 levels"
    assert json_problem(b"not json \\u0000") is None  # the route's reader reports that


_CHARS = st.one_of(st.characters(), st.sampled_from(["\x00", "\ud800", "\udfff", "\\", "u"]))
_TEXT = st.text(_CHARS, max_size=8)


def _bad_text(document: object) -> bool:
    if isinstance(document, str):
        return text_problem(document) is not None
    if isinstance(document, dict):
        return any(_bad_text(k) or _bad_text(v) for k, v in document.items())
    if isinstance(document, list):
        return any(_bad_text(v) for v in document)
    return False


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.integers() | _TEXT,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
        max_leaves=80,
    )
)
def test_json_problem_agrees_with_the_parsed_document(document: object) -> None:
    body = json.dumps(document).encode()
    assert (json_problem(body) is not None) == (_bad_text(document) or json_depth(body) > 64)


# --- slow clients against the real servers -----------------------------------------------------


def _slow_client(base: str, payload_parts: list[bytes], pause: float) -> tuple[bytes, float]:
    """Send ``payload_parts`` with pauses; answer what the server sent and when it closed."""
    import socket
    import time
    from urllib.parse import urlsplit

    parts = urlsplit(base)
    started = time.monotonic()
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        received = b""
        for part in payload_parts:
            try:
                sock.sendall(part)
            except OSError:
                break
            time.sleep(pause)
        sock.settimeout(30)
        try:
            while chunk := sock.recv(4096):
                received += chunk
        except OSError:
            pass
    return received, time.monotonic() - started


def test_slow_headers_and_bodies_are_cut_off(live_server: str) -> None:
    # Headers a byte every half second: the 2 s deadline (the live server's setting) holds,
    # although every byte would reset a keep-alive timer.
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 60
    answer, elapsed = _slow_client(live_server, [bytes([b]) for b in request], 0.5)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
    assert elapsed < 10
    # A body trickling in: 408 problem+json from the input policy.
    head = (
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 200\r\n\r\n"
    )
    answer, elapsed = _slow_client(live_server, [head, *([b" "] * 40)], 0.25)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
    assert b"request-timeout" in answer and elapsed < 10


# --- the body the policy read, handed to the route ----------------------------------------


async def test_a_route_reads_the_body_the_policy_already_read_and_checked() -> None:
    """``request_body`` answers the bytes the policy buffered (the receive channel is not read
    twice), and reads the channel itself where the policy did not buffer (a streamed path)."""
    from starlette.requests import Request

    from sellerhub.core.inputs import BODY_SCOPE_KEY, request_body

    seen: list[tuple[bytes, object]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        seen.append((await request_body(request), scope.get(BODY_SCOPE_KEY)))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    policy = InputPolicy(
        app, max_body_bytes=1_000, body_timeout_seconds=5, streamed_paths=frozenset({"/bulk"})
    )

    def receiver() -> Receive:
        parts = [b'{"a": ', b"1}"]

        async def receive() -> Message:
            body = parts.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(parts)}

        return receive

    async def send(message: Message) -> None:
        pass

    for path in ("/json", "/bulk"):
        scope: Scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "query_string": b"",
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"8")],
        }
        await policy(scope, receiver(), send)
    assert seen == [(b'{"a": 1}', b'{"a": 1}'), (b'{"a": 1}', None)]
