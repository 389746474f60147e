"""The claims pipeline: Amazon's FBA reports pulled step by step for a sync job (resource
``fba_claims_reports``) and stored without duplicates, then detection over what is stored.

**Steps.** For each of the connection's participating marketplaces (id order), one step per
report: ``GET_LEDGER_DETAIL_VIEW_DATA``, ``GET_FBA_REIMBURSEMENTS_DATA``,
``GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA``; then one step for the Finances API's refund
events (per seller, not per marketplace). A step creates its report for the job's period, polls
it until ``DONE``, and streams the document's batches (``reports.iter_report_batches``: about a
thousand rows each, bounded memory) through ``normalise`` into a ``COPY`` to a staging table,
then one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` keeps the rows not stored yet, all in
one transaction. The job's cursor (``{"step": n, "marketplaces": [...]}``) is saved by the
sync runner after each step, so a run stopped anywhere redoes only the unfinished step (and a
step done twice stores nothing twice).

**Period.** From ``since`` (the sync job's: the last successful pull's start less
``OVERLAP``) or, on the first pull, ``LOOKBACK`` (18 months, what the ledger report keeps),
floored to midnight UTC, so a day is pulled whole and the ledger's identical rows keep their
indexes; to now. Refunds at most ``REFUNDS_LOOKBACK`` back (a refund is claimable for 120
days).

**Failures.** ``FATAL`` fails the job with the error document's words (``SyncFailed``): it can
be resumed and redoes that step. ``CANCELLED`` is what Amazon answers for a period without data
(we never cancel our own reports), so the step stores nothing and the pull goes on. A throttled
call waits and retries the step; a 5xx or a dropped download (already resumed by ``Range``
inside the client) that persists goes back to the queue; a row that cannot be read is skipped
and counted (``skipped``).

**Detection** (``detect``): per marketplace, the stored rows the rules read, filtered in SQL
(``repository``), through ``rules.detect``; the claims are recorded by the claims workflow
(``claims.service.record_detected``, upserted by key) and the reimbursements matched
(``claims.service.record_reimbursements``, a recovery once per reimbursement). Running it twice
changes nothing the first run did not.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any, Final, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sellerhub.commerce.claims import normalise, rules, windows
from sellerhub.commerce.claims.reports.repository import (
    INBOUND,
    LEDGER,
    REFUNDS,
    REIMBURSEMENTS,
    RETURNS,
    ReportRowsRepository,
    Source,
)
from sellerhub.commerce.claims.rows import (
    CustomerReturn,
    LedgerEvent,
    Refund,
    Reimbursement,
    ShippedItem,
)
from sellerhub.connections.providers.amazon_spapi import finances, inbound, reports
from sellerhub.connections.refresh import RefreshContext, access_token_for
from sellerhub.core.clock import utcnow
from sellerhub.core.logging import get_logger
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant

log = get_logger(__name__)

RESOURCE: Final = "fba_claims_reports"
DETECT_RESOURCE: Final = "fba_claims_detect"  # the detection sync job, one marketplace a page
DETECT_TASK: Final = "commerce.claims_detect"
AFTER_FBA_TASK: Final = "commerce.claims_reports_after_fba"
LOOKBACK: Final = dt.timedelta(days=548)  # 18 months
OVERLAP: Final = dt.timedelta(days=2)  # late rows of the days before the last pull
# Refunds are claimable at most 120 days after they were posted (windows.WINDOWS): older ones
# are not pulled (and the Finances API serves a limited past).
REFUNDS_LOOKBACK: Final = dt.timedelta(days=180)
# A shipment is updated when it closes, after its delivery, and a shortage is claimable until 60
# days after delivery: shipments last updated longer ago than this cannot be claimed (and each
# costs a getShipmentItemsByShipmentId call at 2 a second).
INBOUND_LOOKBACK: Final = dt.timedelta(days=90)
POLL_SECONDS = 5.0  # getReport's first interval (the client grows it by half up to 60 s)
MAX_WAIT_SECONDS = 1800.0  # then ReportNotReady: the queue retries the step later
# While Amazon produces a report, the run renews its lease this often (the sync runner's lease
# is 5 minutes), and stops when the job was cancelled meanwhile.
KEEPALIVE_SECONDS = 60.0
REFUNDS_STEP: Final = "refunds"
INBOUND_STEP: Final = "inbound_shipments"
REPORT_STEPS: Final = (
    normalise.LEDGER_DETAIL,
    normalise.REIMBURSEMENTS,
    normalise.CUSTOMER_RETURNS,
)
MAX_CURSOR: Final = 2000

# What detection reads, back from today (the rules emit nothing older): warehouse losses live
# 60 days, but a reimbursement (approved up to 180 days after an event) may be matched to an
# older one first, and values come from the year before: a year and a half of adjustments and
# reimbursements; refunds within the longest returns window (120 days) and a margin.
LEDGER_DAYS: Final = 550
REIMBURSEMENT_DAYS: Final = 550
REFUND_DAYS: Final = 135
# A shipment is claimable until 60 days after its delivery, which came before it closed.
INBOUND_DAYS: Final = 90
WAREHOUSE_CODES: Final = rules.LOST_CODES | rules.FOUND_CODES | rules.DAMAGED_CODES


class StepFailed(Exception):
    """A step that cannot succeed by retrying (a FATAL report, a refusal): the job fails with
    these words and can be resumed."""


class StepCancelled(StepFailed):
    """The job was cancelled (or taken over by another run) while a report was produced."""


class StepThrottled(Exception):
    """Amazon still throttles after the client's own retries: wait, then redo the step."""


@dataclass(frozen=True)
class Step:
    kind: str  # a report type, or REFUNDS_STEP
    marketplace_id: str | None


def steps_of(marketplaces: list[str]) -> list[Step]:
    per_marketplace = (*REPORT_STEPS, INBOUND_STEP)
    return [Step(kind, m) for m in marketplaces for kind in per_marketplace] + [
        Step(REFUNDS_STEP, None)
    ]


@dataclass(frozen=True)
class Position:
    step: int
    marketplaces: list[str]

    def encode(self) -> str:
        text = json.dumps({"step": self.step, "marketplaces": self.marketplaces})
        if len(text) > MAX_CURSOR:
            raise StepFailed("the connection has too many marketplaces for one pull")
        return text

    @classmethod
    def decode(cls, cursor: str | None) -> Position | None:
        if not cursor:
            return None
        try:
            data = json.loads(cursor)
            step, marketplaces = data["step"], data["marketplaces"]
        except (ValueError, KeyError, TypeError):
            return None  # not ours: start over (a step done again stores nothing twice)
        if not isinstance(step, int) or not isinstance(marketplaces, list):
            return None
        if not all(isinstance(m, str) for m in marketplaces):
            return None
        return cls(step, marketplaces)


def marketplaces_of(details: Mapping[str, Any]) -> list[str]:
    """The participating marketplace ids recorded on the connection, in id order."""
    found = details.get("marketplaces") or []
    return sorted(
        {
            str(m["id"])
            for m in found
            if isinstance(m, dict) and m.get("id") and m.get("participating", True)
        }
    )


def period_start(since: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    start = now - LOOKBACK if since is None else max(since - OVERLAP, now - LOOKBACK)
    return dt.datetime.combine(start.astimezone(dt.UTC).date(), dt.time(), dt.UTC)


@dataclass
class StepDone:
    step: Step
    fetched: int = 0  # rows read from Amazon
    stored: int = 0  # rows new to the tables
    skipped: int = 0  # rows that could not be read
    cancelled: bool = False  # Amazon had no data for the period
    next_cursor: str | None = None  # None: every step is done


# -- rows to staged tuples ------------------------------------------------------------------------


_Row = TypeVar("_Row")


def _values(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    """A normalised row's values in its dataclass's field order: the order of its source's
    stored columns after ``marketplace_id`` (``repository.LEDGER`` and the others)."""
    return attrgetter(*(f.name for f in fields(cls)))


_LEDGER_VALUES: Final = _values(LedgerEvent)
_REIMBURSEMENT_VALUES: Final = _values(Reimbursement)
_RETURN_VALUES: Final = _values(CustomerReturn)
_REFUND_VALUES: Final = _values(Refund)


@dataclass
class _Reader:
    """Normalised tuples of one source's rows, in its ``Source.columns`` order; counts what it
    read and skipped."""

    marketplace_id: str
    fetched: int = 0
    skipped: int = 0
    first_problem: str = ""
    _seen: set[str] = field(default_factory=set)

    def _skip(self, exc: normalise.BadReportValue) -> None:
        self.skipped += 1
        if not self.first_problem:
            self.first_problem = exc.detail
        if exc.column not in self._seen:
            self._seen.add(exc.column)
            log.warning("claims_reports.row_skipped", report=exc.report, column=exc.column)

    def _read(self, rows: list[Any], read: Callable[[Any], _Row]) -> Iterator[_Row]:
        """Each row normalised; one that cannot be read is skipped and counted."""
        for row in rows:
            try:
                yield read(row)
            except normalise.BadReportValue as exc:
                self._skip(exc)

    def ledger(self, batch: list[dict[str, str]]) -> list[tuple[Any, ...]]:
        self.fetched += len(batch)
        types = normalise.DETECTION_EVENT_TYPES
        wanted = [
            row
            for row in batch
            if not isinstance(kind := row.get("Event Type"), str) or kind.strip() in types
        ]
        return [
            (self.marketplace_id, *_LEDGER_VALUES(e))
            for e in self._read(wanted, normalise.ledger_event)
        ]

    def reimbursements(self, batch: list[dict[str, str]]) -> list[tuple[Any, ...]]:
        self.fetched += len(batch)
        return [
            (self.marketplace_id, *_REIMBURSEMENT_VALUES(r))
            for r in self._read(batch, normalise.reimbursement)
        ]

    def returns(self, batch: list[dict[str, str]]) -> list[tuple[Any, ...]]:
        self.fetched += len(batch)
        return [
            (self.marketplace_id, *_RETURN_VALUES(r))
            for r in self._read(batch, normalise.customer_return)
        ]

    def refunds(self, events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        self.fetched += len(events)
        return [_REFUND_VALUES(r) for items in self._read(events, normalise.refunds) for r in items]


_SOURCES: Final[dict[str, tuple[Source, Callable[[_Reader], Any]]]] = {
    normalise.LEDGER_DETAIL: (LEDGER, lambda r: r.ledger),
    normalise.REIMBURSEMENTS: (REIMBURSEMENTS, lambda r: r.reimbursements),
    normalise.CUSTOMER_RETURNS: (RETURNS, lambda r: r.returns),
}


# -- one step -------------------------------------------------------------------------------------


async def run_step(
    ctx: RefreshContext,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    since: dt.datetime | None,
    cursor: str | None,
    *,
    keepalive: Callable[[], Awaitable[bool]] | None = None,
) -> StepDone:
    """Pull and store the step at ``cursor`` (None: the first). ``keepalive`` renews the
    run's lease while a report is produced (False: stop, the job was cancelled). Raises
    ``StepFailed`` (``StepCancelled``), ``StepThrottled``, or ``UpstreamUnavailable`` (retry
    later)."""
    position = Position.decode(cursor)
    if position is None:
        fresh = await access_token_for(ctx, organization_id, connection_id)
        marketplaces = marketplaces_of(fresh.details)
        if not marketplaces:
            raise StepFailed("the Amazon connection has no participating marketplace")
        position = Position(0, marketplaces)
    all_steps = steps_of(position.marketplaces)
    if position.step >= len(all_steps):
        return StepDone(all_steps[-1])
    step = all_steps[position.step]
    start = period_start(since, utcnow())
    following = position.step + 1
    try:
        done = await _pull(ctx, organization_id, connection_id, step, start, keepalive)
    except reports.ReportFatal as exc:
        raise StepFailed(
            f"Amazon could not produce {step.kind} for {step.marketplace_id or 'the seller'}: "
            f"{exc.details or 'no error document'}. Resume the job to ask for it again."
        ) from None
    except reports.ReportThrottled:
        raise StepThrottled() from None
    except reports.ReportRefused as exc:
        raise StepFailed(str(exc)) from None
    done.next_cursor = (
        Position(following, position.marketplaces).encode() if following < len(all_steps) else None
    )
    return done


async def _pull(
    ctx: RefreshContext,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    step: Step,
    start: dt.datetime,
    keepalive: Callable[[], Awaitable[bool]] | None = None,
) -> StepDone:
    if step.kind == REFUNDS_STEP:
        return await _pull_refunds(ctx, organization_id, connection_id, step, start)
    if step.kind == INBOUND_STEP:
        return await _pull_inbound(ctx, organization_id, connection_id, step, start)
    assert step.marketplace_id is not None
    done = StepDone(step)
    report_id = await reports.create_report(
        ctx, organization_id, connection_id, step.kind, [step.marketplace_id], data_start=start
    )
    try:
        report = await _wait(ctx, organization_id, connection_id, report_id, keepalive)
    except reports.ReportCancelled:
        log.info("claims_reports.no_data", report_type=step.kind, report_id=report_id)
        done.cancelled = True
        return done
    document_id = report.report_document_id
    assert document_id is not None
    rows = reports.iter_report_batches(ctx, organization_id, connection_id, document_id)
    return await store_report(
        ctx.sessionmaker, organization_id, connection_id, step, rows, done=done
    )


async def _wait(
    ctx: RefreshContext,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    report_id: str,
    keepalive: Callable[[], Awaitable[bool]] | None,
) -> reports.Report:
    """``wait_for_report`` in spans of ``KEEPALIVE_SECONDS``, the same report polled again
    after each, the run's lease renewed in between; ``MAX_WAIT_SECONDS`` in all."""
    deadline = time.monotonic() + MAX_WAIT_SECONDS
    while True:
        span = min(KEEPALIVE_SECONDS, max(deadline - time.monotonic(), 0.0))
        try:
            return await reports.wait_for_report(
                ctx,
                organization_id,
                connection_id,
                report_id,
                poll_seconds=POLL_SECONDS,
                max_wait=span,
            )
        except reports.ReportNotReady:
            if time.monotonic() >= deadline:
                raise
        if keepalive is not None and not await keepalive():
            raise StepCancelled(f"stopped while Amazon produced report {report_id}")


async def _pull_refunds(
    ctx: RefreshContext,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    step: Step,
    start: dt.datetime,
) -> StepDone:
    done = StepDone(step)
    reader = _Reader("")
    posted_after = max(start, utcnow() - REFUNDS_LOOKBACK)

    async def batches() -> AsyncIterator[list[tuple[Any, ...]]]:
        page: list[dict[str, Any]] = []
        async for event in finances.iter_refund_events(
            ctx, organization_id, connection_id, posted_after=posted_after
        ):
            page.append(event)
            if len(page) >= 500:
                yield reader.refunds(page)
                page = []
        if page:
            yield reader.refunds(page)

    async with unit_of_work(ctx.sessionmaker) as session:
        set_tenant(session, organization_id)
        repo = ReportRowsRepository(session, organization_id, connection_id)
        await repo.stage(REFUNDS, batches())
        done.stored = await repo.merge(REFUNDS)
    done.fetched, done.skipped = reader.fetched, reader.skipped
    _log_step(done)
    return done


async def _pull_inbound(
    ctx: RefreshContext,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    step: Step,
    start: dt.datetime,
) -> StepDone:
    """The marketplace's shipments closed (last updated) in the period, at most
    ``INBOUND_LOOKBACK`` back, and each one's items: shipped and received per FNSKU. A
    shipment is recorded closed on the day of the pull that first sees it (the API gives no
    closing day)."""
    assert step.marketplace_id is not None
    marketplace_id = step.marketplace_id
    done = StepDone(step)
    today = utcnow().date()
    country = windows.country_of(marketplace_id)

    async def batches() -> AsyncIterator[list[tuple[Any, ...]]]:
        async for shipment in inbound.iter_shipments(
            ctx,
            organization_id,
            connection_id,
            marketplace_id,
            updated_after=max(start, utcnow() - INBOUND_LOOKBACK),
            updated_before=utcnow() - finances.POSTED_BEFORE_LAG,
        ):
            done.fetched += 1
            shipment_id = str(shipment["ShipmentId"])
            try:
                items = await inbound.get_shipment_items(
                    ctx, organization_id, connection_id, shipment_id, marketplace_id
                )
            except reports.ReportRefused:  # an id Amazon would not take in a path
                done.skipped += 1
                log.warning("claims_reports.shipment_skipped", marketplace_id=marketplace_id)
                continue
            yield [
                (
                    marketplace_id,
                    item.shipment_id,
                    item.fnsku,
                    item.seller_sku,
                    item.quantity_shipped,
                    item.quantity_received,
                    today,
                    country,
                )
                for item in items
                if item.quantity_shipped >= 0 and item.quantity_received >= 0
            ]

    async with unit_of_work(ctx.sessionmaker) as session:
        set_tenant(session, organization_id)
        repo = ReportRowsRepository(session, organization_id, connection_id)
        await repo.stage(INBOUND, batches())
        done.stored = await repo.merge(INBOUND)
    _log_step(done)
    return done


async def store_report(
    sessionmaker: async_sessionmaker[AsyncSession],
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    step: Step,
    rows: AsyncIterator[list[dict[str, str]]],
    *,
    done: StepDone | None = None,
) -> StepDone:
    """A report document's batches of rows (keyed by Amazon's columns) normalised, staged with
    ``COPY`` and merged, in one transaction of its own. Returns the counts."""
    assert step.kind in _SOURCES and step.marketplace_id is not None
    done = done or StepDone(step)
    reader = _Reader(step.marketplace_id)
    source, pick = _SOURCES[step.kind]
    convert = pick(reader)

    async def batches() -> AsyncIterator[list[tuple[Any, ...]]]:
        async for batch in rows:
            yield convert(batch)

    async with unit_of_work(sessionmaker) as session:
        set_tenant(session, organization_id)
        repo = ReportRowsRepository(session, organization_id, connection_id)
        await repo.stage(source, batches())
        done.stored = await repo.merge(source)
    done.fetched, done.skipped = reader.fetched, reader.skipped
    _log_step(done)
    return done


def _log_step(done: StepDone) -> None:
    log.info(
        "claims_reports.step_done",
        kind=done.step.kind,
        marketplace_id=done.step.marketplace_id,
        fetched=done.fetched,
        stored=done.stored,
        skipped=done.skipped,
    )


# -- detection ------------------------------------------------------------------------------------


@dataclass
class Detected:
    claims: int = 0
    new: int = 0
    refreshed: int = 0
    recoveries: int = 0
    marketplaces: list[str] = field(default_factory=list)
    rows: int = 0  # evidence rows the rules read


def _ledger(row: tuple[Any, ...]) -> LedgerEvent:
    return LedgerEvent(*row)


def _reimbursement(row: tuple[Any, ...]) -> Reimbursement:
    return Reimbursement(*row)


def _refund(row: tuple[Any, ...]) -> Refund:
    return Refund(*row)


def _return(row: tuple[Any, ...]) -> CustomerReturn:
    return CustomerReturn(*row)


async def detect(
    session: AsyncSession,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    *,
    today: dt.date,
) -> Detected:
    """Run the rules over the connection's stored rows, marketplace by marketplace, and hand
    the claims and reimbursements to the claims workflow (in the caller's transaction). The
    detection sync job (resource ``DETECT_RESOURCE``) runs the same steps one marketplace per
    page instead (``detect_marketplace``), each in its own transaction."""
    marketplaces = await detection_marketplaces(session, organization_id, connection_id)
    result = Detected(marketplaces=marketplaces)
    for marketplace_id in marketplaces:
        step = await detect_marketplace(
            session, organization_id, connection_id, marketplace_id, today=today
        )
        result.claims += step.claims
        result.new += step.new
        result.refreshed += step.refreshed
        result.recoveries += step.recoveries
        result.rows += step.rows
    return result


async def detection_marketplaces(
    session: AsyncSession, organization_id: uuid.UUID, connection_id: uuid.UUID
) -> list[str]:
    """The marketplaces the connection's stored rows cover, in a stable order (a detection
    job's cursor names the next one)."""
    return await ReportRowsRepository(session, organization_id, connection_id).marketplaces()


async def detect_marketplace(
    session: AsyncSession,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    marketplace_id: str,
    *,
    today: dt.date,
) -> Detected:
    """Detection over one marketplace's rows, recorded in the caller's transaction
    (idempotent: claims are upserted by key, recoveries created once per reimbursement)."""
    from sellerhub.commerce.claims import service as claims  # the parent package (it imports rules)

    repo = ReportRowsRepository(session, organization_id, connection_id)
    # The seller's filed claims and their case ids: a payment under a case nets its claim.
    filed = await claims.filed_cases(session, organization_id)
    country = windows.country_of(marketplace_id)
    ledger = [
        _ledger(r)
        for r in await repo.ledger(
            marketplace_id,
            codes=WAREHOUSE_CODES,
            since=today - dt.timedelta(days=LEDGER_DAYS),
        )
    ]
    paid = [
        _reimbursement(r)
        for r in await repo.reimbursements(
            marketplace_id, since=today - dt.timedelta(days=REIMBURSEMENT_DAYS)
        )
    ]
    refund_since = today - dt.timedelta(days=REFUND_DAYS)
    refunds = [_refund(r) for r in await repo.refunds(country, since=refund_since)]
    returns = [_return(r) for r in await repo.returns(country, since=refund_since)]
    inbound_since = today - dt.timedelta(days=INBOUND_DAYS)
    shipped = [
        ShippedItem(
            shipment_id=shipment_id,
            sku=sku,
            fnsku=fnsku,
            quantity_shipped=quantity,
            closed_on=closed_on,
            country=item_country,
        )
        for shipment_id, sku, fnsku, quantity, closed_on, item_country in await repo.inbound(
            marketplace_id, since=inbound_since
        )
    ]
    receipts = [_ledger(r) for r in await repo.receipts(marketplace_id, since=inbound_since)]
    shipments = normalise.inbound(shipped, receipts)
    found = rules.detect(
        today=today,
        ledger=ledger,
        reimbursements=paid,
        returns=returns,
        refunds=refunds,
        shipments=shipments,
        country=country or marketplace_id,
        filed=filed,
        sale_prices=normalise.sale_prices(refunds),
    )
    counts = await claims.record_detected(
        session, organization_id, connection_id, found, today=today
    )
    recoveries = await claims.record_reimbursements(session, organization_id, paid)
    log.info(
        "claims.detected",
        marketplace_id=marketplace_id,
        ledger=len(ledger),
        reimbursements=len(paid),
        refunds=len(refunds),
        returns=len(returns),
        shipment_items=len(shipped),
        claims=len(found),
        new=counts.new,
    )
    return Detected(
        claims=len(found),
        new=counts.new,
        refreshed=counts.refreshed,
        recoveries=recoveries,
        marketplaces=[marketplace_id],
        rows=len(ledger) + len(paid) + len(refunds) + len(returns) + len(shipped) + len(receipts),
    )


async def stored_counts(
    session: AsyncSession, organization_id: uuid.UUID, connection_id: uuid.UUID
) -> tuple[int, int, int, int, int]:
    """Rows stored for the connection: ledger events, reimbursements, returns, refunds,
    inbound shipment items."""
    return await ReportRowsRepository(session, organization_id, connection_id).counts()
