"""Who is looking at a page: the signed-in user from the session cookies, the organization the
session acts in, and the CSRF token the page's forms and htmx requests echo.

A page that needs a user and finds none raises ``SignInNeeded``; ``pages.errors`` answers it: a
browser whose access token merely expired (it still holds the session's CSRF cookie) gets a
page that renews the session with its refresh cookie and comes back; any other is sent to
``/login?next=…``."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Request

from sellerhub.core.errors import Forbidden, Unauthenticated
from sellerhub.db.session import unit_of_work
from sellerhub.deps import runtime_of
from sellerhub.identity.organizations.models import Role
from sellerhub.identity.principal import Principal
from sellerhub.identity.sessions.cookies import ACCESS_COOKIE, CSRF_COOKIE, CsrfFailed
from sellerhub.identity.sessions.schemas import MeResponse
from sellerhub.identity.sessions.service import session_principal
from sellerhub.identity.users import service as users


class SignInNeeded(Exception):
    """No usable session on a page that needs one."""


@dataclass(frozen=True, slots=True)
class Viewer:
    principal: Principal
    me: MeResponse
    csrf_token: str

    @property
    def organization_name(self) -> str:
        for organization in self.me.organizations:
            if organization.id == self.principal.organization_id:
                return organization.name
        return ""

    @property
    def is_admin(self) -> bool:
        return self.principal.has_role(Role.ADMIN)

    @property
    def is_platform_admin(self) -> bool:
        return self.principal.is_platform_admin

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("only an owner or admin of the organization can do this")


async def current_viewer(request: Request) -> Viewer | None:
    """The signed-in viewer, or None (no cookie, an expired or revoked sign-in)."""
    cookie = request.cookies.get(ACCESS_COOKIE)
    if not cookie:
        return None
    runtime = runtime_of(request)
    try:
        claims = await runtime.keystore.verify_or_reload(cookie, runtime.settings.jwt_audience)
        principal = await session_principal(runtime.sessionmaker, claims, via="session")
        async with unit_of_work(runtime.sessionmaker) as session:
            me = await users.describe(session, principal)
    except Unauthenticated:
        return None
    return Viewer(principal=principal, me=me, csrf_token=request.cookies.get(CSRF_COOKIE, ""))


async def require_viewer(request: Request) -> Viewer:
    viewer = await current_viewer(request)
    if viewer is None:
        raise SignInNeeded
    return viewer


def check_form_csrf(request: Request, viewer: Viewer, submitted: str | None) -> None:
    """An unsafe request from a page must carry the session's CSRF token: htmx sends it in
    ``X-CSRF-Token`` (set once on the page body), a plain form in its ``csrf_token`` field."""
    token = (submitted or request.headers.get("x-csrf-token") or "").encode()
    if not viewer.csrf_token or not hmac.compare_digest(token, viewer.csrf_token.encode()):
        raise CsrfFailed("the form is stale or came from another site; reload the page")
