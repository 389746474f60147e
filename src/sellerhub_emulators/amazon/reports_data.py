"""The seeded FBA history behind the emulated Reports and Finances APIs (issue 14).

Every (seed, selling partner, marketplace, anchor day) has one deterministic history: the same
inputs always give the same rows, byte for byte. It has three parts:

- **Planted cases** (``PlantedCase``): events the claim detection must find, or must not claim,
  each with the answer a detection run is expected to give (``expected``): units lost in a
  fulfillment center and never found (``lost_warehouse``), damaged by Amazon
  (``damaged_warehouse``), refunded but not returned (``refund_not_returned``), returned as
  another item (``returned_different_fnsku``), an inbound shipment received short
  (``inbound_short``), a reimbursement below the item's value (``reimbursed_below_value``), and
  cases already reimbursed (matched by case id, order id, or FNSKU + quantity + date), partially
  reimbursed, or reimbursed then reversed. Dates are relative to the anchor day, a day inside
  and a day outside each window. They use their own SKUs (``EMU-0041``...), never the noise's.
- **Noise** on ``EMU-0001``-``EMU-0040``: inbound shipments received in full, customer orders,
  refunds returned within days, warehouse transfers, removals and units misplaced then found
  again within a week; nothing in it is claimable.
- **Background ledger rows**, streamed day by day (never a list of them), as many as
  ``ledger_rows`` asks (a million for the benchmark): customer shipments, receipts and
  warehouse transfer pairs on the noise SKUs.

Identifiers (ASIN, FNSKU, title) are those of the FBA inventory emulator for the same SKU.
Adjustment reason codes are Amazon's inventory adjustment codes (Seller Central help
"Adjustment types and reason codes", as reproduced in reference-next.md §4.1): ``M`` inventory
misplaced (lost), ``F`` inventory found, ``E`` damaged at Amazon fulfillment center (a sellable
decrease, always followed by a ``P`` increase of the warehouse-damaged disposition), ``6``/``7``/
``H``/``K``/``U`` the same from other dispositions, ``D`` disposed, ``Q`` damaged (other),
``5`` unrecoverable. The noise and the planted cases use ``M``, ``F``, ``E``, ``P`` and ``D`` (the
noise disposes of customer-damaged units: not Amazon's doing, nothing owed).
"""

from __future__ import annotations

import hashlib
import random
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sellerhub_emulators.amazon.inventory import _identifier
from sellerhub_emulators.amazon.marketplaces import MARKETPLACES

HISTORY_DAYS = 540
NOISE_SKUS = 40
PLANTED_FIRST_SKU = 41
DEFAULT_LEDGER_ROWS = 2_000
ZERO_EXPONENT = frozenset({"JPY"})

# Fulfillment centers per country (codes of real sites; the emulator uses a handful per country).
FULFILLMENT_CENTERS: dict[str, tuple[str, ...]] = {
    "US": ("PHX7", "ONT8", "BFI4", "MDW2", "CLT2", "TPA1"),
    "CA": ("YYZ4", "YVR2", "YYC1"),
    "MX": ("MEX1", "MEX2"),
    "GB": ("LTN1", "BHX4", "EUK5"),
    "DE": ("FRA3", "MUC3", "DUS2"),
    "FR": ("ORY1", "LYS1"),
    "IT": ("MXP5", "FCO1"),
    "ES": ("MAD4", "BCN1"),
    "JP": ("NRT1", "KIX2"),
}
# Customer return claim windows in days after the refund (reference-next.md §4.2): from the
# first number, until the second. US/CA/MX and the default: 60-120; Europe: 45-105.
RETURN_WINDOWS: dict[str, tuple[int, int]] = {"NA": (60, 120), "EU": (45, 105), "FE": (60, 120)}
LOST_DAMAGED_WINDOW_DAYS = 60  # warehouse lost/damaged, since the October 2024 policy


def money_text(amount: Decimal, currency: str) -> str:
    places = 0 if currency in ZERO_EXPONENT else 2
    return f"{amount:.{places}f}"


def minor(amount: Decimal, currency: str) -> int:
    return int(amount * (1 if currency in ZERO_EXPONENT else 100))


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    asin: str
    fnsku: str
    title: str
    price: Decimal  # sale price, in the marketplace's currency

    def wire(self, currency: str) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "asin": self.asin,
            "fnsku": self.fnsku,
            "title": self.title,
            "price": money_text(self.price, currency),
            "price_minor": minor(self.price, currency),
            "currency": currency,
        }


def product_of(selling_partner_id: str, number: int, currency: str) -> Product:
    """The inventory emulator's identifiers of ``EMU-<number>``, with a seeded price."""
    sku = f"EMU-{number:04d}"
    digest = hashlib.sha256(f"{selling_partner_id}|{sku}".encode()).digest()
    units = 999 + (digest[20] * 256 + digest[21]) % 8000  # 9.99 .. 89.98
    price = Decimal(units) / 100
    if currency in ZERO_EXPONENT:
        price = Decimal(int(price * 100))  # yen: whole units
    return Product(
        sku,
        _identifier(digest, "B0", 10),
        _identifier(digest[8:], "X00", 10),
        f"Emulated product {number:04d}",
        price,
    )


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    moment: datetime
    product: Product
    event_type: str  # Shipments, Receipts, CustomerReturns, Adjustments, WhseTransfers, ...
    reference: str
    quantity: int
    fc: str
    disposition: str = "SELLABLE"
    reason: str = ""
    reconciled: int = 0
    unreconciled: int = 0


@dataclass(frozen=True, slots=True)
class Reimbursement:
    approval: datetime
    reimbursement_id: str
    case_id: str
    order_id: str
    reason: str
    product: Product
    amount_per_unit: Decimal
    quantity_cash: int
    quantity_inventory: int = 0
    original_id: str = ""
    original_type: str = ""
    condition: str = "New"


@dataclass(frozen=True, slots=True)
class CustomerReturn:
    moment: datetime
    order_id: str
    product: Product
    quantity: int
    fc: str
    disposition: str
    reason: str
    status: str
    lpn: str
    comments: str = ""


@dataclass(frozen=True, slots=True)
class Refund:
    posted: datetime
    order_id: str
    product: Product
    quantity: int
    principal: Decimal  # positive: what the customer got back
    adjustment_item_id: str


@dataclass(frozen=True, slots=True)
class InboundShipment:
    shipment_id: str
    product: Product
    shipped: int
    received: int
    fc: str
    closed: datetime

    def wire(self) -> dict[str, Any]:
        return {
            "shipment_id": self.shipment_id,
            "sku": self.product.sku,
            "fnsku": self.product.fnsku,
            "asin": self.product.asin,
            "quantity_shipped": self.shipped,
            "quantity_received": self.received,
            "fulfillment_center": self.fc,
            "closed_at": self.closed.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class PlantedCase:
    """What a detection run over this history must answer for one event.

    ``expected``: ``claim`` (claim ``quantity`` units), ``already_reimbursed`` (never claimed;
    ``matched_by`` says how the reimbursement matches), ``found`` (the units came back),
    ``outside_window`` (the filing deadline has passed), ``not_yet`` (the return window is
    still open)."""

    kind: str
    expected: str
    sku: str
    fnsku: str
    asin: str
    quantity: int
    reference: str
    event_date: str
    fulfillment_center: str
    marketplace_id: str
    unit_value_minor: int
    currency: str
    note: str
    matched_by: str | None = None
    case_id: str | None = None
    order_id: str | None = None
    reimbursement_ids: tuple[str, ...] = ()
    window_days: tuple[int, int] | None = None

    def wire(self) -> dict[str, Any]:
        body = asdict(self)
        body["reimbursement_ids"] = list(self.reimbursement_ids)
        body["window_days"] = list(self.window_days) if self.window_days else None
        return body


@dataclass
class History:
    seed: int
    selling_partner_id: str
    marketplace_id: str
    anchor: date
    country: str
    currency: str
    ledger: list[LedgerEvent] = field(default_factory=list)  # planted + noise, by moment
    reimbursements: list[Reimbursement] = field(default_factory=list)
    returns: list[CustomerReturn] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    inbound: list[InboundShipment] = field(default_factory=list)
    planted: list[PlantedCase] = field(default_factory=list)
    products: list[Product] = field(default_factory=list)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.anchor - timedelta(days=HISTORY_DAYS), time(), UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.anchor, time(), UTC)


class _Ids:
    """Deterministic identifiers of one history (numbers drawn from its own generator)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def digits(self, count: int) -> str:
        while True:
            value = str(self.rng.randrange(10 ** (count - 1), 10**count))
            if value not in self.used:
                self.used.add(value)
                return value

    def order(self) -> str:
        return f"{self.rng.choice((111, 112, 113, 114))}-{self.digits(7)}-{self.digits(7)}"

    def shipment(self) -> str:
        return "FBA15" + "".join(
            self.rng.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in (1,) * 7
        )

    def lpn(self) -> str:
        return "LPN" + "".join(
            self.rng.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in (1,) * 9
        )


def build_history(seed: int, selling_partner_id: str, marketplace_id: str, anchor: date) -> History:
    market = MARKETPLACES[marketplace_id]
    currency = market.currency_code
    rng = random.Random(  # noqa: S311 - seeded test data, not secrets
        f"{seed}|{selling_partner_id}|{marketplace_id}|{anchor.isoformat()}"
    )
    ids = _Ids(rng)
    fcs = FULFILLMENT_CENTERS.get(market.country_code, ("XFC1", "XFC2"))
    history = History(
        seed, selling_partner_id, marketplace_id, anchor, market.country_code, currency
    )
    products = [product_of(selling_partner_id, n, currency) for n in range(1, 61)]
    history.products = products
    day0 = history.end

    def at(days_ago: float, hour: int | None = None) -> datetime:
        moment = day0 - timedelta(days=days_ago)
        hours = rng.randrange(6, 20) if hour is None else hour
        return moment.replace(hour=0) + timedelta(
            hours=hours, minutes=rng.randrange(60), seconds=rng.randrange(60)
        )

    _noise(history, products[:NOISE_SKUS], fcs, ids, rng, at)
    _plant(history, products[PLANTED_FIRST_SKU - 1 :], fcs, ids, at, market.region)
    history.ledger.sort(key=lambda e: (e.moment, e.reference, e.product.sku))
    history.reimbursements.sort(key=lambda r: (r.approval, r.reimbursement_id))
    history.returns.sort(key=lambda r: (r.moment, r.order_id))
    history.refunds.sort(key=lambda r: (r.posted, r.order_id))
    return history


def _noise(
    history: History,
    products: list[Product],
    fcs: tuple[str, ...],
    ids: _Ids,
    rng: random.Random,
    at: Any,
) -> None:
    """Nothing claimable: full receipts, returned refunds, transfers, removals, found units."""
    ledger = history.ledger
    for product in products:
        for _ in range(rng.randrange(1, 4)):  # inbound shipments received in full
            days = rng.randrange(30, HISTORY_DAYS - 5)
            shipped = rng.randrange(12, 120)
            shipment, fc = ids.shipment(), rng.choice(fcs)
            first = rng.randrange(1, shipped + 1)
            ledger.append(LedgerEvent(at(days), product, "Receipts", shipment, first, fc))
            if shipped > first:
                ledger.append(
                    LedgerEvent(at(days - 1), product, "Receipts", shipment, shipped - first, fc)
                )
            history.inbound.append(
                InboundShipment(shipment, product, shipped, shipped, fc, at(days - 3))
            )
        for _ in range(rng.randrange(2, 6)):  # orders, some refunded and returned in days
            days = rng.randrange(20, HISTORY_DAYS - 10)
            order, fc = ids.order(), rng.choice(fcs)
            quantity = rng.choice((1, 1, 1, 2))
            ledger.append(LedgerEvent(at(days), product, "Shipments", order, -quantity, fc))
            if rng.random() < 0.5:
                refunded = at(days - 5)
                history.refunds.append(
                    Refund(
                        refunded, order, product, quantity, product.price * quantity, ids.digits(14)
                    )
                )
                back = at(days - 5 - rng.randrange(2, 20))
                disposition = rng.choice(("SELLABLE", "SELLABLE", "CUSTOMER_DAMAGED", "DEFECTIVE"))
                ledger.append(
                    LedgerEvent(back, product, "CustomerReturns", order, quantity, fc, disposition)
                )
                history.returns.append(
                    CustomerReturn(
                        back,
                        order,
                        product,
                        quantity,
                        fc,
                        disposition,
                        rng.choice(
                            ("UNWANTED_ITEM", "NOT_AS_DESCRIBED", "DEFECTIVE", "NO_REASON_GIVEN")
                        ),
                        "Unit returned to inventory",
                        ids.lpn(),
                    )
                )
        if rng.random() < 0.5:  # a warehouse transfer
            days, quantity = rng.randrange(10, HISTORY_DAYS - 5), rng.randrange(1, 10)
            source, target = rng.sample(fcs, 2) if len(fcs) > 1 else (fcs[0], fcs[0])
            reference = ids.digits(11)
            ledger.append(
                LedgerEvent(at(days), product, "WhseTransfers", reference, -quantity, source)
            )
            ledger.append(
                LedgerEvent(at(days - 2), product, "WhseTransfers", reference, quantity, target)
            )
        if rng.random() < 0.3:  # a removal
            days = rng.randrange(10, HISTORY_DAYS - 5)
            ledger.append(
                LedgerEvent(
                    at(days),
                    product,
                    "VendorReturns",
                    ids.digits(11),
                    -rng.randrange(1, 5),
                    rng.choice(fcs),
                )
            )
        if rng.random() < 0.2:  # customer-damaged units disposed of (D): nothing owed
            days, quantity = rng.randrange(10, HISTORY_DAYS - 5), rng.randrange(1, 3)
            ledger.append(
                LedgerEvent(
                    at(days),
                    product,
                    "Adjustments",
                    ids.digits(11),
                    -quantity,
                    rng.choice(fcs),
                    "CUSTOMER_DAMAGED",
                    "D",
                )
            )
        if rng.random() < 0.3:  # misplaced and found again within a week
            days, quantity, fc = (
                rng.randrange(20, HISTORY_DAYS - 5),
                rng.randrange(1, 4),
                rng.choice(fcs),
            )
            ledger.append(
                LedgerEvent(
                    at(days),
                    product,
                    "Adjustments",
                    ids.digits(11),
                    -quantity,
                    fc,
                    reason="M",
                    reconciled=quantity,
                )
            )
            ledger.append(
                LedgerEvent(
                    at(days - rng.randrange(1, 7)),
                    product,
                    "Adjustments",
                    ids.digits(11),
                    quantity,
                    fc,
                    reason="F",
                )
            )


def _plant(
    history: History,
    products: list[Product],
    fcs: tuple[str, ...],
    ids: _Ids,
    at: Any,
    region: str,
) -> None:
    ledger, currency, marketplace = history.ledger, history.currency, history.marketplace_id
    returns_from, returns_until = RETURN_WINDOWS.get(region, (60, 120))
    skus = iter(products)

    def case(
        kind: str,
        expected: str,
        product: Product,
        quantity: int,
        reference: str,
        moment: datetime,
        fc: str,
        note: str,
        **extra: Any,
    ) -> None:
        history.planted.append(
            PlantedCase(
                kind=kind,
                expected=expected,
                sku=product.sku,
                fnsku=product.fnsku,
                asin=product.asin,
                quantity=quantity,
                reference=reference,
                event_date=moment.isoformat(),
                fulfillment_center=fc,
                marketplace_id=marketplace,
                unit_value_minor=minor(product.price, currency),
                currency=currency,
                note=note,
                **extra,
            )
        )

    def lost(
        product: Product, days: float, quantity: int, fc: str, *, reconciled: int = 0
    ) -> tuple[str, datetime]:
        reference, moment = ids.digits(11), at(days)
        ledger.append(
            LedgerEvent(
                moment,
                product,
                "Adjustments",
                reference,
                -quantity,
                fc,
                reason="M",
                reconciled=reconciled,
                unreconciled=quantity - reconciled,
            )
        )
        return reference, moment

    def damaged(
        product: Product, days: float, quantity: int, fc: str, *, reconciled: int = 0
    ) -> tuple[str, datetime]:
        reference, moment = ids.digits(11), at(days, hour=10)
        ledger.append(
            LedgerEvent(
                moment,
                product,
                "Adjustments",
                reference,
                -quantity,
                fc,
                "SELLABLE",
                "E",
                reconciled,
                quantity - reconciled,
            )
        )
        ledger.append(
            LedgerEvent(
                moment + timedelta(seconds=1),
                product,
                "Adjustments",
                reference,
                quantity,
                fc,
                "WAREHOUSE_DAMAGED",
                "P",
            )
        )
        return reference, moment

    def reimburse(
        product: Product,
        days: float,
        reason: str,
        quantity: int,
        *,
        per_unit: Decimal | None = None,
        case_id: str = "",
        order_id: str = "",
        original: Reimbursement | None = None,
    ) -> Reimbursement:
        row = Reimbursement(
            at(days),
            ids.digits(10),
            case_id,
            order_id,
            reason,
            product,
            product.price if per_unit is None else per_unit,
            quantity,
            original_id=original.reimbursement_id if original else "",
            original_type=original.reason if original else "",
        )
        history.reimbursements.append(row)
        return row

    lost_window = LOST_DAMAGED_WINDOW_DAYS
    # 1. lost in a fulfillment center, never found: claim
    p, fc = next(skus), fcs[0]
    ref, when = lost(p, 20, 3, fc)
    case(
        "lost_warehouse",
        "claim",
        p,
        3,
        ref,
        when,
        fc,
        "misplaced (M), never found",
        window_days=(0, lost_window),
    )
    # 2-3. the 60-day window: a day inside, a day outside
    p = next(skus)
    ref, when = lost(p, lost_window - 1, 1, fc)
    case(
        "lost_warehouse",
        "claim",
        p,
        1,
        ref,
        when,
        fc,
        "lost 59 days before the anchor: a day inside the window",
        window_days=(0, lost_window),
    )
    p = next(skus)
    ref, when = lost(p, lost_window + 1, 2, fc)
    case(
        "lost_warehouse",
        "outside_window",
        p,
        2,
        ref,
        when,
        fc,
        "lost 61 days before the anchor: a day outside the window",
        window_days=(0, lost_window),
    )
    # 4. lost then found again
    p = next(skus)
    ref, when = lost(p, 40, 2, fc, reconciled=2)
    ledger.append(LedgerEvent(at(35), p, "Adjustments", ids.digits(11), 2, fc, reason="F"))
    case("lost_warehouse", "found", p, 2, ref, when, fc, "misplaced, found 5 days later (F +2)")
    # 5. damaged by Amazon: claim
    p, fc = next(skus), fcs[1 % len(fcs)]
    ref, when = damaged(p, 15, 2, fc)
    case(
        "damaged_warehouse",
        "claim",
        p,
        2,
        ref,
        when,
        fc,
        "damaged at the fulfillment center (E, then P)",
        window_days=(0, lost_window),
    )
    # 6. damaged, reimbursed on a case (matched by case id)
    p = next(skus)
    ref, when = damaged(p, 30, 1, fc, reconciled=1)
    case_id = ids.digits(10)
    row = reimburse(p, 20, "Damaged_Warehouse", 1, case_id=case_id)
    case(
        "damaged_warehouse",
        "already_reimbursed",
        p,
        1,
        ref,
        when,
        fc,
        "reimbursed on a case the seller filed",
        matched_by="case_id",
        case_id=case_id,
        reimbursement_ids=(row.reimbursement_id,),
    )
    # 7. lost, reimbursed by Amazon on its own (matched by FNSKU + quantity + date)
    p, fc = next(skus), fcs[0]
    ref, when = lost(p, 25, 2, fc, reconciled=2)
    row = reimburse(p, 18, "Lost_Warehouse", 2)
    case(
        "lost_warehouse",
        "already_reimbursed",
        p,
        2,
        ref,
        when,
        fc,
        "reimbursed 7 days later without a case",
        matched_by="fnsku_quantity_date",
        reimbursement_ids=(row.reimbursement_id,),
    )
    # 8. lost 4, reimbursed 2: claim the other 2
    p = next(skus)
    ref, when = lost(p, 22, 4, fc, reconciled=2)
    row = reimburse(p, 15, "Lost_Warehouse", 2)
    case(
        "lost_warehouse",
        "claim",
        p,
        2,
        ref,
        when,
        fc,
        "partial: 4 lost, 2 reimbursed",
        matched_by="fnsku_quantity_date",
        reimbursement_ids=(row.reimbursement_id,),
        window_days=(0, lost_window),
    )
    # 9. lost, reimbursed, found, reimbursement reversed: nothing owed
    p = next(skus)
    ref, when = lost(p, 50, 3, fc, reconciled=3)
    row = reimburse(p, 45, "Lost_Warehouse", 3)
    ledger.append(LedgerEvent(at(40), p, "Adjustments", ids.digits(11), 3, fc, reason="F"))
    back = reimburse(p, 38, "Reimbursement_Reversal", -3, original=row)
    case(
        "lost_warehouse",
        "found",
        p,
        3,
        ref,
        when,
        fc,
        "reimbursed, found (F +3), reimbursement reversed",
        reimbursement_ids=(row.reimbursement_id, back.reimbursement_id),
    )
    # 10. lost, reimbursed, reversed although never found: claim again
    p = next(skus)
    ref, when = lost(p, 28, 2, fc)
    row = reimburse(p, 24, "Lost_Warehouse", 2)
    back = reimburse(p, 21, "Reimbursement_Reversal", -2, original=row)
    case(
        "lost_warehouse",
        "claim",
        p,
        2,
        ref,
        when,
        fc,
        "reimbursed then reversed, never found",
        reimbursement_ids=(row.reimbursement_id, back.reimbursement_id),
        window_days=(0, lost_window),
    )

    def refund(product: Product, days: float, quantity: int = 1) -> Refund:
        row = Refund(
            at(days), ids.order(), product, quantity, product.price * quantity, ids.digits(14)
        )
        fc_out = fcs[0]
        ledger.append(
            LedgerEvent(at(days + 4), product, "Shipments", row.order_id, -quantity, fc_out)
        )
        history.refunds.append(row)
        return row

    window = (returns_from, returns_until)
    # 11. refunded, never returned, return window over: claim
    p = next(skus)
    r = refund(p, returns_from + 15)
    case(
        "refund_not_returned",
        "claim",
        p,
        1,
        r.order_id,
        r.posted,
        fcs[0],
        "refunded, no return",
        order_id=r.order_id,
        window_days=window,
    )
    # 12-13. a day before the claim window opens, a day after it closed
    p = next(skus)
    r = refund(p, returns_from - 1)
    case(
        "refund_not_returned",
        "not_yet",
        p,
        1,
        r.order_id,
        r.posted,
        fcs[0],
        "refunded a day before the claim window opens",
        order_id=r.order_id,
        window_days=window,
    )
    p = next(skus)
    r = refund(p, returns_until + 1)
    case(
        "refund_not_returned",
        "outside_window",
        p,
        1,
        r.order_id,
        r.posted,
        fcs[0],
        "refunded a day after the claim window closed",
        order_id=r.order_id,
        window_days=window,
    )
    # 14. refunded, another item came back under the order: claim
    p, other = next(skus), next(skus)
    r = refund(p, returns_from + 20)
    back_at = at(returns_from + 10)
    lpn = ids.lpn()
    history.returns.append(
        CustomerReturn(
            back_at,
            r.order_id,
            other,
            1,
            fcs[0],
            "CUSTOMER_DAMAGED",
            "SWITCHEROO",
            "Unit returned to inventory",
            lpn,
            "returned item does not match",
        )
    )
    ledger.append(
        LedgerEvent(back_at, other, "CustomerReturns", r.order_id, 1, fcs[0], "CUSTOMER_DAMAGED")
    )
    case(
        "returned_different_fnsku",
        "claim",
        p,
        1,
        r.order_id,
        r.posted,
        fcs[0],
        f"the return under the order is {other.fnsku}, not {p.fnsku}",
        order_id=r.order_id,
        window_days=window,
    )
    # 15. refunded, not returned, reimbursed by order id
    p = next(skus)
    r = refund(p, returns_from + 30)
    row = reimburse(p, 12, "CustomerReturn", 1, order_id=r.order_id)
    case(
        "refund_not_returned",
        "already_reimbursed",
        p,
        1,
        r.order_id,
        r.posted,
        fcs[0],
        "reimbursed for the order",
        matched_by="order_id",
        order_id=r.order_id,
        reimbursement_ids=(row.reimbursement_id,),
    )
    # 16. inbound shipment received short after it closed: claim
    p, fc = next(skus), fcs[-1]
    shipment = ids.shipment()
    ledger.append(LedgerEvent(at(45), p, "Receipts", shipment, 12, fc))
    ledger.append(LedgerEvent(at(44), p, "Receipts", shipment, 8, fc))
    closed = at(30)
    history.inbound.append(InboundShipment(shipment, p, 24, 20, fc, closed))
    case("inbound_short", "claim", p, 4, shipment, closed, fc, "shipped 24, received 20")
    # 17. inbound short, reimbursed (Lost_Inbound)
    p = next(skus)
    shipment = ids.shipment()
    ledger.append(LedgerEvent(at(70), p, "Receipts", shipment, 8, fc))
    closed = at(60)
    history.inbound.append(InboundShipment(shipment, p, 10, 8, fc, closed))
    row = reimburse(p, 40, "Lost_Inbound", 2)
    case(
        "inbound_short",
        "already_reimbursed",
        p,
        2,
        shipment,
        closed,
        fc,
        "shipped 10, received 8, reimbursed",
        matched_by="fnsku_quantity_date",
        reimbursement_ids=(row.reimbursement_id,),
    )
    # 18. reimbursed well below the item's value (its two earlier reimbursements, the
    # yardstick detection needs, paid full value)
    p, fc = next(skus), fcs[0]
    for days in (300, 200):
        earlier_ref, earlier = lost(p, days, 1, fc, reconciled=1)
        first = reimburse(p, days - 5, "Lost_Warehouse", 1)
        case(
            "lost_warehouse",
            "already_reimbursed",
            p,
            1,
            earlier_ref,
            earlier,
            fc,
            "an earlier loss, reimbursed at full value",
            matched_by="fnsku_quantity_date",
            reimbursement_ids=(first.reimbursement_id,),
        )
    ref, when = lost(p, 35, 2, fc, reconciled=2)
    cheap = (p.price * Decimal("0.35")).quantize(
        Decimal(1) if currency in ZERO_EXPONENT else Decimal("0.01")
    )
    row = reimburse(p, 28, "Lost_Warehouse", 2, per_unit=cheap)
    case(
        "reimbursed_below_value",
        "claim",
        p,
        2,
        row.reimbursement_id,
        row.approval,
        fc,
        f"reimbursed {money_text(cheap, currency)} a unit against a value of "
        f"{money_text(p.price, currency)}",
        reimbursement_ids=(row.reimbursement_id,),
    )


# -- the ledger stream -----------------------------------------------------------------------

LedgerLine = Callable[[LedgerEvent], bytes]


def ledger_lines(
    history: History,
    start: datetime,
    end: datetime,
    background_rows: int,
    render: LedgerLine,
) -> Iterator[bytes]:
    """Every ledger line in [start, end), by time, in blocks of whole lines: the planted and
    noise events (``render``ed) merged, day by day, with ``background_rows`` generated lines
    spread over the history's days. Background lines are built as text (one random draw each)
    and encoded a day at a time, so a million of them stream in seconds; only one day of them
    exists at a time."""
    first_day = history.start.date()
    days = HISTORY_DAYS
    per_day, extra = divmod(max(background_rows, 0), days)
    noise = [
        product_of(history.selling_partner_id, n, history.currency)
        for n in range(1, NOISE_SKUS + 1)
    ]
    fcs = FULFILLMENT_CENTERS.get(history.country, ("XFC1", "XFC2"))
    known = history.ledger
    position = 0
    for index in range(days + 1):
        day = first_day + timedelta(days=index)
        day_start = datetime.combine(day, time(), UTC)
        day_end = day_start + timedelta(days=1)
        events: list[tuple[int, bytes]] = []
        while position < len(known) and known[position].moment < day_end:
            event = known[position]
            position += 1
            if start <= event.moment < end:
                seconds = int((event.moment - day_start).total_seconds())
                events.append((seconds, render(event)))
        count = per_day + (1 if index < extra else 0) if index < days else 0
        secs: list[int] = []
        lines: list[str] = []
        if count and day_end > start and day_start < end:
            secs, lines = _background_day(history, day, index, count, noise, fcs)
            if day_start < start or day_end > end:
                kept = [
                    (sec, line)
                    for sec, line in zip(secs, lines, strict=True)
                    if start <= day_start + timedelta(seconds=sec) < end
                ]
                secs, lines = [k[0] for k in kept], [k[1] for k in kept]
        done = 0
        for sec, line in events:  # each event before the background lines of its second
            cut = bisect_left(secs, sec, lo=done)
            if cut > done:
                yield "".join(lines[done:cut]).encode()
                done = cut
            yield line
        if done < len(lines):
            yield "".join(lines[done:]).encode()


def _background_day(
    history: History,
    day: date,
    index: int,
    count: int,
    products: list[Product],
    fcs: tuple[str, ...],
) -> tuple[list[int], list[str]]:
    """``count`` quoted ledger lines of one day: 80 % customer shipments, 10 % receipts, 10 %
    warehouse transfer pairs, on the noise SKUs, spread evenly over the day."""
    rng = random.Random(  # noqa: S311 - seeded test data, not secrets
        f"{history.seed}|{history.selling_partner_id}|{history.marketplace_id}|bg|{index}"
    )
    bits = rng.getrandbits
    us_date = day.strftime("%m/%d/%Y")
    iso_date = day.isoformat()
    heads = [f'"{us_date}"\t"{p.fnsku}"\t"{p.asin}"\t"{p.sku}"\t"{p.title}"\t' for p in products]
    tail = f'\t"SELLABLE"\t""\t"{history.country}"\t"0"\t"0"\t"{iso_date}T'
    step = 86_400 / (count + 1)
    n_products, n_fcs = len(products), len(fcs)
    secs: list[int] = []
    rows: list[str] = []
    n = 0
    while n < count:
        sec = int(step * (n + 1))
        stamp = f'{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}+00:00"\n'
        x = bits(64)
        head = heads[x % n_products]
        fc_index = (x >> 8) % n_fcs
        roll = (x >> 16) & 1023
        if roll < 820 or n + 1 >= count:
            quantity = -2 if (x >> 26) & 3 == 0 else -1
            left, right = 1_000_000 + (x >> 30) % 9_000_000, 1_000_000 + (x >> 40) % 9_000_000
            order = f"11{1 + (x >> 28) % 4}-{left}-{right}"
            line = f'{head}"Shipments"\t"{order}"\t"{quantity}"\t"{fcs[fc_index]}"{tail}{stamp}'
            secs.append(sec)
            rows.append(line)
            n += 1
        elif roll < 922:
            shipment = f"FBA15B{index:03d}{n:06d}"
            quantity = 1 + (x >> 26) % 39
            line = f'{head}"Receipts"\t"{shipment}"\t"{quantity}"\t"{fcs[fc_index]}"{tail}{stamp}'
            secs.append(sec)
            rows.append(line)
            n += 1
        else:  # a transfer pair: out of one center, into the next, the same second
            reference = f"9{index:04d}{n:06d}"
            quantity = 1 + (x >> 26) % 9
            other = fcs[(fc_index + 1) % n_fcs]
            source = fcs[fc_index]
            out = f'{head}"WhseTransfers"\t"{reference}"\t"-{quantity}"\t"{source}"{tail}{stamp}'
            into = f'{head}"WhseTransfers"\t"{reference}"\t"{quantity}"\t"{other}"{tail}{stamp}'
            secs += (sec, sec)
            rows += (out, into)
            n += 2
    return secs, rows
