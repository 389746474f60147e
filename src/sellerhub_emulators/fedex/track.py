"""``POST /track/v1/trackingnumbers``: FedEx Track API, "Track by Tracking Number".

providers.md §6 documents the OAuth side only; the request and response shapes here follow
FedEx's Track API 1.0.0 OpenAPI (``trackByTrackingNumber``, as generated in
alexdupre/fedex-scala, the same source providers.md uses for the OAuth API):

- headers: ``Authorization: Bearer <access token>`` (required), ``x-customer-transaction-id``
  (echoed as ``customerTransactionId``), ``x-locale`` (accepted, answers are ``en_US``);
- body (JSON): ``{"includeDetailedScans": true, "trackingInfo": [{"trackingNumberInfo":
  {"trackingNumber": "123456789012"}}]}`` - ``includeDetailedScans`` is required, 1 to 30
  ``trackingInfo`` entries;
- 200: ``{"transactionId", "customerTransactionId"?, "output": {"completeTrackResults":
  [{"trackingNumber", "trackResults": [...]}]}}`` with one result per requested number, in
  request order (see ``shipments`` for what a result holds and which numbers exist). Scan
  events are listed only when ``includeDetailedScans`` is true.

Errors (FedEx's shape): 401 ``NOT.AUTHORIZED.ERROR`` for a missing, unknown or revoked token
and, with FedEx's documented message, for an expired one; 400 ``TRACKING.TRACKINGNUMBER.EMPTY``
when no tracking number is given; 400 ``INVALID.INPUT.EXCEPTION`` [unconfirmed code] for a body
that is not the documented JSON or holds more than 30 numbers; 429 and injected failures
through the ``_admin`` controls. FedEx's own throttling (1,400 transactions per 10 s per
project, daily quotas) is modelled by the ``rate_limit`` rule on ``track``.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from sellerhub_emulators.common.httputil import bearer_token
from sellerhub_emulators.common.tokens import TokenKind, TokenStatus
from sellerhub_emulators.fedex import constants as c
from sellerhub_emulators.fedex import errors as e
from sellerhub_emulators.fedex.shipments import complete_track_result
from sellerhub_emulators.fedex.state import FedexEmulator


class TrackInputError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _invalid(message: str = e.INVALID_INPUT_MESSAGE) -> TrackInputError:
    return TrackInputError(e.INVALID_INPUT, message)


def _empty() -> TrackInputError:
    return TrackInputError(e.TRACKING_NUMBER_EMPTY, e.TRACKING_NUMBER_EMPTY_MESSAGE)


def parse_track_request(raw: bytes) -> tuple[list[str], bool]:
    """The requested tracking numbers and ``includeDetailedScans``; raises ``TrackInputError``."""
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _invalid() from None
    if not isinstance(data, dict):
        raise _invalid()
    detailed = data.get("includeDetailedScans")
    if not isinstance(detailed, bool):
        raise _invalid()
    infos = data.get("trackingInfo")
    if infos is not None and not isinstance(infos, list):
        raise _invalid()
    if not infos:
        raise _empty()
    if len(infos) > c.MAX_TRACKING_NUMBERS:
        raise _invalid(f"At most {c.MAX_TRACKING_NUMBERS} tracking numbers can be tracked at once.")
    numbers: list[str] = []
    for info in infos:
        number_info = info.get("trackingNumberInfo") if isinstance(info, dict) else None
        if not isinstance(number_info, dict):
            raise _empty()
        number = number_info.get("trackingNumber")
        if not isinstance(number, str) or not number.strip():
            raise _empty()
        numbers.append(number.strip())
    return numbers, detailed


def add_track_routes(router: APIRouter, emulator: FedexEmulator) -> None:
    @router.post(c.TRACK_PATH)
    async def track(request: Request) -> Response:
        """Tracking details of up to 30 tracking numbers."""
        blocked = await emulator.enter(c.ENDPOINT_TRACK)
        if blocked is not None:
            return blocked
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            return e.not_authorized(e.UNAUTHENTICATED_MESSAGE)
        found = emulator.tokens.lookup(token, TokenKind.ACCESS)
        if found.status is TokenStatus.EXPIRED:
            return e.not_authorized(e.EXPIRED_MESSAGE)
        if not found.valid:
            return e.not_authorized(e.UNAUTHENTICATED_MESSAGE)
        customer_transaction_id = request.headers.get("x-customer-transaction-id") or None
        try:
            numbers, detailed = parse_track_request(await request.body())
        except TrackInputError as exc:
            return e.fedex_error(
                400, exc.code, exc.message, customer_transaction_id=customer_transaction_id
            )
        body: dict[str, Any] = {"transactionId": e.transaction_id()}
        if customer_transaction_id:
            body["customerTransactionId"] = customer_transaction_id
        body["output"] = {
            "completeTrackResults": [
                complete_track_result(number, detailed_scans=detailed) for number in numbers
            ]
        }
        return JSONResponse(body)
