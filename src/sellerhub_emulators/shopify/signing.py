"""Shopify's HMACs and hostname rules (providers.md §4.1, §4.2)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from sellerhub_emulators.shopify import constants as c


def _escape(text: str, *, key: bool) -> str:
    text = text.replace("%", "%25").replace("&", "%26")
    return text.replace("=", "%3D") if key else text


def query_message(params: Mapping[str, str]) -> str:
    """The signed string: every parameter but ``hmac``/``signature``, sorted, ``k=v`` joined by
    ``&`` (values raw, ``%``/``&`` escaped and ``=`` in keys, as the python lib does)."""
    keys = sorted(k for k in params if k not in ("hmac", "signature"))
    return "&".join(f"{_escape(k, key=True)}={_escape(params[k], key=False)}" for k in keys)


def query_hmac(params: Mapping[str, str], secret: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``query_message`` keyed with the app's client secret."""
    message = query_message(params).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def webhook_hmac(body: bytes, secret: str) -> str:
    """``X-Shopify-Hmac-Sha256``: base64 of HMAC-SHA256 over the raw body."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def host_param(shop: str) -> str:
    """``host``: base64 of ``{shop}/admin``, padding stripped ([unconfirmed] padding)."""
    return base64.b64encode(f"{shop}/admin".encode()).decode("ascii").rstrip("=")


def normalize_shop(shop: str) -> str | None:
    """The lowercase shop hostname, or None when it is not a ``*.myshopify.com`` name."""
    return shop.lower() if c.SHOP_RE.fullmatch(shop) else None
