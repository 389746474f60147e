"""OAuth 1.0a "one-legged" verification, as ``WC_REST_Authentication`` does it for requests that
are not over SSL (providers.md §5.2; ``perform_oauth_authentication``).

Parameters come from the query string, a POST's form-encoded body (PHP's ``$_POST``) and an
``Authorization: OAuth ...`` header (WC >= 3.0), later sources winning, and a repeated name
keeping its last value, as PHP builds ``$_GET``. With none of the five ``oauth_*`` parameters
the request is simply not OAuth (no error); otherwise, in WooCommerce's order:

1. every one of ``oauth_consumer_key``, ``oauth_timestamp``, ``oauth_nonce``,
   ``oauth_signature``, ``oauth_signature_method`` must be non-empty (PHP ``empty``), else
   ``woocommerce_rest_authentication_missing_parameter`` "Missing OAuth parameter(s) ...";
2. the consumer key must exist, else "Consumer key is invalid.";
3. the signature: base string ``METHOD&rawurlencode(scheme://host/path)&`` followed by the
   parameters other than ``oauth_signature``, sorted by name (``strcmp``), each name and value
   ``rawurlencode``d, joined as ``name=value``, each pair ``rawurlencode``d again and the pairs
   joined with ``%26``; method ``HMAC-SHA1`` or ``HMAC-SHA256`` (else "Invalid signature -
   signature method is invalid."); key ``consumer_secret&``; compared in constant time with
   the given signature (spaces read back as ``+``, then ``rawurldecode``d), else "Invalid
   signature - provided signature does not match.";
4. the timestamp within 15 minutes of now either way, else "Invalid timestamp.";
5. the nonce not used with this key in that window, else "Invalid nonce - nonce has already
   been used.".

Each failure is ``woocommerce_rest_authentication_error`` (step 1 excepted) with HTTP 401. Not
emulated: PHP nests bracketed names (``a[b]=1``, ``a[]=1``) into arrays before signing; the
emulator signs every name as it is, which gives the same string for ``a[b]`` names but not for
``a[]``. Multipart bodies (also in ``$_POST``) are not read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, unquote_plus

from starlette.requests import Request

from sellerhub_emulators.woocommerce import errors as e
from sellerhub_emulators.woocommerce.state import ApiKey, WooCommerceEmulator

WINDOW_SECONDS = 15 * 60
PARAM_NAMES = (
    "oauth_consumer_key",
    "oauth_timestamp",
    "oauth_nonce",
    "oauth_signature",
    "oauth_signature_method",
)
_ALGORITHMS: dict[str, Any] = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}
_HEADER_PARAM = re.compile(r'(oauth_[a-z_-]*)=(:?"([^"]*)"|([^,]*))')
# A PHP numeric string (what ``$timestamp < time() - $window`` compares as a number).
_NUMERIC = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Failure:
    code: str
    message: str


def _php_empty(value: str | None) -> bool:
    return value is None or value in ("", "0")


def rawurlencode(value: str) -> str:
    """PHP ``rawurlencode`` (RFC 3986: all but ALPHA, DIGIT, ``-``, ``.``, ``_``, ``~``)."""
    return quote(value.encode("utf-8"), safe="-._~")


def header_params(header: str) -> dict[str, str]:
    """``WC_REST_Authentication::parse_header``: the ``oauth_*`` values of an ``OAuth`` header."""
    if not header.startswith("OAuth "):
        return {}
    params: dict[str, str] = {}
    for match in _HEADER_PARAM.finditer(header):
        quoted, bare = match.group(3), match.group(4)
        params[match.group(1)] = unquote_plus((bare or "") if _php_empty(quoted) else quoted)
    return params


async def request_params(request: Request) -> dict[str, str]:
    """``array_merge($_GET, $_POST, <Authorization header params>)``."""
    params = dict(request.query_params.multi_items())
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if request.method == "POST" and media_type == "application/x-www-form-urlencoded":
        body = (await request.body()).decode("utf-8", errors="replace")
        params.update(parse_qsl(body, keep_blank_values=True))
    params.update(header_params(request.headers.get("authorization", "").strip()))
    return params


def request_uri(request: Request) -> str:
    """The URL WooCommerce signs against: scheme, host (port when not the default) and the path
    as sent, without the query."""
    scheme = request.url.scheme
    host = (request.headers.get("host") or request.url.netloc).lower()
    default = f":{_DEFAULT_PORTS.get(scheme)}"
    if host.endswith(default):
        host = host[: -len(default)]
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else quote(request.url.path)
    return f"{scheme}://{host}{path.split('?', 1)[0]}"


def base_string(method: str, uri: str, params: dict[str, str]) -> str:
    """``check_oauth_signature``'s ``$string_to_sign`` (``params`` without the signature)."""
    pairs = [
        rawurlencode(f"{rawurlencode(name)}={rawurlencode(value)}")
        for name, value in sorted(params.items(), key=lambda item: item[0].encode("utf-8"))
    ]
    return f"{method.upper()}&{rawurlencode(uri)}&{'%26'.join(pairs)}"


def _check_signature(key: ApiKey, request: Request, params: dict[str, str]) -> Failure | None:
    given = unquote(params["oauth_signature"].replace(" ", "+"))
    signed = {name: value for name, value in params.items() if name != "oauth_signature"}
    text = base_string(request.method, request_uri(request), signed)
    algorithm = _ALGORITHMS.get(params["oauth_signature_method"])
    if algorithm is None:
        return Failure(e.AUTHENTICATION_ERROR, e.SIGNATURE_METHOD_INVALID_MESSAGE)
    digest = hmac.new(f"{key.consumer_secret}&".encode(), text.encode(), algorithm).digest()
    expected = base64.b64encode(digest).decode("ascii")
    if not hmac.compare_digest(expected.encode(), given.encode("utf-8")):
        return Failure(e.AUTHENTICATION_ERROR, e.SIGNATURE_MISMATCH_MESSAGE)
    return None


def _check_timestamp_and_nonce(
    emulator: WooCommerceEmulator, key: ApiKey, timestamp: str, nonce: str
) -> Failure | None:
    now = emulator.wall_clock()
    if not _NUMERIC.fullmatch(timestamp):
        return Failure(e.AUTHENTICATION_ERROR, e.TIMESTAMP_INVALID_MESSAGE)
    stamp = float(timestamp)
    if stamp < now - WINDOW_SECONDS or stamp > now + WINDOW_SECONDS:
        return Failure(e.AUTHENTICATION_ERROR, e.TIMESTAMP_INVALID_MESSAGE)
    if not emulator.use_nonce(key, nonce, stamp, WINDOW_SECONDS):
        return Failure(e.AUTHENTICATION_ERROR, e.NONCE_USED_MESSAGE)
    return None


async def authenticate(
    emulator: WooCommerceEmulator, store: str, request: Request
) -> ApiKey | Failure | None:
    """The key a valid OAuth 1.0a request is signed with, the failure, or None when the request
    carries no OAuth parameter at all."""
    params = await request_params(request)
    missing = [name for name in PARAM_NAMES if _php_empty(params.get(name))]
    if len(missing) == len(PARAM_NAMES):
        return None
    if missing:
        noun = "parameter" if len(missing) == 1 else "parameters"
        return Failure(e.MISSING_OAUTH_PARAMETER, f"Missing OAuth {noun} {', '.join(missing)}")
    key = emulator.find_key(store, params["oauth_consumer_key"])
    if key is None:
        return Failure(e.AUTHENTICATION_ERROR, e.CONSUMER_KEY_INVALID_MESSAGE)
    failure = _check_signature(key, request, params)
    if failure is None:
        failure = _check_timestamp_and_nonce(
            emulator, key, params["oauth_timestamp"], params["oauth_nonce"]
        )
    return key if failure is None else failure
