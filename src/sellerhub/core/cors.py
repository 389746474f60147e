"""CORS for the cross-app API, as a pure ASGI middleware.

Only two groups of paths take part; everything else passes through untouched (one ``startswith``
per request):

- **app paths** (``/api/cross-app/…``, ``/oauth/token``): a response gets
  ``Access-Control-Allow-Origin: <that origin>`` (never ``*``) with credentials only when the
  ``Origin`` is one a registered, enabled app allows (``origins`` provides them, cached by the
  provider). Preflights of such an origin are answered here (204); of any other origin refused
  (403) without CORS headers, as are unlisted methods or headers (400). The origin set is asked
  for only when a request carries ``Origin``.
- **public paths** (``/.well-known/…``): GET/HEAD from any origin, without credentials.

The endpoints themselves still check that a browser's ``Origin`` belongs to *the* app of the
request; this layer only decides what browsers may read.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection, Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sellerhub.core.errors import PROBLEM_BASE, PROBLEM_CONTENT_TYPE

OriginsProvider = Callable[[Scope], Awaitable[Collection[str]]]
Headers = list[tuple[bytes, bytes]]

APP_PATHS = ("/api/cross-app/", "/oauth/token")
PUBLIC_PATHS = ("/.well-known/",)
APP_METHODS = ("GET", "POST")
PUBLIC_METHODS = ("GET", "HEAD")
APP_HEADERS = ("authorization", "content-type", "x-csrf-token", "x-request-id")
# CORS-safelisted request headers need no permission (Fetch standard).
_SAFELISTED = frozenset({"accept", "accept-language", "content-language", "content-type"})
EXPOSE_HEADERS = b"x-request-id, www-authenticate, retry-after"
MAX_AGE = b"600"
_VARY = (b"vary", b"Origin")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _requested_headers(value: str | None) -> list[str]:
    return [h.strip().lower() for h in (value or "").split(",") if h.strip()]


class CorsMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        origins: OriginsProvider,
        app_paths: Iterable[str] = APP_PATHS,
        public_paths: Iterable[str] = PUBLIC_PATHS,
        allow_headers: Iterable[str] = APP_HEADERS,
    ) -> None:
        self.app = app
        self.origins = origins
        self.app_paths = tuple(app_paths)
        self.public_paths = tuple(public_paths)
        self.allow_headers = frozenset(h.lower() for h in allow_headers) | _SAFELISTED
        self._allow_headers_value = ", ".join(sorted(self.allow_headers)).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(self.app_paths):
            await self._app_path(scope, receive, send)
        elif path.startswith(self.public_paths):
            await self._public_path(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    # --- registered-app paths ------------------------------------------------------------------

    async def _allowed(self, scope: Scope, origin: str) -> bool:
        if origin == "null":
            return False
        return origin.lower() in await self.origins(scope)

    async def _app_path(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = _header(scope, b"origin")
        if origin is None:
            await self.app(scope, receive, _with_headers(send, [_VARY]))
            return
        allowed = await self._allowed(scope, origin)
        request_method = _header(scope, b"access-control-request-method")
        if scope["method"] == "OPTIONS" and request_method is not None:
            await self._app_preflight(scope, send, origin, allowed, request_method)
            return
        headers: Headers = [_VARY]
        if allowed:
            headers += [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-allow-credentials", b"true"),
                (b"access-control-expose-headers", EXPOSE_HEADERS),
            ]
        await self.app(scope, receive, _with_headers(send, headers))

    async def _app_preflight(
        self, scope: Scope, send: Send, origin: str, allowed: bool, request_method: str
    ) -> None:
        vary = (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
        if not allowed:
            await _refuse(send, 403, "the origin is not registered for any app", [vary])
            return
        if request_method.upper() not in APP_METHODS:
            await _refuse(send, 400, f"the method {request_method[:20]!r} is not allowed", [vary])
            return
        requested = _requested_headers(_header(scope, b"access-control-request-headers"))
        refused = [h for h in requested if h not in self.allow_headers]
        if refused:
            await _refuse(send, 400, f"the header {refused[0][:40]!r} is not allowed", [vary])
            return
        await _empty(
            send,
            [
                vary,
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-allow-credentials", b"true"),
                (b"access-control-allow-methods", ", ".join(APP_METHODS).encode()),
                (b"access-control-allow-headers", self._allow_headers_value),
                (b"access-control-max-age", MAX_AGE),
            ],
        )

    # --- public paths --------------------------------------------------------------------------

    async def _public_path(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _header(scope, b"origin") is None:
            await self.app(scope, receive, send)
            return
        request_method = _header(scope, b"access-control-request-method")
        if scope["method"] == "OPTIONS" and request_method is not None:
            if request_method.upper() not in PUBLIC_METHODS:
                await _refuse(send, 400, "only GET is allowed here", [])
                return
            await _empty(
                send,
                [
                    (b"access-control-allow-origin", b"*"),
                    (b"access-control-allow-methods", ", ".join(PUBLIC_METHODS).encode()),
                    (b"access-control-max-age", MAX_AGE),
                ],
            )
            return
        await self.app(
            scope, receive, _with_headers(send, [(b"access-control-allow-origin", b"*")])
        )


def _with_headers(send: Send, extra: Headers) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *extra]
        await send(message)

    return wrapped


async def _empty(send: Send, headers: Headers) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _refuse(send: Send, status: int, detail: str, headers: Headers) -> None:
    code = "cors-origin-not-allowed" if status == 403 else "cors-request-not-allowed"
    body = json.dumps(
        {
            "type": PROBLEM_BASE + code,
            "title": "Cross-origin request refused",
            "status": status,
            "detail": detail,
            "code": code,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
