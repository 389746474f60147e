"""Who is looking at a page: the signed-in user from the session cookies, the organization the
session acts in, and the CSRF token the page's forms and htmx requests echo.

A page that needs a user and finds none raises ``SignInNeeded``; ``pages.errors`` answers it: a
browser whose access token merely expired (it still holds the session's CSRF cookie) gets a
page that renews the session with its refresh cookie and comes back; any other is sent to
``/login?next=…``."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from sellerhub.core.errors import Forbidden, Unauthenticated
from sellerhub.db.reads import Read, TenantReader
from sellerhub.deps import runtime_of
from sellerhub.identity.organizations.models import Role
from sellerhub.identity.principal import Principal
from sellerhub.identity.sessions.cookies import ACCESS_COOKIE, CSRF_COOKIE, CsrfFailed
from sellerhub.identity.sessions.service import session_principal
from sellerhub.identity.users import service as users
from sellerhub.identity.users.service import ViewerFacts


class SignInNeeded(Exception):
    """No usable session on a page that needs one."""


@dataclass(frozen=True, slots=True)
class Viewer:
    principal: Principal
    facts: ViewerFacts
    csrf_token: str

    @property
    def organization_name(self) -> str:
        return self.facts.organization_name

    @property
    def user_name(self) -> str:
        return self.facts.name

    @property
    def user_email(self) -> str:
        return self.facts.email

    @property
    def is_admin(self) -> bool:
        return self.principal.has_role(Role.ADMIN)

    @property
    def is_platform_admin(self) -> bool:
        return self.principal.is_platform_admin

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("only an owner or admin of the organization can do this")


async def _principal(request: Request) -> Principal | None:
    """The principal of the session cookie (its signature and the in-memory revocation list:
    no round trip), or None."""
    cookie = request.cookies.get(ACCESS_COOKIE)
    if not cookie:
        return None
    runtime = runtime_of(request)
    try:
        claims = await runtime.keystore.verify_or_reload(cookie, runtime.settings.jwt_audience)
        return await session_principal(runtime.sessionmaker, claims, via="session")
    except Unauthenticated:
        return None


async def current_viewer(request: Request) -> Viewer | None:
    """The signed-in viewer, or None (no cookie, an expired or revoked sign-in, a user who is
    gone or no longer a member)."""
    try:
        viewer, _ = await view(request)
    except SignInNeeded:
        return None
    return viewer


async def require_viewer(request: Request) -> Viewer:
    viewer, _ = await view(request)
    return viewer


async def view(request: Request, *reads: Read[Any]) -> tuple[Viewer, list[Any]]:
    """The signed-in viewer and the values of a page's ``reads``, all in ONE read-only
    statement on the tenant read pool (``TenantReader.read_all``: no ORM session, one round
    trip whatever the page needs). The page's data is scoped by the very session that signs
    the viewer in. Raises ``SignInNeeded`` when there is no usable session, or when its user is
    gone, inactive or no longer a member of the organization."""
    principal = await _principal(request)
    if principal is None:
        raise SignInNeeded
    reader = TenantReader(runtime_of(request).reads, principal.organization_id)
    facts, *values = await reader.read_all([users.viewer_facts(principal), *reads])
    if facts is None:
        raise SignInNeeded
    csrf = request.cookies.get(CSRF_COOKIE, "")
    return Viewer(principal=principal, facts=facts, csrf_token=csrf), values


def check_form_csrf(request: Request, viewer: Viewer, submitted: str | None) -> None:
    """An unsafe request from a page must carry the session's CSRF token: htmx sends it in
    ``X-CSRF-Token`` (set once on the page body), a plain form in its ``csrf_token`` field."""
    token = (submitted or request.headers.get("x-csrf-token") or "").encode()
    if not viewer.csrf_token or not hmac.compare_digest(token, viewer.csrf_token.encode()):
        raise CsrfFailed("the form is stale or came from another site; reload the page")
