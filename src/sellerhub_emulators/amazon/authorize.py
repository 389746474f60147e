"""``GET/POST /ap/oa``: the LWA authorization request and the consent decision
(providers.md §2; RFC 6749 §4.1.1-§4.1.2.1 for the error rules).

Errors that make the redirect URI untrustworthy (missing or unknown ``client_id``, missing or
malformed ``redirect_uri``, a ``response_type`` other than ``code``) show an HTML error page
with 400 and never redirect. Once the client and redirect URI are known, errors go back to the
client as ``error`` / ``error_description`` / ``state`` query parameters: ``invalid_scope``
for an unsupported scope, ``invalid_request`` for bad PKCE or ``scope_data``,
``access_denied`` when the seller denies. Approval redirects with ``code``, ``scope``, ``state``.

The emulator has no list of registered redirect URIs per client (real LWA requires the URI to be
one of the security profile's "Allowed Return URLs" and HTTPS); it accepts any absolute http(s)
URL so local development can use ``http://127.0.0.1``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from sellerhub_emulators.amazon import constants as c
from sellerhub_emulators.amazon.errors import error_page
from sellerhub_emulators.amazon.pages import consent_page
from sellerhub_emulators.amazon.state import AmazonEmulator
from sellerhub_emulators.common.codes import PKCE_METHODS, is_valid_pkce_value
from sellerhub_emulators.common.httputil import is_absolute_http_url, read_params, with_query

IDENTITY_DEFAULTS = {
    "user_id": c.DEFAULT_USER_ID,
    "name": c.DEFAULT_NAME,
    "email": c.DEFAULT_EMAIL,
    "postal_code": c.DEFAULT_POSTAL_CODE,
}
MAX_IDENTITY_FIELD = 256


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    scope_data: str | None

    def hidden_fields(self) -> dict[str, str | None]:
        return {
            "client_id": self.client_id,
            "scope": " ".join(self.scopes),
            "response_type": "code",
            "redirect_uri": self.redirect_uri,
            "state": self.state,
            "code_challenge": self.code_challenge,
            "code_challenge_method": self.code_challenge_method,
            "scope_data": self.scope_data,
        }


class PageError(Exception):
    """Not redirectable: answer with an HTML error page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RedirectError(Exception):
    """Redirect back to the (validated) redirect URI with ``error`` parameters."""

    def __init__(self, redirect_uri: str, state: str | None, error: str, description: str) -> None:
        super().__init__(description)
        self.redirect_uri = redirect_uri
        self.state = state
        self.error = error
        self.description = description

    def response(self) -> RedirectResponse:
        return error_redirect(self.redirect_uri, self.state, self.error, self.description)


def error_redirect(
    redirect_uri: str, state: str | None, error: str, description: str
) -> RedirectResponse:
    target = with_query(
        redirect_uri, {"error": error, "error_description": description, "state": state}
    )
    return RedirectResponse(target, status_code=302)


def parse_authorization_request(
    emulator: AmazonEmulator, params: Mapping[str, str]
) -> AuthorizationRequest:
    """Validate in the order that keeps redirects safe; raise ``PageError``/``RedirectError``."""
    client_id = params.get("client_id", "")
    if not client_id:
        raise PageError("The request is missing a required parameter : client_id")
    if not emulator.is_client(client_id):
        raise PageError(f"Unknown client_id: {client_id}")
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri:
        raise PageError("The request is missing a required parameter : redirect_uri")
    if not is_absolute_http_url(redirect_uri):
        raise PageError("The redirect_uri must be an absolute http(s) URL without a fragment")
    response_type = params.get("response_type", "")
    if response_type != "code":
        raise PageError(f"Unsupported response_type: {response_type or '(missing)'}")

    state = params.get("state") or None
    scopes = tuple(dict.fromkeys(params.get("scope", "").split()))
    unknown = [s for s in scopes if s not in c.LWA_SCOPES]
    if not scopes or unknown:
        shown = ", ".join(unknown) or "(missing)"
        raise RedirectError(
            redirect_uri, state, "invalid_scope", f"An unknown scope was requested: {shown}"
        )

    challenge = params.get("code_challenge") or None
    method = params.get("code_challenge_method") or None
    if method is not None and challenge is None:
        raise RedirectError(
            redirect_uri, state, "invalid_request", "code_challenge_method without code_challenge"
        )
    if challenge is not None:
        method = method or "plain"  # LWA: "defaults to plain if no other option is present"
        if method not in PKCE_METHODS:
            raise RedirectError(
                redirect_uri, state, "invalid_request", f"Unsupported method {method}"
            )
        if not is_valid_pkce_value(challenge):
            raise RedirectError(redirect_uri, state, "invalid_request", "Invalid code_challenge")

    scope_data = params.get("scope_data") or None
    if scope_data is not None:
        try:
            parsed = json.loads(scope_data)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise RedirectError(
                redirect_uri, state, "invalid_request", "scope_data must be a JSON object"
            )
    return AuthorizationRequest(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scopes=scopes,
        state=state,
        code_challenge=challenge,
        code_challenge_method=method,
        scope_data=scope_data,
    )


def identity_from_form(form: Mapping[str, str]) -> dict[str, str]:
    """The test identity typed on the consent page; blank fields take the defaults."""
    identity: dict[str, str] = {}
    for name, default in IDENTITY_DEFAULTS.items():
        value = form.get(name, "").strip() or default
        if len(value) > MAX_IDENTITY_FIELD or not value.isprintable():
            raise PageError(f"The {name} field must be 1-{MAX_IDENTITY_FIELD} printable characters")
        identity[name] = value
    return identity


def add_authorize_routes(router: APIRouter, emulator: AmazonEmulator) -> None:
    @router.get(c.AUTHORIZE_PATH)
    async def authorize(request: Request) -> Response:
        """Validate the authorization request and show the consent page."""
        blocked = await emulator.enter(c.ENDPOINT_AUTHORIZE)
        if blocked is not None:
            return blocked
        try:
            auth = parse_authorization_request(emulator, request.query_params)
        except PageError as exc:
            return error_page(400, exc.message)
        except RedirectError as exc:
            return exc.response()
        # "oa" resolves against ".../ap/oa" to the same path, wherever the app is mounted.
        return consent_page(
            action="oa",
            client_id=auth.client_id,
            scopes=auth.scopes,
            authorization_fields=auth.hidden_fields(),
        )

    @router.post(c.AUTHORIZE_PATH)
    async def decide(request: Request) -> Response:
        """The consent form: re-validate every field, then redirect with a code or an error."""
        blocked = await emulator.enter(c.ENDPOINT_AUTHORIZE)
        if blocked is not None:
            return blocked
        form = await read_params(request)
        if form is None:
            return error_page(400, "The form could not be read")
        try:
            auth = parse_authorization_request(emulator, form)
            decision = form.get("decision")
            if decision == "deny":
                raise RedirectError(
                    auth.redirect_uri,
                    auth.state,
                    "access_denied",
                    "The user denied the request",
                )
            if decision != "approve":
                raise PageError("The decision must be approve or deny")
            identity = identity_from_form(form)
        except PageError as exc:
            return error_page(400, exc.message)
        except RedirectError as exc:
            return exc.response()
        code = emulator.codes.issue(
            client_id=auth.client_id,
            redirect_uri=auth.redirect_uri,
            scopes=auth.scopes,
            code_challenge=auth.code_challenge,
            code_challenge_method=auth.code_challenge_method,
            subject=identity,
        )
        target = with_query(
            auth.redirect_uri,
            {"code": code.code, "scope": " ".join(auth.scopes), "state": auth.state},
        )
        return RedirectResponse(target, status_code=302)
