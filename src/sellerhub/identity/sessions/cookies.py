"""Session cookies. Access and refresh tokens are HttpOnly, SameSite=Lax, Secure outside
development; the CSRF token is readable by the page's JavaScript, which echoes it in
``X-CSRF-Token`` on unsafe requests (double submit)."""

from __future__ import annotations

import hmac

from fastapi import Request, Response

from sellerhub.core.clock import utcnow
from sellerhub.core.errors import Forbidden
from sellerhub.identity.sessions.service import IssuedSession

ACCESS_COOKIE = "sh_access"
REFRESH_COOKIE = "sh_refresh"
CSRF_COOKIE = "sh_csrf"
CSRF_HEADER = "x-csrf-token"
REFRESH_PATH = "/api/auth"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfFailed(Forbidden):
    code = "csrf-failed"
    title = "Cross-site request refused"


def set_session_cookies(response: Response, issued: IssuedSession, secure: bool) -> None:
    now = utcnow()
    access_age = int((issued.access_expires_at - now).total_seconds())
    refresh_age = int((issued.refresh_expires_at - now).total_seconds())
    response.set_cookie(
        ACCESS_COOKIE,
        issued.access_token,
        max_age=access_age,
        httponly=True,
        secure=secure,
        samesite="lax",
        path="/",
    )
    response.set_cookie(
        REFRESH_COOKIE,
        issued.refresh_token,
        max_age=refresh_age,
        httponly=True,
        secure=secure,
        samesite="lax",
        path=REFRESH_PATH,
    )
    response.set_cookie(
        CSRF_COOKIE,
        issued.csrf_token,
        max_age=refresh_age,
        httponly=False,
        secure=secure,
        samesite="lax",
        path="/",
    )


def clear_session_cookies(response: Response, secure: bool) -> None:
    for name, path in ((ACCESS_COOKIE, "/"), (REFRESH_COOKIE, REFRESH_PATH), (CSRF_COOKIE, "/")):
        response.delete_cookie(name, path=path, secure=secure, httponly=name != CSRF_COOKIE)


def check_csrf(request: Request) -> None:
    """Cookie-authenticated unsafe requests must echo the CSRF cookie in ``X-CSRF-Token``."""
    if request.method in SAFE_METHODS:
        return
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    # Compared as bytes: compare_digest refuses non-ASCII text (a TypeError, so a 500).
    if not cookie or not header or not hmac.compare_digest(cookie.encode(), header.encode()):
        raise CsrfFailed("send the sh_csrf cookie's value in the X-CSRF-Token header")
