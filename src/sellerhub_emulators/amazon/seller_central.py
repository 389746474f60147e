"""``GET/POST /apps/authorize/consent``: Seller Central's website authorization workflow
(providers.md §1.1; developer-docs "Authorization Errors").

Request: ``application_id`` (required), ``state``, ``redirect_uri`` (optional: the application's
first registered URI when absent), ``version=beta`` (required while the application is Draft).

Refusals are pages shown to the seller, never redirects: an unknown or missing
``application_id`` (400, no documented code), a Draft application without ``version=beta``
(**MD1000**), a ``redirect_uri`` that is not one of the application's (**MD5101**) or that has a
fragment (**MD5110**). Checks run in that order.

The page is a form with editable test fields (``selling_partner_id``, ``marketplace_ids``) and
the two buttons of api-contract.md §4. Approve redirects (302) to
``redirect_uri?state=...&selling_partner_id=...&spapi_oauth_code=...``; the code is an LWA
authorization code for the application's LWA client, single-use and valid 5 minutes, exchanged at
``/auth/o2/token`` with ``grant_type=authorization_code`` (providers.md §1.2): with the
request's ``redirect_uri``, or with none when the request had none (RFC 6749 §4.1.3; the page's
form then carries none either). Deny redirects with ``error=access_denied`` (+
``error_description``, ``state``) as api-contract.md §4 prescribes; what Seller Central does on
cancel is not documented. No ``mws_auth_token`` is sent (only hybrid MWS apps get one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from sellerhub_emulators.amazon import constants as c
from sellerhub_emulators.amazon.authorize import error_redirect
from sellerhub_emulators.amazon.marketplaces import DEFAULT_MARKETPLACE_IDS, parse_marketplace_ids
from sellerhub_emulators.amazon.pages import spapi_consent_page
from sellerhub_emulators.amazon.spapi_errors import consent_error_page
from sellerhub_emulators.amazon.state import SELLING_PARTNER_ID, AmazonEmulator, SpApiApp
from sellerhub_emulators.common.httputil import read_params, with_query

MAX_STATE = 2048


class ConsentError(Exception):
    """Shown to the seller as a page (never redirected)."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def response(self) -> Response:
        return consent_error_page(400, self.message, code=self.code)


@dataclass(frozen=True, slots=True)
class ConsentRequest:
    app: SpApiApp
    redirect_uri: str  # where the answer goes: the given one, else the first registered
    redirect_uri_requested: bool  # whether the request named it (then the exchange repeats it)
    state: str | None
    version: str | None

    def hidden_fields(self) -> dict[str, str | None]:
        return {
            "application_id": self.app.application_id,
            "state": self.state,
            "redirect_uri": self.redirect_uri if self.redirect_uri_requested else None,
            "version": self.version,
        }


def _has_fragment(uri: str) -> bool:
    try:
        return "#" in uri or bool(urlsplit(uri).fragment)
    except ValueError:
        return False


def parse_consent_request(emulator: AmazonEmulator, params: Mapping[str, str]) -> ConsentRequest:
    application_id = params.get("application_id", "")
    if not application_id:
        raise ConsentError("The request is missing a required parameter : application_id")
    app = emulator.spapi_apps.get(application_id)
    if app is None:
        raise ConsentError(f"Unknown application_id: {application_id}")
    version = params.get("version") or None
    if app.draft and version != "beta":
        raise ConsentError(
            "The application is in Draft state: add version=beta to the authorization URI",
            code=c.MD_DRAFT_WITHOUT_BETA,
        )
    redirect_uri = params.get("redirect_uri", "")
    requested = bool(redirect_uri)
    if not requested:
        if not app.redirect_uris:
            raise ConsentError(
                "No redirect_uri was given and the application has no registered OAuth "
                "Redirect URI",
                code=c.MD_REDIRECT_URI_MISMATCH,
            )
        redirect_uri = app.redirect_uris[0]
    if _has_fragment(redirect_uri):
        raise ConsentError(
            "The redirect_uri must not contain a fragment", code=c.MD_REDIRECT_URI_FRAGMENT
        )
    if not app.accepts(redirect_uri):
        raise ConsentError(
            "The redirect_uri does not match an OAuth Redirect URI of the application",
            code=c.MD_REDIRECT_URI_MISMATCH,
        )
    if not emulator.is_client(app.client_id):
        raise ConsentError(f"The application's LWA client {app.client_id} is not registered")
    state = params.get("state") or None
    if state is not None and (len(state) > MAX_STATE or not state.isprintable()):
        raise ConsentError(f"The state must be 1-{MAX_STATE} printable characters")
    return ConsentRequest(
        app=app,
        redirect_uri=redirect_uri,
        redirect_uri_requested=requested,
        state=state,
        version=version,
    )


def selling_partner_from_form(form: Mapping[str, str]) -> tuple[str, tuple[str, ...]]:
    """The test selling partner and marketplaces typed on the page (blank: the defaults)."""
    seller = form.get("selling_partner_id", "").strip() or c.DEFAULT_SELLING_PARTNER_ID
    if not SELLING_PARTNER_ID.fullmatch(seller):
        raise ConsentError("The selling_partner_id must be 1-64 letters or digits")
    raw = form.get("marketplace_ids", "").strip()
    try:
        marketplaces = parse_marketplace_ids(raw) if raw else DEFAULT_MARKETPLACE_IDS
    except ValueError as exc:
        raise ConsentError(str(exc)) from exc
    return seller, marketplaces


def add_seller_central_routes(router: APIRouter, emulator: AmazonEmulator) -> None:
    @router.get(c.SPAPI_CONSENT_PATH)
    async def consent(request: Request) -> Response:
        """Validate the authorization request and show the consent page."""
        blocked = await emulator.enter(c.ENDPOINT_SPAPI_CONSENT)
        if blocked is not None:
            return blocked
        try:
            auth = parse_consent_request(emulator, request.query_params)
        except ConsentError as exc:
            return exc.response()
        # "consent" resolves against ".../apps/authorize/consent" to the same path.
        return spapi_consent_page(
            action="consent",
            application_id=auth.app.application_id,
            draft=auth.app.draft,
            authorization_fields=auth.hidden_fields(),
        )

    @router.post(c.SPAPI_CONSENT_PATH)
    async def decide(request: Request) -> Response:
        """The consent form: re-validate every field, then redirect with a code or an error."""
        blocked = await emulator.enter(c.ENDPOINT_SPAPI_CONSENT)
        if blocked is not None:
            return blocked
        form = await read_params(request)
        if form is None:
            return consent_error_page(400, "The form could not be read")
        try:
            auth = parse_consent_request(emulator, form)
            decision = form.get("decision")
            if decision == "deny":
                return error_redirect(
                    auth.redirect_uri,
                    auth.state,
                    "access_denied",
                    "The selling partner denied the authorization",
                )
            if decision != "approve":
                raise ConsentError("The decision must be approve or deny")
            seller, marketplaces = selling_partner_from_form(form)
        except ConsentError as exc:
            return exc.response()
        code = emulator.codes.issue(
            client_id=auth.app.client_id,
            redirect_uri=auth.redirect_uri,
            redirect_uri_requested=auth.redirect_uri_requested,
            scopes=(c.SPAPI_AUTHORIZATION,),
            code_challenge=None,
            code_challenge_method=None,
            subject={
                "selling_partner_id": seller,
                "marketplace_ids": ",".join(marketplaces),
                "application_id": auth.app.application_id,
            },
        )
        target = with_query(
            auth.redirect_uri,
            {"state": auth.state, "selling_partner_id": seller, "spapi_oauth_code": code.code},
        )
        return RedirectResponse(target, status_code=302)
