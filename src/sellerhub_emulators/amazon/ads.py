"""Amazon Ads API: ``GET /v2/profiles`` (providers.md §3).

The Ads authorization is the LWA one: ``/ap/oa`` with ``scope=advertising::campaign_management``
and the code exchange / refresh at ``/auth/o2/token``. Calls carry ``Authorization: Bearer
<access token>`` and ``Amazon-Advertising-API-ClientId: <the LWA client id>``;
``Amazon-Advertising-API-Scope`` is not needed here (when sent it must be an integer profile id,
as observed in denisneuf/python-amazon-ad-api#155, and is otherwise ignored).

Failures (the status and details are the emulator's choice; the body shape is the observed one):
a missing, unknown, expired or revoked token, a token without the Ads scope, or a ClientId other
than the token's client → 401; a missing ClientId header or a bad filter → 400.

Filters: ``profileTypeFilter`` (comma-separated ``seller,vendor,agency``) and
``validPaymentMethodFilter`` (``true``/``false``) filter the list; ``apiProgram`` and
``accessLevel`` are accepted and do not filter (the token has full access to every profile).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from sellerhub_emulators.amazon import constants as c
from sellerhub_emulators.amazon.ads_model import (
    AUTHENTICATION_FAILED,
    PROFILE_TYPES,
    AdsProfileSpec,
    ads_error,
)
from sellerhub_emulators.amazon.state import AmazonEmulator
from sellerhub_emulators.common.httputil import bearer_token
from sellerhub_emulators.common.tokens import TokenKind

SCOPE_HEADER = "Amazon-Advertising-API-Scope"


def _filter(profiles: list[AdsProfileSpec], request: Request) -> list[AdsProfileSpec] | Response:
    params = request.query_params
    types_raw = params.get("profileTypeFilter")
    if types_raw is not None:
        types = {t.strip() for t in types_raw.split(",") if t.strip()}
        unknown = sorted(types - set(PROFILE_TYPES))
        if not types or unknown:
            return ads_error(400, f"Invalid profileTypeFilter: {', '.join(unknown) or '(empty)'}")
        profiles = [p for p in profiles if p.account_info.type in types]
    payment_raw = params.get("validPaymentMethodFilter")
    if payment_raw is not None:
        if payment_raw not in ("true", "false"):
            return ads_error(400, "Invalid validPaymentMethodFilter: use true or false")
        wanted = payment_raw == "true"
        profiles = [p for p in profiles if p.account_info.valid_payment_method is wanted]
    return profiles


def add_ads_routes(router: APIRouter, emulator: AmazonEmulator) -> None:
    @router.get(c.ADS_PROFILES_PATH)
    async def list_profiles(request: Request) -> Response:
        """The advertising profiles the access token's user can manage."""
        blocked = await emulator.enter(c.ENDPOINT_ADS_PROFILES)
        if blocked is not None:
            return blocked
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            return ads_error(401, AUTHENTICATION_FAILED)
        found = emulator.tokens.lookup(token, TokenKind.ACCESS)
        record = found.record
        if not found.valid or record is None:
            return ads_error(401, AUTHENTICATION_FAILED)
        client_id = request.headers.get(c.ADS_CLIENT_ID_HEADER, "").strip()
        if not client_id:
            return ads_error(400, f"Missing required header: {c.ADS_CLIENT_ID_HEADER}")
        if client_id != record.client_id:
            return ads_error(401, f"{c.ADS_CLIENT_ID_HEADER} does not match the access token")
        if not c.ADS_SCOPES & set(record.scopes):
            return ads_error(401, f"The access token was not granted {c.SCOPE_ADS}")
        scope = request.headers.get(SCOPE_HEADER)
        if scope is not None and not scope.strip().isdigit():
            return ads_error(400, f"Invalid {SCOPE_HEADER}: it must be a profile id")
        selected = _filter(emulator.ads_profiles(), request)
        if isinstance(selected, Response):
            return selected
        body: list[dict[str, Any]] = [profile.wire() for profile in selected]
        return JSONResponse(body)
