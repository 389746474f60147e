"""Store names and URLs: a store lives at ``{emulator}/stores/{store}``."""

from __future__ import annotations

from starlette.requests import Request

from sellerhub_emulators.woocommerce import constants as c


def checked_store(name: str) -> str | None:
    return name if c.STORE_NAME.fullmatch(name) else None


def store_url(request: Request, store: str) -> str:
    """The store's site URL (no trailing slash), as seen by the caller of this request."""
    return f"{str(request.base_url).rstrip('/')}{c.PREFIX}/stores/{store}"
