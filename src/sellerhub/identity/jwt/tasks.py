"""Signing-key jobs."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.core.logging import get_logger
from sellerhub.identity.jwt.service import KeyTimings, rotate_if_due
from sellerhub.jobs.app import resources, task

log = get_logger(__name__)


@task("identity.rotate_signing_key", queue="maintenance", cron="23 * * * *")
async def rotate_signing_key_when_due(session: AsyncSession) -> None:
    """Hourly: a new signing key once the newest is ``SELLERHUB_SIGNING_KEY_ROTATION_DAYS`` old
    (0 turns scheduled rotation off). Audited as ``signing_key.rotated``, reason ``scheduled``."""
    res = resources()
    assert res.keyring is not None and res.settings is not None
    days = res.settings.signing_key_rotation_days
    if not days:
        return
    key = await rotate_if_due(
        session, res.keyring, KeyTimings.of(res.settings), every=timedelta(days=days)
    )
    if key is not None:
        log.info("signing_key.rotated_on_schedule", kid=key.kid, activates_at=str(key.activates_at))
