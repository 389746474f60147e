"""Login with Amazon (seed paths): start (302), login (JSON for single-page apps) and the one
registered redirect URI, which also receives SP-API and Ads consent callbacks (dispatched by
the state's purpose)."""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel

from sellerhub.core.errors import DomainError, ValidationFailed
from sellerhub.core.openapi import HTML_CONTENT as HTML
from sellerhub.db.session import commit, unit_of_work
from sellerhub.deps import SessionDep
from sellerhub.identity.amazon import client as lwa
from sellerhub.identity.amazon import service
from sellerhub.identity.amazon.states import (
    BROWSER_COOKIE,
    ConsentStart,
    ConsumedState,
    StateWrongBrowser,
    begin_consent,
    consume_state,
)
from sellerhub.identity.sessions import service as sessions
from sellerhub.identity.sessions.cookies import set_session_cookies
from sellerhub.identity.sessions.endpoints import session_policy

router = APIRouter(prefix="/api/auth/amazon", tags=["login with amazon"])
CALLBACK_PATH = "/api/auth/amazon/callback"
LOGIN = "login"

# Other purposes (SP-API and Ads consent) register here; the callback dispatches by purpose.
CallbackHandler = Callable[[Request, ConsumedState], Awaitable[Response]]
CALLBACK_HANDLERS: dict[str, CallbackHandler] = {}


class AmazonDenied(DomainError):
    status = 400
    code = "amazon-access-denied"
    title = "Sign-in cancelled"


class AuthStart(BaseModel):
    auth_url: str
    state: str


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def error_response(request: Request, error: DomainError) -> Response:
    """A clear page for browsers, problem+json for everything else."""
    if _wants_html(request):
        body = (
            "<!doctype html><html><head><meta charset='utf-8'><title>sellerhub</title></head>"
            f"<body><h1>{html.escape(error.title)}</h1><p>{html.escape(error.detail)}</p>"
            "<p><a href='/'>Back to sellerhub</a></p></body></html>"
        )
        return HTMLResponse(body, status_code=error.status)
    return JSONResponse(
        error.to_problem(request.url.path),
        status_code=error.status,
        media_type="application/problem+json",
    )


async def _start(
    request: Request, session: SessionDep, next_url: str | None
) -> tuple[str, ConsentStart]:
    settings = request.app.state.settings
    redirect_uri = settings.public_url + CALLBACK_PATH
    started = await begin_consent(
        request, session, purpose=LOGIN, next_url=next_url, redirect_uri=redirect_uri
    )
    query = urlencode(
        {
            "client_id": settings.lwa_client_id,
            "scope": settings.lwa_scope,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "state": started.state,
            "code_challenge": started.code_challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{settings.lwa_authorize}?{query}", started


@router.get("/start", status_code=302, response_class=RedirectResponse)
async def start(
    request: Request,
    session: SessionDep,
    next: str | None = Query(None, description="where to land after signing in (allow-listed)"),
) -> Response:
    """Redirect the browser to Amazon's consent page."""
    url, started = await _start(request, session, next)
    return started.bind(RedirectResponse(url, status_code=302), request)


@router.get("/login", response_model=AuthStart)
async def login(
    request: Request,
    session: SessionDep,
    next: str | None = Query(None, description="where to land after signing in (allow-listed)"),
) -> Response:
    """The same as ``start``, as JSON for single-page apps (call it with credentials so the
    browser-binding cookie is stored)."""
    url, started = await _start(request, session, next)
    body = AuthStart(auth_url=url, state=started.state).model_dump()
    return started.bind(JSONResponse(body), request)


@router.get(
    "/callback",
    response_class=RedirectResponse,
    status_code=302,
    responses={
        # Browsers (Accept: text/html) get a page, everything else problem+json.
        400: {"description": "the state, or Amazon's answer, is not valid", "content": HTML},
        401: {"description": "the account cannot sign in to its organization", "content": HTML},
        409: {
            "description": "the email or Amazon account belongs to another user",
            "content": HTML,
        },
        422: {"description": "Amazon's answer lacks what the flow needs", "content": HTML},
        502: {"description": "Amazon did not answer as expected", "content": HTML},
        503: {"description": "Amazon or the database is unavailable", "content": HTML},
    },
)
async def callback(
    request: Request,
    state: str = Query(""),
    code: str | None = Query(None, max_length=2000),
    error: str | None = Query(None, max_length=200),
    error_description: str | None = Query(None, max_length=2000),
) -> Response:
    """Amazon's redirect back: Login with Amazon, or (by the state's purpose) SP-API / Ads
    consent. The state is used up first, in its own transaction, whatever happens next."""
    runtime = request.app.state.runtime
    async with runtime.sessionmaker() as session:
        try:
            consumed = await consume_state(
                session,
                runtime.keyring,
                state=state,
                browser_token=request.cookies.get(BROWSER_COOKIE),
            )
        except StateWrongBrowser as exc:
            await commit(session)  # burn the state: it was presented by another browser
            return error_response(request, exc)
        except DomainError as exc:
            return error_response(request, exc)
        await commit(session)
    if consumed.purpose != LOGIN:
        handler = CALLBACK_HANDLERS.get(consumed.purpose)
        if handler is None:
            return error_response(request, ValidationFailed("unknown sign-in purpose"))
        return await handler(request, consumed)
    try:
        return await _finish_login(request, consumed, code, error, error_description)
    except DomainError as exc:
        return error_response(request, exc)


async def _finish_login(
    request: Request,
    consumed: ConsumedState,
    code: str | None,
    error: str | None,
    error_description: str | None,
) -> Response:
    runtime = request.app.state.runtime
    settings = runtime.settings
    if error:
        if error == "access_denied":
            raise AmazonDenied("you denied permission on Amazon, so you are not signed in")
        raise lwa.AmazonRejected(f"Amazon ended the sign-in with the error {error!r}")
    if not code:
        raise ValidationFailed("Amazon's answer carried no authorization code")
    tokens = await lwa.exchange_code(
        runtime.http,
        token_url=settings.lwa_token,
        code=code,
        redirect_uri=consumed.redirect_uri,
        client_id=settings.lwa_client_id,
        client_secret=settings.lwa_client_secret.get_secret_value(),
        code_verifier=consumed.code_verifier,
        scope=settings.lwa_scope,
    )
    profile = await lwa.read_profile(
        runtime.http, profile_url=settings.lwa_profile, token=tokens.access_token
    )
    async with unit_of_work(runtime.sessionmaker) as session:
        signed_in = await service.complete_login(
            session,
            runtime.keyring,
            profile=profile,
            tokens=tokens,
            linking_user_id=consumed.user_id,
        )
        issued = await sessions.start_session(
            session,
            runtime.keystore,
            session_policy(settings),
            user_id=signed_in.user_id,
            organization_id=signed_in.organization_id,
            user_agent=request.headers.get("user-agent"),
            method="amazon",
        )
    response = RedirectResponse(consumed.next_url, status_code=302)
    set_session_cookies(response, issued, settings.cookie_secure)
    response.delete_cookie(BROWSER_COOKIE, path="/api/auth")
    return response
