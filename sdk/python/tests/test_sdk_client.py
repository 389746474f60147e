"""SDK client unit tests on httpx.MockTransport: retries honouring Retry-After, the idempotency
key reused on retries, which failures are retried, errors typed from problem+json, cursor
pagination (sync and async), the client-credentials token fetched once and refreshed."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sellerhub_sdk import (
    AsyncSellerhubClient,
    ClientCredentials,
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    InsufficientCredits,
    NotAuthenticated,
    NotFound,
    RateLimited,
    RetryPolicy,
    SellerhubClient,
    ServerError,
    TransportError,
    ValidationFailed,
)

BASE = "https://hub.example.com"
PROBLEM = {"content-type": "application/problem+json"}


def transfer(n: int = 1, key: str = "k", balance_after: int = 9) -> dict[str, Any]:
    return {
        "id": f"00000000-0000-7000-8000-{n:012d}",
        "idempotency_key": key,
        "code": "consume",
        "phase": "single",
        "amount": 1,
        "debit_account_id": "00000000-0000-7000-8000-00000000000a",
        "credit_account_id": "00000000-0000-7000-8000-00000000000b",
        "pending_id": None,
        "app_id": "adsight",
        "service": "ocr",
        "balance_after": balance_after,
        "timeout_at": None,
        "created_at": "2026-11-30T20:00:00Z",
    }


def problem(status: int, code: str, **extra: Any) -> httpx.Response:
    body = {"type": f"https://sellerhub.dev/problems/{code}", "title": code, "status": status,
            "detail": f"{code} happened", "code": code, **extra}  # fmt: skip
    headers = dict(PROBLEM)
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    return httpx.Response(status, json=body, headers=headers)


class Recorder:
    """A MockTransport answering from a list of responses (or exceptions), recording requests."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def sync_client(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> tuple[
    SellerhubClient, list[float]
]:  # fmt: skip
    slept: list[float] = []
    http = httpx.Client(transport=httpx.MockTransport(handler))
    kw.setdefault("token", "user-token")
    return SellerhubClient(BASE, http_client=http, sleep=slept.append, **kw), slept


def async_client(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> tuple[
    AsyncSellerhubClient, list[float]
]:  # fmt: skip
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    kw.setdefault("token", "user-token")
    return AsyncSellerhubClient(BASE, http_client=http, sleep=sleep, **kw), slept


def test_a_429_is_retried_after_retry_after_with_the_same_idempotency_key() -> None:
    rec = Recorder(
        problem(429, "rate-limited", retry_after=3),
        problem(503, "upstream-unavailable", retry_after=1),
        httpx.Response(201, json=transfer()),
    )
    client, slept = sync_client(rec)
    out = client.credits.consume(1, "ocr")
    assert out.balance_after == 9 and out.service == "ocr"
    assert slept == [3.0, 1.0]
    keys = {r.headers["idempotency-key"] for r in rec.requests}
    bodies = [json.loads(r.content) for r in rec.requests]
    assert len(keys) == 1 and {b["idempotency_key"] for b in bodies} == keys
    assert all(r.headers["authorization"] == "Bearer user-token" for r in rec.requests)


def test_each_call_has_its_own_key_and_a_given_key_is_used() -> None:
    rec = Recorder(*(httpx.Response(201, json=transfer()) for _ in range(3)))
    client, _ = sync_client(rec)
    client.credits.consume(1, "ocr")
    client.credits.consume(1, "ocr")
    client.credits.consume(1, "ocr", idempotency_key="job-7", metadata={"page": 2})
    keys = [r.headers["idempotency-key"] for r in rec.requests]
    assert len(set(keys)) == 3 and keys[2] == "job-7"
    assert json.loads(rec.requests[2].content)["metadata"] == {"page": 2}


def test_connection_errors_are_retried_for_keyed_writes_and_reads_only() -> None:
    rec = Recorder(httpx.ConnectError("refused"), httpx.Response(201, json=transfer()))
    client, slept = sync_client(rec)
    client.credits.consume(1, "ocr")
    assert len(rec.requests) == 2 and len(slept) == 1 and 0.25 <= slept[0] <= 0.5
    assert rec.requests[0].headers["idempotency-key"] == rec.requests[1].headers["idempotency-key"]

    # credit-check is a POST without a key: a read in effect, but not repeated blindly.
    rec = Recorder(httpx.ReadTimeout("slow"))
    client, slept = sync_client(rec)
    with pytest.raises(TransportError):
        client.credits.check(5)
    assert len(rec.requests) == 1 and slept == []
    # ... and a 503 neither; a 429 always.
    rec = Recorder(problem(503, "upstream-unavailable"))
    client, _ = sync_client(rec)
    with pytest.raises(ServerError):
        client.credits.check(5)
    rec = Recorder(problem(429, "rate-limited", retry_after=1), httpx.Response(
        200, json={"sufficient": True, "balance": 7}
    ))  # fmt: skip
    client, _ = sync_client(rec)
    assert client.credits.check(5).balance == 7


def test_retries_stop_after_the_policy_and_a_long_retry_after_is_not_waited() -> None:
    rec = Recorder(*(problem(429, "rate-limited", retry_after=1) for _ in range(3)))
    client, slept = sync_client(rec, retry=RetryPolicy(max_retries=2))
    with pytest.raises(RateLimited) as caught:
        client.credits.balance()
    assert caught.value.retry_after == 1.0 and slept == [1.0, 1.0] and len(rec.requests) == 3

    rec = Recorder(problem(429, "rate-limited", retry_after=3600))
    client, slept = sync_client(rec)
    with pytest.raises(RateLimited) as caught:
        client.credits.balance()
    assert caught.value.retry_after == 3600 and slept == []


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (problem(401, "unauthenticated"), NotAuthenticated),
        (problem(403, "app-permission-missing"), Forbidden),
        (problem(404, "not-found"), NotFound),
        (problem(409, "conflict"), Conflict),
        (problem(409, "idempotency-key-reused"), IdempotencyKeyReused),
        (problem(500, "internal-error"), ServerError),
    ],
)
def test_errors_are_typed_from_the_problem_code(
    response: httpx.Response, error: type[Exception]
) -> None:
    client, _ = sync_client(Recorder(response))
    with pytest.raises(error) as caught:
        client.credits.consume(1, "ocr")
    assert caught.value.code == response.json()["code"]  # type: ignore[attr-defined]


def test_insufficient_credits_and_validation_carry_their_details() -> None:
    client, _ = sync_client(Recorder(problem(402, "insufficient-credits", balance=2)))
    with pytest.raises(InsufficientCredits) as short:
        client.credits.consume(5, "ocr")
    assert short.value.balance == 2 and short.value.status == 402
    errors = [{"field": "amount", "message": "must be at least 1"}]
    client, _ = sync_client(Recorder(problem(422, "validation-failed", errors=errors)))
    with pytest.raises(ValidationFailed) as invalid:
        client.credits.consume(0, "ocr")
    assert invalid.value.errors == errors


def pages(request: httpx.Request) -> httpx.Response:
    cursor = request.url.params.get("cursor")
    start = 0 if cursor is None else int(cursor[-12:])
    items = [transfer(n) for n in range(start + 1, min(start + 3, 7) + 1)]
    last = items[-1]["id"] if items and start + 3 < 7 else None
    return httpx.Response(200, json={"items": items, "next_cursor": last})


def test_transfers_iterate_across_pages() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return pages(request)

    client, _ = sync_client(handler)
    ids = [t.id[-1] for t in client.credits.transfers(page_size=3)]
    assert ids == ["1", "2", "3", "4", "5", "6", "7"]
    assert [r.url.params.get("limit") for r in seen] == ["3", "3", "3"]
    assert seen[0].url.path == "/api/v1/credits/transfers"


async def test_async_client_retries_and_iterates() -> None:
    rec = Recorder(
        problem(429, "rate-limited", retry_after=2), httpx.Response(201, json=transfer())
    )
    client, slept = async_client(rec)
    out = await client.credits.consume(1, "ocr")
    assert out.amount == 1 and slept == [2.0]
    assert rec.requests[0].headers["idempotency-key"] == rec.requests[1].headers["idempotency-key"]
    client, _ = async_client(pages)
    assert len([t async for t in client.credits.transfers(page_size=3)]) == 7
    client, _ = async_client(Recorder(problem(402, "insufficient-credits", balance=0)))
    with pytest.raises(InsufficientCredits):
        await client.credits.consume(1, "ocr")


def token_server(
    expires_in: int = 3600,
) -> tuple[Callable[[httpx.Request], httpx.Response], list[str]]:
    """/oauth/token handing out numbered tokens; the API accepts only the latest."""
    issued: list[str] = []
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            assert request.headers["authorization"].startswith("Basic ")
            assert b"grant_type=client_credentials" in request.content
            with lock:
                issued.append(f"svc-{len(issued) + 1}")
                return httpx.Response(200, json={
                    "access_token": issued[-1], "token_type": "Bearer", "expires_in": expires_in
                })  # fmt: skip
        if request.headers.get("authorization") != f"Bearer {issued[-1]}":
            return problem(401, "unauthenticated")
        assert request.headers["x-sellerhub-organization"] == "org-1"
        return httpx.Response(200, json={"balance": 3, "packages": []})

    return handler, issued


def test_client_credentials_token_is_fetched_once_for_many_threads() -> None:
    handler, issued = token_server()
    creds = ClientCredentials("billing-svc", "s3cret")
    client, _ = sync_client(handler, token=None, credentials=creds, organization_id="org-1")
    threads = [threading.Thread(target=client.credits.balance) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert issued == ["svc-1"]
    assert "s3cret" not in repr(creds)


def test_an_expiring_or_refused_token_is_fetched_again() -> None:
    handler, issued = token_server(expires_in=60)  # margin 30 s: refreshed at once next call
    creds = ClientCredentials("billing-svc", "s3cret", refresh_margin=60)
    client, _ = sync_client(handler, token=None, credentials=creds, organization_id="org-1")
    client.credits.balance()
    client.credits.balance()
    assert len(issued) == 1  # within its lifetime minus the margin
    issued.append("revoked-elsewhere")  # the server no longer takes svc-1
    assert client.credits.balance().balance == 3
    assert issued == ["svc-1", "revoked-elsewhere", "svc-3"]


async def test_async_token_single_flight() -> None:
    handler, issued = token_server()
    creds = ClientCredentials("billing-svc", "s3cret")
    client, _ = async_client(handler, token=None, credentials=creds, organization_id="org-1")
    await asyncio.gather(*(client.credits.balance() for _ in range(20)))
    assert issued == ["svc-1"]


def test_purchase_needs_exactly_one_of_package_and_amount() -> None:
    rec = Recorder(httpx.Response(201, json={"url": "https://checkout.example/c/1"}))
    client, _ = sync_client(rec)
    with pytest.raises(ValueError, match="exactly one"):
        client.credits.purchase()
    with pytest.raises(ValueError, match="exactly one"):
        client.credits.purchase(package_id="p", amount=5)
    assert client.credits.purchase(package_id="p").url == "https://checkout.example/c/1"
    assert json.loads(rec.requests[0].content) == {"package_id": "p"}
    assert rec.requests[0].headers["idempotency-key"]


def test_validate_token_uses_the_apps_client_credentials() -> None:
    rec = Recorder(httpx.Response(200, json={"active": True, "sub": "u1", "aud": "adsight"}))
    client, _ = sync_client(rec, token=None, credentials=ClientCredentials("adsight", "pw"))
    found = client.identity.validate_token("tok")
    assert found.active and found.subject == "u1"
    sent = rec.requests[0]
    assert sent.headers["authorization"].startswith("Basic ") and sent.content == b"token=tok"
    client, _ = sync_client(Recorder())
    with pytest.raises(NotAuthenticated):
        client.identity.validate_token("tok")


def test_a_refused_static_token_is_not_retried() -> None:
    rec = Recorder(problem(401, "unauthenticated"))
    client, slept = sync_client(rec)
    with pytest.raises(NotAuthenticated):
        client.credits.balance()
    assert len(rec.requests) == 1 and slept == []


async def test_async_reads_retry_a_503_and_connection_errors_with_backoff() -> None:
    rec = Recorder(
        httpx.ConnectError("refused"),
        problem(503, "upstream-unavailable"),
        httpx.Response(200, json={"balance": 4, "packages": []}),
    )
    client, slept = async_client(rec, retry=RetryPolicy(backoff=1.0, max_backoff=1.5))
    assert (await client.credits.balance()).balance == 4
    assert len(slept) == 2 and 0.5 <= slept[0] <= 1.0 and 0.75 <= slept[1] <= 1.5
