"""SSRF guard for user-supplied URLs (a WooCommerce store): https only, and the host must resolve
to public addresses only — no private, loopback, link-local, multicast or reserved ranges.
Relaxed only in development (plain http and local addresses, for the emulators)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit

from sellerhub.core.errors import ValidationFailed


class UnsafeUrl(ValidationFailed):
    code = "unsafe-url"
    title = "This address cannot be used"


def normalize_store_url(raw: str) -> str:
    """``https://shop.example.com/path`` without query, fragment, credentials or trailing /."""
    value = raw.strip()
    if "://" not in value:
        value = "https://" + value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("store_url must be an http(s) address of the store")
    if parts.username or parts.password:
        raise UnsafeUrl("store_url must not contain credentials")
    netloc = parts.hostname.lower() + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


async def check_url(url: str, *, allow_local: bool) -> None:
    """Raise ``UnsafeUrl`` unless ``url`` may be fetched (see the module docstring)."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not allow_local:
        raise UnsafeUrl("store_url must use https")
    host = parts.hostname or ""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except socket.gaierror:
        raise UnsafeUrl(f"the store's host {host!r} does not resolve") from None
    addresses = {str(info[4][0]) for info in infos}
    if not allow_local and not all(_public(a) for a in addresses):
        raise UnsafeUrl("the store's address is private, loopback or reserved")
