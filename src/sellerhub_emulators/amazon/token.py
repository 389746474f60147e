"""``POST /auth/o2/token``: the LWA token endpoint (providers.md §1.2, §2).

Grants: ``authorization_code`` (``code``, ``redirect_uri``, ``client_id`` and either the client
secret in the body, ``Authorization: Basic base64(client_id:client_secret)``, or for a PKCE
public client only ``code_verifier``; ``redirect_uri`` may be left out only when the
authorization request had none, as a Seller Central consent may: RFC 6749 §4.1.3),
``refresh_token`` (the response echoes the submitted refresh token, it does not rotate) and
``client_credentials`` (grantless; the response carries ``scope`` and no refresh token). A code
exchanged without a client secret gets no refresh token (providers.md §2). Bodies are
form-encoded; a JSON object body is accepted too, as LWA does.

Success: 200 ``{"access_token":"Atza|...","token_type":"bearer","expires_in":<ttl>,
"refresh_token":"Atzr|..."}``; every answer carries ``Cache-Control: no-store`` and
``Pragma: no-cache``. Errors: ``{"error","error_description"}`` with RFC 6749 codes, 400 except
``invalid_client`` (401).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from sellerhub_emulators.amazon import constants as c
from sellerhub_emulators.amazon import errors as e
from sellerhub_emulators.amazon.state import AmazonEmulator
from sellerhub_emulators.common.codes import verify_pkce
from sellerhub_emulators.common.httputil import basic_credentials, read_params
from sellerhub_emulators.common.tokens import TokenKind, TokenRecord


class TokenError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def response(self) -> JSONResponse:
        return e.token_error(self.status, self.error, self.description)


def _bad_request(error: str, description: str) -> TokenError:
    return TokenError(400, error, description)


def _client_failed() -> TokenError:
    return TokenError(401, "invalid_client", e.CLIENT_AUTH_FAILED)


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    confidential: bool  # authenticated with its secret (body or Basic)


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise _bad_request("invalid_request", e.missing(name))
    return value


def authenticate_client(
    emulator: AmazonEmulator, params: Mapping[str, str], authorization: str | None
) -> Client:
    """RFC 6749 §2.3.1: HTTP Basic or body credentials; a client without a secret is public."""
    if authorization and authorization.split(" ", 1)[0].lower() == "basic":
        credentials = basic_credentials(authorization)
        if credentials is None:
            raise _client_failed()
        client_id, secret = credentials
        if params.get("client_id", client_id) != client_id:
            raise _client_failed()
    else:
        client_id = _required(params, "client_id")
        secret = params.get("client_secret", "")
    if not emulator.is_client(client_id):
        raise _client_failed()
    if not secret:
        return Client(client_id, confidential=False)
    if not emulator.check_secret(client_id, secret):
        raise _client_failed()
    return Client(client_id, confidential=True)


def _token_body(
    access: TokenRecord, ttl: int, *, refresh_token: str | None, scope: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"access_token": access.value, "token_type": "bearer", "expires_in": ttl}
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    if scope is not None:
        body["scope"] = scope
    return body


def _issue_access(
    emulator: AmazonEmulator,
    client_id: str,
    scopes: tuple[str, ...],
    subject: Mapping[str, str] | None,
) -> tuple[TokenRecord, int]:
    ttl = emulator.config.access_token_ttl
    record = emulator.tokens.issue(
        TokenKind.ACCESS,
        prefix=c.ACCESS_TOKEN_PREFIX,
        client_id=client_id,
        scopes=scopes,
        subject=subject,
        ttl_seconds=ttl,
    )
    return record, ttl


def authorization_code_grant(
    emulator: AmazonEmulator, params: Mapping[str, str], authorization: str | None
) -> dict[str, Any]:
    code_value = _required(params, "code")
    redirect_uri = params.get("redirect_uri", "")
    client = authenticate_client(emulator, params, authorization)
    verifier = params.get("code_verifier", "")
    if not client.confidential and not verifier:
        raise _client_failed()  # neither a secret nor PKCE: the client is not authenticated
    code = emulator.codes.redeem(code_value)  # single use: gone even if a check below fails
    if code is None or code.client_id != client.client_id:
        raise _bad_request("invalid_grant", e.INVALID_CODE)
    if redirect_uri:
        if redirect_uri != code.redirect_uri:
            raise _bad_request("invalid_grant", e.INVALID_REDIRECT_URI)
    elif code.redirect_uri_requested:
        # RFC 6749 §4.1.3: required only if the authorization request carried one (an SP-API
        # consent may omit it: Amazon's example then exchanges the code without one).
        raise _bad_request("invalid_request", e.missing("redirect_uri"))
    if code.code_challenge is not None:
        method = code.code_challenge_method or "plain"
        if not verifier or not verify_pkce(method, code.code_challenge, verifier):
            raise _bad_request("invalid_grant", e.INVALID_CODE_VERIFIER)
    elif not client.confidential:
        raise _bad_request("invalid_grant", e.INVALID_CODE_VERIFIER)
    access, ttl = _issue_access(emulator, client.client_id, code.scopes, code.subject)
    refresh_token: str | None = None
    if client.confidential:
        refresh = emulator.tokens.issue(
            TokenKind.REFRESH,
            prefix=c.REFRESH_TOKEN_PREFIX,
            client_id=client.client_id,
            scopes=code.scopes,
            subject=code.subject,
            ttl_seconds=None,
        )
        refresh_token = refresh.value
    return _token_body(access, ttl, refresh_token=refresh_token)


def refresh_token_grant(
    emulator: AmazonEmulator, params: Mapping[str, str], authorization: str | None
) -> dict[str, Any]:
    refresh_value = _required(params, "refresh_token")
    client = authenticate_client(emulator, params, authorization)
    if not client.confidential:
        raise _bad_request("invalid_request", e.missing("client_secret"))
    found = emulator.tokens.lookup(refresh_value, TokenKind.REFRESH)
    if not found.valid or found.record is None or found.record.client_id != client.client_id:
        raise _bad_request("invalid_grant", e.REFRESH_GRANT_REJECTED)
    record = found.record
    access, ttl = _issue_access(emulator, client.client_id, record.scopes, record.subject)
    return _token_body(access, ttl, refresh_token=refresh_value)


def client_credentials_grant(
    emulator: AmazonEmulator, params: Mapping[str, str], authorization: str | None
) -> dict[str, Any]:
    scope = _required(params, "scope")
    client = authenticate_client(emulator, params, authorization)
    if not client.confidential:
        raise _bad_request("invalid_request", e.missing("client_secret"))
    scopes = tuple(dict.fromkeys(scope.split()))
    unknown = [s for s in scopes if s not in c.GRANTLESS_SCOPES]
    if not scopes or unknown:
        raise _bad_request("invalid_scope", f"An unknown scope was requested: {', '.join(unknown)}")
    access, ttl = _issue_access(emulator, client.client_id, scopes, None)
    return _token_body(access, ttl, refresh_token=None, scope=" ".join(scopes))


GRANTS = {
    "authorization_code": authorization_code_grant,
    "refresh_token": refresh_token_grant,
    "client_credentials": client_credentials_grant,
}


def add_token_routes(router: APIRouter, emulator: AmazonEmulator) -> None:
    @router.post(c.TOKEN_PATH)
    async def token(request: Request) -> Response:
        """Exchange a code, refresh an access token, or issue a grantless token."""
        blocked = await emulator.enter(c.ENDPOINT_TOKEN)
        if blocked is not None:
            return blocked
        params = await read_params(request)
        try:
            if params is None:
                raise _bad_request("invalid_request", "The request body could not be parsed")
            grant_type = _required(params, "grant_type")
            grant = GRANTS.get(grant_type)
            if grant is None:
                raise _bad_request("unsupported_grant_type", e.UNSUPPORTED_GRANT)
            body = grant(emulator, params, request.headers.get("authorization"))
        except TokenError as exc:
            return exc.response()
        return JSONResponse(body, headers=e.TOKEN_HEADERS)
