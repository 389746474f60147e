"""Reading what an app sends: flat bodies (JSON or form-encoded) and its client credentials
(HTTP Basic, or the body's fields), for the cross-app API and the OAuth token endpoint."""

from __future__ import annotations

import base64
import binascii
import json
from urllib.parse import parse_qsl, unquote_plus

from fastapi import Request
from fastapi.responses import JSONResponse

from sellerhub.config import Settings
from sellerhub.core.clock import utcnow
from sellerhub.core.inputs import request_body
from sellerhub.identity.apps import service, tokens
from sellerhub.identity.apps.errors import (
    AmbiguousClientAuthentication,
    InvalidClient,
    MalformedRequest,
)
from sellerhub.identity.apps.schemas import AppTokenPair

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 16_384


def pair_response(issued: tokens.IssuedAppToken) -> JSONResponse:
    """An app sign-in's token pair as answered by ``/api/cross-app/auth``, ``refresh-token`` and
    the ``authorization_code`` grant of ``/oauth/token``; never cached."""
    now = utcnow()
    body = AppTokenPair(
        access_token=issued.access_token,
        expires_in=int((issued.access_expires_at - now).total_seconds()),
        refresh_token=issued.refresh_token,
        refresh_expires_in=int((issued.refresh_expires_at - now).total_seconds()),
        permissions=issued.permissions,
        app_id=issued.app_id,
    )
    return JSONResponse(body.model_dump(), headers=NO_STORE)


def policy_of(settings: Settings) -> service.AppTokenPolicy:
    return service.AppTokenPolicy.from_settings(settings)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def form_fields(body: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise MalformedRequest("the form body is not valid UTF-8 form encoding") from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key in fields:
            raise MalformedRequest(f"the parameter {key[:40]!r} is repeated")
        fields[key] = value
    return fields


async def body_fields(request: Request) -> dict[str, str]:
    """A flat body of strings, JSON (default) or form-encoded, read without a model: the
    introspection endpoint is hot."""
    body = await request_body(request)
    if len(body) > MAX_FORM_BYTES:
        raise MalformedRequest("the body is too large")
    if media_type(request) == FORM:
        return form_fields(body)
    try:
        parsed = json.loads(body)
    except ValueError:
        raise MalformedRequest("the body is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise MalformedRequest("the body must be a JSON object")
    return {k: v for k, v in parsed.items() if isinstance(v, str)}


def basic_credentials(request: Request) -> service.ClientCredentials | None:
    """RFC 6749 §2.3.1: ``Basic base64(urlencode(id):urlencode(secret))``; None without one."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient("the Basic credentials are not valid base64 of id:secret") from None
    app_id, colon, secret = decoded.partition(":")
    if not colon or not app_id:
        raise InvalidClient("the Basic credentials are not id:secret")
    return service.ClientCredentials(unquote_plus(app_id), unquote_plus(secret))


def client_credentials(
    request: Request, app_id: str | None, client_id: str | None, secret: str | None
) -> service.ClientCredentials | None:
    """The credentials of the calling app: Basic, or the body's fields (not both)."""
    if app_id and client_id and app_id != client_id:
        raise AmbiguousClientAuthentication("app_id and client_id differ")
    body_id = app_id or client_id
    basic = basic_credentials(request)
    if basic is not None:
        if secret is not None or (body_id and body_id != basic.app_id):
            raise AmbiguousClientAuthentication(
                "send the client credentials either as HTTP Basic or in the body, not both"
            )
        return basic
    if body_id and secret is not None:
        return service.ClientCredentials(body_id, secret)
    return None
