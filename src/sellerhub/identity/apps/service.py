"""Business rules of the cross-app API about apps themselves: registration, management
(list, change origins and redirect URLs, disable and enable, rotate the secret), client
authentication, origins and credit-only signups. Tokens are in ``tokens``; the service principal
(a service token presented to our API) in ``principals``."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sellerhub.audit import service as audit
from sellerhub.config import Settings
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import Conflict, ValidationFailed
from sellerhub.core.logging import get_logger
from sellerhub.core.tokens import hash_token, new_token, same_hash
from sellerhub.db.session import after_commit
from sellerhub.db.tenancy import set_tenant
from sellerhub.identity import service as identity
from sellerhub.identity.apps.cache import AppSnapshot, app_registry
from sellerhub.identity.apps.errors import (
    AccountExists,
    AppAlreadyRegistered,
    AppDisabled,
    AppNotFound,
    AppPermissionMissing,
    InvalidClient,
    OriginNotAllowed,
)
from sellerhub.identity.apps.models import (
    App,
    AppKind,
    AppSignup,
    Permission,
)
from sellerhub.identity.apps.repository import (
    AppRepository,
    AppSignupRepository,
)
from sellerhub.identity.apps.schemas import AppRegistration, AppUpdate
from sellerhub.identity.apps.validation import normalize_origin, normalize_redirect_url
from sellerhub.identity.principal import Principal
from sellerhub.identity.users.repository import UserRepository

log = get_logger(__name__)

CLIENT_SECRET_PREFIX = "sha"  # noqa: S105 - a prefix, not a secret
# Compared against when the app is unknown, so a miss costs the same as a wrong secret.
_NO_SUCH_APP_HASH = hash_token("sellerhub: no such app")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
# A presented secret that matches no hash of a cached app older than this re-reads the app once
# (its secret may have been rotated in another process); at most one read per second per app.
_RELOAD_AFTER_SECONDS = 1.0
DEFAULT_SECRET_GRACE = timedelta(hours=24)
MAX_SECRET_GRACE = timedelta(days=30)


@dataclass(frozen=True)
class AppTokenPolicy:
    access_ttl: timedelta
    refresh_ttl: timedelta
    service_ttl: timedelta
    api_audience: str  # our own API's audience: reserved, never an app id
    allow_local_http: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> AppTokenPolicy:
        return cls(
            access_ttl=timedelta(seconds=settings.app_access_token_ttl_seconds),
            refresh_ttl=timedelta(days=settings.app_refresh_token_ttl_days),
            service_ttl=timedelta(seconds=settings.service_token_ttl_seconds),
            api_audience=settings.jwt_audience,
            allow_local_http=not settings.is_production,
        )


@dataclass(frozen=True)
class ClientCredentials:
    app_id: str
    secret: str


@dataclass(frozen=True)
class RegisteredApp:
    app: App
    secret: str  # shown once


# --- registration ------------------------------------------------------------------------------


def _normalized(
    values: Iterable[str],
    field: str,
    check: Callable[..., str],
    errors: list[dict[str, str]],
    local: bool,
) -> list[str]:
    out: list[str] = []
    for index, value in enumerate(values):
        try:
            normalized = check(value, allow_local_http=local)
        except ValueError as exc:
            errors.append({"field": f"{field}.{index}", "message": str(exc)})
            continue
        if normalized not in out:
            out.append(normalized)
    return out


async def register_app(
    session: AsyncSession, principal: Principal, data: AppRegistration, policy: AppTokenPolicy
) -> RegisteredApp:
    """Register an app (platform admins only; the endpoint checks). The client secret is
    returned once and stored as its SHA-256 hash."""
    errors: list[dict[str, str]] = []
    if data.app_id == policy.api_audience:
        errors.append({"field": "app_id", "message": "is reserved for the sellerhub API itself"})
    local = policy.allow_local_http
    origins = _normalized(data.allowed_origins, "allowed_origins", normalize_origin, errors, local)
    redirects = _normalized(
        data.redirect_urls, "redirect_urls", normalize_redirect_url, errors, local
    )
    if data.kind is AppKind.SERVICE and (data.allowed_origins or data.redirect_urls):
        errors.append(
            {
                "field": "kind",
                "message": "a service app is called server to server: it has no allowed "
                "origins or redirect URLs",
            }
        )
    if errors:
        raise ValidationFailed(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        )
    repo = AppRepository(session)
    if await repo.by_app_id(data.app_id) is not None:
        raise AppAlreadyRegistered(f"the app id {data.app_id!r} is taken")
    secret = new_token(CLIENT_SECRET_PREFIX)
    app = App(
        app_id=data.app_id,
        name=data.name.strip() or data.app_id,
        kind=data.kind.value,
        allowed_origins=origins,
        redirect_urls=redirects,
        permissions=sorted({p.value for p in data.permissions}),
        client_secret_hash=hash_token(secret),
        created_by_user_id=principal.user_id,
    )
    app.ensure_id()
    try:
        async with session.begin_nested():
            repo.add(app)
            await session.flush()
    except IntegrityError:  # registered concurrently
        raise AppAlreadyRegistered(f"the app id {data.app_id!r} is taken") from None
    await session.refresh(app, ["created_at"])
    set_tenant(session, principal.organization_id)
    await audit.record(
        session,
        organization_id=principal.organization_id,
        action="APP_REGISTERED",
        actor_user_id=principal.user_id,
        target_type="app",
        target_id=app.app_id,
        data={
            "name": app.name,
            "kind": app.kind,
            "allowed_origins": origins,
            "redirect_urls": redirects,
            "permissions": app.permissions,
        },
    )
    _publish(session, app)
    log.info("app.registered", app_id=app.app_id, kind=app.kind)
    return RegisteredApp(app=app, secret=secret)


def _publish(session: AsyncSession, app: App) -> None:
    """After the commit, this process's registry holds the app as committed (other processes
    within ``SELLERHUB_APP_CACHE_SECONDS``)."""
    snapshot = AppSnapshot.of(app)

    async def publish() -> None:
        app_registry.invalidate(snapshot.app_id)
        app_registry.put(snapshot.app_id, snapshot)

    after_commit(session, publish)


# --- management (platform admins: API and CLI) --------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who changes an app, for the platform audit trail: a platform admin (API) or the CLI
    (an operator on the server: ``system``, ``via`` cli)."""

    user_id: uuid.UUID | None
    actor_type: str  # "user" | "system"
    via: str  # "api" | "cli"

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(principal.user_id, "user", "api")


CLI = Actor(None, "system", "cli")


async def list_apps(session: AsyncSession) -> Sequence[App]:
    return await AppRepository(session).all()


async def get_app(session: AsyncSession, app_id: str, *, for_update: bool = False) -> App:
    repo = AppRepository(session)
    app = await (repo.by_app_id_for_update(app_id) if for_update else repo.by_app_id(app_id))
    if app is None:
        raise AppNotFound(f"no app has the id {app_id[:64]!r}")
    return app


async def _audit(
    session: AsyncSession, actor: Actor, action: str, app: App, data: dict[str, object]
) -> None:
    await audit.record_platform(
        session,
        action=action,
        actor_user_id=actor.user_id,
        actor_type=actor.actor_type,
        target_type="app",
        target_id=app.app_id,
        data={**data, "via": actor.via},
    )


async def update_app(
    session: AsyncSession, actor: Actor, app_id: str, data: AppUpdate, policy: AppTokenPolicy
) -> App:
    """Change an app's name, allowed origins or redirect URLs (each replaced as a whole when
    given), checked like a registration; audited ``APP_UPDATED`` with the before and after."""
    errors: list[dict[str, str]] = []
    local = policy.allow_local_http
    origins = (
        None
        if data.allowed_origins is None
        else _normalized(data.allowed_origins, "allowed_origins", normalize_origin, errors, local)
    )
    redirects = (
        None
        if data.redirect_urls is None
        else _normalized(data.redirect_urls, "redirect_urls", normalize_redirect_url, errors, local)
    )
    app = await get_app(session, app_id, for_update=True)
    if app.kind == AppKind.SERVICE.value and (origins or redirects):
        errors.append(
            {
                "field": "allowed_origins" if origins else "redirect_urls",
                "message": "a service app is called server to server: it has no allowed "
                "origins or redirect URLs",
            }
        )
    if errors:
        raise ValidationFailed(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        )
    changes: dict[str, object] = {}
    if data.name is not None and data.name.strip() and data.name.strip() != app.name:
        changes["name"] = {"from": app.name, "to": data.name.strip()}
        app.name = data.name.strip()
    if origins is not None and origins != app.allowed_origins:
        changes["allowed_origins"] = {"from": app.allowed_origins, "to": origins}
        app.allowed_origins = origins
    if redirects is not None and redirects != app.redirect_urls:
        changes["redirect_urls"] = {"from": app.redirect_urls, "to": redirects}
        app.redirect_urls = redirects
    if changes:
        app.updated_at = utcnow()
        await session.flush()
        await _audit(session, actor, "APP_UPDATED", app, changes)
        _publish(session, app)
        log.info("app.updated", app_id=app.app_id, fields=sorted(changes))
    return app


async def set_enabled(session: AsyncSession, actor: Actor, app_id: str, enabled: bool) -> App:
    """Disable an app (its client credentials, tokens, introspection and sign-ins are refused;
    its users' app sign-ins are kept, so enabling it again restores them) or enable it again.
    Idempotent: a second disable keeps the first time; audited ``APP_DISABLED`` /
    ``APP_ENABLED`` when the state changes."""
    app = await get_app(session, app_id, for_update=True)
    if enabled == (app.disabled_at is None):
        return app
    now = utcnow()
    app.disabled_at = None if enabled else now
    app.updated_at = now
    await session.flush()
    await _audit(session, actor, "APP_ENABLED" if enabled else "APP_DISABLED", app, {})
    _publish(session, app)
    log.info("app.enabled" if enabled else "app.disabled", app_id=app.app_id)
    return app


@dataclass(frozen=True)
class RotatedSecret:
    app: App
    secret: str  # shown once
    previous_valid_until: datetime | None  # None: no older secret is accepted any more


async def rotate_secret(
    session: AsyncSession, actor: Actor, app_id: str, grace: timedelta = DEFAULT_SECRET_GRACE
) -> RotatedSecret:
    """A new client secret (returned once, stored hashed). The old one stays valid for
    ``grace`` (0: refused at once, and so is any secret still in an earlier grace). One
    previous secret at a time: rotating again while an earlier grace runs keeps that grace
    (the secret the clients still use stays valid until its end, not longer) and ends the
    secret being replaced, shown by that earlier rotation, at once. Rotations of one app
    serialize on its row. Audited ``APP_SECRET_ROTATED`` (with the grace, never a secret)."""
    if grace < timedelta(0) or grace > MAX_SECRET_GRACE:
        raise ValidationFailed(
            "grace_seconds: must be between 0 and 30 days",
            errors=[{"field": "grace_seconds", "message": "must be between 0 and 2592000"}],
        )
    app = await get_app(session, app_id, for_update=True)
    now = utcnow()
    secret = new_token(CLIENT_SECRET_PREFIX)
    running = app.previous_secret_expires_at is not None and app.previous_secret_expires_at > now
    if grace <= timedelta(0):
        app.previous_secret_hash, app.previous_secret_expires_at = None, None
    elif not running:
        app.previous_secret_hash, app.previous_secret_expires_at = (
            app.client_secret_hash,
            now + grace,
        )
    until = app.previous_secret_expires_at
    app.client_secret_hash = hash_token(secret)
    app.secret_rotated_at = now
    app.updated_at = now
    await session.flush()
    await _audit(
        session,
        actor,
        "APP_SECRET_ROTATED",
        app,
        {
            "grace_seconds": int(grace.total_seconds()),
            "previous_valid_until": until.isoformat() if until else None,
        },
    )
    _publish(session, app)
    log.info("app.secret_rotated", app_id=app.app_id, grace_seconds=int(grace.total_seconds()))
    return RotatedSecret(app, secret, until)


# --- client authentication ---------------------------------------------------------------------


def _secret_matches(app: AppSnapshot | None, presented_hash: str) -> bool:
    """Constant time against both slots (dummies when the app is unknown or has no previous
    secret), so the answer's timing says nothing about which matched."""
    current, previous = app.secret_hashes() if app is not None else (_NO_SUCH_APP_HASH, None)
    first = same_hash(presented_hash, current)
    second = same_hash(presented_hash, previous or _NO_SUCH_APP_HASH)
    return app is not None and (first or (previous is not None and second))


async def authenticate_client(
    sessionmaker: async_sessionmaker[AsyncSession], credentials: ClientCredentials | None
) -> AppSnapshot:
    """The enabled app these credentials belong to. The secret's hash is compared in constant
    time with the app's current secret and, during its grace period, the one the last rotation
    replaced (against dummies for unknown apps); the app comes from the per-process cache, read
    again once when the secret matches neither (rotated in another process). A disabled app
    with the right secret is told so (403 ``app-disabled``)."""
    if credentials is None:
        raise InvalidClient(
            "authenticate the app: HTTP Basic app_id:client_secret, or the app_id and "
            "client_secret fields"
        )
    app = await app_registry.get(sessionmaker, credentials.app_id)
    presented = hash_token(credentials.secret)
    matches = _secret_matches(app, presented)
    if (
        app is not None
        and not matches
        and time.monotonic() - app.loaded_at >= _RELOAD_AFTER_SECONDS
    ):
        app = await app_registry.get(sessionmaker, credentials.app_id, fresh=True)
        matches = _secret_matches(app, presented)
    if app is None or not matches:
        raise InvalidClient("the app id or client secret is wrong")
    if not app.enabled:
        raise AppDisabled(
            f"the app {app.app_id} is disabled by a platform administrator: its credentials, "
            "tokens and sign-ins are refused until it is enabled again"
        )
    return app


def check_origin(app: AppSnapshot, origin: str | None) -> None:
    """A browser's ``Origin`` must be one the app registered (absent: not a browser call)."""
    if origin is not None and origin.lower() not in app.allowed_origins:
        raise OriginNotAllowed(f"the origin {origin[:100]!r} is not registered for this app")


# --- credit-only accounts ----------------------------------------------------------------------


def _email(value: str) -> str:
    email = value.strip()
    if len(email) > 254 or not _EMAIL.match(email):
        raise ValidationFailed(
            "email: is not an email address",
            errors=[{"field": "email", "message": "is not an email address"}],
        )
    return email


async def _existing_signup(session: AsyncSession, app: AppSnapshot, email: str) -> AppSignup | None:
    """This app's earlier signup of ``email``; None when there is no such user. A user this
    app did not create is a conflict: the app must sign them in instead."""
    user = await UserRepository(session).by_email(email)
    if user is None:
        return None
    signup = await AppSignupRepository(session).get(app.app_id, user.id)
    if signup is None:
        raise AccountExists(
            "an account with this email already exists; sign the user in to the app instead"
        )
    return signup


async def signup(
    session: AsyncSession, app: AppSnapshot, *, email: str, name: str
) -> tuple[AppSignup, bool]:
    """Create a credit-only account for ``email`` (a customer without a password, with a
    personal organization, no onboarding), idempotent for the same app: (signup, created)."""
    if Permission.USERS_CREATE.value not in app.permissions:
        raise AppPermissionMissing("the app lacks the users:create permission")
    email = _email(email)
    name = name.strip()
    # Concurrent signups of one email wait for each other (until the first one's commit), so
    # the later ones find its account instead of racing it to the unique index.
    await AppSignupRepository(session).lock_email(email)
    existing = await _existing_signup(session, app, email)
    if existing is not None:
        return existing, False
    try:
        async with session.begin_nested():
            user = await identity.create_user(session, email=email, name=name)
            org = await identity.create_organization(
                session, name=name or email.split("@", 1)[0], owner=user
            )
            record = AppSignup(app_id=app.app_id, user_id=user.id, organization_id=org.id)
            record.ensure_id()
            AppSignupRepository(session).add(record)
            await session.flush()
    except IntegrityError:  # the same email (or org slug) signed up concurrently
        existing = await _existing_signup(session, app, email)
        if existing is None:
            raise Conflict("a concurrent signup got in the way; retry") from None
        return existing, False
    await audit.record(
        session,
        organization_id=org.id,
        action="CROSS_APP_SIGNUP",
        actor_type="app",
        target_type="user",
        target_id=str(user.id),
        data={"app_id": app.app_id},
    )
    log.info("app.signup", app_id=app.app_id, user_id=str(user.id))
    return record, True
