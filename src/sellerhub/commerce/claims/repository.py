"""Every statement of the claims workflow (the pipeline's report rows are in ``reports/``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.commerce.claims.models import OPEN, Claim, ClaimStatus, Recovery
from sellerhub.db.reads import Read

CHUNK = 1000


class ClaimRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_organization(self, organization_id: uuid.UUID, purpose: str) -> None:
        """A transaction-scoped advisory lock per organization and purpose: the writers of one
        organization's claims (detection, reimbursements) run one at a time (a second run
        waits, then sees what the first committed)."""
        await self.session.execute(
            select(
                func.pg_advisory_xact_lock(
                    func.hashtextextended(f"claims.{purpose}:{organization_id}", 0)
                )
            )
        )

    def add(self, row: Claim | Recovery) -> None:
        self.session.add(row)

    async def get(self, claim_id: uuid.UUID, *, lock: bool = False) -> Claim | None:
        statement = select(Claim).where(Claim.id == claim_id)
        if lock:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def by_keys(self, keys: Iterable[str], *, lock: bool = False) -> dict[str, Claim]:
        found: dict[str, Claim] = {}
        wanted = sorted(set(keys))
        for start in range(0, len(wanted), CHUNK):
            statement = select(Claim).where(Claim.key.in_(wanted[start : start + CHUNK]))
            if lock:
                statement = statement.order_by(Claim.key).with_for_update()
            rows = await self.session.execute(statement)
            found.update((c.key, c) for c in rows.scalars())
        return found

    async def case_ids(self) -> dict[str, str]:
        rows = await self.session.execute(
            select(Claim.key, Claim.case_id).where(Claim.case_id.is_not(None))
        )
        return {str(key): str(case) for key, case in rows if case}

    async def open_matching(
        self, *, case_ids: Sequence[str], references: Sequence[str], fnskus: Sequence[str]
    ) -> list[Claim]:
        """Claims a reimbursement may pay: by Amazon case id (any status but expired and
        rejected), by reference (an order id, a reimbursement id) or by FNSKU (open ones)."""
        found: dict[uuid.UUID, Claim] = {}
        for column, values, statuses in (
            (Claim.case_id, case_ids, (*OPEN, ClaimStatus.REIMBURSED.value)),
            (Claim.reference, references, (*OPEN, ClaimStatus.REIMBURSED.value)),
            (Claim.fnsku, fnskus, (*OPEN, ClaimStatus.REIMBURSED.value)),
        ):
            unique = [v for v in dict.fromkeys(values) if v]
            for start in range(0, len(unique), CHUNK):
                rows = await self.session.execute(
                    select(Claim)
                    .where(column.in_(unique[start : start + CHUNK]), Claim.status.in_(statuses))
                    .order_by(Claim.id)
                    .with_for_update()
                )
                found.update((c.id, c) for c in rows.scalars())
        return list(found.values())

    async def recoveries_by_reimbursement(self, ids: Iterable[str]) -> dict[str, Recovery]:
        found: dict[str, Recovery] = {}
        wanted = [i for i in dict.fromkeys(ids) if i]
        for start in range(0, len(wanted), CHUNK):
            rows = await self.session.execute(
                select(Recovery).where(Recovery.reimbursement_id.in_(wanted[start : start + CHUNK]))
            )
            found.update((r.reimbursement_id, r) for r in rows.scalars())
        return found

    async def recoveries_of(self, claim_id: uuid.UUID) -> list[Recovery]:
        rows = await self.session.execute(
            select(Recovery)
            .where(Recovery.claim_id == claim_id)
            .order_by(Recovery.approved_on, Recovery.id)
        )
        return list(rows.scalars())

    async def recoveries_of_many(self, claim_ids: Sequence[uuid.UUID]) -> list[Recovery]:
        if not claim_ids:
            return []
        rows = await self.session.execute(
            select(Recovery)
            .where(Recovery.claim_id.in_(list(claim_ids)))
            .order_by(Recovery.approved_on, Recovery.id)
        )
        return list(rows.scalars())

    async def recovery(self, recovery_id: uuid.UUID) -> Recovery | None:
        return await self.session.get(Recovery, recovery_id)

    async def due_to_expire(self, today: dt.date, limit: int) -> list[Claim]:
        """Unfiled claims past their deadline (any organization: the caller is a system job)."""
        rows = await self.session.execute(
            select(Claim)
            .where(
                Claim.status.in_((ClaimStatus.DETECTED.value, ClaimStatus.READY.value)),
                Claim.deadline < today,
            )
            .order_by(Claim.deadline, Claim.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(rows.scalars())

    async def due_to_open(self, today: dt.date, limit: int) -> list[Claim]:
        """Detected claims whose filing window opened (any organization: a system job)."""
        rows = await self.session.execute(
            select(Claim)
            .where(
                Claim.status == ClaimStatus.DETECTED.value,
                Claim.eligible_from <= today,
                Claim.deadline >= today,
            )
            .order_by(Claim.eligible_from, Claim.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(rows.scalars())

    async def page(
        self,
        *,
        limit: int,
        after: tuple[dt.date, uuid.UUID] | None,
        status: str | None,
        kind: str | None,
        deadline_before: dt.date | None,
        deadline_after: dt.date | None,
    ) -> list[Claim]:
        """Deadline first (the most urgent on top), then id; ``limit + 1`` rows."""
        statement = select(Claim)
        if status is not None:
            statement = statement.where(Claim.status == status)
        if kind is not None:
            statement = statement.where(Claim.kind == kind)
        if deadline_before is not None:
            statement = statement.where(Claim.deadline <= deadline_before)
        if deadline_after is not None:
            statement = statement.where(Claim.deadline >= deadline_after)
        if after is not None:
            statement = statement.where(
                tuple_(Claim.deadline, Claim.id) > tuple_(after[0], after[1])
            )
        rows = await self.session.execute(
            statement.order_by(Claim.deadline, Claim.id).limit(limit + 1)
        )
        return list(rows.scalars())

    async def totals(
        self,
        *,
        status: str | None,
        kind: str | None,
        deadline_before: dt.date | None,
        deadline_after: dt.date | None,
    ) -> tuple[list[Any], list[Any]]:
        """Per kind and currency: (kind, currency, claims, open claims, potential value of the
        open ones) from the claims, and (kind, currency, recovered) from their recoveries (in
        the currency Amazon paid), both under the same filters."""
        filters = []
        if status is not None:
            filters.append(Claim.status == status)
        if kind is not None:
            filters.append(Claim.kind == kind)
        if deadline_before is not None:
            filters.append(Claim.deadline <= deadline_before)
        if deadline_after is not None:
            filters.append(Claim.deadline >= deadline_after)
        potential = await self.session.execute(
            select(
                Claim.kind,
                Claim.currency,
                func.count(),
                func.count().filter(Claim.status.in_(OPEN)),
                func.coalesce(func.sum(Claim.value_minor).filter(Claim.status.in_(OPEN)), 0),
            )
            .where(*filters)
            .group_by(Claim.kind, Claim.currency)
            .order_by(Claim.kind, Claim.currency)
        )
        recovered = await self.session.execute(
            select(Claim.kind, Recovery.currency, func.sum(Recovery.amount_minor))
            .join(Recovery, Recovery.claim_id == Claim.id)
            .where(*filters)
            .group_by(Claim.kind, Recovery.currency)
            .order_by(Claim.kind, Recovery.currency)
        )
        return list(potential.all()), list(recovered.all())


# --- the dashboard's read (TenantReader: one statement with the page's other reads) -----------

CARD_SQL = """
SELECT json_build_object(
  'open', (SELECT count(*) FROM claims
           WHERE organization_id = %(organization_id)s
             AND status IN ('detected', 'ready', 'filed')),
  'found', (SELECT coalesce(json_agg(json_build_object('currency', currency, 'minor', minor)
                                     ORDER BY currency), '[]'::json)
            FROM (SELECT currency, sum(value_minor) AS minor FROM claims
                  WHERE organization_id = %(organization_id)s
                    AND status IN ('detected', 'ready', 'filed') AND currency IS NOT NULL
                  GROUP BY currency) f),
  'recovered', (SELECT coalesce(json_agg(json_build_object('currency', currency, 'minor', minor)
                                         ORDER BY currency), '[]'::json)
                FROM (SELECT currency, sum(amount_minor) AS minor FROM claim_recoveries
                      WHERE organization_id = %(organization_id)s
                      GROUP BY currency) r),
  'next_deadline', (SELECT min(deadline) FROM claims
                    WHERE organization_id = %(organization_id)s
                      AND status IN ('detected', 'ready'))
)
"""


def card_read() -> Read[dict[str, Any]]:
    def decode(value: Any) -> dict[str, Any]:
        return dict(value) if isinstance(value, dict) else {}

    return Read(CARD_SQL, {}, decode)
