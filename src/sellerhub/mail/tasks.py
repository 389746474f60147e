"""Mail jobs."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.core.logging import get_logger
from sellerhub.db.session import unit_of_work
from sellerhub.jobs.app import resources, task
from sellerhub.mail import service
from sellerhub.mail.mailer import current_mailer

log = get_logger(__name__)


@task(service.SEND_TASK, queue=service.QUEUE)
async def send_mail(session: AsyncSession, mail_id: str) -> None:
    """Deliver one outbox message (SMTP in production; in development the outbox row is the
    delivery and this only marks it sent). A failure is recorded in ``last_error`` and the job
    retries with backoff."""
    identifier = uuid.UUID(mail_id)
    mailer = current_mailer()
    try:
        await service.deliver(session, identifier, mailer)
    except Exception as exc:
        error = service.describe_error(exc)
        log.warning("mail.delivery_failed", mail_id=mail_id, transport=mailer.name, error=error)
        # Release the row lock first (the runner would roll back anyway), then keep the error
        # in a transaction of its own so that it survives the retry.
        await session.rollback()
        async with unit_of_work(resources().sessionmaker) as other:
            await service.record_failure(other, identifier, error)
        raise
