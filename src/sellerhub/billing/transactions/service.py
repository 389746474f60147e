"""The money ledger: ``record`` writes one movement once (UNIQUE on the Stripe object and the
kind), follows its status forward only, and appends every insert and change to the audit.

Whoever learns of a movement records it, the API's answer and each webhook delivery alike;
the first writes the row, the others find it. A status moves only forward (``STATUS_RANK``): a
payout's ``paid`` is never overwritten by a late ``pending``."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.billing.transactions.models import (
    StripeTransaction,
    TransactionAudit,
    TransactionKind,
)
from sellerhub.billing.transactions.repository import TRANSACTIONS_PAGE_SQL, TransactionRepository
from sellerhub.core.errors import ValidationFailed
from sellerhub.core.ids import uuid7
from sellerhub.core.logging import get_logger
from sellerhub.db.reads import Read

log = get_logger(__name__)

# Statuses along a movement's life; the higher never yields to the lower.
STATUS_RANK: Final[Mapping[str, int]] = {
    "pending": 1,
    "in_transit": 2,
    "needs_response": 2,
    "warning_needs_response": 2,
    "under_review": 3,
    "warning_under_review": 3,
    "succeeded": 4,
    "paid": 4,
    "failed": 4,
    "canceled": 4,
    "won": 4,
    "lost": 4,
    "warning_closed": 4,
    "charge_refunded": 4,
    "reversed": 5,
}
OUT: Final = frozenset(
    {
        TransactionKind.REFUND,
        TransactionKind.DISPUTE,
        TransactionKind.TRANSFER,
        TransactionKind.PAYOUT,
    }
)


async def record(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    kind: TransactionKind,
    stripe_id: str,
    amount_minor: int,
    currency: str,
    status: str,
    source: str,
    payment_intent_id: str | None = None,
    charge_id: str | None = None,
    account_id: str | None = None,
    commission_id: uuid.UUID | None = None,
    recovery_id: uuid.UUID | None = None,
    stripe_created: int | None = None,
) -> bool:
    """Record a movement (or move its status forward); True when this call changed the
    ledger. The session's tenant, when set, must be ``organization_id``."""
    if not stripe_id or amount_minor < 0 or len(currency) != 3:
        raise ValidationFailed(f"a {kind} needs a Stripe id, an amount and a currency")
    repo = TransactionRepository(session)
    values: dict[str, Any] = {
        "id": uuid7(),
        "organization_id": organization_id,
        "kind": kind,
        "stripe_id": stripe_id[:100],
        "amount_minor": amount_minor,
        "currency": currency.upper(),
        "status": status[:40],
        "direction": "out" if kind in OUT else "in",
        "payment_intent_id": payment_intent_id,
        "charge_id": charge_id,
        "account_id": account_id,
        "commission_id": commission_id,
        "recovery_id": recovery_id,
        "stripe_created": stripe_created,
        "source": source[:100],
    }
    inserted = await repo.insert_once(values)
    if inserted is not None:
        _audit(repo, values | {"id": inserted}, "recorded")
        await session.flush()  # inside the caller's scope (a system context ends with it)
        log.info("billing.transaction_recorded", kind=str(kind), stripe_id=stripe_id)
        return True
    row = await repo.find(stripe_id, kind, lock=True)
    if row is None or row.status == status:
        return False
    if STATUS_RANK.get(status, 0) <= STATUS_RANK.get(row.status, 0):
        return False  # older news
    previous = row.status
    row.status = status[:40]
    row.source = source[:100]
    await session.flush()
    _audit(
        repo,
        {
            "id": row.id,
            "organization_id": row.organization_id,
            "kind": row.kind,
            "stripe_id": row.stripe_id,
            "amount_minor": row.amount_minor,
            "currency": row.currency,
            "status": row.status,
            "source": row.source,
        },
        "status_changed",
        previous=previous,
    )
    await session.flush()
    return True


def _audit(
    repo: TransactionRepository, values: Mapping[str, Any], action: str, **data: Any
) -> None:
    entry = TransactionAudit(
        organization_id=values["organization_id"],
        transaction_id=values["id"],
        action=action,
        kind=str(values["kind"]),
        stripe_id=values["stripe_id"],
        amount_minor=values["amount_minor"],
        currency=values["currency"],
        status=values["status"],
        source=values["source"],
        data=data,
    )
    entry.ensure_id()
    repo.add_audit(entry)


async def page(
    session: AsyncSession, *, limit: int, before: uuid.UUID | None, kind: str | None
) -> tuple[Sequence[StripeTransaction], uuid.UUID | None]:
    rows = await TransactionRepository(session).page(limit=limit, before=before, kind=kind)
    items = rows[:limit]
    return items, (items[-1].id if len(rows) > limit else None)


def _rows(value: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in value or []]


def transactions_read(*, limit: int, before: uuid.UUID | None) -> Read[list[dict[str, Any]]]:
    """A page of the ledger, newest first, for a page's one read (``web.session.view``): at
    most ``limit`` + 1 rows (the extra one means there is a next page)."""
    return Read(
        TRANSACTIONS_PAGE_SQL,
        {"transactions_before": before, "transactions_limit": limit + 1},
        _rows,
    )
