"""Every SQL statement of the cross-app domain (app refresh tokens: ``identity.refresh_tokens``).
Apps and app signups are platform-level (identity) tables: looked up by app id before any tenant
is known."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.identity.apps.models import App, AppAuthCode, AppKind, AppSignup


class AppRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, app: App) -> None:
        self.session.add(app)

    async def by_app_id(self, app_id: str) -> App | None:
        return await self.session.scalar(select(App).where(App.app_id == app_id))

    async def by_app_id_for_update(self, app_id: str) -> App | None:
        """The app, its row locked until the end of the transaction (changes serialize)."""
        return await self.session.scalar(select(App).where(App.app_id == app_id).with_for_update())

    async def all(self) -> Sequence[App]:
        return (await self.session.scalars(select(App).order_by(App.app_id))).all()

    async def browser_origins(self) -> Sequence[list[str]]:
        """The allowed origins of every enabled browser app (for CORS)."""
        rows = await self.session.scalars(
            select(App.allowed_origins).where(
                App.disabled_at.is_(None), App.kind == AppKind.BROWSER.value
            )
        )
        return rows.all()


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

    async def created_organization(self, app_id: str, organization_id: uuid.UUID) -> bool:
        """Whether the app created this organization (a credit-only signup)."""
        found = await self.session.scalar(
            select(AppSignup.id)
            .where(AppSignup.app_id == app_id, AppSignup.organization_id == organization_id)
            .limit(1)
        )
        return found is not None


class AppAuthCodeRepository:
    """The embedded login's one-time authorization codes, by hash."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, code: AppAuthCode) -> None:
        self.session.add(code)

    async def by_hash_for_update(self, code_hash: str) -> AppAuthCode | None:
        """The code, its row locked until the end of the transaction (two exchanges of one
        code serialize: the second sees it used)."""
        return await self.session.scalar(
            select(AppAuthCode).where(AppAuthCode.code_hash == code_hash).with_for_update()
        )

    async def prune(self, expired_before: datetime) -> int:
        """Delete the codes that expired before ``expired_before``; how many."""
        result = await self.session.execute(
            delete(AppAuthCode).where(AppAuthCode.expires_at < expired_before)
        )
        return int(getattr(result, "rowcount", 0) or 0)
