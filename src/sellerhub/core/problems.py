"""Exception handlers: every error leaves as ``application/problem+json`` (RFC 9457)."""

from __future__ import annotations

from typing import Any

import psycopg
import psycopg_pool
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sellerhub.core.errors import (
    PROBLEM_BASE,
    PROBLEM_CONTENT_TYPE,
    DomainError,
    TenantScopeViolation,
)
from sellerhub.core.logging import get_logger
from sellerhub.core.metrics import TENANT_VIOLATIONS

log = get_logger(__name__)

# Connection-level failures (server down, pool closed during shutdown, pool exhausted) are a
# 503 with Retry-After, not a 500: nothing about the request was wrong.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg_pool.PoolClosed,
    psycopg_pool.PoolTimeout,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.TimeoutError,
)

_HTTP_CODES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthenticated", "Authentication is required"),
    403: ("forbidden", "You are not allowed to do this"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    413: ("payload-too-large", "The request body is too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    429: ("rate-limited", "Too many requests"),
}


def problem(
    status: int, code: str, title: str, detail: str, request: Request, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.url.path,
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_CONTENT_TYPE, headers=headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    body = exc.to_problem(request.url.path)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if exc.status >= 500:
        log.warning("http.domain_error", code=exc.code, detail=exc.detail)
    response = JSONResponse(
        body, status_code=exc.status, media_type=PROBLEM_CONTENT_TYPE, headers=headers
    )
    retry_after = exc.extra.get("retry_after")
    if isinstance(retry_after, int) and retry_after > 0:  # a 429 says when to retry, always
        response.headers["Retry-After"] = str(retry_after)
    if exc.on_response is not None:
        exc.on_response(response)
    return response


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or str(loc[0] if loc else "request")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem(
            400,
            "malformed-json",
            "The request body is not valid JSON",
            "the body could not be parsed as JSON",
            request,
        )
    fields = [
        {"field": _field_name(tuple(e.get("loc", ()))), "message": str(e.get("msg", ""))}
        for e in errors
    ]
    detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return problem(
        422, "validation-failed", "The request is not valid", detail, request, errors=fields
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, title = _HTTP_CODES.get(exc.status_code, ("http-error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    response = problem(exc.status_code, code, title, detail, request)
    if exc.headers:  # the router's 405 names the allowed methods in Allow
        response.headers.update(exc.headers)
    return response


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("http.database_unavailable", error=type(exc).__name__)
    response = problem(
        503,
        "database-unavailable",
        "The database is unavailable",
        "the request could not reach the database; retry shortly",
        request,
    )
    response.headers["Retry-After"] = "2"
    return response


def unexpected(request: Request, exc: Exception) -> JSONResponse:
    """The one answer to an exception nothing else handled: logged once here (a plain, redacted
    traceback; see ``core.logging``), answered as a generic 500 that names no internals. Called by
    the request-context middleware, which does not re-raise, so the ASGI server does not log the
    same exception a second time."""
    if isinstance(exc, TenantScopeViolation):
        TENANT_VIOLATIONS.inc()
    log.error("http.unhandled", error=type(exc).__name__, exc_info=exc)
    return problem(
        500,
        "internal-error",
        "Internal error",
        "an unexpected error occurred; it has been logged with this request's id",
        request,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _database_unavailable)
