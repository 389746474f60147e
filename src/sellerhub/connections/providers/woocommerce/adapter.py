"""WooCommerce REST API v3 (providers.md §5.2). Nothing to refresh; the stored "access token" is
the Basic credential ``base64(consumer_key:consumer_secret)`` (encrypted like every secret).

How a request is authenticated depends on the store's scheme, as ``WC_REST_Authentication``
requires: over https the keys go as HTTP Basic; over plain http WooCommerce ignores Basic and
accepts only an OAuth 1.0a "one-legged" signature (``OAuth1Signer``: HMAC-SHA256, a fresh nonce
and the current timestamp per request, the ``oauth_*`` parameters in the query string). Plain
http stores exist only in development: production refuses them through the SSRF guard.

The signature follows WooCommerce's ``check_oauth_signature``: the base string is
``METHOD&enc(scheme://host[:port]/path)&enc(name=value&...)`` over the query parameters (and a
POST's form-encoded body, which PHP reads into ``$_POST``) plus the ``oauth_*`` ones except
``oauth_signature``; names and values are percent-encoded per RFC 3986 and sorted by name.
PHP keeps the last value of a repeated name, so the signer does too. The key is
``consumer_secret&`` (no token secret).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Generator, Iterable
from secrets import token_hex
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import httpx

from sellerhub.config import Settings
from sellerhub.connections.providers.base import ClientSecrets, Grant, RefreshFailed, TokenGrant

SIGNATURE_METHOD = "HMAC-SHA256"
_DIGESTS: dict[str, Callable[[], Any]] = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_FORM = "application/x-www-form-urlencoded"


def basic_credential(consumer_key: str, consumer_secret: str) -> str:
    return base64.b64encode(f"{consumer_key}:{consumer_secret}".encode()).decode("ascii")


def split_credential(credential: str) -> tuple[str, str]:
    """``(consumer_key, consumer_secret)`` from a stored ``basic_credential``."""
    try:
        decoded = base64.b64decode(credential, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("the stored WooCommerce credential is not key:secret") from None
    key, sep, secret = decoded.partition(":")
    if not sep or not key or not secret:
        raise ValueError("the stored WooCommerce credential is not key:secret")
    return key, secret


def is_plain_http(store_url: str) -> bool:
    return store_url.lower().startswith("http://")


def percent_encode(value: str) -> str:
    """RFC 3986 §2.1 over UTF-8: everything but ALPHA, DIGIT, ``-``, ``.``, ``_``, ``~``."""
    return quote(value, safe="")


def base_string_uri(url: httpx.URL) -> str:
    """RFC 5849 §3.4.1.2: lower-case scheme and host, the port only when not the default, the
    path as sent (still percent-encoded), no query or fragment."""
    host = url.raw_host.decode("ascii").lower()
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    if url.port is not None and url.port != _DEFAULT_PORTS.get(url.scheme):
        host = f"{host}:{url.port}"
    path = url.raw_path.split(b"?", 1)[0].decode("ascii") or "/"
    return f"{url.scheme}://{host}{path}"


def signature_base_string(method: str, url: httpx.URL, params: Iterable[tuple[str, str]]) -> str:
    """The string WooCommerce signs: ``params`` are every request parameter except
    ``oauth_signature``; a repeated name keeps its last value (PHP's ``$_GET``)."""
    merged: dict[str, str] = {}
    for name, value in params:
        merged[name] = value
    normalized = "&".join(
        f"{percent_encode(name)}={percent_encode(value)}" for name, value in sorted(merged.items())
    )
    return "&".join(
        (method.upper(), percent_encode(base_string_uri(url)), percent_encode(normalized))
    )


def sign(base_string: str, consumer_secret: str, signature_method: str = SIGNATURE_METHOD) -> str:
    """``base64(HMAC(consumer_secret + "&", base_string))``."""
    digest = hmac.new(
        f"{consumer_secret}&".encode(), base_string.encode(), _DIGESTS[signature_method]
    ).digest()
    return base64.b64encode(digest).decode("ascii")


class OAuth1Signer(httpx.Auth):
    """Signs each request with OAuth 1.0a one-legged (query-string parameters), as WooCommerce
    requires over plain http. ``oauth_*`` parameters already in the query are replaced."""

    requires_request_body = True

    def __init__(
        self,
        consumer_key: str,
        consumer_secret: str,
        *,
        signature_method: str = SIGNATURE_METHOD,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if signature_method not in _DIGESTS:
            raise ValueError(f"unsupported OAuth signature method {signature_method}")
        self.consumer_key = consumer_key
        self._secret = consumer_secret
        self.signature_method = signature_method
        self._clock = clock

    def __repr__(self) -> str:
        return f"OAuth1Signer({self.consumer_key!r}, {self.signature_method})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        query = [
            (name, value)
            for name, value in parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True)
            if not name.startswith("oauth_")
        ]
        oauth = [
            ("oauth_consumer_key", self.consumer_key),
            ("oauth_nonce", token_hex(16)),
            ("oauth_signature_method", self.signature_method),
            ("oauth_timestamp", str(int(self._clock()))),
        ]
        signed = [*query, *_form_params(request), *oauth]
        signature = sign(
            signature_base_string(request.method, request.url, signed),
            self._secret,
            self.signature_method,
        )
        final = [*query, *oauth, ("oauth_signature", signature)]
        request.url = request.url.copy_with(query=urlencode(final, quote_via=quote).encode())
        yield request


def _form_params(request: httpx.Request) -> list[tuple[str, str]]:
    """A POST's form-encoded body parameters, which WooCommerce signs too (``$_POST``)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if request.method != "POST" or media_type != _FORM:
        return []
    return parse_qsl(request.content.decode("utf-8"), keep_blank_values=True)


def rest_auth(
    store_url: str, consumer_key: str, consumer_secret: str
) -> tuple[dict[str, str], httpx.Auth | None]:
    """``(headers, auth)`` for a REST call to the store: Basic over https; over plain http no
    header and an ``OAuth1Signer`` (WooCommerce refuses Basic there)."""
    if is_plain_http(store_url):
        return {}, OAuth1Signer(consumer_key, consumer_secret)
    return {"Authorization": f"Basic {basic_credential(consumer_key, consumer_secret)}"}, None


class WooCommerceProvider:
    name = "woocommerce"
    grant = Grant.API_KEYS
    title = "WooCommerce"

    def api_base(
        self, settings: Settings, environment: str, details: dict[str, Any] | None = None
    ) -> str:
        return str((details or {}).get("store_url", "")).rstrip("/") + "/wp-json/wc/v3"

    async def fetch_token(
        self, http: httpx.AsyncClient, settings: Settings, secrets: ClientSecrets
    ) -> TokenGrant:
        if not secrets.client_id or not secrets.client_secret:
            raise RefreshFailed("no WooCommerce keys are stored", permanent=True)
        return TokenGrant(basic_credential(secrets.client_id, secrets.client_secret), None)

    def auth_headers(self, access_token: str, details: dict[str, Any]) -> dict[str, str]:
        if is_plain_http(str(details.get("store_url", ""))):
            return {}  # never Basic over plain http: ``request_auth`` signs instead
        return {"Authorization": f"Basic {access_token}"}

    def token_rejected(self, response: httpx.Response) -> bool:
        return False  # keys do not expire; a 401 means they were revoked in the store

    def request_auth(self, access_token: str, details: dict[str, Any]) -> httpx.Auth | None:
        store_url = str(details.get("store_url", ""))
        if not is_plain_http(store_url):
            return None
        return rest_auth(store_url, *split_credential(access_token))[1]
