"""DHL eCommerce Americas error shape: an RFC 7807-style object

``{"type": "https://api.dhlecs.com/docs/errors/<status>.<7 digits>", "title": "...",
"invalidParams": [{"name": "...", "reason": "..."}]}``

(``invalidParams`` only for parameter errors). The shape, the ``type`` URL pattern and the
token endpoint's ``401.0000007`` "Invalid credentials" are observed in public client code and
DHL's published examples; the resource's "Access token expired" title is DHL's documented
wording. Every other numeric code and title below is the emulator's own [unconfirmed]: clients
should key on the HTTP status and, at most, on the code.
"""

from __future__ import annotations

from http import HTTPStatus

from starlette.responses import JSONResponse

from sellerhub_emulators.dhl import constants as c

# RFC 6749 §5.1: token responses, errors included, must not be cached.
TOKEN_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}

INVALID_CREDENTIALS = ("401.0000007", "Invalid credentials")  # observed
INVALID_TOKEN = ("401.0000001", "Invalid access token")  # [unconfirmed]
EXPIRED_TOKEN = ("401.0000002", "Access token expired")  # title documented, code [unconfirmed]
INVALID_PARAMETERS = ("400.0000001", "Invalid parameters")  # [unconfirmed]
# DHL documents two 429 causes with distinct details (Spike Arrest, Quota Violation); the
# token bucket of ``rate_limit`` models the first.
SPIKE_ARREST = ("429.0000001", "Spike arrest violation")  # [unconfirmed]

Param = dict[str, str]


def dhl_error(
    status: int,
    code_title: tuple[str, str],
    *,
    invalid_params: list[Param] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    code, title = code_title
    body: dict[str, object] = {"type": c.ERROR_TYPE_BASE + code, "title": title}
    if invalid_params:
        body["invalidParams"] = invalid_params
    return JSONResponse(body, status_code=status, headers=headers)


def _generic(status: int) -> tuple[str, str]:
    if status == 429:
        return SPIKE_ARREST
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return f"{status}.0000001", title


def token_fault(status: int) -> JSONResponse:
    """An injected failure or a throttled call of ``/auth/v4/accesstoken``."""
    code_title = INVALID_CREDENTIALS if status == 401 else _generic(status)
    return dhl_error(status, code_title, headers=TOKEN_HEADERS)


def track_fault(status: int) -> JSONResponse:
    """An injected failure or a throttled call of ``/tracking/v4/package/open``."""
    code_title = INVALID_TOKEN if status == 401 else _generic(status)
    return dhl_error(status, code_title)


def invalid_parameters(
    params: list[Param], *, headers: dict[str, str] | None = None
) -> JSONResponse:
    return dhl_error(400, INVALID_PARAMETERS, invalid_params=params, headers=headers)
