"""Signing in: Login with Amazon, email and password, sign-up with the 6-digit code, password
reset. The forms post to the same JSON API as any client (``identity.accounts``), through
``static/app.js``, so rate limits, codes and errors are the API's own, shown in words."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from sellerhub.core.redirects import UnsafeRedirect, safe_next
from sellerhub.deps import settings_of
from sellerhub.web.routing import WebRoute
from sellerhub.web.session import current_viewer
from sellerhub.web.templating import render

router = APIRouter(include_in_schema=False, route_class=WebRoute)

# Why a sign-in came back here (``/login?failed=…``): fixed texts, never text from the URL.
FAILURES = {
    "amazon-denied": "Sign-in cancelled: you denied permission on Amazon, so you are not "
    "signed in.",
    "amazon-failed": "Amazon could not sign you in. Please try again.",
    "session-ended": "Your session has ended. Please sign in again.",
}


def _next(request: Request, value: str | None) -> str:
    try:
        return safe_next(value, settings_of(request).auth_allowed_redirect_origins)
    except UnsafeRedirect:
        return "/"


@router.get("/favicon.ico")
async def favicon() -> Response:
    """Browsers ask for it on every page, ours and the emulators' alike."""
    return RedirectResponse("/static/favicon.svg", status_code=301)


@router.get("/login")
async def login_page(
    request: Request,
    next: str | None = Query(None, max_length=2000),
    failed: str | None = Query(None, max_length=40),
) -> Response:
    target = _next(request, next)
    if await current_viewer(request) is not None:
        return RedirectResponse(target, status_code=303)
    return render(
        request, "login.html", {"next": target, "message": FAILURES.get(failed or "", "")}
    )


@router.get("/signup")
async def signup_page(
    request: Request,
    next: str | None = Query(None, max_length=2000),
) -> Response:
    return render(request, "signup.html", {"next": _next(request, next)})


@router.get("/verify-email")
async def verify_email_page(
    request: Request,
    next: str | None = Query(None, max_length=2000),
) -> Response:
    return render(request, "verify_email.html", {"next": _next(request, next)})


@router.get("/reset-password")
async def reset_password_page(request: Request) -> Response:
    return render(request, "reset_password.html")
