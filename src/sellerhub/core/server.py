"""Connection-level guards of the HTTP servers that the application cannot apply itself.

A client that sends its request headers a byte at a time holds a connection (and, with enough of
them, the server) for as long as it likes: uvicorn's only timer is the keep-alive one, which every
received byte resets. ``HeaderTimeoutProtocol`` gives each request a deadline from its first byte
(or from the connection, for the first request) to the end of its headers, and closes the
connection when it passes (after a 408). Granian has the rule built in
(``HTTP1Settings.header_read_timeout``, set from the same setting). Slow *bodies* are the input
policy's (``core.inputs``, 408).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from sellerhub.config import get_settings
from sellerhub.core.logging import get_logger

log = get_logger(__name__)
_BODY = b"the request headers did not arrive in time"
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    + f"content-length: {len(_BODY)}\r\nconnection: close\r\n\r\n".encode()
    + _BODY
)


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for the request headers
    (``SELLERHUB_REQUEST_HEADER_TIMEOUT_SECONDS``; read in each server process)."""

    _header_deadline: asyncio.TimerHandle | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = get_settings().request_header_timeout_seconds

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_deadline is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._header_deadline = self.loop.call_later(self.header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _expire(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered; its headers were complete
        log.info("http.header_timeout", seconds=self.header_timeout)
        self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()
