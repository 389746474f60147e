"""The OAuth ``state`` store of every consent flow (Login with Amazon, SP-API and Ads consent,
the Shopify install, the WooCommerce key grant): begin, bind to the browser, consume. The
state's purpose says which flow it belongs to.

A state is 256 random bits, stored only as a hash, single-use, valid for 10 minutes and bound to
the browser that started the flow through a cookie (HttpOnly, SameSite=Lax; ``sh_oauth`` unless
the flow names its own). Plain functions: the HTTP side (setting the cookie, error pages) is in
``responses.py``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sellerhub.core.clock import utcnow
from sellerhub.core.crypto import KeyRing
from sellerhub.core.redirects import safe_next
from sellerhub.core.tokens import hash_token
from sellerhub.db.encrypted import seal, unseal
from sellerhub.db.session import unit_of_work
from sellerhub.identity.oauth_states.errors import (
    StateExpired,
    StateInvalid,
    StateReplayed,
    StateWrongBrowser,
)
from sellerhub.identity.oauth_states.models import OAuthState
from sellerhub.identity.oauth_states.repository import OAuthStateRepository

STATE_TTL = timedelta(minutes=10)
BROWSER_COOKIE = "sh_oauth"
COOKIE_PATH = "/api/auth"


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


@dataclass(frozen=True)
class ConsentStart:
    """A started consent flow: the state to send to the provider, and the browser-binding
    cookie (name, value, path) the response that sends the browser there must carry."""

    state: str
    code_challenge: str
    browser: str
    cookie: str
    path: str


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
    await OAuthStateRepository(session).add(row)
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
    row = await OAuthStateRepository(session).by_hash_for_update(hash_token(state))
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


async def consume_committed(
    sessionmaker: async_sessionmaker[AsyncSession],
    ring: KeyRing,
    *,
    state: str,
    browser_token: str | None,
    check_browser: bool = True,
) -> ConsumedState:
    """``consume_state`` in a transaction of its own, committed before the flow goes on (for
    callback endpoints, a boundary): the state is used up whatever happens next, and also when
    another browser presented it."""
    async with unit_of_work(sessionmaker) as session:  # StateWrongBrowser keeps its writes
        return await consume_state(
            session,
            ring,
            state=state,
            browser_token=browser_token,
            check_browser=check_browser,
        )


def browser_token(cookies: Mapping[str, str], name: str = BROWSER_COOKIE) -> str:
    """The browser-binding value of this flow: the existing cookie, or a new random one."""
    return cookies.get(name) or secrets.token_urlsafe(32)


async def begin(
    session: AsyncSession,
    ring: KeyRing,
    *,
    cookies: Mapping[str, str],
    allowed_origins: list[str],
    purpose: str,
    next_url: str | None,
    redirect_uri: str,
    organization_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    pkce: bool = True,
    subject: str | None = None,
    cookie: str = BROWSER_COOKIE,
    path: str = COOKIE_PATH,
) -> ConsentStart:
    """The common start of every consent flow: ``next`` checked against the allow-list, the
    browser's binding token (reused from ``cookies`` or new), a stored single-use state."""
    browser = browser_token(cookies, cookie)
    started = await create_state(
        session,
        ring,
        browser_token=browser,
        purpose=purpose,
        next_url=safe_next(next_url, allowed_origins),
        redirect_uri=redirect_uri,
        organization_id=organization_id,
        user_id=user_id,
        pkce=pkce,
        subject=subject,
    )
    return ConsentStart(started.state, started.code_challenge, browser, cookie, path)
