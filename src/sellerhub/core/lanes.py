"""A lane past FastAPI for the hottest routes: ``RouteLane`` serves an explicit table of
(method, path) → handler without the app's exception middleware, router matching and request
handling (``request_response``, dependency solving, ``run_endpoint_function``), which cost more
than the work of a cheap route. Each handler is the documented route's own work, an async
function from the request to its response, which the documented route runs as well; the table
is composed in ``app.py`` (this module knows no domain).

Installed as the innermost middleware, so the request context (request id, log context,
metrics, security headers), CORS and the input policy (body size and time, JSON rules) wrap a
lane's request exactly as they wrap the route. The lane sets ``scope["route"]`` to the
documented route of the app's route table (the metrics label, the route's path) and renders an
exception with the handler the app's exception middleware would pick (``problems``); one
without a handler goes up, as it would from the route. Everything else goes on to the app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi.routing import APIRoute
from starlette._utils import get_route_path, is_async_callable
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

LaneHandler = Callable[[Request], Awaitable[Response]]


class RouteLane:
    """Serves ``routes`` ((method, path) → handler) itself; everything else goes to ``app``."""

    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], LaneHandler]) -> None:
        self.app = app
        self.handlers = dict(routes)
        self.routes: dict[tuple[str, str], APIRoute] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = (scope["method"], get_route_path(scope))
        handler = self.handlers.get(key)
        if handler is None:
            await self.app(scope, receive, send)
            return
        route = self.routes.get(key)
        if route is None:
            route = self.routes[key] = documented_route(scope["app"], *key)
        scope["route"] = route  # what the router sets: the metrics label, the route's path
        request = Request(scope, receive, send)
        try:
            response = await handler(request)
        except Exception as exc:
            exception_handler = handler_for(scope["app"], exc)
            if exception_handler is None:
                raise
            if is_async_callable(exception_handler):
                response = await exception_handler(request, exc)
            else:
                response = await run_in_threadpool(exception_handler, request, exc)
        await response(scope, receive, send)


def documented_route(app: Starlette, method: str, path: str) -> APIRoute:
    """The app's route for ``method`` and ``path``: a lane serves only documented routes."""
    for candidate in app.router.routes:
        if (
            isinstance(candidate, APIRoute)
            and candidate.path == path
            and candidate.methods
            and method in candidate.methods
        ):
            return candidate
    raise RuntimeError(f"{method} {path} is not in the app's route table")


def handler_for(app: Starlette, exc: Exception) -> Any:
    """The exception handler Starlette's ``ExceptionMiddleware`` would call: by status code for
    an HTTP exception, else the first class of the exception's MRO with a handler (500 and
    ``Exception`` belong to the outermost error middleware, not to it)."""
    handlers = app.exception_handlers
    if isinstance(exc, StarletteHTTPException) and exc.status_code in handlers:
        return handlers[exc.status_code]
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            return handlers[cls]
    return None
