"""OAuth ``state`` handling shared by every Amazon flow (login now; SP-API and Ads consent use
the same callback and are dispatched by the state's purpose).

A state is 256 random bits, stored only as a hash, single-use, valid for 10 minutes and bound to
the browser that started the flow through the ``sh_oauth`` cookie (HttpOnly, SameSite=Lax).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.core.clock import utcnow
from sellerhub.core.crypto import KeyRing
from sellerhub.core.errors import ValidationFailed
from sellerhub.core.redirects import safe_next
from sellerhub.core.tokens import hash_token
from sellerhub.db.encrypted import seal, unseal
from sellerhub.identity.amazon.models import OAuthState

STATE_TTL = timedelta(minutes=10)
BROWSER_COOKIE = "sh_oauth"


class StateInvalid(ValidationFailed):
    status = 400
    code = "invalid-state"
    title = "This sign-in link is not valid"


class StateReplayed(StateInvalid):
    code = "state-replayed"
    title = "This sign-in link was already used"


class StateExpired(StateInvalid):
    code = "state-expired"
    title = "This sign-in link has expired"


class StateWrongBrowser(StateInvalid):
    code = "state-browser-mismatch"
    title = "This sign-in was started in another browser"


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) per RFC 7636."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class StartedState:
    state: str
    code_challenge: str


@dataclass(frozen=True)
class ConsumedState:
    purpose: str
    next_url: str
    redirect_uri: str
    code_verifier: str | None
    organization_id: uuid.UUID | None
    user_id: uuid.UUID | None
    subject: str | None = None


async def create_state(
    session: AsyncSession,
    ring: KeyRing,
    *,
    browser_token: str,
    purpose: str,
    next_url: str,
    redirect_uri: str,
    organization_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    pkce: bool = True,
    subject: str | None = None,
) -> StartedState:
    state = secrets.token_urlsafe(32)
    verifier, challenge = pkce_pair() if pkce else (None, "")
    row = OAuthState(
        state_hash=hash_token(state),
        browser_hash=hash_token(browser_token),
        purpose=purpose,
        next_url=next_url,
        redirect_uri=redirect_uri,
        organization_id=organization_id,
        user_id=user_id,
        subject=subject,
        expires_at=utcnow() + STATE_TTL,
    )
    seal(ring, row, "code_verifier", verifier)
    session.add(row)
    await session.flush()
    return StartedState(state=state, code_challenge=challenge)


async def consume_state(
    session: AsyncSession,
    ring: KeyRing,
    *,
    state: str,
    browser_token: str | None,
    check_browser: bool = True,
) -> ConsumedState:
    """Check and use up a state. The caller commits this before doing anything else, so a
    failed exchange still leaves the state used. A state presented by another browser is used
    up too (the caller commits before answering): a leaked callback URL is worth nothing."""
    if not state or len(state) > 200:
        raise StateInvalid("the state parameter is missing or malformed")
    row = await session.scalar(
        select(OAuthState).where(OAuthState.state_hash == hash_token(state)).with_for_update()
    )
    if row is None:
        raise StateInvalid("unknown state: start the sign-in again")
    if row.consumed_at is not None:
        raise StateReplayed("this sign-in link was already used: start again")
    if row.expires_at <= utcnow():
        raise StateExpired("the sign-in took longer than 10 minutes: start again")
    row.consumed_at = utcnow()
    if check_browser and (
        browser_token is None
        or not secrets.compare_digest(row.browser_hash, hash_token(browser_token))
    ):
        await session.flush()
        raise StateWrongBrowser("finish the sign-in in the browser where you started it")
    return ConsumedState(
        purpose=row.purpose,
        next_url=row.next_url,
        redirect_uri=row.redirect_uri,
        code_verifier=unseal(ring, row, "code_verifier"),
        organization_id=row.organization_id,
        user_id=row.user_id,
        subject=row.subject,
    )


def browser_token(cookies: Mapping[str, str], name: str = BROWSER_COOKIE) -> str:
    """The browser-binding value of this flow: the existing cookie, or a new random one."""
    return cookies.get(name) or secrets.token_urlsafe(32)


def bind_browser(
    response: Response,
    token: str,
    *,
    secure: bool,
    name: str = BROWSER_COOKIE,
    path: str = "/api/auth",
) -> Response:
    """Set the browser-binding cookie (HttpOnly, SameSite=Lax, lives as long as a state) on the
    response that starts a flow, and keep that response out of caches."""
    response.set_cookie(
        name,
        token,
        max_age=int(STATE_TTL.total_seconds()),
        httponly=True,
        secure=secure,
        samesite="lax",
        path=path,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@dataclass(frozen=True)
class ConsentStart:
    """A started consent flow: the state to send to the provider, and the browser-binding
    cookie the response that sends the browser there must carry (``bind``)."""

    state: str
    code_challenge: str
    browser: str
    cookie: str
    path: str

    def bind(self, response: Response, request: Request) -> Response:
        return bind_browser(
            response,
            self.browser,
            secure=request.app.state.settings.cookie_secure,
            name=self.cookie,
            path=self.path,
        )


async def begin_consent(
    request: Request,
    session: AsyncSession,
    *,
    purpose: str,
    next_url: str | None,
    redirect_uri: str,
    organization_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    pkce: bool = True,
    subject: str | None = None,
    cookie: str = BROWSER_COOKIE,
    path: str = "/api/auth",
) -> ConsentStart:
    """The common start of every consent flow: ``next`` checked against the allow-list, the
    browser's binding token (reused or new), a stored single-use state."""
    settings = request.app.state.settings
    browser = browser_token(request.cookies, cookie)
    started = await create_state(
        session,
        request.app.state.keyring,
        browser_token=browser,
        purpose=purpose,
        next_url=safe_next(next_url, settings.auth_allowed_redirect_origins),
        redirect_uri=redirect_uri,
        organization_id=organization_id,
        user_id=user_id,
        pkce=pkce,
        subject=subject,
    )
    return ConsentStart(started.state, started.code_challenge, browser, cookie, path)
