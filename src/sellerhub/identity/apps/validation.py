"""Pure checks of what an app registers: exact origins and redirect URLs.

An origin is ``scheme://host[:port]`` exactly as a browser sends it in ``Origin`` (lowercase,
no default port, no path): it is compared byte for byte, so it is normalized once here. https
only; ``http://localhost`` / ``127.0.0.1`` / ``[::1]`` are accepted outside production for local
development. No wildcards, no userinfo.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, urlsplit

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_ORIGIN_LENGTH = 300
MAX_REDIRECT_LENGTH = 2000
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DNS_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")
_DEFAULT_PORTS = {"https": 443, "http": 80}


def _host_and_port(parts: SplitResult, *, allow_local_http: bool) -> tuple[str, str]:
    """(scheme, host[:port]) of an absolute URL, checked; raises ``ValueError`` saying why."""
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise ValueError("must be an https:// URL")
    if not parts.netloc or "@" in parts.netloc:
        raise ValueError("must name a host (and no user or password)")
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    if scheme == "http" and not (allow_local_http and host in LOCAL_HOSTS):
        raise ValueError(
            "must use https (http is allowed only for localhost and 127.0.0.1 in development)"
        )
    if ":" in host:  # an IPv6 literal
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError("has an invalid host") from None
        shown = f"[{host}]"
    elif _DNS_NAME.match(host):
        shown = host
    else:
        raise ValueError("has an invalid host (use the ASCII, punycode form)")
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        shown = f"{shown}:{port}"
    return scheme, shown


def _plain(value: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if len(value) > limit:
        raise ValueError(f"must be at most {limit} characters")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value) or "\\" in value:
        raise ValueError("must not contain spaces, control characters or backslashes")
    if "*" in value:
        raise ValueError("must be exact (no wildcards)")
    return value


def normalize_origin(value: str, *, allow_local_http: bool) -> str:
    """``https://Example.com:443/`` → ``https://example.com``; raises ``ValueError``."""
    value = _plain(value, MAX_ORIGIN_LENGTH)
    if value.endswith("/") and value.count("/") == 3:
        value = value[:-1]
    parts = urlsplit(value)
    if parts.path or parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ValueError("must be an origin: scheme://host[:port], without a path")
    scheme, host = _host_and_port(parts, allow_local_http=allow_local_http)
    return f"{scheme}://{host}"


def normalize_redirect_url(value: str, *, allow_local_http: bool) -> str:
    """An absolute https URL without a fragment; scheme and host lowercased."""
    value = _plain(value, MAX_REDIRECT_LENGTH)
    parts = urlsplit(value)
    if parts.fragment or "#" in value:
        raise ValueError("must not have a fragment")
    scheme, host = _host_and_port(parts, allow_local_http=allow_local_http)
    rebuilt = f"{scheme}://{host}{parts.path or '/'}"
    return f"{rebuilt}?{parts.query}" if parts.query else rebuilt
