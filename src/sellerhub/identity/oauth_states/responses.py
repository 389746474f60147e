"""The HTTP side of consent flows: the browser-binding cookie on the response that starts a
flow, and the answer of a callback that failed (a page for browsers, problem+json otherwise)."""

from __future__ import annotations

import html

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

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


def error_response(request: Request, error: DomainError) -> Response:
    """A clear page for browsers, problem+json for everything else."""
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
