"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware): request id, log context, metrics and
security headers on every HTTP response."""

from __future__ import annotations

import re
import time
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sellerhub.core import problems
from sellerhub.core.ids import request_id as new_request_id
from sellerhub.core.logging import bind_context, clear_context, get_logger
from sellerhub.core.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = get_logger("sellerhub.http")
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


def _security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The security headers the response did not set itself. A page whose CSP lets another
    origin frame it (``frame-ancestors`` other than ``'none'``: the embedded login in iframe
    mode) gets no ``X-Frame-Options`` either."""
    present = {name.lower() for name, _ in headers}
    framable = any(
        name.lower() == b"content-security-policy"
        and b"frame-ancestors" in value
        and b"frame-ancestors 'none'" not in value
        for name, value in headers
    )
    return [
        (name, value)
        for name, value in _SECURITY_HEADERS
        if name not in present and not (framable and name == b"x-frame-options")
    ]


def _route_template(scope: Scope, root_path: str) -> str:
    """The metrics label of a request: its route's template. A request served by a mounted app
    (the emulators at ``/_emulators`` in development) is labelled with the mount's path alone,
    matched or not: it never counts under one of the product's routes (a mounted app's route
    templates can equal the product's, as the FedEx emulator's ``/oauth/token`` does) and adds
    no label per route of the mounted app."""
    mounted = str(scope.get("root_path", ""))
    if mounted != root_path and mounted.startswith(root_path):
        return mounted[len(root_path) :]
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"").decode(
            "latin-1"
        )
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else new_request_id()
        root_path = str(scope.get("root_path", ""))  # a mount below us extends it
        clear_context()
        bind_context(request_id=request_id)
        started = time.perf_counter()
        status_code = 500
        started_response = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status_code, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status_code = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(_security_headers(headers))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            if started_response:
                raise  # too late for a problem document; the server closes the connection
            await problems.unexpected(Request(scope), exc)(scope, receive, send_with_headers)
        finally:
            route = _route_template(scope, root_path)
            method = scope.get("method", "GET")
            HTTP_REQUESTS.labels(method, route, str(status_code)).inc()
            HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)
            if status_code >= 500:
                log.error("http.request", method=method, route=route, status=status_code)
            clear_context()
