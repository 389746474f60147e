"""Login with Amazon (seed paths): start (302), login (JSON for single-page apps), and the end
of the login on the one registered redirect URI (``finish_login``, the ``login`` purpose of
``sellerhub.callbacks``, which also dispatches SP-API and Ads consent by the state's purpose)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from sellerhub.core.errors import DomainError, ValidationFailed
from sellerhub.db.session import unit_of_work
from sellerhub.deps import SessionDep, runtime_of, settings_of
from sellerhub.identity.amazon import client as lwa
from sellerhub.identity.amazon import service
from sellerhub.identity.amazon.client import CALLBACK_PATH
from sellerhub.identity.oauth_states import service as oauth_states
from sellerhub.identity.oauth_states.responses import bind_browser, error_response, wants_html
from sellerhub.identity.oauth_states.schemas import AuthStart
from sellerhub.identity.oauth_states.service import BROWSER_COOKIE, ConsentStart, ConsumedState
from sellerhub.identity.sessions import service as sessions
from sellerhub.identity.sessions.cookies import set_session_cookies
from sellerhub.identity.sessions.endpoints import session_policy

router = APIRouter(prefix="/api/auth/amazon", tags=["login with amazon"])
LOGIN = "login"


class AmazonDenied(DomainError):
    status = 400
    code = "amazon-access-denied"
    title = "Sign-in cancelled"


async def _start(
    request: Request, session: SessionDep, next_url: str | None
) -> tuple[str, ConsentStart]:
    settings = settings_of(request)
    redirect_uri = settings.public_url + CALLBACK_PATH
    started = await oauth_states.begin(
        session,
        runtime_of(request).keyring,
        cookies=request.cookies,
        allowed_origins=settings.auth_allowed_redirect_origins,
        purpose=LOGIN,
        next_url=next_url,
        redirect_uri=redirect_uri,
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
    secure = settings_of(request).cookie_secure
    return bind_browser(RedirectResponse(url, status_code=302), started, secure=secure)


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
    secure = settings_of(request).cookie_secure
    return bind_browser(JSONResponse(body), started, secure=secure)


async def finish_login(request: Request, consumed: ConsumedState) -> Response:
    """The callback for a state of purpose ``login``: sign in (or link) and start a session."""
    query = request.query_params
    try:
        return await _finish_login(
            request, consumed, query.get("code"), query.get("error"), query.get("error_description")
        )
    except DomainError as exc:
        if wants_html(request):  # a browser: back to the sign-in page, the reason in words
            reason = "amazon-denied" if isinstance(exc, AmazonDenied) else "amazon-failed"
            return RedirectResponse(f"/login?failed={reason}", status_code=303)
        return error_response(request, exc)


async def _finish_login(
    request: Request,
    consumed: ConsumedState,
    code: str | None,
    error: str | None,
    error_description: str | None,
) -> Response:
    runtime = runtime_of(request)
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
    response.delete_cookie(BROWSER_COOKIE, path=oauth_states.COOKIE_PATH)
    return response
