"""Detection rules: pure functions from normalised rows (``rows``) and ``today`` to claims.

Every rule answers the complete set of claims that can be filed today; a claim is emitted only
from its first filing day (``eligible_from``) through its deadline, both inclusive. An expired
candidate is not emitted: the seller cannot file it any more, and a first run over eighteen
months of history would otherwise bury the live ones. A stored claim whose key is absent from a
later run was resolved (found, returned, reimbursed) or expired; the workflow decides which from
its own dates. Keys are stable: a hash of the kind and the identifying fields of the evidence
that starts the claim (never of a quantity that a partial reimbursement changes), so a second
run over the same or overlapping reports yields the same keys.

Already reimbursed units are never claimed. Reimbursements (``GET_FBA_REIMBURSEMENTS_DATA``)
are netted of their reversals first (a ``Reimbursement_Reversal`` row names the reimbursement it
takes back: the units it took back are claimable again), then matched to claims in this order,
each unit of a reimbursement used once:

1. by case id, where the seller filed the claim and recorded Amazon's case id (``filed``);
2. by order id (customer-return claims);
3. by FNSKU, reason and date proximity (warehouse and inbound claims): approved from
   ``MATCH_BEFORE_DAYS`` before the event to ``MATCH_AFTER_DAYS`` after it, a reimbursement of
   exactly the claim's units first, then the closest in date; units of the other warehouse
   reason (a loss reimbursed as damage) last.

A partial reimbursement leaves the rest of the units claimable.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from sellerhub.commerce.claims import windows
from sellerhub.commerce.claims.rows import (
    ClaimKind,
    CustomerReturn,
    Evidence,
    InboundShipment,
    ItemValue,
    LedgerEvent,
    Refund,
    Reimbursement,
    SalePrice,
    ValueSource,
)

# Adjustment reason codes of the Inventory Ledger (Seller Central help "Inventory Ledger report"
# adjustment table, as reproduced by report parsers): M inventory misplaced (lost), 5 a loss
# per a claims tool's description; F and N found; 6, 7, E, H, K, U damaged at an Amazon
# fulfillment center (each followed by a P increase to the warehouse-damaged disposition, not
# counted). D (disposed) and the disposition changes P and Q are not claims.
LOST_CODES: Final = frozenset({"M", "5"})
FOUND_CODES: Final = frozenset({"F", "N"})
DAMAGED_CODES: Final = frozenset({"6", "7", "E", "H", "K", "U"})

# Reimbursement reasons (GET_FBA_REIMBURSEMENTS_DATA ``reason``), compared case-insensitively.
LOST_REASONS: Final = frozenset({"lost_warehouse"})
DAMAGED_REASONS: Final = frozenset({"damaged_warehouse"})
INBOUND_REASONS: Final = frozenset({"lost_inbound", "damaged_inbound"})
CUSTOMER_REASONS: Final = frozenset({"customerreturn", "customerserviceissue"})

# Amazon reimburses warehouse losses by itself since 2024-11-01, and a reimbursement reaches
# the report up to about five days after approval: a loss is claimed after a week, not before.
GRACE_DAYS: Final = 7
# A found unit offsets a loss reported up to a week after it (the unit turned up first).
FOUND_LOOKBACK_DAYS: Final = 7
# A reimbursement matches an event approved from a week before it to half a year after it.
MATCH_BEFORE_DAYS: Final = 7
MATCH_AFTER_DAYS: Final = 180
# Reimbursed below value: paid less than (100 - this) % of what Amazon paid for the same FNSKU
# in the year before, over at least MIN_HISTORY other reimbursements.
BELOW_VALUE_TOLERANCE_PERCENT: Final = 10
MIN_HISTORY: Final = 2
HISTORY_DAYS: Final = 365


@dataclass(frozen=True, slots=True)
class Claim:
    """A claim to file. ``reference`` is what Amazon's form asks for (the adjustment's
    reference id, the order id, the shipment id or the reimbursement id). ``value_minor`` is the
    estimate for ``quantity`` units in ``currency`` (``None`` when nothing prices the item)."""

    kind: ClaimKind
    key: str
    sku: str
    fnsku: str
    asin: str
    quantity: int
    value_minor: int | None
    currency: str | None
    value_source: ValueSource | None
    evidence: tuple[Evidence, ...]
    event_date: dt.date
    eligible_from: dt.date
    deadline: dt.date
    country: str
    reference: str


def claim_key(kind: ClaimKind, *parts: object) -> str:
    """The stable key: SHA-256 over the kind and the identifying fields, 32 hex characters."""
    text = "\x1f".join([str(kind), *(str(part) for part in parts)])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# --- valuation ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Valuation:
    """Per-unit values by FNSKU and by SKU (``valuation`` builds it)."""

    by_fnsku: Mapping[str, ItemValue] = field(default_factory=dict)
    by_sku: Mapping[str, ItemValue] = field(default_factory=dict)

    def of(self, *, fnsku: str, sku: str) -> ItemValue | None:
        if fnsku and fnsku in self.by_fnsku:
            return self.by_fnsku[fnsku]
        if sku and sku in self.by_sku:
            return self.by_sku[sku]
        return None


def valuation(
    reimbursements: Iterable[Reimbursement],
    sale_prices: Iterable[SalePrice] = (),
    *,
    today: dt.date,
) -> Valuation:
    """What a unit is worth: the median per-unit amount Amazon paid in cash for the FNSKU (or
    SKU) over the last ``HISTORY_DAYS`` (reversed reimbursements left out; in the currency of the
    latest one), else the sale price. Amazon has reimbursed at manufacturing cost since
    2025-03-10, so its own payouts predict a claim better than the price the item sells for."""
    pool = _Pool(reimbursements)
    since = today - dt.timedelta(days=HISTORY_DAYS)
    by_fnsku: dict[str, list[Reimbursement]] = defaultdict(list)
    by_sku: dict[str, list[Reimbursement]] = defaultdict(list)
    for index, row in enumerate(pool.rows):
        if (
            row.quantity_cash <= 0
            or row.original_reimbursement_id  # an adjustment of another: not a unit's price
            or row.amount_per_unit_minor <= 0
            or pool.left[index] <= 0
            or not since <= row.approval_date <= today
        ):
            continue
        if row.fnsku:
            by_fnsku[row.fnsku].append(row)
        if row.sku:
            by_sku[row.sku].append(row)

    def history(rows: list[Reimbursement]) -> ItemValue:
        latest = max(rows, key=lambda r: (r.approval_date, r.reimbursement_id))
        same = [r.amount_per_unit_minor for r in rows if r.currency == latest.currency]
        return ItemValue(
            sku=latest.sku,
            fnsku=latest.fnsku,
            value_minor=int(statistics.median_low(same)),
            currency=latest.currency,
            source=ValueSource.REIMBURSEMENT_HISTORY,
        )

    fnsku_values = {fnsku: history(rows) for fnsku, rows in by_fnsku.items()}
    sku_values = {sku: history(rows) for sku, rows in by_sku.items()}
    for price in sale_prices:
        if price.unit_price_minor <= 0:
            continue
        value = ItemValue(
            sku=price.sku,
            fnsku=price.fnsku,
            value_minor=price.unit_price_minor,
            currency=price.currency,
            source=ValueSource.SALE_PRICE,
        )
        if price.sku:
            sku_values.setdefault(price.sku, value)
        if price.fnsku:
            fnsku_values.setdefault(price.fnsku, value)
    return Valuation(by_fnsku=fnsku_values, by_sku=sku_values)


# --- reimbursements, netted of reversals -----------------------------------------------------


class _Pool:
    """The reimbursements as units still free to match a claim: each original row (exact
    duplicates from overlapping reports counted once) less the units its reversals took back."""

    def __init__(self, reimbursements: Iterable[Reimbursement]) -> None:
        unique = list(dict.fromkeys(reimbursements))
        self.rows = [r for r in unique if not r.is_reversal]
        self.left = [max(r.quantity_total, 0) for r in self.rows]
        self.reversals: dict[int, list[Reimbursement]] = defaultdict(list)
        by_id: dict[str, list[int]] = defaultdict(list)
        for index, row in enumerate(self.rows):
            by_id[row.reimbursement_id].append(index)
        for reversal in (r for r in unique if r.is_reversal):
            targets = by_id.get(reversal.original_reimbursement_id, [])
            if reversal.fnsku:
                targets = [i for i in targets if self.rows[i].fnsku in ("", reversal.fnsku)]
            if not targets:
                continue  # the original is outside the reports: none of its units were counted
            original = self.rows[targets[0]]
            units = abs(reversal.quantity_total)
            if units == 0:  # a cash clawback: the units its amount paid for
                per_unit = original.amount_per_unit_minor
                units = (
                    -(-abs(reversal.amount_total_minor) // per_unit)
                    if per_unit > 0
                    else original.quantity_total
                )
            for index in targets:
                taken = min(units, self.left[index])
                self.left[index] -= taken
                units -= taken
                self.reversals[index].append(reversal)

    def evidence(self, index: int) -> list[Reimbursement]:
        return [self.rows[index], *self.reversals[index]]


@dataclass(slots=True)
class _Candidate:
    kind: ClaimKind
    key: str
    group: str  # the FNSKU (or SKU) reimbursements are matched by
    date: dt.date
    units: int
    cap: int | None = None  # Amazon's own unreconciled quantity, when the ledger gives it
    offset: int = 0
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def open(self) -> int:
        return self.units - self.offset

    @property
    def remaining(self) -> int:
        left = self.open
        return max(0, min(left, self.cap) if self.cap is not None else left)


def _take(pool: _Pool, index: int, candidate: _Candidate) -> None:
    taken = min(pool.left[index], candidate.open)
    if taken <= 0:
        return
    pool.left[index] -= taken
    candidate.offset += taken
    candidate.evidence.extend(pool.evidence(index))


def _match_case_ids(
    pool: _Pool, candidates: Sequence[_Candidate], filed: Mapping[str, str]
) -> None:
    by_case: dict[str, list[_Candidate]] = defaultdict(list)
    for candidate in candidates:
        case_id = filed.get(candidate.key, "")
        if case_id:
            by_case[case_id].append(candidate)
    if not by_case:
        return
    for index, row in enumerate(pool.rows):
        for candidate in by_case.get(row.case_id, ()) if row.case_id else ():
            _take(pool, index, candidate)


def _match_nearby(
    pool: _Pool,
    candidates: Sequence[_Candidate],
    accepts: frozenset[str],
    *,
    group_of: Mapping[str, str],
    excludes: frozenset[str] = frozenset(),
) -> None:
    """Reimbursements without an order id whose reason is in ``accepts`` (``"*"``: any reason)
    (and not in ``excludes``) against open candidates of the same FNSKU whose event is at most
    ``MATCH_BEFORE_DAYS`` after the approval and at most ``MATCH_AFTER_DAYS`` before it: a
    candidate with exactly the units left first, then the closest in date. A reimbursement
    reversed in full is shown beside the nearest event as evidence, and takes nothing."""
    by_group: dict[str, list[_Candidate]] = defaultdict(list)
    for candidate in candidates:
        by_group[candidate.group].append(candidate)
    order = sorted(range(len(pool.rows)), key=lambda i: (pool.rows[i].approval_date, i))
    for index in order:
        row = pool.rows[index]
        reason = row.reason.lower()
        if row.amazon_order_id or reason in excludes:
            continue
        if "*" not in accepts and reason not in accepts:
            continue
        group = row.fnsku or group_of.get(row.sku, row.sku)

        def nearby(c: _Candidate, row: Reimbursement = row) -> bool:
            return (
                c.date - dt.timedelta(days=MATCH_BEFORE_DAYS)
                <= row.approval_date
                <= c.date + dt.timedelta(days=MATCH_AFTER_DAYS)
            )

        if pool.left[index] <= 0 and pool.reversals[index]:
            # Taken back in full: shown beside the nearest event it had paid for.
            near = [c for c in by_group.get(group, ()) if nearby(c)]
            if near:
                closest = min(near, key=lambda c: (abs((row.approval_date - c.date).days), c.key))
                closest.evidence.extend(pool.evidence(index))
            continue
        while pool.left[index] > 0:
            near = [c for c in by_group.get(group, ()) if c.open > 0 and nearby(c)]
            if not near:
                break
            best = min(
                near,
                key=lambda c: (
                    c.open != pool.left[index],
                    abs((row.approval_date - c.date).days),
                    c.date,
                    c.key,
                ),
            )
            _take(pool, index, best)


def _price(
    value: ItemValue | None, units: int
) -> tuple[int | None, str | None, ValueSource | None]:
    if value is None:
        return None, None, None
    return value.value_minor * units, value.currency, value.source


def _live(today: dt.date, opens: dt.date, closes: dt.date) -> bool:
    return opens <= today <= closes


# --- warehouse: lost and damaged --------------------------------------------------------------


def _occurrences(events: Iterable[LedgerEvent]) -> list[tuple[LedgerEvent, int]]:
    """Each event with its index among identical rows (the ledger repeats identical events and
    has no event id), in a fixed order, so keys stay distinct and stable across runs."""
    seen: dict[LedgerEvent, int] = defaultdict(int)
    out = []
    for event in sorted(events, key=_event_order):
        out.append((event, seen[event]))
        seen[event] += 1
    return out


def _event_order(e: LedgerEvent) -> tuple[object, ...]:
    occurred = e.occurred_at or dt.datetime.min.replace(tzinfo=dt.UTC)
    return (
        e.date,
        e.fnsku,
        e.reference_id,
        e.fulfillment_center,
        e.reason,
        e.quantity,
        e.disposition,
        e.msku,
        e.country,
        occurred,
    )


def fnskus_of(ledger: Iterable[LedgerEvent]) -> dict[str, str]:
    """MSKU to FNSKU as the ledger shows them (the first seen wins)."""
    out: dict[str, str] = {}
    for event in ledger:
        if event.msku and event.fnsku:
            out.setdefault(event.msku, event.fnsku)
    return out


def _warehouse(
    ledger: Sequence[LedgerEvent],
    reimbursements: Iterable[Reimbursement],
    values: Valuation,
    *,
    today: dt.date,
    filed: Mapping[str, str],
) -> list[Claim]:
    adjustments = [e for e in ledger if e.event_type == "Adjustments"]
    candidates: list[_Candidate] = []
    by_candidate: dict[str, LedgerEvent] = {}
    for event, occurrence in _occurrences(adjustments):
        code = event.reason.upper()
        if event.quantity >= 0 or code not in LOST_CODES | DAMAGED_CODES:
            continue
        kind = ClaimKind.WAREHOUSE_LOST if code in LOST_CODES else ClaimKind.WAREHOUSE_DAMAGED
        key = claim_key(
            kind,
            event.fnsku,
            event.reference_id,
            event.date.isoformat(),
            event.fulfillment_center,
            code,
            event.disposition,
            event.quantity,
            occurrence,
        )
        cap = event.unreconciled_quantity
        candidates.append(
            _Candidate(
                kind=kind,
                key=key,
                group=event.fnsku or event.msku,
                date=event.date,
                units=-event.quantity,
                cap=abs(cap) if cap is not None else None,
                evidence=[event],
            )
        )
        by_candidate[key] = event

    # Found units offset the earliest open losses of the FNSKU reported up to a week after.
    losses: dict[str, list[_Candidate]] = defaultdict(list)
    for candidate in sorted(candidates, key=lambda c: (c.date, c.key)):
        if candidate.kind is ClaimKind.WAREHOUSE_LOST:
            losses[candidate.group].append(candidate)
    for found, _ in _occurrences(
        e for e in adjustments if e.quantity > 0 and e.reason.upper() in FOUND_CODES
    ):
        units = found.quantity
        for loss in losses.get(found.fnsku or found.msku, ()):
            if units <= 0:
                break
            if loss.open <= 0:
                continue
            if found.date < loss.date - dt.timedelta(days=FOUND_LOOKBACK_DAYS):
                continue
            taken = min(units, loss.open)
            loss.offset += taken
            units -= taken
            loss.evidence.append(found)

    pool = _Pool(reimbursements)
    group_of = fnskus_of(ledger)
    _match_case_ids(pool, candidates, filed)
    lost = [c for c in candidates if c.kind is ClaimKind.WAREHOUSE_LOST]
    damaged = [c for c in candidates if c.kind is ClaimKind.WAREHOUSE_DAMAGED]
    _match_nearby(pool, lost, LOST_REASONS, group_of=group_of)
    _match_nearby(pool, damaged, DAMAGED_REASONS, group_of=group_of)
    # A loss reimbursed as damage (or the reverse), or under a reason of Amazon's we do not
    # know: what is left of any reimbursement without an order id still counts as paid.
    _match_nearby(pool, candidates, frozenset({"*"}), group_of=group_of, excludes=INBOUND_REASONS)

    claims = []
    for candidate in candidates:
        event = by_candidate[candidate.key]
        units = candidate.remaining
        if units <= 0:
            continue
        opens = max(
            windows.eligible_from(candidate.kind, event.country, event.date),
            event.date + dt.timedelta(days=GRACE_DAYS),
        )
        closes = windows.deadline(candidate.kind, event.country, event.date)
        if not _live(today, opens, closes):
            continue
        value_minor, currency, source = _price(values.of(fnsku=event.fnsku, sku=event.msku), units)
        claims.append(
            Claim(
                kind=candidate.kind,
                key=candidate.key,
                sku=event.msku,
                fnsku=event.fnsku,
                asin=event.asin,
                quantity=units,
                value_minor=value_minor,
                currency=currency,
                value_source=source,
                evidence=tuple(dict.fromkeys(candidate.evidence)),
                event_date=event.date,
                eligible_from=opens,
                deadline=closes,
                country=event.country,
                reference=event.reference_id,
            )
        )
    return claims


def lost_in_warehouse(
    ledger: Sequence[LedgerEvent],
    reimbursements: Iterable[Reimbursement],
    values: Valuation,
    *,
    today: dt.date,
    filed: Mapping[str, str] | None = None,
) -> list[Claim]:
    """Units Amazon reported lost in a fulfillment center (ledger ``Adjustments``, codes
    ``LOST_CODES``), less units found again (``FOUND_CODES``), less Amazon's own reconciled
    units where the ledger gives its ``Unreconciled Quantity``, less reimbursed units. One
    claim per loss event, from ``GRACE_DAYS`` after it to 60 days after it."""
    claims = _warehouse(ledger, reimbursements, values, today=today, filed=filed or {})
    return [c for c in claims if c.kind is ClaimKind.WAREHOUSE_LOST]


def damaged_in_warehouse(
    ledger: Sequence[LedgerEvent],
    reimbursements: Iterable[Reimbursement],
    values: Valuation,
    *,
    today: dt.date,
    filed: Mapping[str, str] | None = None,
) -> list[Claim]:
    """Units Amazon damaged in a fulfillment center (ledger ``Adjustments``, codes
    ``DAMAGED_CODES``, negative quantities) and did not reimburse; one claim per event."""
    claims = _warehouse(ledger, reimbursements, values, today=today, filed=filed or {})
    return [c for c in claims if c.kind is ClaimKind.WAREHOUSE_DAMAGED]


# --- customer refunded, item not returned -------------------------------------------------------


def refunded_not_returned(
    refunds: Iterable[Refund],
    returns: Iterable[CustomerReturn],
    reimbursements: Iterable[Reimbursement],
    *,
    today: dt.date,
    fnskus: Mapping[str, str] | None = None,
    filed: Mapping[str, str] | None = None,
) -> list[Claim]:
    """Order items Amazon refunded whose units did not come back (the customer returns report
    has no return of that order and SKU) or came back as another item (a return of the order
    under an FNSKU other than the SKU's, per ``fnskus``: MSKU to FNSKU, ``fnskus_of(ledger)``),
    and that Amazon did not reimburse (a reimbursement of the order, or of the filed case).
    Claimable inside the marketplace's returns window counted from the first refund; valued at
    what was refunded (Amazon reimburses the refund amount debited from the seller)."""
    sku_fnsku = fnskus or {}
    cases = filed or {}
    grouped: dict[tuple[str, str], list[Refund]] = defaultdict(list)
    for refund in dict.fromkeys(refunds):
        if refund.quantity > 0:
            grouped[(refund.order_id, refund.sku)].append(refund)
    returns_by_order: dict[str, list[CustomerReturn]] = defaultdict(list)
    for returned in dict.fromkeys(returns):
        returns_by_order[returned.order_id].append(returned)
    pool = _Pool(reimbursements)
    by_order: dict[str, list[int]] = defaultdict(list)
    by_case: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(pool.rows):
        if row.amazon_order_id:
            by_order[row.amazon_order_id].append(index)
        if row.case_id:
            by_case[row.case_id].append(index)

    claims = []
    for (order_id, sku), items in sorted(grouped.items()):
        first = min(r.posted_date for r in items)
        country = next((r.country for r in items if r.country), "")
        currency = items[0].currency
        refunded = sum(r.quantity for r in items)
        amount = sum(r.amount_minor for r in items if r.currency == currency)
        fnsku = sku_fnsku.get(sku, "")
        key = claim_key(ClaimKind.CUSTOMER_RETURN, order_id, sku)
        candidate = _Candidate(
            ClaimKind.CUSTOMER_RETURN, key, fnsku or sku, first, refunded, evidence=[*items]
        )
        for returned in returns_by_order.get(order_id, ()):
            same_item = returned.sku == sku and (
                not fnsku or not returned.fnsku or returned.fnsku == fnsku
            )
            if same_item:
                candidate.offset += min(returned.quantity, max(candidate.open, 0))
            candidate.evidence.append(returned)  # a different item returned is evidence too
        case_id = cases.get(key, "")
        indexes = [*by_case.get(case_id, ())] if case_id else []
        for index in [*indexes, *by_order.get(order_id, ())]:
            row = pool.rows[index]
            if (
                row.amazon_order_id == order_id
                and row.sku
                and row.sku != sku
                and row.fnsku != fnsku
            ):
                continue  # another item of the same order
            _take(pool, index, candidate)
        units = candidate.remaining
        if units <= 0:
            continue
        opens = windows.eligible_from(ClaimKind.CUSTOMER_RETURN, country, first)
        closes = windows.deadline(ClaimKind.CUSTOMER_RETURN, country, first)
        if not _live(today, opens, closes):
            continue
        asin = next((r.asin for r in returns_by_order.get(order_id, ()) if r.sku == sku), "")
        claims.append(
            Claim(
                kind=ClaimKind.CUSTOMER_RETURN,
                key=key,
                sku=sku,
                fnsku=fnsku,
                asin=asin,
                quantity=units,
                value_minor=amount * units // refunded,
                currency=currency,
                value_source=ValueSource.SALE_PRICE,
                evidence=tuple(dict.fromkeys(candidate.evidence)),
                event_date=first,
                eligible_from=opens,
                deadline=closes,
                country=country,
                reference=order_id,
            )
        )
    return claims


# --- inbound shipment received short -------------------------------------------------------------


def inbound_shortage(
    shipments: Iterable[InboundShipment],
    reimbursements: Iterable[Reimbursement],
    values: Valuation,
    *,
    today: dt.date,
    filed: Mapping[str, str] | None = None,
) -> list[Claim]:
    """Closed inbound shipments that received fewer units of an FNSKU than were shipped, less
    units Amazon reimbursed as lost or damaged inbound. Claimable 15 to 60 days after delivery
    (the delivery day, else the first receipt, else the day the shipment closed) and never
    before the shipment closed."""
    candidates: list[_Candidate] = []
    shipment_of: dict[str, InboundShipment] = {}
    for shipment in dict.fromkeys(shipments):
        short = shipment.shipped_quantity - shipment.received_quantity
        if shipment.closed_on is None or short <= 0:
            continue
        key = claim_key(ClaimKind.INBOUND_SHORTAGE, shipment.shipment_id, shipment.fnsku)
        date = shipment.delivered_on or shipment.closed_on
        candidates.append(
            _Candidate(
                ClaimKind.INBOUND_SHORTAGE,
                key,
                shipment.fnsku or shipment.sku,
                date,
                short,
                evidence=[shipment],
            )
        )
        shipment_of[key] = shipment
    pool = _Pool(reimbursements)
    _match_case_ids(pool, candidates, filed or {})
    group_of = {s.sku: s.fnsku for s in shipment_of.values() if s.sku and s.fnsku}
    _match_nearby(pool, candidates, INBOUND_REASONS, group_of=group_of)

    claims = []
    for candidate in sorted(candidates, key=lambda c: (c.date, c.key)):
        shipment = shipment_of[candidate.key]
        units = candidate.remaining
        if units <= 0 or shipment.closed_on is None:
            continue
        kind = ClaimKind.INBOUND_SHORTAGE
        opens = max(
            windows.eligible_from(kind, shipment.country, candidate.date), shipment.closed_on
        )
        closes = windows.deadline(kind, shipment.country, candidate.date)
        if not _live(today, opens, closes):
            continue
        value_minor, currency, source = _price(
            values.of(fnsku=shipment.fnsku, sku=shipment.sku), units
        )
        claims.append(
            Claim(
                kind=kind,
                key=candidate.key,
                sku=shipment.sku,
                fnsku=shipment.fnsku,
                asin=shipment.asin,
                quantity=units,
                value_minor=value_minor,
                currency=currency,
                value_source=source,
                evidence=tuple(dict.fromkeys(candidate.evidence)),
                event_date=candidate.date,
                eligible_from=opens,
                deadline=closes,
                country=shipment.country,
                reference=shipment.shipment_id,
            )
        )
    return claims


# --- reimbursed below value --------------------------------------------------------------------


def reimbursed_below_value(
    reimbursements: Iterable[Reimbursement],
    *,
    today: dt.date,
    country: str = "",
    filed: Mapping[str, str] | None = None,
) -> list[Claim]:
    """Cash reimbursements that paid a unit more than ``BELOW_VALUE_TOLERANCE_PERCENT`` below
    the median Amazon paid for the same FNSKU (or SKU), in the same currency, over the
    ``HISTORY_DAYS`` before it (at least ``MIN_HISTORY`` other reimbursements, reversed ones
    left out). The claim is the difference for the units still paid in cash, less any later
    payment naming it (``original-reimbursement-id``) or the filed case. The sale price is not
    a yardstick: Amazon has reimbursed at manufacturing cost since 2025-03-10, so nearly every
    payout is below it. ``country`` picks the window (the report has no marketplace column)."""
    pool = _Pool(reimbursements)
    cases = filed or {}
    kind = ClaimKind.REIMBURSED_BELOW_VALUE
    # Cash payments per unit that still stand, by item and currency: the yardstick.
    priced: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, row in enumerate(pool.rows):
        if (
            row.quantity_cash > 0
            and row.amount_per_unit_minor > 0
            and not row.original_reimbursement_id  # an adjustment of another reimbursement
            and pool.left[index] > 0
        ):
            priced[(row.fnsku or row.sku, row.currency)].append(index)
    adjustments: dict[str, list[Reimbursement]] = defaultdict(list)
    by_case: dict[str, list[Reimbursement]] = defaultdict(list)
    for row in pool.rows:
        if row.amount_total_minor > 0 and row.original_reimbursement_id:
            adjustments[row.original_reimbursement_id].append(row)
        if row.amount_total_minor > 0 and row.case_id:
            by_case[row.case_id].append(row)
    claims = []
    for _, indexes in sorted(priced.items()):
        for index in indexes:
            row = pool.rows[index]
            paid_units = min(row.quantity_cash, pool.left[index])
            since = row.approval_date - dt.timedelta(days=HISTORY_DAYS)
            history = [
                pool.rows[j].amount_per_unit_minor
                for j in indexes
                if j != index
                and pool.rows[j].reimbursement_id != row.reimbursement_id
                and since <= pool.rows[j].approval_date <= row.approval_date
            ]
            if len(history) < MIN_HISTORY:
                continue
            reference = int(statistics.median_low(history))
            if row.amount_per_unit_minor * 100 >= reference * (100 - BELOW_VALUE_TOLERANCE_PERCENT):
                continue
            key = claim_key(kind, row.reimbursement_id, row.fnsku, row.sku)
            case_id = cases.get(key, "")
            top_ups = [
                other
                for other in dict.fromkeys(
                    [*adjustments.get(row.reimbursement_id, ()), *by_case.get(case_id, ())]
                )
                if other is not row and other.currency == row.currency
            ]
            owed = (reference - row.amount_per_unit_minor) * paid_units - sum(
                t.amount_total_minor for t in top_ups
            )
            if owed <= 0:
                continue
            opens = windows.eligible_from(kind, country, row.approval_date)
            closes = windows.deadline(kind, country, row.approval_date)
            if not _live(today, opens, closes):
                continue
            claims.append(
                Claim(
                    kind=kind,
                    key=key,
                    sku=row.sku,
                    fnsku=row.fnsku,
                    asin=row.asin,
                    quantity=paid_units,
                    value_minor=owed,
                    currency=row.currency,
                    value_source=ValueSource.REIMBURSEMENT_HISTORY,
                    evidence=(*pool.evidence(index), *top_ups),
                    event_date=row.approval_date,
                    eligible_from=opens,
                    deadline=closes,
                    country=windows.country_of(country),
                    reference=row.reimbursement_id,
                )
            )
    return claims


# --- all rules ---------------------------------------------------------------------------------


def detect(
    *,
    today: dt.date,
    ledger: Sequence[LedgerEvent] = (),
    reimbursements: Sequence[Reimbursement] = (),
    returns: Sequence[CustomerReturn] = (),
    refunds: Sequence[Refund] = (),
    shipments: Sequence[InboundShipment] = (),
    sale_prices: Sequence[SalePrice] = (),
    country: str = "",
    filed: Mapping[str, str] | None = None,
) -> list[Claim]:
    """Every rule over one seller's rows, ordered by deadline then kind then key. ``filed``
    maps the keys of claims the seller filed to Amazon's case ids; ``country`` is the
    marketplace of the reimbursements report (for the below-value window)."""
    values = valuation(reimbursements, sale_prices, today=today)
    cases = filed or {}
    claims = [
        *_warehouse(ledger, reimbursements, values, today=today, filed=cases),
        *refunded_not_returned(
            refunds, returns, reimbursements, today=today, fnskus=fnskus_of(ledger), filed=cases
        ),
        *inbound_shortage(shipments, reimbursements, values, today=today, filed=cases),
        *reimbursed_below_value(reimbursements, today=today, country=country, filed=cases),
    ]
    claims.sort(key=lambda c: (c.deadline, c.kind, c.key))
    return claims
