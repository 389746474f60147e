"""The HTTP side of consent flows: the browser-binding cookie on the response that starts a
flow, and the answer of a callback that failed (a page for browsers, problem+json otherwise)."""

from __future__ import annotations

import html

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from sellerhub.core.errors import DomainError
from sellerhub.identity.oauth_states.service import STATE_TTL, ConsentStart


def bind_browser(response: Response, started: ConsentStart, *, secure: bool) -> Response:
    """Set the browser-binding cookie (HttpOnly, SameSite=Lax, lives as long as a state) on the
    response that starts a flow, and keep that response out of caches."""
    response.set_cookie(
        started.cookie,
        started.browser,
        max_age=int(STATE_TTL.total_seconds()),
        httponly=True,
        secure=secure,
        samesite="lax",
        path=started.path,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def error_response(
    request: Request, error: DomainError, *, browser_to: str | None = None
) -> Response:
    """problem+json for API clients; a browser (``Accept: text/html``) is sent to
    ``browser_to`` (a page of this site that says what failed in its own fixed words: nothing
    of the error's text travels in the URL), or shown a plain page when there is none."""
    if wants_html(request) and browser_to is not None:
        return RedirectResponse(browser_to, status_code=303, headers={"Cache-Control": "no-store"})
    if wants_html(request):
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
