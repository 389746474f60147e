"""Demo data for development: one organization, its owner (a platform admin) and an API key."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.core.tokens import hash_token, new_token
from sellerhub.identity import service
from sellerhub.identity.apikeys.models import ApiKey
from sellerhub.identity.apikeys.repository import ApiKeyRepository
from sellerhub.identity.organizations.repository import OrganizationRepository
from sellerhub.identity.users.models import UserType
from sellerhub.identity.users.repository import UserRepository

DEMO_SLUG = "demo"
DEMO_KEY_FILE = "demo-api-key"


@dataclass
class SeedResult:
    created: bool
    email: str
    organization_slug: str
    api_key: str | None


def read_demo_key(data_dir: Path) -> str | None:
    key_file = data_dir / DEMO_KEY_FILE
    return key_file.read_text().strip() if key_file.exists() else None


def write_demo_key(data_dir: Path, secret: str) -> None:
    """Development only: keep the demo key (mode 0600) so later runs can show it again; the
    database holds only its hash."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / DEMO_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")


async def seed_demo(session: AsyncSession, *, email: str, password: str) -> SeedResult:
    """Idempotent: creates the demo organization, its owner and an API key once.
    ``api_key`` is set only when it was created now (it cannot be recovered later)."""
    if await OrganizationRepository(session).by_slug(DEMO_SLUG) is not None:
        return SeedResult(False, email, DEMO_SLUG, None)
    user = await UserRepository(session).by_email(email)
    if user is None:
        user = await service.create_user(
            session, email=email, name="Demo Admin", password=password, user_type=UserType.ADMIN
        )
    org = await service.create_organization(
        session, name="Demo Seller Co", owner=user, slug=DEMO_SLUG
    )
    secret = new_token(service.API_KEY_PREFIX)
    key = ApiKey(
        organization_id=org.id,
        user_id=user.id,
        name="demo",
        prefix=secret[:8],
        key_hash=hash_token(secret),
    )
    ApiKeyRepository(session).add(key)
    await session.flush()
    return SeedResult(True, email, DEMO_SLUG, secret)
