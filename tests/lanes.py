"""The harness of the lane tests (test_reservation_lane.py, test_consume_lane.py): the app with
its lane (``core.lanes.RouteLane``, the table ``app.LANES``) — the app behind it refusing every
request of the table — or the same app without the lane, and one request through either,
captured as status, headers in order, body modulo ids and times, metrics and log events."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send
from structlog.testing import capture_logs

from sellerhub.app import create_app
from sellerhub.core.lanes import LaneHandler, RouteLane
from sellerhub.core.metrics import REGISTRY
from sellerhub.runtime import Runtime

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT[0-9:.]+(Z|[+-]\d\d:\d\d)?")


class Guarded(RouteLane):
    """The lane, with the app behind it refusing the lane's requests: whatever it answers for
    them, the lane answered itself."""

    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], LaneHandler]) -> None:
        async def behind(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                key = (scope["method"], scope["path"])
                assert key not in routes, f"{key} went past the lane"
            await app(scope, receive, send)

        super().__init__(behind, routes)


def _is_lane(middleware: Middleware) -> bool:
    return middleware.cls is RouteLane  # type: ignore[comparison-overlap]


def _guarded(lane: Middleware) -> Middleware:
    assert not lane.args and set(lane.kwargs) == {"routes"}
    routes = lane.kwargs["routes"]
    assert isinstance(routes, Mapping)
    return Middleware(Guarded, routes=routes)


def lane_app(runtime: Runtime, *, lane: bool) -> FastAPI:
    """The app as ``create_app`` builds it, its lane guarded (``lane``) or taken out."""
    app = create_app(runtime=runtime)
    assert _is_lane(app.user_middleware[-1]), "the lane is the innermost middleware"
    kept = [m for m in app.user_middleware if not _is_lane(m)]
    assert len(kept) == len(app.user_middleware) - 1, "create_app installs the lane once"
    if lane:  # in the place create_app gave it, with the table it was given
        app.user_middleware = [_guarded(m) if _is_lane(m) else m for m in app.user_middleware]
    else:
        app.user_middleware = kept
    return app


@asynccontextmanager
async def lane_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    header: dict[str, str]
    body: Any
    counted: dict[tuple[str, str, str], float]
    logs: list[tuple[str, str, tuple[str, ...]]]


def _normalised(text: str) -> Any:
    """Ids and times differ between two requests made alike; everything else must not."""
    text = _TIME.sub("<time>", _UUID.sub("<uuid>", text))
    try:
        return json.loads(text)
    except ValueError:
        return text


def _requests_counted() -> dict[tuple[str, str, str], float]:
    return {
        (sample.labels["method"], sample.labels["route"], sample.labels["status"]): sample.value
        for metric in REGISTRY.collect()
        if metric.name == "sellerhub_http_requests"
        for sample in metric.samples
        if sample.name == "sellerhub_http_requests_total"
    }


async def send(
    client: httpx.AsyncClient,
    path: str,
    headers: Mapping[str, str],
    case: dict[str, Any],
    request_id: str,
) -> Answer:
    """POST ``case["content"]`` to ``case.get("path", path)`` with ``case.get("headers",
    headers)`` (without its Authorization for an ``anonymous`` case)."""
    sent = {"X-Request-ID": request_id, **case.get("headers", headers)}
    if case.get("anonymous"):
        sent.pop("Authorization", None)
    before = _requests_counted()
    with capture_logs() as logs:
        answer = await client.post(case.get("path", path), content=case["content"], headers=sent)
    return Answer(
        status=answer.status_code,
        # Every header, in order; only a success's length depends on its ids and times.
        headers=[
            (k, "<length>" if k == "content-length" and answer.status_code in (200, 201) else v)
            for k, v in answer.headers.multi_items()
        ],
        header=dict(answer.headers),
        body=_normalised(answer.text),
        counted={
            k: v - before.get(k, 0.0) for k, v in _requests_counted().items() if v != before.get(k)
        },
        logs=[
            (str(e.get("event")), str(e.get("log_level")), tuple(sorted(e)))
            for e in logs
            if not str(e.get("event", "")).startswith("cache.")
        ],
    )


def as_json(value: Any) -> bytes:
    return json.dumps(value).encode()


def assert_edges_answered(by_name: dict[str, Answer], *, made: str, problem: str) -> None:
    """What every lane answers alike, whatever its route: the request id echoed, the content
    types of a success (``made``) and of a problem (``problem``), the 401's challenge, the 503's
    Retry-After, the unexpected error logged once with its traceback, and neither error's
    cause in the answer. Each needs the cases "no credentials", "database down" and
    "unexpected error"."""
    assert by_name[made].header["x-request-id"] == "req-0000-same"
    assert by_name[made].header["content-type"] == "application/json"
    assert by_name[problem].header["content-type"] == "application/problem+json"
    assert by_name["no credentials"].header["www-authenticate"] == "Bearer"
    assert by_name["database down"].header["retry-after"] == "2"
    assert ("http.unhandled", "error", ("error", "event", "exc_info", "log_level")) in by_name[
        "unexpected error"
    ].logs
    assert any(
        event == "http.database_unavailable" for event, _, _ in by_name["database down"].logs
    )
    assert "a bug" not in json.dumps(by_name["unexpected error"].body)
    assert "connection refused" not in json.dumps(by_name["database down"].body)
