"""The embedded login (``/embed/login``): the page a browser app opens in a popup or an iframe
(``@sellerhub/sdk``) to sign its user in (docs/sdk.md, "Embedded login protocol").

GET checks the request — a registered, enabled browser app; ``origin`` exactly one of its
registered origins; nonce, PKCE challenge (S256) and mode — then shows the sign-in (no session:
the usual forms, coming back to the same URL) or the consent ("Sign in to <app> as <email>
(<organization>)", Continue / Cancel). POST (Continue, with the session's CSRF token) issues a
one-time authorization code and answers a page whose ``static/embed.js`` posts
``{type: "sellerhub:auth", v: 1, nonce, code}`` to exactly the registered origin; Cancel posts
``error: "access_denied"`` instead. An unknown app or an origin the app did not register gets a
page in words that posts nothing; any other bad request from a registered origin posts
``error: "invalid_request"``.

Every answer carries the strict CSP, with ``frame-ancestors`` the registered origin in iframe
mode and ``'none'`` (with ``X-Frame-Options: DENY``) otherwise."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData, QueryParams

from sellerhub.db.session import unit_of_work
from sellerhub.deps import runtime_of
from sellerhub.identity.apps import tokens
from sellerhub.identity.apps.cache import AppSnapshot, app_registry
from sellerhub.identity.apps.models import AppKind
from sellerhub.web.routing import WebRoute
from sellerhub.web.session import Viewer, check_form_csrf, current_viewer
from sellerhub.web.templating import CSP, render

router = APIRouter(include_in_schema=False, route_class=WebRoute)

PATH = "/embed/login"
MESSAGE_TYPE = "sellerhub:auth"
FIELDS = ("app_id", "origin", "nonce", "code_challenge", "code_challenge_method", "mode")
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,128}")
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
MODES = ("popup", "iframe")


@dataclass(frozen=True)
class Refusal:
    """Why the page refuses: ``post`` when the origin is registered (the page tells the app
    with an ``invalid_request`` message), else only words on the page."""

    status: int
    title: str
    detail: str
    post: bool


@dataclass(frozen=True)
class EmbedRequest:
    """A checked request: the app, and the fields the page carries on (they are all valid)."""

    app: AppSnapshot
    origin: str
    nonce: str
    code_challenge: str
    mode: str

    def query(self) -> str:
        return urlencode(
            {
                "app_id": self.app.app_id,
                "origin": self.origin,
                "nonce": self.nonce,
                "code_challenge": self.code_challenge,
                "code_challenge_method": "S256",
                "mode": self.mode,
            }
        )

    def url(self) -> str:
        return f"{PATH}?{self.query()}"


def _headers(mode: str | None, origin: str | None) -> dict[str, str]:
    """The strict CSP; framing only by the registered origin in iframe mode."""
    if mode == "iframe" and origin is not None:
        csp = CSP.replace("frame-ancestors 'none'", f"frame-ancestors {origin}")
        return {"Content-Security-Policy": csp, "Cache-Control": "no-store"}
    return {
        "Content-Security-Policy": CSP,
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
    }


async def _check(request: Request, fields: QueryParams | FormData) -> EmbedRequest | Refusal:
    """The request's app and origin first (a refusal there posts nothing), then the rest."""

    def field(name: str) -> str:
        value = fields.get(name)
        return value if isinstance(value, str) else ""

    app_id = field("app_id")
    if not app_id:
        return Refusal(400, "No app named", "The app did not say which app it is.", False)
    app = await app_registry.get(runtime_of(request).sessionmaker, app_id[:64])
    if app is None or app.kind is not AppKind.BROWSER:
        return Refusal(404, "Unknown app", "No app that signs users in has this id.", False)
    origin = field("origin")
    if origin not in app.allowed_origins:
        return Refusal(
            403,
            "This site is not allowed",
            f"The page that opened this window is not registered for {app.name}: sellerhub "
            "will not sign you in to it, and tells it nothing.",
            False,
        )
    problems: list[str] = []
    if not app.enabled:
        problems.append(f"{app.name} is disabled by a platform administrator")
    nonce = field("nonce")
    if not _NONCE.fullmatch(nonce):
        problems.append("nonce must be 16-128 characters of A-Z, a-z, 0-9, _ and -")
    if not _CHALLENGE.fullmatch(field("code_challenge")):
        problems.append("code_challenge must be 43 base64url characters")
    if field("code_challenge_method") != "S256":
        problems.append("code_challenge_method must be S256")
    if field("mode") not in MODES:
        problems.append("mode must be popup or iframe")
    if problems:
        return Refusal(400, "The sign-in request is not valid", "; ".join(problems) + ".", True)
    return EmbedRequest(app, origin, nonce, field("code_challenge"), field("mode"))


def _page(
    request: Request,
    *,
    mode: str | None,
    origin: str | None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    defaults: dict[str, Any] = {
        "view": "message",
        "embed": None,
        "viewer": None,
        "message": None,
        "title": "",
        "detail": "",
        "next": "",
        "mode": mode if mode in MODES else "popup",
    }
    return render(
        request,
        "embed_login.html",
        defaults | context,
        status_code=status_code,
        headers=_headers(mode, origin),
    )


def _refused(request: Request, fields: QueryParams | FormData, refusal: Refusal) -> Response:
    mode = fields.get("mode")
    mode = mode if isinstance(mode, str) else None
    origin = fields.get("origin") if refusal.post else None
    origin = origin if isinstance(origin, str) else None
    nonce = fields.get("nonce")
    message = None
    if refusal.post and origin is not None:
        message = {
            "origin": origin,
            "nonce": nonce[:128] if isinstance(nonce, str) else "",
            "error": "invalid_request",
            "error_description": refusal.detail,
        }
    return _page(
        request,
        mode=mode,
        origin=origin,
        status_code=refusal.status,
        view="refused",
        title=refusal.title,
        detail=refusal.detail,
        message=message,
    )


def _sign_in(request: Request, embed: EmbedRequest) -> Response:
    return _page(
        request,
        mode=embed.mode,
        origin=embed.origin,
        view="sign-in",
        embed=embed,
        next=embed.url(),
    )


@router.get(PATH)
async def embed_login(request: Request) -> Response:
    checked = await _check(request, request.query_params)
    if isinstance(checked, Refusal):
        return _refused(request, request.query_params, checked)
    viewer = await current_viewer(request)
    if viewer is None:
        return _sign_in(request, checked)
    return _consent(request, checked, viewer)


def _consent(request: Request, embed: EmbedRequest, viewer: Viewer) -> Response:
    return _page(
        request,
        mode=embed.mode,
        origin=embed.origin,
        view="consent",
        embed=embed,
        viewer=viewer,
        fields={
            "app_id": embed.app.app_id,
            "origin": embed.origin,
            "nonce": embed.nonce,
            "code_challenge": embed.code_challenge,
            "code_challenge_method": "S256",
            "mode": embed.mode,
        },
    )


@router.post(PATH)
async def embed_login_answer(request: Request) -> Response:
    form = await request.form()
    checked = await _check(request, form)
    if isinstance(checked, Refusal):
        return _refused(request, form, checked)
    viewer = await current_viewer(request)
    if viewer is None:
        return _sign_in(request, checked)
    csrf = form.get("csrf_token")
    check_form_csrf(request, viewer, csrf if isinstance(csrf, str) else "")
    message: dict[str, str] = {"origin": checked.origin, "nonce": checked.nonce}
    if form.get("action") == "continue":
        async with unit_of_work(runtime_of(request).sessionmaker) as session:
            code = await tokens.issue_auth_code(
                session,
                tokens.CodeBinding(
                    app_id=checked.app.app_id,
                    origin=checked.origin,
                    nonce=checked.nonce,
                    code_challenge=checked.code_challenge,
                    user_id=viewer.principal.user_id,
                    organization_id=viewer.principal.organization_id,
                ),
            )
        message["code"] = code
        title, detail = "Signed in", f"You are signed in to {checked.app.name}."
    else:
        message["error"] = "access_denied"
        message["error_description"] = "the user cancelled the sign-in"
        title, detail = "Sign-in cancelled", f"You did not sign in to {checked.app.name}."
    return _page(
        request,
        mode=checked.mode,
        origin=checked.origin,
        view="done",
        embed=checked,
        title=title,
        detail=detail,
        message=message,
    )
