"""Mail: queued in the caller's transaction, delivered by the ``mail.send`` job.

``queue_mail`` writes the ``mail_outbox`` row and requests the job in the same transaction, so
a message exists if and only if the business write that caused it was committed, and it is
delivered even if the process dies right after the commit (jobs outbox re-drive).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.core.clock import utcnow
from sellerhub.core.logging import get_logger
from sellerhub.jobs import app as jobs
from sellerhub.mail.mailer import Envelope, Mailer
from sellerhub.mail.models import OutboundMail
from sellerhub.mail.repository import MailRepository

log = get_logger(__name__)

SEND_TASK = "mail.send"
QUEUE = "mail"
_MAX_ERROR = 500


async def queue_mail(session: AsyncSession, *, to: str, subject: str, body: str) -> OutboundMail:
    """Store the message and request its delivery, both in the caller's transaction. The log
    line names the message only by id: bodies may hold codes, addresses are personal data."""
    mail = OutboundMail(to_address=to, subject=subject, body_text=body)
    mail.ensure_id()
    MailRepository(session).add(mail)
    await jobs.enqueue(session, SEND_TASK, {"mail_id": str(mail.id)})
    await session.flush()
    log.info("mail.queued", mail_id=str(mail.id))
    return mail


async def deliver(session: AsyncSession, mail_id: uuid.UUID, mailer: Mailer) -> bool:
    """Hand one queued message to ``mailer`` and mark it sent. Idempotent: an unknown or already
    sent message is skipped (returns False). The row stays locked while it is handed over."""
    mail = await MailRepository(session).get_for_update(mail_id)
    if mail is None or mail.sent_at is not None:
        return False
    await mailer.deliver(
        Envelope(mail_id=mail.id, to=mail.to_address, subject=mail.subject, body=mail.body_text)
    )
    mail.sent_at = utcnow()
    mail.last_error = None
    return True


def describe_error(exc: BaseException) -> str:
    """What ``last_error`` keeps: the error type and the server's answer, never a body."""
    text = f"{type(exc).__name__}: {exc}".replace("\r", " ").replace("\n", " ")
    return text[:_MAX_ERROR]


async def record_failure(session: AsyncSession, mail_id: uuid.UUID, error: str) -> None:
    mail = await MailRepository(session).get(mail_id)
    if mail is not None and mail.sent_at is None:
        mail.last_error = error[:_MAX_ERROR]


async def latest(session: AsyncSession, *, limit: int, to: str | None) -> Sequence[OutboundMail]:
    return await MailRepository(session).latest(limit=limit, to=to)
