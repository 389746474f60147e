"""Email + password accounts over HTTP (docs/identity.md). ``/api/auth/refresh``, ``/logout``
and ``/me`` live in ``identity.sessions.endpoints``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse

from sellerhub.core.clock import utcnow
from sellerhub.core.errors import DomainError
from sellerhub.core.problems import problem
from sellerhub.db import ratelimit
from sellerhub.deps import SessionDep, SettingsDep, runtime_of
from sellerhub.identity.accounts import service
from sellerhub.identity.accounts.codes import Purpose
from sellerhub.identity.accounts.errors import InvalidCode, InvalidCredentials
from sellerhub.identity.accounts.schemas import (
    EmailRequest,
    LoginRequest,
    LoginResponse,
    PasswordResetConfirm,
    SignupRequest,
    StatusResponse,
    VerifyEmailRequest,
)
from sellerhub.identity.sessions.cookies import clear_session_cookies, set_session_cookies
from sellerhub.identity.sessions.endpoints import session_policy

router = APIRouter(prefix="/api/auth", tags=["accounts"], route_class=ratelimit.RetryAfterRoute)

_RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {"description": "too many attempts; see the Retry-After header"}
}

SIGNUP_ACCEPTED = StatusResponse(
    status="check_email",
    detail="A message was sent to this address. If it holds a 6-digit code, confirm the "
    "address with POST /api/auth/verify-email; sign in with POST /api/auth/login.",
)
RESET_REQUESTED = StatusResponse(
    status="check_email",
    detail="If an account uses this address, a 6-digit code to reset its password was sent "
    "to it; use it with POST /api/auth/password-reset/confirm.",
)
VERIFICATION_RESENT = StatusResponse(
    status="check_email",
    detail="If an unverified account uses this address, a new 6-digit code was sent to it; "
    "earlier codes no longer work.",
)


def _answer(request: Request, error: DomainError) -> JSONResponse:
    """The problem response, returned rather than raised so that the request's transaction
    commits what the failure recorded (a wrong-code attempt, LOGIN_FAILED)."""
    return problem(error.status, error.code, error.title, error.detail, request, **error.extra)


async def _enforce(request: Request, *limits: ratelimit.Limit) -> None:
    await ratelimit.enforce(runtime_of(request).sessionmaker, *limits)


@router.post(
    "/signup",
    response_model=StatusResponse,
    status_code=status.HTTP_201_CREATED,
    responses=_RATE_LIMITED,
)
async def signup(
    body: SignupRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> StatusResponse:
    """Create an account (argon2id password), its personal organization with the user as
    owner, and mail a verification code. The answer is the same when the address already has
    an account (that address gets a notice instead), and no session is started: sign in with
    ``/api/auth/login`` (unverified accounts may)."""
    ip = ratelimit.client_address(request)
    await _enforce(request, service.ip_limit(settings, "signup", ip))
    await service.signup(
        session,
        settings,
        email=body.email,
        password=body.password,
        name=body.name,
        organization_name=body.organization_name,
    )
    return SIGNUP_ACCEPTED


@router.post(
    "/verify-email",
    response_model=StatusResponse,
    responses={**_RATE_LIMITED, 400: {"description": "invalid-code (or malformed JSON)"}},
)
async def verify_email(
    body: VerifyEmailRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """Confirm the address with the mailed code (15 minutes, 5 attempts, single use).
    400 ``invalid-code`` for a wrong, expired, used or replaced code and for unknown
    addresses alike."""
    ip = ratelimit.client_address(request)
    await _enforce(request, *service.code_limits(settings, Purpose.VERIFY_EMAIL, body.email, ip))
    try:
        await service.verify_email(session, settings, email=body.email, code=body.code)
    except InvalidCode as exc:
        return _answer(request, exc)
    return JSONResponse(
        StatusResponse(status="email_verified", detail="the email address is verified").model_dump()
    )


@router.post(
    "/login",
    response_model=LoginResponse,
    responses={
        **_RATE_LIMITED,
        401: {"description": "invalid-credentials: unknown email or wrong password"},
        403: {"description": "the user is not a member of the requested organization"},
        404: {"description": "the requested organization does not exist"},
    },
)
async def login(
    body: LoginRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """Sign in with email and password: session cookies (``sh_access``, ``sh_refresh``,
    ``sh_csrf``) for browsers and the same tokens in the body for API clients. One 401
    ``invalid-credentials`` for an unknown email and a wrong password. Unverified addresses
    may sign in (``email_verified`` says so, as does ``/api/auth/me``)."""
    ip = ratelimit.client_address(request)
    await _enforce(request, *service.login_limits(settings, body.email, ip))
    try:
        user = await service.authenticate(session, email=body.email, password=body.password)
    except InvalidCredentials as exc:
        return _answer(request, exc)
    runtime = runtime_of(request)
    signed_in = await service.start_session(
        session,
        runtime.keystore,
        session_policy(settings),
        user=user,
        organization_id=body.organization_id,
        user_agent=request.headers.get("user-agent"),
    )
    issued = signed_in.issued
    payload = LoginResponse(
        expires_in=int((issued.access_expires_at - utcnow()).total_seconds()),
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        user_id=user.id,
        organization_id=signed_in.organization_id,
        email_verified=user.email_verified_at is not None,
    )
    response = JSONResponse(payload.model_dump(mode="json"))
    set_session_cookies(response, issued, settings.cookie_secure)
    return response


@router.post(
    "/resend-verification",
    response_model=StatusResponse,
    status_code=status.HTTP_202_ACCEPTED,
    responses=_RATE_LIMITED,
)
async def resend_verification(
    body: EmailRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> StatusResponse:
    """Mail a new verification code (earlier ones stop working). Always 202, same body."""
    ip = ratelimit.client_address(request)
    await _enforce(request, service.ip_limit(settings, "resend-verification", ip))
    await service.resend_verification(session, settings, body.email)
    return VERIFICATION_RESENT


@router.post(
    "/password-reset/request",
    response_model=StatusResponse,
    status_code=status.HTTP_202_ACCEPTED,
    responses=_RATE_LIMITED,
)
async def request_password_reset(
    body: EmailRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> StatusResponse:
    """Mail a password-reset code if an account uses this address. Always 202, same body."""
    ip = ratelimit.client_address(request)
    await _enforce(request, service.ip_limit(settings, "password-reset", ip))
    await service.request_password_reset(session, settings, body.email)
    return RESET_REQUESTED


@router.post(
    "/password-reset/confirm",
    response_model=StatusResponse,
    responses={**_RATE_LIMITED, 400: {"description": "invalid-code (or malformed JSON)"}},
)
async def confirm_password_reset(
    body: PasswordResetConfirm, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """Set a new password with the mailed code. Every session of the user ends (their refresh
    tokens are revoked; access tokens expire within 15 minutes) and this browser's session
    cookies are cleared: sign in again."""
    ip = ratelimit.client_address(request)
    await _enforce(request, *service.code_limits(settings, Purpose.RESET_PASSWORD, body.email, ip))
    try:
        await service.confirm_password_reset(
            session, settings, email=body.email, code=body.code, new_password=body.new_password
        )
    except InvalidCode as exc:
        return _answer(request, exc)
    response = JSONResponse(
        StatusResponse(
            status="password_reset",
            detail="the password was changed and every session ended; sign in again",
        ).model_dump()
    )
    clear_session_cookies(response, settings.cookie_secure)
    return response
