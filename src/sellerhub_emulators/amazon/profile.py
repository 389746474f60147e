"""``GET /user/profile``: the LWA customer profile (providers.md §2).

The access token may come as ``Authorization: Bearer``, header ``x-amz-access-token`` or query
``access_token`` (checked in that order). Scope ``profile`` gives ``user_id``, ``name``,
``email``; ``profile:user_id`` gives ``user_id`` only; ``postal_code`` adds ``postal_code``.
An unknown, expired or revoked token answers 401 ``invalid_token``; a token without a profile
scope (e.g. grantless) answers 403 ``insufficient_scope``.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from sellerhub_emulators.amazon import constants as c
from sellerhub_emulators.amazon import errors as e
from sellerhub_emulators.amazon.state import AmazonEmulator
from sellerhub_emulators.common.httputil import bearer_token
from sellerhub_emulators.common.tokens import TokenKind


def access_token_of(request: Request) -> str | None:
    return (
        bearer_token(request.headers.get("authorization"))
        or request.headers.get("x-amz-access-token")
        or request.query_params.get("access_token")
        or None
    )


def profile_fields(scopes: tuple[str, ...], subject: Mapping[str, str]) -> dict[str, str] | None:
    """The profile the scopes grant; None when they grant none of it."""
    granted = set(scopes)
    if not granted & {c.SCOPE_PROFILE, c.SCOPE_USER_ID, c.SCOPE_POSTAL_CODE}:
        return None
    body = {"user_id": subject.get("user_id", c.DEFAULT_USER_ID)}
    if c.SCOPE_PROFILE in granted:
        body["name"] = subject.get("name", c.DEFAULT_NAME)
        body["email"] = subject.get("email", c.DEFAULT_EMAIL)
    if c.SCOPE_POSTAL_CODE in granted:
        body["postal_code"] = subject.get("postal_code", c.DEFAULT_POSTAL_CODE)
    return body


def add_profile_routes(router: APIRouter, emulator: AmazonEmulator) -> None:
    @router.get(c.PROFILE_PATH)
    async def profile(request: Request) -> Response:
        """The customer profile of the identity that consented."""
        blocked = await emulator.enter(c.ENDPOINT_PROFILE)
        if blocked is not None:
            return blocked
        token = access_token_of(request)
        if token is None:
            return e.lwa_error(400, "invalid_request", e.missing("access_token"))
        found = emulator.tokens.lookup(token, TokenKind.ACCESS)
        if not found.valid or found.record is None:
            return e.invalid_token()
        record = found.record
        body = profile_fields(record.scopes, record.subject) if record.subject is not None else None
        if body is None:
            return e.profile_fault(403)
        return JSONResponse(body)
