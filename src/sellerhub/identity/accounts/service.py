"""Email + password accounts: signup, email verification, login, password reset.

Rules that hold throughout (docs/identity.md):

* Nothing answers differently for an address that has an account and one that has not:
  signup, password-reset requests and resend-verification always give the same answer, login
  gives one 401 for an unknown email and a wrong password (and checks a dummy argon2 hash when
  there is no user, so the timing matches too), code checks give one 400.
* Passwords are hashed with argon2id in a worker thread (the hash takes tens of milliseconds
  and must not stall the event loop). Codes are mailed, stored as HMACs (``codes``).
* Failure records that must outlive the failed request (wrong-code attempts, LOGIN_FAILED)
  are written before the error is raised; the endpoint answers without raising so that the
  request's transaction commits them. Rate-limit hits are committed separately (``enforce``).
* Services flush, never commit.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.audit import service as audit
from sellerhub.config import Settings
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import Conflict, NotFound
from sellerhub.core.logging import get_logger
from sellerhub.core.passwords import hash_password, needs_rehash, verify_password
from sellerhub.db import ratelimit
from sellerhub.db.tenancy import system_context
from sellerhub.identity import service as identity
from sellerhub.identity.accounts import codes, messages, policy
from sellerhub.identity.accounts.codes import Purpose
from sellerhub.identity.accounts.errors import InvalidCode, InvalidCredentials, NoOrganization
from sellerhub.identity.accounts.models import EmailCode
from sellerhub.identity.accounts.repository import EmailCodeRepository
from sellerhub.identity.jwt.service import KeyStore
from sellerhub.identity.refresh_tokens import service as refresh_tokens
from sellerhub.identity.sessions import service as sessions
from sellerhub.identity.users.models import User
from sellerhub.identity.users.repository import UserRepository
from sellerhub.mail import service as mail

log = get_logger(__name__)

LOGIN_METHOD = "password"


def normalize_email(email: str) -> str:
    """How addresses are compared (and keyed in rate limits): trimmed, case-insensitive."""
    return email.strip().lower()


# --- rate limits ----------------------------------------------------------------------------


def _window(seconds: int) -> timedelta:
    return timedelta(seconds=seconds)


def login_limits(settings: Settings, email: str, ip: str) -> list[ratelimit.Limit]:
    window = _window(settings.ratelimit_login_window_seconds)
    return [
        ratelimit.Limit(
            ratelimit.limit_key("login:ip", ip), settings.ratelimit_login_per_ip, window
        ),
        ratelimit.Limit(login_account_key(email), settings.ratelimit_login_per_account, window),
    ]


def login_account_key(email: str) -> str:
    return ratelimit.limit_key("login:account", normalize_email(email))


# Guessing a code. The guard against brute force is per code: a code accepts at most
# ``codes.MAX_ATTEMPTS`` (5) wrong tries and then dies. What bounds an attacker is therefore
# the number of codes an address can be sent, and that is the mail quota: every code after the
# one of signup is mailed by a resend or reset request only within ``_may_mail``
# (``ratelimit_mail_per_address``, 5 mails per address per ``ratelimit_mail_window_seconds``,
# one hour, shared by both purposes and by signup notices; over it, no code is issued). The
# per-account code-check counter (``code_limits``) is reset by every resend or reset request,
# so a user who mistyped a code five times and asked for a new one can enter it at once; it
# adds no attempts on a code (the code's own count does not reset), and it is reset whether or
# not the address has an account, so the limiter still answers the same for every address.
#
# Worst case with the defaults, for one account, against a uniformly random 6-digit code
# (10**6 values): at most 5 guesses per code, so at most 5 / 10**6 per code; at most 5 codes
# per hour (+1 at signup), so at most 25 guesses an hour; over any T hours at most 5 * (T + 1)
# codes (fixed windows: two full quotas can meet at a window edge). That is at most
# 25 / 10**6 = 0.0025 % an hour, 625 / 10**6 ~ 0.06 % (about 1 in 1600) a day, and
# 18 025 / 10**6 ~ 1.8 % over 30 days of an attack that never stops, while the owner receives
# every one of those 3 605 mails. The per-IP limits (``ratelimit_code_per_ip`` checks and
# ``ratelimit_signup_per_ip`` requests per window) bound the attempts of one address across
# many accounts; against one account they are looser than the mail quota. Raising
# ``ratelimit_mail_per_address`` or ``codes.MAX_ATTEMPTS`` raises these odds proportionally.


def code_account_key(purpose: Purpose, email: str) -> str:
    return ratelimit.limit_key(f"code:{purpose.value}:account", normalize_email(email))


def code_limits(settings: Settings, purpose: Purpose, email: str, ip: str) -> list[ratelimit.Limit]:
    """Verify-email and reset-confirm: per account and per IP, each purpose its own bucket.
    The account's bucket starts again with every new code requested (see above)."""
    window = _window(settings.ratelimit_code_window_seconds)
    scope = f"code:{purpose.value}"
    return [
        ratelimit.Limit(
            ratelimit.limit_key(f"{scope}:ip", ip), settings.ratelimit_code_per_ip, window
        ),
        ratelimit.Limit(
            code_account_key(purpose, email),
            settings.ratelimit_code_per_account,
            window,
            advice="or ask for a new code",
        ),
    ]


async def _fresh_code_attempts(session: AsyncSession, purpose: Purpose, email: str) -> None:
    """A request for a new code starts the address's code-check counter again, whether or not
    a code is issued (no difference between addresses with and without an account). Harmless
    without a new code: the old one keeps its own count of wrong tries."""
    await ratelimit.reset(session, code_account_key(purpose, email))


def ip_limit(settings: Settings, action: str, ip: str) -> ratelimit.Limit:
    """Signup, password-reset requests, resend-verification: per IP (each its own bucket)."""
    return ratelimit.Limit(
        ratelimit.limit_key(f"{action}:ip", ip),
        settings.ratelimit_signup_per_ip,
        _window(settings.ratelimit_signup_window_seconds),
    )


async def _may_mail(session: AsyncSession, settings: Settings, email: str) -> bool:
    """At most ``ratelimit_mail_per_address`` account mails per window to one address (no
    mail-bombing through reset or resend requests). Over it, mail is skipped silently: the
    answer stays the same, so this says nothing about the address either."""
    hits, _ = await ratelimit.count(
        session,
        ratelimit.limit_key("mail:address", normalize_email(email)),
        _window(settings.ratelimit_mail_window_seconds),
    )
    if hits > settings.ratelimit_mail_per_address:
        log.info("mail.suppressed", reason="address over its mail quota")
        return False
    return True


# --- codes ----------------------------------------------------------------------------------


async def _issue_code(
    session: AsyncSession, settings: Settings, user: User, purpose: Purpose
) -> str:
    """A new code for ``user``; older codes of that purpose stop working."""
    repo = EmailCodeRepository(session)
    await repo.discard(user.id, purpose)
    code = codes.new_code()
    row = EmailCode(
        user_id=user.id,
        purpose=purpose.value,
        code_hash=codes.hash_code(settings.secret_key.get_secret_value(), user.id, purpose, code),
        attempts=0,
        expires_at=utcnow() + codes.CODE_TTL,
    )
    row.ensure_id()
    repo.add(row)
    await session.flush()
    return code


async def _consume_code(
    session: AsyncSession, settings: Settings, user: User, purpose: Purpose, code: str
) -> None:
    """Accept ``code`` once, or raise ``InvalidCode``. A wrong code counts an attempt (flushed
    before raising: the caller commits it); the fifth wrong one kills the code."""
    row = await EmailCodeRepository(session).live_for_update(user.id, purpose)
    now = utcnow()
    if row is None or row.expires_at <= now or row.attempts >= codes.MAX_ATTEMPTS:
        raise _invalid_code()
    candidate = codes.hash_code(settings.secret_key.get_secret_value(), user.id, purpose, code)
    if not codes.matches(row.code_hash, candidate):
        row.attempts += 1
        await session.flush()
        raise _invalid_code()
    row.consumed_at = now
    await session.flush()


def _invalid_code() -> InvalidCode:
    return InvalidCode("the code is wrong, has expired or was already used; ask for a new one")


# --- audit ----------------------------------------------------------------------------------


async def _record_for_user(
    session: AsyncSession,
    user: User,
    action: str,
    *,
    actor_type: str = "user",
    data: dict[str, Any] | None = None,
) -> None:
    """An account event concerns the person, so it goes to the audit trail of every
    organization they belong to. Only for sessions without a tenant (before sign-in)."""
    organizations = await UserRepository(session).organizations_of(user.id)
    with system_context(
        session, "account event for each of the user's organizations", per_request=True
    ):
        for organization, _role in organizations:
            await audit.record(
                session,
                organization_id=organization.id,
                action=action,
                actor_user_id=user.id,
                actor_type=actor_type,
                target_type="user",
                target_id=str(user.id),
                data=data,
            )


# --- signup and verification ----------------------------------------------------------------


async def signup(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str,
    password: str,
    name: str = "",
    organization_name: str | None = None,
) -> User | None:
    """Create the account, its personal organization (owner) and mail a verification code.
    When the address already has an account, mail it a notice instead and return None; the
    caller answers exactly the same either way."""
    email = email.strip()
    name = name.strip()
    policy.check(
        {"email": policy.email_problem(email), "password": policy.password_problem(password, email)}
    )
    await _fresh_code_attempts(session, Purpose.VERIFY_EMAIL, email)
    # Hash first, on both paths: the same work whether or not the address is taken.
    password_hash = await asyncio.to_thread(hash_password, password)
    users = UserRepository(session)
    existing = await users.by_email(email)
    user: User | None = None
    if existing is None:
        try:
            async with session.begin_nested():
                user = await identity.create_user(session, email=email, name=name)
        except (IntegrityError, Conflict):  # a concurrent signup took the address first
            existing = await users.by_email(email)
    if user is None:
        if existing is not None and await _may_mail(session, settings, existing.email):
            text = messages.signup_attempt(settings.public_url)
            await mail.queue_mail(session, to=existing.email, subject=text.subject, body=text.body)
        log.info("account.signup_existing")
        return None
    user.password_hash = password_hash
    organization = await identity.create_organization(
        session,
        name=(organization_name or "").strip() or name or email.partition("@")[0],
        owner=user,
    )
    await audit.record(
        session,
        organization_id=organization.id,
        action="SIGNED_UP",
        actor_user_id=user.id,
        target_type="user",
        target_id=str(user.id),
        data={"method": LOGIN_METHOD},
    )
    await _mail_code(session, settings, user, Purpose.VERIFY_EMAIL)
    log.info("account.signed_up", user_id=str(user.id), organization_id=str(organization.id))
    return user


async def _mail_code(
    session: AsyncSession, settings: Settings, user: User, purpose: Purpose
) -> None:
    code = await _issue_code(session, settings, user, purpose)
    if purpose is Purpose.VERIFY_EMAIL:
        text = messages.verification_code(code, settings.public_url)
    else:
        text = messages.reset_code(code, settings.public_url)
    await mail.queue_mail(session, to=user.email, subject=text.subject, body=text.body)


async def resend_verification(session: AsyncSession, settings: Settings, email: str) -> None:
    """A new verification code for an unverified account (older ones stop working); nothing
    for unknown, verified or disabled accounts — the answer is the same."""
    await _fresh_code_attempts(session, Purpose.VERIFY_EMAIL, email)
    user = await UserRepository(session).by_email(email)
    if user is None or not user.is_active or user.email_verified_at is not None:
        return
    if await _may_mail(session, settings, user.email):
        await _mail_code(session, settings, user, Purpose.VERIFY_EMAIL)


async def verify_email(session: AsyncSession, settings: Settings, *, email: str, code: str) -> User:
    """Mark the address verified with the mailed code. Raises ``InvalidCode`` (after counting
    the attempt, which the caller must commit)."""
    user = await UserRepository(session).by_email(email)
    if user is None or not user.is_active:
        raise _invalid_code()
    await _consume_code(session, settings, user, Purpose.VERIFY_EMAIL, code)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    await _record_for_user(session, user, "EMAIL_VERIFIED")
    log.info("account.email_verified", user_id=str(user.id))
    return user


# --- login ----------------------------------------------------------------------------------


@functools.cache
def _dummy_hash() -> str:
    """Checked when there is no password to check, so that every login costs one argon2id."""
    return hash_password(secrets.token_urlsafe(24))


async def authenticate(session: AsyncSession, *, email: str, password: str) -> User:
    """The user with this email and password, or ``InvalidCredentials`` — the same error for an
    unknown email, a wrong password, an account without a password or a disabled one. For an
    existing account, LOGIN_FAILED is recorded first (the caller commits it)."""
    user = await UserRepository(session).by_email(email)
    stored = user.password_hash if user is not None else None
    valid = await asyncio.to_thread(verify_password, stored or _dummy_hash(), password)
    if user is None or stored is None or not valid or not user.is_active:
        if user is not None:
            reason = "no_password" if stored is None else "inactive" if valid else "wrong_password"
            await _record_for_user(
                session, user, "LOGIN_FAILED", actor_type="anonymous", data={"reason": reason}
            )
            log.info("account.login_failed", user_id=str(user.id), reason=reason)
        raise InvalidCredentials("the email address or the password is wrong")
    if needs_rehash(stored):
        user.password_hash = await asyncio.to_thread(hash_password, password)
    return user


@dataclass(frozen=True)
class SignedIn:
    issued: sessions.IssuedSession
    organization_id: uuid.UUID


async def start_session(
    session: AsyncSession,
    keystore: KeyStore,
    session_policy: sessions.SessionPolicy,
    *,
    user: User,
    organization_id: uuid.UUID | None,
    user_agent: str | None,
) -> SignedIn:
    """Sign an authenticated user in: to ``organization_id`` when given (they must be a
    member: otherwise 404), else to their first organization by name."""
    organizations = await UserRepository(session).organizations_of(user.id)
    if organization_id is not None:
        chosen = next((o.id for o, _ in organizations if o.id == organization_id), None)
        if chosen is None:
            raise NotFound("organization not found")
    elif organizations:
        chosen = organizations[0][0].id
    else:
        raise NoOrganization("this account belongs to no organization; ask for an invitation")
    issued = await sessions.start_session(
        session,
        keystore,
        session_policy,
        user_id=user.id,
        organization_id=chosen,
        user_agent=user_agent,
        method=LOGIN_METHOD,
    )
    await audit.record(
        session,
        organization_id=chosen,
        action="LOGIN_SUCCEEDED",
        actor_user_id=user.id,
        target_type="user",
        target_id=str(user.id),
        data={"method": LOGIN_METHOD, "email_verified": user.email_verified_at is not None},
    )
    # A successful sign-in clears the account's failed-attempt counter (not the IP's).
    await ratelimit.reset(session, login_account_key(user.email))
    log.info("account.logged_in", user_id=str(user.id), organization_id=str(chosen))
    return SignedIn(issued=issued, organization_id=chosen)


# --- password reset -------------------------------------------------------------------------


async def request_password_reset(session: AsyncSession, settings: Settings, email: str) -> None:
    """Mail a reset code if an active account has this address; nothing otherwise."""
    await _fresh_code_attempts(session, Purpose.RESET_PASSWORD, email)
    user = await UserRepository(session).by_email(email)
    if user is None or not user.is_active:
        return
    if await _may_mail(session, settings, user.email):
        await _mail_code(session, settings, user, Purpose.RESET_PASSWORD)


async def confirm_password_reset(
    session: AsyncSession, settings: Settings, *, email: str, code: str, new_password: str
) -> User:
    """Set a new password with the mailed code and sign the user out everywhere (every
    refresh-token family of every kind, sessions and apps, revoked). The code proves the
    mailbox, so the address also counts as verified. Raises ``InvalidCode`` (attempt counted;
    the caller commits it)."""
    policy.check({"new_password": policy.password_problem(new_password, email)})
    user = await UserRepository(session).by_email(email)
    if user is None or not user.is_active:
        raise _invalid_code()
    await _consume_code(session, settings, user, Purpose.RESET_PASSWORD, code)
    # Hashed only after the code matched: a wrong code costs the same for any address.
    user.password_hash = await asyncio.to_thread(hash_password, new_password)
    now = utcnow()
    verified_now = user.email_verified_at is None
    if verified_now:
        user.email_verified_at = now
    ended = await refresh_tokens.end_all_for_user(session, user.id, "password_reset")
    await EmailCodeRepository(session).discard(user.id, Purpose.RESET_PASSWORD)
    await _record_for_user(
        session,
        user,
        "PASSWORD_RESET",
        data={
            "sessions_revoked": ended.of("session"),
            "app_sessions_revoked": ended.of("app"),
            "email_verified_now": verified_now,
        },
    )
    log.info("account.password_reset", user_id=str(user.id), families_ended=ended.total)
    return user


async def prune(session: AsyncSession) -> None:
    """Periodic: drop codes expired for a day and rate-limit counters idle for a day."""
    cutoff = timedelta(days=1)
    await EmailCodeRepository(session).prune(utcnow() - cutoff)
    await ratelimit.prune(session, cutoff)
