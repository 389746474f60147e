"""The route class of every web page: errors become pages in words, never problem+json.

A ``SignInNeeded`` sends the browser to sign in (or, when it still holds a session's CSRF
cookie, to the page that renews the session and comes back); a ``DomainError`` (a 403 for a
member, a 404, a 409, a 422 …) is shown on a page with a way back, or, for an htmx request, as a
message swapped into the page's flash region."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from sellerhub.core.errors import DomainError, ValidationFailed
from sellerhub.identity.sessions.cookies import CSRF_COOKIE
from sellerhub.web.session import SignInNeeded, current_viewer
from sellerhub.web.templating import is_htmx, render


def _here(request: Request) -> str:
    path = request.url.path
    return path + (f"?{request.url.query}" if request.url.query else "")


async def sign_in_answer(request: Request) -> Response:
    here = _here(request) if request.method == "GET" else "/"
    login = f"/login?next={quote(here, safe='')}"
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": login})
    if request.cookies.get(CSRF_COOKIE):  # the access token expired; the refresh may not have
        return render(request, "resume.html", {"next": here})
    return RedirectResponse(login, status_code=303)


async def error_answer(request: Request, error: DomainError) -> Response:
    if is_htmx(request):
        return render(
            request,
            "partials/flash.html",
            {"kind": "error", "text": error.detail},
            status_code=error.status,
            headers={"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"},
        )
    viewer = await current_viewer(request)
    return render(
        request,
        "error.html",
        {
            "viewer": viewer,
            "nav": "",
            "title": error.title,
            "detail": error.detail,
            "back_href": "/" if viewer else "/login",
            "back_label": "Back to the dashboard" if viewer else "Sign in",
        },
        status_code=error.status,
    )


def page_cursor(request: Request) -> uuid.UUID | None:
    """The ``cursor`` of a paged list's link; a mangled one reads as words on the page (not a
    JSON validation error)."""
    value = request.query_params.get("cursor")
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationFailed("the page link is not valid; start from the first page") from None


class WebRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInNeeded:
                return await sign_in_answer(request)
            except DomainError as exc:
                return await error_answer(request, exc)

        return page
