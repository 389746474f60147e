"""SSRF guard for user-supplied URLs (a WooCommerce store).

``normalize_store_url`` turns any text into ``scheme://host[:port][/path]`` or raises
``UnsafeUrl`` (422) naming what is wrong: http(s) only, no credentials, a host that is a valid
domain name (IDNA 2008 with the UTS #46 mapping, through the ``idna`` package that httpx uses
for the same hosts; the standard library's codec is IDNA 2003, which maps ``ß`` to ``ss`` and so
names another domain), a dotted-quad IPv4 address or a bracketed IPv6 address, a port from 1 to
65535, and at most ``MAX_STORE_URL`` characters. Spaces and control characters are refused
anywhere.

``check_url`` then requires https and a host whose every address is *globally routable*
(``globally_routable``): ``ipaddress``'s ``is_global`` plus what it misses in Python 3.11 —
multicast, IPv6 outside global unicast ``2000::/3`` (site-local ``fec0::/10``, ``::/96``), and
the IPv4 address embedded in IPv4-mapped, 6to4 and NAT64 (``64:ff9b::/96``) addresses, which
must itself be global. So 10/8, 100.64/10 (shared address space, where some clouds put their
metadata service), 127/8, 169.254/16, ``::1``, ``fc00::/7`` and ``fe80::/10`` are refused.
Relaxed only outside production (plain http and local addresses, for the emulators).

The check at validation time answers early with a precise error; what prevents DNS rebinding
is ``core.http``: in production the provider client resolves each host once per connection,
applies ``globally_routable`` to every address and connects to exactly those addresses.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import unicodedata
from urllib.parse import quote, urlsplit

import idna

from sellerhub.core.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_PORT = re.compile(r"[0-9]{1,5}")
_LDH_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_ENDS_IN_NUMBER = re.compile(r"(?:[0-9]+|0x[0-9a-f]*)")  # WHATWG: such a host is an IPv4 address
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PATH_SAFE = "/%!$&'()*+,;=:@-._~"
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zs", "Zl", "Zp"})  # controls, surrogates, spaces
_DEFAULT_PORTS = {"http": 80, "https": 443}
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_MAX_HOST = 253
# The connection stores the URL as its account (200 characters) and "WooCommerce <host/path>" as
# its display name (200): a longer URL could not be saved.
MAX_STORE_URL = 190


class UnsafeUrl(ValidationFailed):
    code = "unsafe-url"
    title = "This address cannot be used"


def normalize_store_url(raw: str) -> str:
    """``https://shop.example.com/path`` without query, fragment, credentials, default port or
    trailing ``/``; ``https://`` is assumed when no scheme is given. Raises ``UnsafeUrl``."""
    value = raw.strip()
    if not value:
        raise UnsafeUrl("store_url is empty")
    if any(unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in value):
        raise UnsafeUrl("store_url must not contain spaces or control characters")
    match = _SCHEME.match(value)
    if match is None:
        value = "https://" + value
        scheme = "https"
    else:
        scheme = match.group(1).lower()
    if scheme not in _DEFAULT_PORTS:
        raise UnsafeUrl("store_url must be an http(s) address of the store")
    rest = value.split("://", 1)[1]
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    if "@" in authority:
        raise UnsafeUrl("store_url must not contain credentials")
    host, port = _host_and_port(authority)
    if port == _DEFAULT_PORTS[scheme]:
        port = None
    path = tail.split("#", 1)[0].split("?", 1)[0]
    path = _LONE_PERCENT.sub("%25", quote(path, safe=_PATH_SAFE)).rstrip("/")
    normalized = f"{scheme}://{host}{'' if port is None else f':{port}'}{path}"
    if len(normalized) > MAX_STORE_URL:
        raise UnsafeUrl(f"store_url must be at most {MAX_STORE_URL} characters once normalised")
    return normalized


def _host_and_port(authority: str) -> tuple[str, int | None]:
    """``(host, port)`` of ``host[:port]``; an IPv6 host comes back bracketed."""
    if authority.startswith("["):
        close = authority.find("]")
        if close < 0:
            raise UnsafeUrl("store_url has an IPv6 address without its closing ']'")
        after = authority[close + 1 :]
        if after and not after.startswith(":"):
            raise UnsafeUrl("store_url has characters after its IPv6 address")
        return f"[{_ipv6_literal(authority[1:close])}]", _port(after[1:] if after else "")
    if "[" in authority or "]" in authority:
        raise UnsafeUrl("store_url host is not a valid domain name")
    if authority.count(":") > 1:
        raise UnsafeUrl(
            "store_url must put an IPv6 address in brackets, as in https://[2001:db8::1]"
        )
    name, _, port = authority.partition(":")
    return _hostname(name), _port(port)


def _ipv6_literal(text: str) -> str:
    if "%" in text:
        raise UnsafeUrl("store_url must not name a network interface (an IPv6 zone)")
    try:
        return ipaddress.IPv6Address(text).compressed
    except ValueError:
        raise UnsafeUrl("store_url has an invalid IPv6 address in brackets") from None


def _port(text: str) -> int | None:
    if not text:
        return None  # "host:" means the default port, as in browsers
    if not _PORT.fullmatch(text) or not 1 <= int(text) <= 65535:
        raise UnsafeUrl("store_url port must be a number from 1 to 65535")
    return int(text)


def _hostname(name: str) -> str:
    """The ASCII (A-label) form of ``name``, lower-case, without a final dot; or a dotted-quad
    IPv4 address."""
    name = name.removesuffix(".")
    if not name:
        raise UnsafeUrl("store_url has no host")
    invalid = UnsafeUrl("store_url host is not a valid domain name")
    try:
        if name.isascii():
            ascii_name = name.lower()
        else:
            ascii_name = idna.encode(name, uts46=True).decode("ascii").removesuffix(".")
        for label in ascii_name.split("."):
            if not _LDH_LABEL.fullmatch(label):
                raise invalid
            if label.startswith("xn--") and idna.encode(idna.decode(label)).decode() != label:
                raise invalid  # an A-label must be the Punycode of a valid U-label
    except (UnicodeError, ValueError):
        raise invalid from None
    if len(ascii_name) > _MAX_HOST:
        raise invalid
    if _ENDS_IN_NUMBER.fullmatch(ascii_name.rsplit(".", 1)[-1]):
        try:
            return str(ipaddress.IPv4Address(ascii_name))
        except ValueError:
            raise UnsafeUrl("store_url host is not a valid IPv4 address") from None
    return ascii_name


def globally_routable(address: str | IPAddress) -> bool:
    """Whether ``address`` may be connected to in production: globally routable unicast."""
    try:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return _global_ipv4(ip)
    if ip.scope_id:
        return False
    embedded = ip.ipv4_mapped or ip.sixtofour
    if embedded is None and ip in _NAT64:
        embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if embedded is not None:
        return _global_ipv4(embedded)
    return (
        ip in _GLOBAL_UNICAST_V6
        and ip.is_global
        and not (ip.is_private or ip.is_reserved or ip.is_multicast or ip.is_site_local)
    )


def _global_ipv4(ip: ipaddress.IPv4Address) -> bool:
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_private)


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to for a TCP connection, in the resolver's order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def check_url(url: str, *, allow_local: bool) -> list[str]:
    """Raise ``UnsafeUrl`` unless ``url`` may be fetched (see the module docstring); answer the
    addresses its host resolves to."""
    parts = urlsplit(normalize_store_url(url))
    if parts.scheme != "https" and not allow_local:
        raise UnsafeUrl("store_url must use https")
    host = parts.hostname or ""
    port = parts.port or _DEFAULT_PORTS[parts.scheme]
    try:
        addresses = await resolve(host, port)
    except (OSError, UnicodeError):
        raise UnsafeUrl(f"the store's host {host!r} does not resolve") from None
    if not addresses:
        raise UnsafeUrl(f"the store's host {host!r} does not resolve")
    if not allow_local and not all(globally_routable(a) for a in addresses):
        raise UnsafeUrl(
            "the store's address is not globally routable (private, shared, loopback, "
            "link-local or reserved)"
        )
    return addresses
