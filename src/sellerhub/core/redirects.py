"""Where we may send a browser after a flow: relative paths of this site, or an origin on the
allow-list. Everything else is refused (no open redirect)."""

from __future__ import annotations

from urllib.parse import urlsplit

from sellerhub.core.errors import ValidationFailed


class UnsafeRedirect(ValidationFailed):
    code = "unsafe-redirect"
    title = "The redirect target is not allowed"


def safe_next(value: str | None, allowed_origins: list[str], default: str = "/") -> str:
    if not value:
        return default
    if len(value) > 2000 or any(ord(c) < 0x20 for c in value) or "\\" in value:
        raise UnsafeRedirect("next must be a path of this site or an allowed origin")
    parts = urlsplit(value)
    if not parts.scheme and not parts.netloc:
        if value.startswith("/") and not value.startswith("//"):
            return value
        raise UnsafeRedirect("next must be an absolute path starting with a single /")
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    if parts.scheme in ("https", "http") and origin in {
        o.rstrip("/").lower() for o in allowed_origins
    }:
        return value
    raise UnsafeRedirect("next points to a site that is not on the allow-list")
