"""``GET /tracking/v4/package/open``: DHL eCommerce Americas Tracking v4 (the API family of
providers.md §7; developer.dhl.com "Tracking (DHL eCommerce Americas)" v4.0.0).

Requires ``Authorization: Bearer <access token>`` from ``/auth/v4/accesstoken``. Query:

- one kind of package identifier - ``packageId``, ``dhlPackageId`` or ``trackingId`` - with up
  to 10 values (comma-separated or repeated), plus an optional ``pickup``: packages of another
  pickup are not returned;
- or a group search - ``manifestId``, or ``pickup`` + ``startDate`` + ``endDate`` (``YYYYMMDD``,
  at most 7 days apart) - which the emulator answers with no packages (it has no manifests);
- ``offset`` (default 0) and ``limit`` (default and maximum 10) page the result.

200: ``{"total", "limit", "offset", "timestamp", "packages": [...]}``; unknown identifiers are
simply absent (``total`` counts what was found). See ``packages`` for the entries. Pagination
``links`` are not emitted [unconfirmed names].

Errors (DHL's shape): 401 "Invalid access token" [unconfirmed wording] for a missing, unknown or
revoked token, 401 "Access token expired" (DHL's documented wording) for an expired one, 400 with
``invalidParams`` for a bad query; 429 and injected failures through the ``_admin`` controls.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from fastapi import APIRouter, Request
from starlette.datastructures import QueryParams
from starlette.responses import JSONResponse, Response

from sellerhub_emulators.common.httputil import bearer_token
from sellerhub_emulators.common.tokens import TokenKind, TokenStatus
from sellerhub_emulators.dhl import constants as c
from sellerhub_emulators.dhl import errors as e
from sellerhub_emulators.dhl.packages import package_for
from sellerhub_emulators.dhl.state import DhlEmulator

MAX_DATE_RANGE_DAYS = 7


class QueryError(Exception):
    def __init__(self, params: list[e.Param]) -> None:
        super().__init__("invalid query")
        self.params = params


def _bad(name: str, reason: str) -> QueryError:
    return QueryError([{"name": name, "reason": reason}])


def _int_param(query: QueryParams, name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise _bad(name, f"Must be an integer between {low} and {high}")
    return int(raw)


def _date_param(query: QueryParams, name: str) -> date:
    raw = query.get(name, "")
    try:
        if len(raw) != 8 or not raw.isdigit():
            raise ValueError(raw)
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        raise _bad(name, "Must be a date in the format YYYYMMDD") from None


def _values(query: QueryParams, kind: str) -> list[str]:
    return [v.strip() for raw in query.getlist(kind) for v in raw.split(",") if v.strip()]


def find_packages(query: QueryParams) -> list[dict[str, object]]:
    """Every package the query finds (before paging); raises ``QueryError``."""
    kinds = [kind for kind in c.IDENTIFIER_KINDS if _values(query, kind)]
    if len(kinds) > 1:
        reason = "Only one kind of package identifier per request"
        raise QueryError([{"name": kind, "reason": reason} for kind in kinds])
    pickup = query.get("pickup", "")
    if not kinds:
        if query.get("manifestId"):
            return []
        if pickup and (query.get("startDate") or query.get("endDate")):
            start, end = _date_param(query, "startDate"), _date_param(query, "endDate")
            if not 0 <= (end - start).days <= MAX_DATE_RANGE_DAYS:
                raise _bad("endDate", "endDate should be within 7 days of startDate")
            return []
        raise _bad(
            "packageId",
            "Provide packageId, dhlPackageId or trackingId, a manifestId, "
            "or pickup with startDate and endDate",
        )
    kind = kinds[0]
    values = _values(query, kind)
    if len(values) > c.MAX_IDENTIFIERS:
        raise _bad(kind, f"At most {c.MAX_IDENTIFIERS} package identifiers per request")
    if pickup and pickup != c.DEFAULT_PICKUP:
        return []
    found = (package_for(kind, value) for value in values)
    return [package for package in found if package is not None]


def add_track_routes(router: APIRouter, emulator: DhlEmulator) -> None:
    @router.get(c.TRACK_PATH)
    async def track(request: Request) -> Response:
        """Tracking events of up to 10 packages."""
        blocked = await emulator.enter(c.ENDPOINT_TRACK)
        if blocked is not None:
            return blocked
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            return e.dhl_error(401, e.INVALID_TOKEN)
        found = emulator.tokens.lookup(token, TokenKind.ACCESS)
        if found.status is TokenStatus.EXPIRED:
            return e.dhl_error(401, e.EXPIRED_TOKEN)
        if not found.valid:
            return e.dhl_error(401, e.INVALID_TOKEN)
        query = request.query_params
        try:
            offset = _int_param(query, "offset", 0, 0, 1_000_000)
            limit = _int_param(query, "limit", c.MAX_LIMIT, 1, c.MAX_LIMIT)
            packages = find_packages(query)
        except QueryError as exc:
            return e.invalid_parameters(exc.params)
        body = {
            "total": len(packages),
            "limit": limit,
            "offset": offset,
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "packages": packages[offset : offset + limit],
        }
        return JSONResponse(body)
