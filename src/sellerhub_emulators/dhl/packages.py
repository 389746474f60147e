"""Deterministic, plausible DHL eCommerce Americas packages for the tracking endpoint: the same
identifier always gives the same ``packages`` entry.

Field names follow DHL's published tracking examples (``recipient``, ``events``,
``pickupDetail``, ``package``; events with ``date``, ``time``, ``timeZone``, ``location``,
``postalCode``, ``primaryEventId``, ``primaryEventDescription``, ``secondaryEventId``,
``secondaryEventDescription``). [unconfirmed] The event ids, the order of ``events`` (oldest
first here) and the ``timeZone`` notation are the emulator's choices.

Which identifiers exist: a ``trackingId`` of 20-34 digits (USPS-style barcodes), a ``packageId``
or ``dhlPackageId`` of 1-30 letters, digits, ``.``, ``_`` or ``-``. Anything else is unknown and,
as DHL does, simply missing from ``packages``. Status, destination, dates (January-February 2025)
and weight derive from a hash of the identifier; every package belongs to the emulator's one
pickup account.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sellerhub_emulators.dhl import constants as c

EPOCH = date(2025, 1, 6)
SHIP_DAYS = 56
_PACKAGE_ID = re.compile(r"^[A-Za-z0-9._-]{1,30}$")
_TRACKING_ID = re.compile(r"^[0-9]{20,34}$")


@dataclass(frozen=True, slots=True)
class City:
    name: str
    state: str
    postal_code: str
    time_zone: str

    @property
    def location(self) -> str:
        return f"{self.name}, {self.state}, US"


PICKUP_CITY = City("Carrollton", "TX", "75010", "CT")
HUB = City("Grand Prairie", "TX", "75050", "CT")
DESTINATIONS = (
    City("New Haven", "CT", "06510", "ET"),
    City("Columbus", "OH", "43215", "ET"),
    City("Miami", "FL", "33131", "ET"),
    City("Minneapolis", "MN", "55401", "CT"),
    City("Denver", "CO", "80202", "MT"),
    City("Phoenix", "AZ", "85004", "MT"),
    City("Portland", "OR", "97205", "PT"),
    City("San Jose", "CA", "95113", "PT"),
)
PICKUP_ADDRESS = {
    "name": "EMULATED SHIPPER",
    "address1": "1000 EMULATOR PKWY",
    "city": PICKUP_CITY.name,
    "state": PICKUP_CITY.state,
    "country": "US",
    "postalCode": PICKUP_CITY.postal_code,
}
# (ordered product id, product name, transit days)
PRODUCTS = (
    ("GND", "DHL Parcel Ground", 5),
    ("EXP", "DHL Parcel Expedited", 3),
    ("MAX", "DHL Parcel Expedited Max", 2),
)

# (primary event id, description, where: pickup / hub / destination, day: ship / delivery, time)
_LABEL = (10, "LABEL CREATED", "p", "s", "09:14:00")
_PICKED_UP = (20, "PICKED UP", "p", "s", "16:32:00")
_PROCESSED = (30, "PROCESSED", "h", "s", "22:05:00")
_DEPARTED = (40, "DEPARTURE ORIGIN DHL ECOMMERCE FACILITY", "h", "s", "23:48:00")
_ARRIVED = (50, "ARRIVAL DESTINATION DHL ECOMMERCE FACILITY", "d", "d", "04:26:00")
_OUT = (60, "OUT FOR DELIVERY", "d", "d", "08:03:00")
_DELIVERED = (70, "DELIVERED", "d", "d", "14:41:00")
STAGES = (
    (_LABEL,),
    (_LABEL, _PICKED_UP),
    (_LABEL, _PICKED_UP, _PROCESSED, _DEPARTED, _ARRIVED),
    (_LABEL, _PICKED_UP, _PROCESSED, _DEPARTED, _ARRIVED, _OUT),
    (_LABEL, _PICKED_UP, _PROCESSED, _DEPARTED, _ARRIVED, _OUT, _DELIVERED),
)
SIGNERS = ("J SMITH", "M GARCIA", "MAILROOM", "L NGUYEN", "R PATEL")


def exists(kind: str, value: str) -> bool:
    pattern = _TRACKING_ID if kind == "trackingId" else _PACKAGE_ID
    return pattern.fullmatch(value) is not None


def package_for(kind: str, value: str) -> dict[str, Any] | None:
    """The ``packages`` entry for one identifier; None when the emulator knows no such package."""
    if kind not in c.IDENTIFIER_KINDS or not exists(kind, value):
        return None
    seed = int.from_bytes(hashlib.sha256(f"{kind}:{value}".encode()).digest()[:8], "big")
    product_id, product_name, transit_days = PRODUCTS[seed % len(PRODUCTS)]
    destination = DESTINATIONS[(seed >> 8) % len(DESTINATIONS)]
    ship_date = EPOCH + timedelta(days=(seed >> 16) % SHIP_DAYS)
    delivery_date = ship_date + timedelta(days=transit_days)
    stage = (seed >> 24) % len(STAGES)
    pounds = round(0.25 + ((seed >> 32) % 400) / 20, 2)
    places = {"p": PICKUP_CITY, "h": HUB, "d": destination}

    events = []
    for event_id, description, where, day, time in STAGES[stage]:
        city = places[where]
        events.append(
            {
                "date": (ship_date if day == "s" else delivery_date).isoformat(),
                "time": time,
                "timeZone": city.time_zone,
                "location": city.location,
                "postalCode": city.postal_code,
                "primaryEventId": event_id,
                "primaryEventDescription": description,
                "secondaryEventId": 0,
                "secondaryEventDescription": "",
            }
        )
    delivered = events[-1]["primaryEventDescription"] == "DELIVERED"

    recipient: dict[str, Any] = {
        "city": destination.name,
        "state": destination.state,
        "postalCode": destination.postal_code,
        "country": "US",
    }
    if delivered:
        recipient["signedForName"] = SIGNERS[seed % len(SIGNERS)]
    generated = {
        "dhlPackageId": f"GM{c.DEFAULT_PICKUP}{seed % 10**11:011d}",
        "packageId": f"EMU-{seed % 10**10:010d}",
        "trackingId": f"93748699035{seed % 10**11:011d}",
    }
    generated[kind] = value
    package: dict[str, Any] = {
        **generated,
        "orderedProductId": product_id,
        "billedProductId": product_id,
        "productName": product_name,
        "signatureConfirmationFlag": False,
        "deliveryConfirmationFlag": True,
        "customerReference": "",
        "weight": {"value": pounds, "unitOfMeasure": "LB"},
    }
    if not delivered:
        package["expectedDelivery"] = delivery_date.isoformat()
    return {
        "recipient": recipient,
        "events": events,
        "pickupDetail": {
            "soldTo": c.DEFAULT_SOLD_TO,
            "pickup": c.DEFAULT_PICKUP,
            "pickupAddress": dict(PICKUP_ADDRESS),
        },
        "package": package,
    }
