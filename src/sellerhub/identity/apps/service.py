"""Business rules of the cross-app API about apps themselves: registration, client
authentication, origins and credit-only signups. Tokens are in ``tokens``; the service principal
(a service token presented to our API) in ``principals``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sellerhub.audit import service as audit
from sellerhub.config import Settings
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
from sellerhub.identity.apps.schemas import AppRegistration
from sellerhub.identity.apps.validation import normalize_origin, normalize_redirect_url
from sellerhub.identity.principal import Principal
from sellerhub.identity.users.repository import UserRepository

log = get_logger(__name__)

CLIENT_SECRET_PREFIX = "sha"  # noqa: S105 - a prefix, not a secret
# Compared against when the app is unknown, so a miss costs the same as a wrong secret.
_NO_SUCH_APP_HASH = hash_token("sellerhub: no such app")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")


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
    snapshot = AppSnapshot.of(app)

    async def publish() -> None:
        app_registry.invalidate(snapshot.app_id)
        app_registry.put(snapshot.app_id, snapshot)

    after_commit(session, publish)
    log.info("app.registered", app_id=app.app_id, kind=app.kind)
    return RegisteredApp(app=app, secret=secret)


# --- client authentication ---------------------------------------------------------------------


async def authenticate_client(
    sessionmaker: async_sessionmaker[AsyncSession], credentials: ClientCredentials | None
) -> AppSnapshot:
    """The enabled app these credentials belong to. The secret's hash is compared in constant
    time, against a dummy for unknown apps; the app comes from the per-process cache."""
    if credentials is None:
        raise InvalidClient(
            "authenticate the app: HTTP Basic app_id:client_secret, or the app_id and "
            "client_secret fields"
        )
    app = await app_registry.get(sessionmaker, credentials.app_id)
    usable = app is not None and app.enabled
    expected = app.secret_hash if app is not None and usable else _NO_SUCH_APP_HASH
    matches = same_hash(hash_token(credentials.secret), expected)
    if app is None or not usable or not matches:
        raise InvalidClient("the app id or client secret is wrong, or the app is disabled")
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
