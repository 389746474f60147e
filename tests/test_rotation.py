"""`sellerhub keys rotate`: batch re-encryption that is resumable and safe while writers run."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import ForeignKey, MetaData, Text, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from sellerhub.core.crypto import KeyRing, generate_key_entry, kid_of
from sellerhub.db.base import IdMixin, TenantScoped
from sellerhub.db.encrypted import EncryptedColumn, register_encrypted, rotate_all, seal, unseal
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant, system_context
from sellerhub.identity.organizations.models import Organization
from sellerhub.runtime import Runtime
from tests.conftest import Tenant


class _TestBase(DeclarativeBase):
    metadata = MetaData()  # kept apart from the application's metadata and migrations


class VaultItem(IdMixin, TenantScoped, _TestBase):
    __tablename__ = "test_vault_items"
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(Organization.__table__.c.id, ondelete="CASCADE"), index=True
    )
    secret: Mapped[str | None] = mapped_column(Text)


COLUMN = EncryptedColumn(VaultItem, "secret")  # type: ignore[arg-type]
OLD, NEW = generate_key_entry("old"), generate_key_entry("new")
OLD_RING, BOTH = KeyRing.parse(OLD), KeyRing.parse(f"{NEW},{OLD}")


@pytest.fixture
async def vault_table(runtime: Runtime) -> AsyncIterator[None]:
    async with runtime.engine.begin() as conn:
        await conn.run_sync(_TestBase.metadata.create_all)
    yield
    async with runtime.engine.begin() as conn:
        await conn.run_sync(_TestBase.metadata.drop_all)


async def _fill(runtime: Runtime, tenant: Tenant, count: int) -> dict[uuid.UUID, str]:
    plain: dict[uuid.UUID, str] = {}
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        for i in range(count):
            item = VaultItem(organization_id=tenant.organization.id)
            seal(OLD_RING, item, "secret", f"token-{i}-{uuid.uuid4()}")
            plain[item.id] = unseal(OLD_RING, item, "secret") or ""
            session.add(item)
        session.add(VaultItem(organization_id=tenant.organization.id, secret=None))
    return plain


async def _all(runtime: Runtime) -> list[VaultItem]:
    async with runtime.sessionmaker() as session:
        with system_context(session, "test: read vault"):
            return list((await session.execute(select(VaultItem))).scalars())


async def _check_all_new(runtime: Runtime, plain: dict[uuid.UUID, str]) -> None:
    only_new = KeyRing.parse(NEW)
    for item in await _all(runtime):
        if item.secret is None:
            continue
        assert kid_of(item.secret) == "new"
        assert unseal(only_new, item, "secret") == plain[item.id]


async def test_rotation_re_encrypts_every_row(
    runtime: Runtime, vault_table: None, tenant: Tenant, other_tenant: Tenant
) -> None:
    plain = await _fill(runtime, tenant, 23) | await _fill(runtime, other_tenant, 9)
    report = await rotate_all(runtime.sessionmaker, BOTH, batch_size=7, columns=[COLUMN])
    assert (report.rotated, report.remaining) == (32, 0)
    await _check_all_new(runtime, plain)
    again = await rotate_all(runtime.sessionmaker, BOTH, batch_size=7, columns=[COLUMN])
    assert (again.rotated, again.remaining) == (0, 0)


async def test_rotation_is_resumable(runtime: Runtime, vault_table: None, tenant: Tenant) -> None:
    plain = await _fill(runtime, tenant, 25)
    partial = await rotate_all(
        runtime.sessionmaker, BOTH, batch_size=5, max_batches=2, columns=[COLUMN]
    )
    assert (partial.rotated, partial.remaining) == (10, 15)
    kids = [kid_of(i.secret) for i in await _all(runtime) if i.secret]
    assert kids.count("new") == 10 and kids.count("old") == 15
    # Between runs the service keeps working: every value decrypts with the two-key ring.
    for item in await _all(runtime):
        if item.secret:
            assert unseal(BOTH, item, "secret") == plain[item.id]
    rest = await rotate_all(runtime.sessionmaker, BOTH, batch_size=5, columns=[COLUMN])
    assert (rest.rotated, rest.remaining) == (15, 0)
    await _check_all_new(runtime, plain)


async def test_rotation_waits_for_rows_locked_by_live_writers(
    runtime: Runtime, vault_table: None, tenant: Tenant
) -> None:
    plain = await _fill(runtime, tenant, 6)
    target = next(iter(plain))
    locked = asyncio.Event()

    async def live_writer() -> None:
        """A request holding a row lock, then writing a new value with the active key."""
        async with unit_of_work(runtime.sessionmaker) as session:
            set_tenant(session, tenant.organization.id)
            item = (
                await session.execute(
                    select(VaultItem).where(VaultItem.id == target).with_for_update()
                )
            ).scalar_one()
            locked.set()
            await asyncio.sleep(0.8)
            plain[target] = "written-during-rotation"
            seal(BOTH, item, "secret", plain[target])

    writer = asyncio.create_task(live_writer())
    await locked.wait()
    report = await rotate_all(runtime.sessionmaker, BOTH, batch_size=100, columns=[COLUMN])
    await writer
    assert report.remaining == 0 and report.rotated == 5
    await _check_all_new(runtime, plain)


async def test_registry_and_ciphertext_stored_not_plaintext(
    runtime: Runtime, vault_table: None, tenant: Tenant
) -> None:
    register_encrypted(VaultItem, "secret")  # type: ignore[arg-type]
    from sellerhub.db.encrypted import REGISTRY

    try:
        assert COLUMN in REGISTRY
        plain = await _fill(runtime, tenant, 1)
        async with runtime.engine.connect() as conn:
            raw = await conn.scalar(text("SELECT secret FROM test_vault_items LIMIT 1"))
        assert raw.startswith("v1.old.") and next(iter(plain.values())) not in raw
    finally:
        REGISTRY.remove(COLUMN)
