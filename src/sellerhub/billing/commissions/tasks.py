"""Commission jobs: the recovery's request (claims' outbox), one commission's charge, the
seller's notices, and the periodic sweep that retries due failures, charges commissions that
waited for a card and reconciles attempts whose outcome was never recorded.

The charging jobs commit their own steps (``charge.py``: the row before Stripe, the answer
after); the session the runner hands them is not used for those."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.billing.commissions import charge, service
from sellerhub.billing.commissions.errors import NoSuchRecovery
from sellerhub.billing.commissions.repository import CommissionRepository, ReversalRepository
from sellerhub.billing.payouts import transfer as payouts
from sellerhub.billing.payouts.repository import TransferRepository
from sellerhub.billing.stripe.client import client_of
from sellerhub.config import Settings
from sellerhub.core.clock import utcnow
from sellerhub.core.logging import get_logger
from sellerhub.db.tenancy import set_tenant, system_context
from sellerhub.identity import service as identity
from sellerhub.identity.organizations.models import Role
from sellerhub.jobs.app import resources, task
from sellerhub.mail import service as mail

log = get_logger(__name__)

SWEEP_LIMIT = 500


def _settings() -> Settings:
    settings = resources().settings
    if settings is None:
        raise RuntimeError("the job resources carry no settings")
    return settings


@task(service.REQUEST_TASK, queue="billing")
async def commission_requested(
    session: AsyncSession,
    organization_id: str,
    recovery_id: str,
    paid_to_platform: bool = False,
    source_transaction: str | None = None,
) -> None:
    """A recovery's commission was requested (claims, in the recovery's transaction): opened
    once and charged. Delivered at least once: a second delivery finds the commission."""
    settings = _settings()
    try:
        await charge.request(
            resources().sessionmaker,
            settings,
            client_of(resources()),
            uuid.UUID(organization_id),
            uuid.UUID(recovery_id),
            paid_to_platform=paid_to_platform,
            source_transaction=source_transaction,
        )
    except NoSuchRecovery:
        log.warning("billing.recovery_missing", recovery_id=recovery_id)


@task(service.CHARGE_TASK, queue="billing")
async def commission_charge(
    session: AsyncSession, organization_id: str, commission_id: str
) -> None:
    settings = _settings()
    await charge.charge(
        resources().sessionmaker,
        settings,
        client_of(resources()),
        uuid.UUID(organization_id),
        uuid.UUID(commission_id),
    )


@task(service.NOTICE_TASK, queue="billing")
async def commission_notice(
    session: AsyncSession,
    organization_id: str,
    commission_id: str,
    notice: str,
    attempt: int | None = None,
) -> None:
    """Mail the organization's owners and admins about their commission: once per
    commission, attempt and kind. The notice is marked sent in the transaction that queues
    the mail, so a second delivery of the job (or one running at the same time, which waits
    for the row) finds it sent and mails nothing."""
    set_tenant(session, uuid.UUID(organization_id))
    row = await CommissionRepository(session).get(uuid.UUID(commission_id))
    if row is None:
        return
    if not await service.notice_to_send(session, row, notice, attempt):
        log.info("billing.commission_notice_sent_before", commission_id=commission_id)
        return
    subject, body = service.notice_text(row, notice, public_url=_settings().public_url)
    for membership, user in await identity.members_with_users(session):
        if user is not None and Role(membership.role).rank >= Role.ADMIN.rank:
            await mail.queue_mail(session, to=user.email, subject=subject, body=body)
    log.info("billing.commission_notice", commission_id=commission_id, notice=notice)


@task("billing.sweep", queue="billing", cron="*/5 * * * *")
async def sweep(session: AsyncSession) -> None:
    """Every 5 minutes: the commissions, transfers, reversals' refunds and transfer reversals
    that are due (a retry after a decline, a card now saved, an attempt whose outcome is
    overdue, a refund or transfer reversal waiting for the charge or transfer, or whose
    outcome is overdue) are moved on, one at a time."""
    now = utcnow()
    with system_context(session, "billing: due commissions and transfers"):
        commissions = await CommissionRepository(session).due(now, SWEEP_LIMIT)
        transfers = await TransferRepository(session).due(now, SWEEP_LIMIT)
        refunds = await ReversalRepository(session).due_refunds(now, SWEEP_LIMIT)
        reversals = await TransferRepository(session).due_reversals(now, SWEEP_LIMIT)
    await session.rollback()  # nothing written here; the steps commit their own
    settings = _settings()
    client = client_of(resources())
    for organization_id, commission_id in commissions:
        try:
            await charge.charge(
                resources().sessionmaker, settings, client, organization_id, commission_id, now=now
            )
        except Exception as exc:  # one commission's trouble does not stop the others
            log.warning(
                "billing.sweep_failed", commission_id=str(commission_id), error=type(exc).__name__
            )
    for organization_id, transfer_id in transfers:
        try:
            await payouts.transfer(
                resources().sessionmaker,
                settings,
                client,
                organization_id,
                transfer_id,
                now=now,
            )
        except Exception as exc:
            log.warning(
                "billing.sweep_failed", transfer_id=str(transfer_id), error=type(exc).__name__
            )
    for organization_id, reversal_id in refunds:
        try:
            await charge.refund_step(
                resources().sessionmaker, settings, client, organization_id, reversal_id, now=now
            )
        except Exception as exc:
            log.warning(
                "billing.sweep_failed", reversal_id=str(reversal_id), error=type(exc).__name__
            )
    for organization_id, reversal_id in reversals:
        try:
            await payouts.reversal_step(
                resources().sessionmaker, settings, client, organization_id, reversal_id, now=now
            )
        except Exception as exc:
            log.warning(
                "billing.sweep_failed", reversal_id=str(reversal_id), error=type(exc).__name__
            )
    if commissions or transfers or refunds or reversals:
        log.info(
            "billing.swept",
            commissions=len(commissions),
            transfers=len(transfers),
            refunds=len(refunds),
            transfer_reversals=len(reversals),
        )
