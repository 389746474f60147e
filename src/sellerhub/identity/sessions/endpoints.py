from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from sellerhub.config import Settings
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import Unauthenticated
from sellerhub.deps import CurrentPrincipal, SessionDep, runtime_of
from sellerhub.identity.sessions import service
from sellerhub.identity.sessions.cookies import (
    REFRESH_COOKIE,
    check_csrf,
    clear_session_cookies,
    set_session_cookies,
)
from sellerhub.identity.sessions.schemas import MeResponse, RefreshRequest, TokenResponse
from sellerhub.identity.users import service as users

router = APIRouter(prefix="/api/auth", tags=["sessions"])


def session_policy(settings: Settings) -> service.SessionPolicy:
    return service.SessionPolicy(
        audience=settings.jwt_audience,
        access_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
        refresh_ttl=timedelta(days=settings.refresh_token_ttl_days),
    )


def _refresh_token_of(request: Request, body: RefreshRequest | None) -> tuple[str, bool]:
    if body is not None and body.refresh_token:
        return body.refresh_token, False
    cookie = request.cookies.get(REFRESH_COOKIE)
    if cookie:
        check_csrf(request)
        return cookie, True
    raise Unauthenticated("send the refresh token (sh_refresh cookie or refresh_token field)")


@router.post(
    "/refresh",
    response_model=TokenResponse,
    responses={
        401: {"description": "no refresh token, or it is unknown, expired, ended or reused"},
        403: {"description": "a refresh by cookie without the matching X-CSRF-Token"},
    },
)
async def refresh(
    request: Request, session: SessionDep, body: RefreshRequest | None = None
) -> Response:
    """Rotate the refresh token and issue a new access token. Presenting an already used
    refresh token revokes every session of that sign-in (401 ``refresh-token-reused``)."""
    runtime = runtime_of(request)
    token, by_cookie = _refresh_token_of(request, body)
    try:
        issued = await service.refresh_session(
            session,
            runtime.keystore,
            session_policy(runtime.settings),
            token,
            request.headers.get("user-agent"),
        )
    except service.RefreshReuseDetected as exc:
        # The revocation is committed (the error keeps its writes); the browser's cookies go.
        secure = runtime.settings.cookie_secure
        exc.on_response = lambda response: clear_session_cookies(response, secure)
        raise
    expires_in = int((issued.access_expires_at - utcnow()).total_seconds())
    if by_cookie:
        out = JSONResponse(TokenResponse(expires_in=expires_in).model_dump())
        set_session_cookies(out, issued, runtime.settings.cookie_secure)
        return out
    return JSONResponse(
        TokenResponse(
            expires_in=expires_in,
            access_token=issued.access_token,
            refresh_token=issued.refresh_token,
        ).model_dump()
    )


@router.post(
    "/logout",
    status_code=204,
    responses={403: {"description": "a logout by cookie without the matching X-CSRF-Token"}},
)
async def logout(
    request: Request, session: SessionDep, body: RefreshRequest | None = None
) -> Response:
    """End this sign-in: its refresh-token family is revoked and the cookies cleared. Access
    tokens already issued are refused from now on in this process and within 2 s in the others
    (``refresh_tokens.revocations``)."""
    runtime = runtime_of(request)
    try:
        token, _ = _refresh_token_of(request, body)
    except Unauthenticated:
        token = ""
    if token:
        await service.end_session(session, token)
    response = Response(status_code=204)
    clear_session_cookies(response, runtime.settings.cookie_secure)
    return response


@router.get("/me", response_model=MeResponse)
async def me(principal: CurrentPrincipal, session: SessionDep) -> MeResponse:
    """The signed-in user, the organization this session acts in, and all their memberships."""
    return await users.describe(session, principal)
