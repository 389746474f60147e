"""``POST /oauth/token``: FedEx API Authorization (providers.md §6).

The body is ``application/x-www-form-urlencoded`` (a JSON body is refused like a missing field):
``grant_type`` plus ``client_id`` (API key) and ``client_secret`` (secret key); the grants
``csp_credentials`` and ``client_pc_credentials`` also need ``child_Key`` and ``child_secret``
(customer key and password). There is no refresh token.

Success: 200 ``{"access_token":"eyJ...","token_type":"bearer","expires_in":<ttl>,"scope":"CXS"}``
where ``ttl`` is ``access_token_ttl`` (default 3600, "standard one hour"; the real service is
observed answering 3599). The access token is JWT-shaped (three base64url segments, header
``{"alg":"RS256","typ":"JWT"}``) like FedEx's, but its claims (``client_id``, ``scope``,
``grant_type``, ``jti``) are the emulator's own and its signature is random: clients must treat
it as opaque.

Errors use FedEx's shape (see ``errors``): 401 ``NOT.AUTHORIZED.ERROR`` for an unknown API key,
a wrong secret key or wrong child credentials (documented); 400 ``BAD.REQUEST.ERROR`` for a
missing or repeated field, an unsupported ``grant_type`` or an explicit ``scope`` (FedEx is
observed answering 400 for bad parameters; the exact wording for each case is unconfirmed).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from sellerhub_emulators.common.tokens import TokenKind
from sellerhub_emulators.fedex import constants as c
from sellerhub_emulators.fedex import errors as e
from sellerhub_emulators.fedex.state import FedexEmulator

GRANTS = (c.GRANT_CLIENT_CREDENTIALS, c.GRANT_CSP_CREDENTIALS, c.GRANT_CLIENT_PC_CREDENTIALS)
FORM_MEDIA_TYPES = ("", "application/x-www-form-urlencoded")
_JWT_HEADER = {"alg": "RS256", "typ": "JWT"}


class TokenError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> JSONResponse:
        return e.token_error(self.status, self.code, self.message)


def _missing() -> TokenError:
    return TokenError(400, e.BAD_REQUEST, e.MISSING_PARAMETERS_MESSAGE)


def _not_authorized() -> TokenError:
    return TokenError(401, e.NOT_AUTHORIZED, e.INVALID_CLIENT_MESSAGE)


def parse_form(raw: bytes, content_type: str) -> dict[str, str] | None:
    """The fields of a form body; None when it is not a form, not UTF-8 or repeats a field."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in FORM_MEDIA_TYPES:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    fields: dict[str, str] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        if key in fields:
            return None
        fields[key] = value
    return fields


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwt_prefix(claims: Mapping[str, Any]) -> str:
    """``header.payload.`` of a JWT; the token store appends a random "signature"."""
    header = _b64url(json.dumps(_JWT_HEADER, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(dict(claims), separators=(",", ":")).encode())
    return f"{header}.{payload}."


def grant_token(emulator: FedexEmulator, params: Mapping[str, str]) -> dict[str, Any]:
    grant_type = params.get("grant_type", "")
    if not grant_type:
        raise _missing()
    if grant_type not in GRANTS:
        raise TokenError(400, e.BAD_REQUEST, e.UNSUPPORTED_GRANT_MESSAGE)
    required = ["client_id", "client_secret"]
    if grant_type in c.CHILD_GRANTS:
        required += [c.CHILD_KEY_FIELD, c.CHILD_SECRET_FIELD]
    if any(not params.get(name) for name in required):
        raise _missing()
    client_id = params["client_id"]
    if not emulator.check_secret(client_id, params["client_secret"]):
        raise _not_authorized()
    child_key = params.get(c.CHILD_KEY_FIELD, "") if grant_type in c.CHILD_GRANTS else ""
    if child_key and not emulator.check_child(child_key, params[c.CHILD_SECRET_FIELD]):
        raise _not_authorized()
    if params.get("scope"):
        raise TokenError(400, e.BAD_REQUEST, e.SCOPE_REFUSED_MESSAGE)
    ttl = emulator.config.access_token_ttl
    claims = {
        "client_id": client_id,
        "scope": [c.GRANTED_SCOPE],
        "grant_type": grant_type,
        "jti": str(uuid.uuid4()),
    }
    extra = {"grant_type": grant_type}
    if child_key:
        extra["child_key"] = child_key
    record = emulator.tokens.issue(
        TokenKind.ACCESS,
        prefix=jwt_prefix(claims),
        client_id=client_id,
        scopes=(c.GRANTED_SCOPE,),
        subject=None,
        ttl_seconds=ttl,
        extra=extra,
    )
    return {
        "access_token": record.value,
        "token_type": c.TOKEN_TYPE,
        "expires_in": ttl,
        "scope": c.GRANTED_SCOPE,
    }


def add_token_routes(router: APIRouter, emulator: FedexEmulator) -> None:
    @router.post(c.TOKEN_PATH)
    async def token(request: Request) -> Response:
        """Issue an OAuth access token for an API project (client credentials)."""
        blocked = await emulator.enter(c.ENDPOINT_TOKEN)
        if blocked is not None:
            return blocked
        params = parse_form(await request.body(), request.headers.get("content-type", ""))
        try:
            if params is None:
                raise _missing()
            body = grant_token(emulator, params)
        except TokenError as exc:
            return exc.response()
        return JSONResponse(body, headers=e.TOKEN_HEADERS)
