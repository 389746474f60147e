"""Deterministic, plausible FedEx shipments for the Track API: the same tracking number always
gives the same ``trackResults`` entry (field names and enums of FedEx's Track API 1.0.0 OpenAPI).

Which numbers exist: 12 digits (FedEx Express, ``FDXE``), 15 digits (FedEx Ground, ``FDXG``),
20 or 22 digits (FedEx Ground Economy, ``FXSP``). Anything else is "not found", answered as FedEx
does inside a 200: a ``trackResults`` entry carrying ``error``. The status (label created, picked
up, in transit, out for delivery, delivered), the cities, the dates (January-February 2025, so
every offset is standard time) and the weight all derive from a hash of the number. Addresses
carry no street lines, as in FedEx's non-secured tracking.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sellerhub_emulators.fedex import errors as e

EPOCH = date(2025, 1, 6)
SHIP_DAYS = 56


@dataclass(frozen=True, slots=True)
class City:
    name: str
    state: str
    postal_code: str
    utc_offset: str
    location_id: str


CITIES = (
    City("MEMPHIS", "TN", "38118", "-06:00", "MEMH"),
    City("INDIANAPOLIS", "IN", "46241", "-05:00", "INDH"),
    City("OAKLAND", "CA", "94621", "-08:00", "OAKH"),
    City("DALLAS", "TX", "75261", "-06:00", "DFWA"),
    City("NEWARK", "NJ", "07114", "-05:00", "EWRH"),
    City("SEATTLE", "WA", "98108", "-08:00", "BFIA"),
    City("CHICAGO", "IL", "60666", "-06:00", "ORDH"),
    City("ATLANTA", "GA", "30320", "-05:00", "ATLH"),
)


@dataclass(frozen=True, slots=True)
class Service:
    type: str
    description: str
    short: str
    carrier: str
    transit_days: int


EXPRESS_SERVICES = (
    Service("STANDARD_OVERNIGHT", "FedEx Standard Overnight", "SO", "FDXE", 1),
    Service("FEDEX_2_DAY", "FedEx 2Day", "E2", "FDXE", 2),
    Service("FEDEX_EXPRESS_SAVER", "FedEx Express Saver", "XS", "FDXE", 3),
)
GROUND = Service("FEDEX_GROUND", "FedEx Ground", "FG", "FDXG", 4)
GROUND_ECONOMY = Service("SMART_POST", "FedEx Ground Economy", "SP", "FXSP", 6)

# (scan event type, description, derived status code, derived status, location type, where)
_LABEL = ("OC", "Shipment information sent to FedEx", "IN", "Label created", "CUSTOMER", "o")
_PICKUP = ("PU", "Picked up", "PU", "Picked up", "PICKUP_LOCATION", "o")
_DEPARTED = ("DP", "Departed FedEx location", "IT", "In transit", "ORIGIN_FEDEX_FACILITY", "o")
_ARRIVED = (
    "AR",
    "Arrived at FedEx location",
    "IT",
    "In transit",
    "DESTINATION_FEDEX_FACILITY",
    "d",
)
_ON_VEHICLE = ("OD", "On FedEx vehicle for delivery", "OD", "On the way", "VEHICLE", "d")
_DELIVERED = ("DL", "Delivered", "DL", "Delivered", "DELIVERY_LOCATION", "d")
# Scans present at each stage, oldest first.
STAGES = (
    (_LABEL,),
    (_LABEL, _PICKUP),
    (_LABEL, _PICKUP, _DEPARTED, _ARRIVED),
    (_LABEL, _PICKUP, _DEPARTED, _ARRIVED, _ON_VEHICLE),
    (_LABEL, _PICKUP, _DEPARTED, _ARRIVED, _ON_VEHICLE, _DELIVERED),
)
# (days after the ship date, 0 = the delivery date when negative, hour, minute) per scan type.
_CLOCK = {"OC": (0, 8, 12), "PU": (0, 16, 40), "DP": (0, 21, 5), "AR": (-1, 5, 30)}
_CLOCK |= {"OD": (-1, 8, 45), "DL": (-1, 13, 20)}
RECEIVERS = ("J.SMITH", "M.GARCIA", "FRONT DESK", "L.NGUYEN", "R.PATEL")


def _seed(tracking_number: str) -> int:
    return int.from_bytes(hashlib.sha256(tracking_number.encode()).digest()[:8], "big")


def service_for(tracking_number: str) -> Service | None:
    if not tracking_number.isascii() or not tracking_number.isdigit():
        return None
    if len(tracking_number) == 12:
        return EXPRESS_SERVICES[_seed(tracking_number) % len(EXPRESS_SERVICES)]
    if len(tracking_number) == 15:
        return GROUND
    if len(tracking_number) in (20, 22):
        return GROUND_ECONOMY
    return None


def _address(city: City, *, postal: bool = False) -> dict[str, Any]:
    address: dict[str, Any] = {"city": city.name, "stateOrProvinceCode": city.state}
    if postal:
        address["postalCode"] = city.postal_code
    address |= {"countryCode": "US", "residential": False, "countryName": "United States"}
    return address


def _stamp(day: date, hour: int, minute: int, city: City) -> str:
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00{city.utc_offset}"


def not_found(tracking_number: str) -> dict[str, Any]:
    return {
        "trackingNumberInfo": {
            "trackingNumber": tracking_number,
            "trackingNumberUniqueId": "",
            "carrierCode": "",
        },
        "error": {
            "code": e.TRACKING_NUMBER_NOT_FOUND,
            "message": e.TRACKING_NUMBER_NOT_FOUND_MESSAGE,
        },
    }


def track_result(tracking_number: str, *, detailed_scans: bool) -> dict[str, Any]:
    """The ``trackResults`` entry of one tracking number."""
    service = service_for(tracking_number)
    if service is None:
        return not_found(tracking_number)
    seed = _seed(tracking_number)
    origin = CITIES[(seed >> 8) % len(CITIES)]
    destination = CITIES[(seed >> 16) % len(CITIES)]
    if destination == origin:
        destination = CITIES[(CITIES.index(origin) + 1) % len(CITIES)]
    ship_date = EPOCH + timedelta(days=(seed >> 24) % SHIP_DAYS)
    delivery_date = ship_date + timedelta(days=service.transit_days)
    stage = (seed >> 32) % len(STAGES)
    pounds = 1 + ((seed >> 40) % 400) / 10
    weight = [
        {"value": f"{pounds:.1f}", "unit": "LB"},
        {"value": f"{pounds * 0.45359237:.1f}", "unit": "KG"},
    ]

    scans: list[dict[str, Any]] = []
    for event_type, description, derived_code, derived, location_type, where in STAGES[stage]:
        city = origin if where == "o" else destination
        offset, hour, minute = _CLOCK[event_type]
        day = ship_date + timedelta(days=offset) if offset >= 0 else delivery_date
        scans.append(
            {
                "date": _stamp(day, hour, minute + seed % 10, city),
                "eventType": event_type,
                "eventDescription": description,
                "exceptionCode": "",
                "exceptionDescription": "",
                "scanLocation": {"streetLines": [""], **_address(city, postal=True)},
                "locationId": city.location_id,
                "locationType": location_type,
                "derivedStatusCode": derived_code,
                "derivedStatus": derived,
            }
        )
    latest = scans[-1]
    delivered = latest["eventType"] == "DL"
    dates: list[dict[str, str]] = []
    if delivered:
        dates.append({"type": "ACTUAL_DELIVERY", "dateTime": latest["date"]})
    else:
        dates.append(
            {"type": "ESTIMATED_DELIVERY", "dateTime": _stamp(delivery_date, 20, 0, destination)}
        )
    if stage >= 1:
        dates.append({"type": "ACTUAL_PICKUP", "dateTime": scans[1]["date"]})
    dates.append({"type": "SHIP", "dateTime": _stamp(ship_date, 0, 0, origin)})

    result: dict[str, Any] = {
        "trackingNumberInfo": {
            "trackingNumber": tracking_number,
            "trackingNumberUniqueId": f"{12000 + seed % 9000}~{tracking_number}~{service.carrier}",
            "carrierCode": service.carrier,
        },
        "additionalTrackingInfo": {
            "nickname": "",
            "packageIdentifiers": [],
            "hasAssociatedShipments": False,
        },
        "shipperInformation": {"address": _address(origin)},
        "recipientInformation": {"address": _address(destination)},
        "latestStatusDetail": {
            "code": latest["eventType"],
            "derivedCode": latest["derivedStatusCode"],
            "statusByLocale": latest["derivedStatus"],
            "description": latest["eventDescription"],
            "scanLocation": _address(origin if stage <= 1 else destination),
        },
        "dateAndTimes": dates,
        "availableImages": [{"type": "SIGNATURE_PROOF_OF_DELIVERY"}] if delivered else [],
        "packageDetails": {
            "packagingDescription": {"type": "YOUR_PACKAGING", "description": "Your Packaging"},
            "sequenceNumber": "1",
            "count": "1",
            "weightAndDimensions": {"weight": weight},
            "packageContent": [],
        },
        "shipmentDetails": {"beforePossessionStatus": stage == 0, "weight": weight},
        "originLocation": {"locationContactAndAddress": {"address": _address(origin)}},
        "destinationLocation": {"locationContactAndAddress": {"address": _address(destination)}},
        "serviceDetail": {
            "type": service.type,
            "description": service.description,
            "shortDescription": service.short,
        },
        "deliveryDetails": {"deliveryAttempts": "1" if delivered else "0"},
    }
    if delivered:
        result["deliveryDetails"]["receivedByName"] = RECEIVERS[seed % len(RECEIVERS)]
    if detailed_scans:
        result["scanEvents"] = list(reversed(scans))  # newest first, as FedEx lists them
    return result


def complete_track_result(tracking_number: str, *, detailed_scans: bool) -> dict[str, Any]:
    return {
        "trackingNumber": tracking_number,
        "trackResults": [track_result(tracking_number, detailed_scans=detailed_scans)],
    }
