"""Amazon's claim windows: one table, each row with its source and the day it was read.

A window is counted in calendar days from the day of the event it names (``counted_from``):
a claim may be filed from ``event + opens_after_days`` through ``event + closes_after_days``
inclusive. The October 2024 policy (announced September 2024; manual-claim windows in force
from 2024-10-23, proactive reimbursement of warehouse losses from 2024-11-01) applies to every
claim filed since, whatever the event's date, so there is no older table to fall back to.

Where a marketplace has no verified figure, the ``"*"`` row applies; for customer returns it is
the narrowest of the verified windows (opening no earlier and closing no later than any of them),
marked ``verified=False`` so a packet can tell the seller to confirm it in Seller Central.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from sellerhub.commerce.claims.rows import ClaimKind


@dataclass(frozen=True, slots=True)
class Window:
    kind: ClaimKind
    countries: frozenset[str]  # ISO country codes of the marketplaces; {"*"}: any other
    opens_after_days: int
    closes_after_days: int
    counted_from: str
    source: str
    seen: dt.date
    verified: bool = True


_SEEN: Final = dt.date(2026, 11, 30)
_ANNOUNCEMENT: Final = (
    "Amazon announcement on Seller Central forums, https://sellercentral.amazon.com/seller-forums"
    "/discussions/t/6605eede-df8e-4498-803f-cb612d95d7ce (manual-claim windows from 2024-10-23, "
    "proactive reimbursement of lost units from 2024-11-01); its windows as listed by "
    "https://www.youramz.com/blog/changes-to-fba-reimbursement (2024-09-13): lost or damaged in "
    "the fulfillment center no later than 60 days after reported, customer returns 60-120 days "
    "after the refund or replacement"
)
_EU_REPOST: Final = (
    "Amazon Europe announcement reposted at https://seller-forum.com/t/update-on-eligibility-"
    "window-to-file-reimbursement-claims/7594: fulfilment centre claims no later than 60 days "
    "after reported, customer returns 45-105 days after the refund or replacement"
)
_US_RETURNS: Final = (
    "Seller Central help 'FBA inventory reimbursement policy: Customer return claims' "
    "(United States), https://sellercentral.amazon.com/gp/help/external/G9N934L7Y4SFWPJ4: no "
    "sooner than 60 and no later than 120 days after the customer refund or replacement"
)
_INBOUND: Final = (
    "Amazon.ae announcement 'Update on reimbursement claim window eligibility on FBA', "
    "https://sellercentral.amazon.ae/seller-forums/discussions/t/96a05f4a-537a-49d2-a918-"
    "703c47716bc0 (from 2024-09-05): units missing from shipments no sooner than 15 and no later "
    "than 60 calendar days from the delivery date; the same 15-60 days in "
    "https://www.refunzo.com/insights/file-inbound-shipment-claims-amazon-fba (2026-02-09); "
    "older guides said 6-9 months"
)
_REEVALUATION: Final = (
    "Re-evaluation of a reimbursement's amount within 60 days of the reimbursement: "
    "https://www.appealspro.ai/blog/amazon-fba-sourcing-cost-reimbursements-the-60-day-window-"
    "trap-fba-sellers-must-know (third party only; confirm in Seller Central)"
)
_UNVERIFIED_RETURNS: Final = (
    "no verified current figure for this marketplace (the Japan and Canada help pages seen, "
    "https://sellercentral.amazon.co.jp/gp/help/external/G9N934L7Y4SFWPJ4, still say 45 days to "
    "18 months, from before October 2024): the narrowest of the verified windows (US 60-120, "
    "Europe 45-105), opening no earlier and closing no later than any"
)

# Canada and Mexico follow the United States (one North America announcement; the Canada help
# page seen still showed the older 45 days to 18 months, which the NA window lies inside).
NA: Final = frozenset({"US", "CA", "MX"})
EU: Final = frozenset({"GB", "DE", "FR", "IT", "ES", "NL", "SE", "PL", "BE", "IE"})
ANY: Final = frozenset({"*"})

WINDOWS: Final[tuple[Window, ...]] = (
    Window(
        ClaimKind.WAREHOUSE_LOST,
        ANY,
        0,
        60,
        "the day Amazon reported the unit lost",
        _ANNOUNCEMENT + "; " + _EU_REPOST,
        _SEEN,
    ),
    Window(
        ClaimKind.WAREHOUSE_DAMAGED,
        ANY,
        0,
        60,
        "the day Amazon reported the unit damaged",
        _ANNOUNCEMENT + "; " + _EU_REPOST,
        _SEEN,
    ),
    Window(
        ClaimKind.CUSTOMER_RETURN,
        NA,
        60,
        120,
        "the customer refund or replacement",
        _US_RETURNS + "; " + _ANNOUNCEMENT,
        _SEEN,
    ),
    Window(
        ClaimKind.CUSTOMER_RETURN,
        EU,
        45,
        105,
        "the customer refund or replacement",
        _EU_REPOST,
        _SEEN,
    ),
    Window(
        ClaimKind.CUSTOMER_RETURN,
        ANY,
        60,
        105,
        "the customer refund or replacement",
        _UNVERIFIED_RETURNS,
        _SEEN,
        verified=False,
    ),
    Window(ClaimKind.INBOUND_SHORTAGE, ANY, 15, 60, "the shipment's delivery", _INBOUND, _SEEN),
    Window(
        ClaimKind.REIMBURSED_BELOW_VALUE,
        ANY,
        0,
        60,
        "the reimbursement's approval",
        _REEVALUATION,
        _SEEN,
        verified=False,
    ),
)

# Marketplace ids and names to countries: SP-API marketplace table (developer docs
# "Marketplace IDs"; the same rows as the SP-API emulator's marketplaces.py).
MARKETPLACE_COUNTRIES: Final[dict[str, str]] = {
    "ATVPDKIKX0DER": "US", "A2EUQ1WTGCTBG2": "CA", "A1AM78C64UM0Y8": "MX",
    "A2Q3Y263D00KWC": "BR", "A1F83G8C2ARO7P": "GB", "A1PA6795UKMFR9": "DE",
    "A13V1IB3VIYZZH": "FR", "APJ6JRA9NG5V4": "IT", "A1RKKUPIHCS9HS": "ES",
    "A1805IZSGTT6HS": "NL", "A2NODRKZP88ZB9": "SE", "A1C3SOZRARQ6R3": "PL",
    "AMEN7PMS3EDWL": "BE", "A28R8C7NBKEWEA": "IE", "A33AVAJ2PDY3EV": "TR",
    "A2VIGQ35RCS4UG": "AE", "A21TJRUUN4KGV": "IN", "A1VC38T7YXB528": "JP",
    "A39IBJ37TRP1C6": "AU", "A19VAU5U5O7RUS": "SG",
    "amazon.com": "US", "amazon.ca": "CA", "amazon.com.mx": "MX", "amazon.com.br": "BR",
    "amazon.co.uk": "GB", "amazon.de": "DE", "amazon.fr": "FR", "amazon.it": "IT",
    "amazon.es": "ES", "amazon.nl": "NL", "amazon.se": "SE", "amazon.pl": "PL",
    "amazon.com.be": "BE", "amazon.ie": "IE", "amazon.com.tr": "TR", "amazon.ae": "AE",
    "amazon.in": "IN", "amazon.co.jp": "JP", "amazon.com.au": "AU", "amazon.sg": "SG",
}  # fmt: skip


def country_of(where: str) -> str:
    """A marketplace id (``ATVPDKIKX0DER``), a marketplace name (``Amazon.com``) or a country
    code (``US``) as an upper-case country code; ``""`` when unknown (the ``"*"`` windows)."""
    text = where.strip()
    if text in MARKETPLACE_COUNTRIES:
        return MARKETPLACE_COUNTRIES[text]
    if text.lower() in MARKETPLACE_COUNTRIES:
        return MARKETPLACE_COUNTRIES[text.lower()]
    if len(text) == 2 and text.isalpha():
        return "GB" if text.upper() == "UK" else text.upper()
    return ""


def window(kind: ClaimKind, where: str) -> Window:
    """The window of ``kind`` in the marketplace ``where`` (id, name or country code)."""
    country = country_of(where)
    fallback: Window | None = None
    for row in WINDOWS:
        if row.kind != kind:
            continue
        if country and country in row.countries:
            return row
        if row.countries == ANY:
            fallback = row
    if fallback is None:  # every kind has a "*" row; a test keeps it so
        raise LookupError(f"no claim window for {kind}")
    return fallback


def eligible_from(kind: ClaimKind, where: str, event_date: dt.date) -> dt.date:
    """The first day a claim may be filed."""
    return event_date + dt.timedelta(days=window(kind, where).opens_after_days)


def deadline(kind: ClaimKind, where: str, event_date: dt.date) -> dt.date:
    """The last day a claim may be filed (inclusive)."""
    return event_date + dt.timedelta(days=window(kind, where).closes_after_days)
