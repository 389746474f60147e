"""``POST /auth/v4/accesstoken``: DHL eCommerce Americas Authentication v4 (providers.md §7).

As DHL documents it, ``client_id``, ``client_secret`` and ``grant_type=client_credentials`` are
sent as form parameters (``application/x-www-form-urlencoded``); the emulator accepts exactly
that. [unconfirmed] Whether the real service also takes the client credentials from an
``Authorization: Basic`` header (some public clients send one) is not documented, so the
emulator ignores that header: a client that passes here passes there.

Success: 200 ``{"access_token": "<28 characters>", "client_id": "...", "token_type": "Bearer",
"expires_in": <ttl>}`` - the field list and order of DHL's published example response
(providers.md marks it [unconfirmed]); ``ttl`` is ``access_token_ttl``, default 3600 (DHL: "This
limit is currently set to 60 minutes"). There is no refresh token.

Errors (DHL's shape, see ``errors``): 401 ``Invalid credentials`` for an unknown client or a
wrong secret (observed); 400 with ``invalidParams`` naming each missing field, or
``grant_type`` when it is not ``client_credentials`` [unconfirmed code and wording].
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from sellerhub_emulators.common.tokens import TokenKind
from sellerhub_emulators.dhl import constants as c
from sellerhub_emulators.dhl import errors as e
from sellerhub_emulators.dhl.state import DhlEmulator

REQUIRED = ("grant_type", "client_id", "client_secret")
FORM_MEDIA_TYPES = ("", "application/x-www-form-urlencoded")
MISSING_REASON = "Required parameter is missing"
UNSUPPORTED_GRANT_REASON = "Unsupported grant type; only client_credentials is supported"


def parse_form(raw: bytes, content_type: str) -> dict[str, str]:
    """Form fields (first value of a repeated one); nothing when the body is not a form."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in FORM_MEDIA_TYPES:
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    fields: dict[str, str] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        fields.setdefault(key, value)
    return fields


def add_token_routes(router: APIRouter, emulator: DhlEmulator) -> None:
    @router.post(c.TOKEN_PATH)
    async def access_token(request: Request) -> Response:
        """Exchange client credentials for an access token."""
        blocked = await emulator.enter(c.ENDPOINT_TOKEN)
        if blocked is not None:
            return blocked
        params = parse_form(await request.body(), request.headers.get("content-type", ""))
        missing = [name for name in REQUIRED if not params.get(name)]
        if missing:
            return e.invalid_parameters(
                [{"name": name, "reason": MISSING_REASON} for name in missing],
                headers=e.TOKEN_HEADERS,
            )
        if params["grant_type"] != c.GRANT_CLIENT_CREDENTIALS:
            return e.invalid_parameters(
                [{"name": "grant_type", "reason": UNSUPPORTED_GRANT_REASON}],
                headers=e.TOKEN_HEADERS,
            )
        client_id = params["client_id"]
        if not emulator.check_secret(client_id, params["client_secret"]):
            return e.dhl_error(401, e.INVALID_CREDENTIALS, headers=e.TOKEN_HEADERS)
        ttl = emulator.config.access_token_ttl
        record = emulator.tokens.issue(
            TokenKind.ACCESS,
            prefix="",
            client_id=client_id,
            scopes=(),
            subject=None,
            ttl_seconds=ttl,
        )
        body = {
            "access_token": record.value,
            "client_id": client_id,
            "token_type": c.TOKEN_TYPE,
            "expires_in": ttl,
        }
        return JSONResponse(body, headers=e.TOKEN_HEADERS)
