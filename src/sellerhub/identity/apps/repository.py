"""Every SQL statement of the cross-app domain. Apps, app refresh tokens and app signups are
platform-level (identity) tables: looked up by app id or hash before any tenant is known."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.identity.apps.models import App, AppKind, AppRefreshToken, AppSignup


class AppRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, app: App) -> None:
        self.session.add(app)

    async def by_app_id(self, app_id: str) -> App | None:
        return await self.session.scalar(select(App).where(App.app_id == app_id))

    async def browser_origins(self) -> Sequence[list[str]]:
        """The allowed origins of every enabled browser app (for CORS)."""
        rows = await self.session.scalars(
            select(App.allowed_origins).where(
                App.disabled_at.is_(None), App.kind == AppKind.BROWSER.value
            )
        )
        return rows.all()


class AppRefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, token: AppRefreshToken) -> None:
        self.session.add(token)

    async def by_hash_for_update(self, token_hash: str) -> AppRefreshToken | None:
        return await self.session.scalar(
            select(AppRefreshToken)
            .where(AppRefreshToken.token_hash == token_hash)
            .with_for_update()
        )

    async def revoke_family(self, family_id: uuid.UUID, now: datetime) -> None:
        await self.session.execute(
            update(AppRefreshToken)
            .where(AppRefreshToken.family_id == family_id, AppRefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )


class AppSignupRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, signup: AppSignup) -> None:
        self.session.add(signup)

    async def lock_email(self, email: str) -> None:
        """A transaction-scoped advisory lock on the (lower-cased) email."""
        await self.session.execute(
            select(func.pg_advisory_xact_lock(func.hashtextextended(email.lower(), 0)))
        )

    async def get(self, app_id: str, user_id: uuid.UUID) -> AppSignup | None:
        return await self.session.scalar(
            select(AppSignup).where(AppSignup.app_id == app_id, AppSignup.user_id == user_id)
        )
