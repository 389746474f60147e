"""The OpenAPI document, completed: every status code and content type an operation can answer.

FastAPI documents the success response and a 422 (with its own error shape, not ours). Every
operation can also answer the standard problems (``application/problem+json``, see
``core.problems``), and which ones follows from what the route does:

* any request: 400 (the input policy refuses text no route accepts: a NUL character, a control
  character in the path);
* it authenticates (a dependency on ``deps.current_principal`` or ``deps.tenant_reader``, or an
  app token): 401 with ``WWW-Authenticate``, and 403 where a role guard or the CSRF check of an
  unsafe method can refuse; the document also names the security schemes it accepts;
* its request body carries an app's client credentials (``client_secret``): 401;
* it has an id in its path: 404 (an unknown id, or another organization's);
* it has a request body: 400 (malformed JSON), 408 (arrived too slowly), 413 (too large), 415
  (not a media type it reads) and 422; any parameter: 422;
* its route class is ``ratelimit.RetryAfterRoute``: 429 with ``Retry-After``;
* it reaches the database (a session, the tenant reader, authentication): 503 with
  ``Retry-After`` when the database is unavailable.

Responses an endpoint declares itself (``responses=`` on the route decorator) keep what they
declare: an error response declared with a description only gets the problem content and the
headers of its status; one with content of its own (a ``text/html`` page, ``*/*``, an RFC 6749
error) gets the problem content next to it where the app's own machinery can answer that status
too. A 3xx gets its ``Location`` header. ``install(app)`` replaces ``app.openapi`` by the
completed document (built once, like FastAPI's own)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from sellerhub.core.errors import PROBLEM_CONTENT_TYPE

JSON = "application/json"
HTML = "text/html"
ANY = "*/*"
# For ``responses=``: a response a browser (``Accept: text/html``) gets as a page.
HTML_CONTENT: dict[str, Any] = {HTML: {"schema": {"type": "string"}}}
PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetails"}
PROBLEM_CONTENT: dict[str, Any] = {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_REF}}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "ProblemDetails",
    "description": "RFC 9457 problem details; ``code`` is the stable machine code (the last "
    "part of ``type``).",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "each invalid field and what is wrong with it (422)",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "retry_after": {"type": "integer", "description": "seconds (429)"},
    },
    "additionalProperties": True,
}

SECURITY_SCHEMES: dict[str, Any] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (``shk_…``) or an access token (JWT).",
    },
    "sessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "sh_access",
        "description": "A browser's session (set by the sign-in endpoints).",
    },
    "csrfCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "sh_csrf",
        "description": "A session's CSRF token (set with the session cookie).",
    },
    "csrfToken": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRF-Token",
        "description": "The ``sh_csrf`` cookie's value, echoed on unsafe requests of a session.",
    },
    "appToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "An app token (``/api/cross-app/auth``), verified against its app.",
    },
    "appClient": {
        "type": "http",
        "scheme": "basic",
        "description": "An app's client credentials (``app_id:client_secret``); or the "
        "``app_id``/``client_id`` and ``client_secret`` fields of the body.",
    },
}

HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "the authentication scheme to use",
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "seconds until the limit resets",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
    503: {
        "Retry-After": {
            "description": "seconds to wait before retrying",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}
LOCATION = {"Location": {"description": "where to go next", "schema": {"type": "string"}}}

# Dependencies that authenticate the caller, by ``module:qualified name``.
# ``require_permission``'s guard authenticates by itself (a user, or a service token with the
# permission) and refuses with 403 like the role guards.
PERMISSION_GUARD = "sellerhub.deps:require_permission.<locals>.guard"
USER_AUTH = frozenset(
    {"sellerhub.deps:current_principal", "sellerhub.deps:tenant_reader", PERMISSION_GUARD}
)
ROLE_GUARDS = frozenset(
    {
        "sellerhub.deps:require_role.<locals>.guard",
        "sellerhub.deps:require_platform_admin.<locals>.guard",
        PERMISSION_GUARD,
    }
)
APP_TOKEN_AUTH = frozenset({"sellerhub.identity.apps.endpoints:app_bearer"})
# Dependencies that open a database session or connection.
DATABASE = frozenset(
    {"sellerhub.deps:request_session", "sellerhub.deps:tenant_session"} | USER_AUTH
)
SAFE_METHODS = frozenset({"get", "head", "options"})

_DEFAULT_DESCRIPTIONS = {
    400: "the request is malformed: text that is never accepted (a NUL character, a control "
    "character in the path), or a body that is not valid JSON",
    408: "the request body arrived too slowly",
    401: "authentication is missing or not valid",
    403: "the caller may not do this",
    404: "not found (or another organization's)",
    413: "the request body is too large",
    415: "the body is not of a media type this operation reads",
    422: "the request is not valid; ``errors`` names each field",
    429: "too many requests; see Retry-After",
    503: "the database is unavailable; retry after Retry-After seconds",
}


def _name(call: Callable[..., Any] | None) -> str:
    if call is None:
        return ""
    return f"{getattr(call, '__module__', '')}:{getattr(call, '__qualname__', '')}"


def _dependencies(dependant: Dependant) -> Iterator[str]:
    for sub in dependant.dependencies:
        yield _name(sub.call)
        yield from _dependencies(sub)


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        target = document.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[1])
        return target if isinstance(target, dict) else {}
    return schema


def _carries_client_credentials(document: dict[str, Any], operation: dict[str, Any]) -> bool:
    for media in operation.get("requestBody", {}).get("content", {}).values():
        schema = _resolve(document, media.get("schema", {}))
        if "client_secret" in schema.get("properties", {}):
            return True
    return False


def _is_default_content(content: dict[str, Any] | None) -> bool:
    """No content, or FastAPI's placeholders: an empty JSON schema or its own 422 shape."""
    if not content:
        return True
    if set(content) != {JSON}:
        return False
    schema = content[JSON].get("schema", {})
    return schema in ({}, {"$ref": "#/components/schemas/HTTPValidationError"})


def _complete_response(status: int, response: dict[str, Any], standard: bool) -> None:
    """Fill in the content and headers a declared response of this status has; ``standard``:
    the app's own machinery (not only the endpoint) can answer this status."""
    if 300 <= status < 400:
        response.setdefault("headers", {}).update(LOCATION)
        return
    if status < 400:
        return
    content = response.get("content")
    if _is_default_content(content):
        response["content"] = copy.deepcopy(PROBLEM_CONTENT)
    elif content is not None and (standard or HTML in content or ANY in content):
        content.setdefault(
            PROBLEM_CONTENT_TYPE, copy.deepcopy(PROBLEM_CONTENT[PROBLEM_CONTENT_TYPE])
        )
    for name, header in HEADERS.get(status, {}).items():
        response.setdefault("headers", {}).setdefault(name, header)


def standard_statuses(
    route: APIRoute, method: str, operation: dict[str, Any], document: dict[str, Any]
) -> tuple[set[int], list[dict[str, list[str]]] | None]:
    """The problem statuses this operation can answer, and the security it accepts."""
    deps = set(_dependencies(route.dependant))
    statuses: set[int] = {400}
    security: list[dict[str, list[str]]] | None = None
    unsafe = method not in SAFE_METHODS
    if deps & USER_AUTH:
        statuses.add(401)
        if unsafe or deps & ROLE_GUARDS:
            statuses.add(403)  # the CSRF check of a session, the role guards
        session: dict[str, list[str]] = {"sessionCookie": []}
        if unsafe:  # double submit: the CSRF cookie and the same value in the header
            session.update(csrfCookie=[], csrfToken=[])
        security = [{"bearerAuth": []}, session]
    elif deps & APP_TOKEN_AUTH:
        statuses.update((401, 403))  # 403: the browser's Origin is not one of the app's
        security = [{"appToken": []}]
    elif _carries_client_credentials(document, operation):
        if "401" not in operation.get("responses", {}):  # else: in its own format (RFC 6749)
            statuses.add(401)
        security = [{"appClient": []}, {}]
    parameters = operation.get("parameters", [])
    if any(
        p.get("in") == "path" and p.get("schema", {}).get("format") == "uuid" for p in parameters
    ):
        statuses.add(404)
    if "requestBody" in operation:
        statuses.update((400, 408, 413, 415, 422))
    elif parameters:
        statuses.add(422)
    if type(route).__name__ == "RetryAfterRoute":
        statuses.add(429)
    if deps & DATABASE:
        statuses.add(503)
    return statuses, security


def complete(document: dict[str, Any], routes: list[Any]) -> dict[str, Any]:
    """``document`` (FastAPI's) with every operation's responses completed, in place."""
    paths: dict[str, Any] = document.get("paths", {})
    for route in routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in sorted(route.methods or ()):
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            statuses, security = standard_statuses(route, method.lower(), operation, document)
            responses: dict[str, Any] = operation.setdefault("responses", {})
            # An operation that relays another server's answers (``default``, any media type)
            # may answer those in its own standard statuses too.
            relayed = responses.get("default", {}).get("content", {}).get(ANY)
            for status in sorted(statuses):
                standard = responses.setdefault(
                    str(status), {"description": _DEFAULT_DESCRIPTIONS[status]}
                )
                if relayed is not None:
                    standard.setdefault("content", {}).setdefault(ANY, relayed)
            for key, response in responses.items():
                if key.isdigit():
                    _complete_response(int(key), response, int(key) in statuses)
            if security is not None:
                operation.setdefault("security", security)
    components: dict[str, Any] = document.setdefault("components", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    schemas["ProblemDetails"] = PROBLEM_SCHEMA
    if "HTTPValidationError" not in repr(paths):  # replaced everywhere by ProblemDetails
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    return document


def inline_schema(model: Any) -> dict[str, Any]:
    """A model's JSON schema with its nested models written in place, for a request body an
    endpoint reads itself (FastAPI registers no component for it, so a ``$ref`` would dangle)."""
    schema: dict[str, Any] = model.model_json_schema()
    definitions: dict[str, Any] = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(definitions[ref.rsplit("/", 1)[1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def install(app: FastAPI) -> None:
    """Serve the completed document at ``/openapi.json`` (built on the first request)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(build(), app.routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
