"""The authorization-code grant (providers.md §4.1), served per shop:

- ``GET  /{shop}/admin/oauth/authorize?client_id&scope&redirect_uri&state&grant_options[]`` →
  consent page (two buttons ``decision=approve|deny``; the form posts back to the same path);
  approve → 302 ``redirect_uri?code&hmac&host&shop&state&timestamp``; deny → 302
  ``redirect_uri?error=access_denied&shop&state`` ([unconfirmed]: Shopify has no documented
  deny redirect).
- ``POST /{shop}/admin/oauth/access_token`` (JSON or form): code exchange (``expiring=1`` for an
  expiring offline token with a refresh token; ``grant_options[]=per-user`` at authorization
  gives an online token) and ``grant_type=refresh_token``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from html import escape
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from sellerhub_emulators.common.httputil import is_absolute_http_url, read_params, with_query
from sellerhub_emulators.common.pages import hidden_inputs, html_page
from sellerhub_emulators.common.tokens import TokenKind, TokenRecord
from sellerhub_emulators.shopify import constants as c
from sellerhub_emulators.shopify import errors as e
from sellerhub_emulators.shopify.signing import host_param, normalize_shop, query_hmac
from sellerhub_emulators.shopify.state import ShopifyEmulator

GRANT_OPTIONS = "grant_options[]"


class PageError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def parse_scopes(raw: str) -> tuple[str, ...]:
    scopes = tuple(s.strip() for s in raw.split(",") if s.strip())
    bad = [s for s in scopes if not c.SCOPE_RE.fullmatch(s)]
    if bad:
        raise PageError(400, "invalid_scope", f"The access scope is invalid: {', '.join(bad)}")
    return scopes


def parse_authorization(
    emulator: ShopifyEmulator, params: Mapping[str, str]
) -> dict[str, str | None]:
    client_id = params.get("client_id", "")
    if not client_id:
        raise PageError(400, "invalid_request", "The client_id parameter is missing")
    if emulator.secret_of(client_id) is None:
        raise PageError(400, "invalid_request", "The client_id is invalid")
    redirect_uri = params.get("redirect_uri", "")
    if not is_absolute_http_url(redirect_uri):
        raise PageError(400, "invalid_request", "The redirect_uri is missing or not a URL")
    parse_scopes(params.get("scope", ""))
    grant = params.get(GRANT_OPTIONS, "")
    if grant not in ("", "per-user"):
        raise PageError(400, "invalid_request", "grant_options[] must be per-user or empty")
    return {
        "client_id": client_id,
        "scope": params.get("scope", ""),
        "redirect_uri": redirect_uri,
        "state": params.get("state") or None,
        GRANT_OPTIONS: grant or None,
    }


def consent_page(shop: str, action: str, fields: dict[str, str | None]) -> Response:
    scopes = [s for s in (fields["scope"] or "").split(",") if s]
    wanted = "".join(f"<li><code>{escape(s)}</code></li>" for s in scopes) or "<li>(none)</li>"
    mode = "online (per-user)" if fields[GRANT_OPTIONS] == "per-user" else "offline"
    body = f"""<h1>Install app</h1>
<p>The app <code>{escape(fields["client_id"] or "")}</code> wants to access
<code>{escape(shop)}</code> ({escape(mode)} access):</p>
<ul>{wanted}</ul>
<form method="post" action="{escape(action)}">
{hidden_inputs(fields)}
<button type="submit" name="decision" value="approve">Install app</button>
<button type="submit" name="decision" value="deny">Cancel</button>
</form>"""
    return html_page("Shopify - Install app", body, banner=e.BANNER)


def approve(emulator: ShopifyEmulator, shop: str, fields: dict[str, str | None]) -> Response:
    client_id = fields["client_id"] or ""
    redirect_uri = fields["redirect_uri"] or ""
    code = emulator.codes.issue(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scopes=parse_scopes(fields["scope"] or ""),
        code_challenge=None,
        code_challenge_method=None,
        subject={"shop": shop, "access_mode": "online" if fields[GRANT_OPTIONS] else "offline"},
    )
    params = {
        "code": code.code,
        "host": host_param(shop),
        "shop": shop,
        "timestamp": str(int(time.time())),
    }
    if fields["state"] is not None:
        params["state"] = fields["state"]
    params["hmac"] = query_hmac(params, emulator.secret_of(client_id) or "")
    return RedirectResponse(with_query(redirect_uri, params), status_code=302)


async def read_token_params(request: Request) -> dict[str, str] | None:
    """JSON (scalars become strings, so ``"expiring": 1`` works) or form parameters."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        return await read_params(request)
    try:
        data: Any = json.loads(await request.body() or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    params: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, bool):
            params[str(key)] = "1" if value else "0"
        elif isinstance(value, str | int):
            params[str(key)] = str(value)
        elif value is not None:
            return None
    return params


def _issue(
    emulator: ShopifyEmulator,
    *,
    shop: str,
    client_id: str,
    scopes: tuple[str, ...],
    mode: str,
    family: str | None = None,
) -> dict[str, Any]:
    ttl = emulator.config.access_token_ttl
    prefix = c.ONLINE_TOKEN_PREFIX if mode == "online" else c.OFFLINE_TOKEN_PREFIX
    access = emulator.tokens.issue(
        TokenKind.ACCESS,
        prefix=prefix,
        client_id=client_id,
        scopes=scopes,
        subject={"shop": shop},
        ttl_seconds=None if mode == "offline" else ttl,
        extra={"shop": shop, "mode": mode},
    )
    body: dict[str, Any] = {"access_token": access.value, "scope": ",".join(scopes)}
    if mode == "online":
        body["expires_in"] = ttl
        body["associated_user_scope"] = ",".join(scopes)
        body["associated_user"] = dict(c.ONLINE_ASSOCIATED_USER)
    elif mode == "expiring":
        family = family or uuid.uuid4().hex
        refresh = emulator.tokens.issue(
            TokenKind.REFRESH,
            prefix=c.REFRESH_TOKEN_PREFIX,
            client_id=client_id,
            scopes=scopes,
            subject={"shop": shop},
            ttl_seconds=c.REFRESH_TOKEN_TTL,
            extra={"shop": shop, "family": family},
        )
        emulator.add_to_family(family, refresh.value)
        body["expires_in"] = ttl
        body["refresh_token"] = refresh.value
        body["refresh_token_expires_in"] = c.REFRESH_TOKEN_TTL
    return body


def _require(params: Mapping[str, str], *names: str) -> None:
    for name in names:
        if not params.get(name):
            raise OAuthError(400, "invalid_request", f"Missing required parameter: {name}")


def exchange(emulator: ShopifyEmulator, shop: str, params: Mapping[str, str]) -> dict[str, Any]:
    grant_type = params.get("grant_type", "authorization_code")
    _require(params, "client_id", "client_secret")
    client_id = params["client_id"]
    if not emulator.check_secret(client_id, params["client_secret"]):
        raise OAuthError(401, "invalid_client", e.CLIENT_INVALID)
    if grant_type == "authorization_code":
        _require(params, "code")
        grant = emulator.codes.redeem(params["code"])
        if grant is None or grant.client_id != client_id or grant.subject.get("shop") != shop:
            raise OAuthError(400, "invalid_request", e.CODE_NOT_FOUND)
        if grant.subject.get("access_mode") == "online":
            mode = "online"
        else:
            mode = "expiring" if params.get("expiring") == "1" else "offline"
        return _issue(emulator, shop=shop, client_id=client_id, scopes=grant.scopes, mode=mode)
    if grant_type == "refresh_token":
        _require(params, "refresh_token")
        found = emulator.tokens.lookup(params["refresh_token"], TokenKind.REFRESH)
        record: TokenRecord | None = found.record
        if (
            not found.valid
            or record is None
            or record.client_id != client_id
            or record.extra.get("shop") != shop
        ):
            raise OAuthError(400, "invalid_grant", "The refresh token is invalid or expired")
        emulator.rotate_refresh(record)
        return _issue(
            emulator,
            shop=shop,
            client_id=client_id,
            scopes=record.scopes,
            mode="expiring",
            family=record.extra.get("family"),
        )
    raise OAuthError(400, "unsupported_grant_type", f"Unsupported grant type: {grant_type}")


def add_oauth_routes(router: APIRouter, emulator: ShopifyEmulator) -> None:
    @router.get("/{shop}" + c.AUTHORIZE_PATH)
    async def authorize(shop: str, request: Request) -> Response:
        """Validate the authorization request and show the install (consent) page."""
        blocked = await emulator.enter(c.ENDPOINT_AUTHORIZE)
        if blocked is not None:
            return blocked
        domain = normalize_shop(shop)
        if domain is None:
            return e.error_page(404, "invalid_request", "There is no shop at this address")
        params = {k: v for k, v in parse_qsl(request.url.query, keep_blank_values=True)}
        try:
            fields = parse_authorization(emulator, params)
        except PageError as exc:
            return e.error_page(exc.status, exc.error, exc.message)
        return consent_page(domain, "authorize", fields)

    @router.post("/{shop}" + c.AUTHORIZE_PATH)
    async def decide(shop: str, request: Request) -> Response:
        """The install decision: re-validate, then redirect with a signed code or an error."""
        blocked = await emulator.enter(c.ENDPOINT_AUTHORIZE)
        if blocked is not None:
            return blocked
        domain = normalize_shop(shop)
        if domain is None:
            return e.error_page(404, "invalid_request", "There is no shop at this address")
        form = await read_params(request)
        if form is None:
            return e.error_page(400, "invalid_request", "The form could not be read")
        try:
            fields = parse_authorization(emulator, form)
        except PageError as exc:
            return e.error_page(exc.status, exc.error, exc.message)
        decision = form.get("decision")
        if decision == "deny":
            target = with_query(
                fields["redirect_uri"] or "",
                {"error": "access_denied", "shop": domain, "state": fields["state"]},
            )
            return RedirectResponse(target, status_code=302)
        if decision != "approve":
            return e.error_page(400, "invalid_request", "The decision must be approve or deny")
        return approve(emulator, domain, fields)

    @router.post("/{shop}" + c.ACCESS_TOKEN_PATH)
    async def access_token(shop: str, request: Request) -> Response:
        """Exchange an authorization code, or a refresh token, for an access token."""
        blocked = await emulator.enter(c.ENDPOINT_TOKEN)
        if blocked is not None:
            return blocked
        domain = normalize_shop(shop)
        if domain is None:
            return e.not_found()
        params = await read_token_params(request)
        try:
            if params is None:
                raise OAuthError(400, "invalid_request", "The request body could not be read")
            body = exchange(emulator, domain, params)
        except OAuthError as exc:
            return e.oauth_error(exc.status, exc.error, exc.description)
        return JSONResponse(body, headers=e.TOKEN_HEADERS)
