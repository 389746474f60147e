"""The fuzz target: the production app under uvicorn, on one port of 127.0.0.1, in a process
that can reach nothing but this machine's loopback.

The fuzzer chooses URLs (a WooCommerce store address, for one) that the server then calls;
here every outbound connection to an address outside 127.0.0.0/8 and ::1 is refused and every
host name but ``localhost`` fails to resolve, so those calls fail the way an unreachable host
fails — and no traffic leaves the machine. The asyncio event loop is used (not uvloop, whose
connections bypass Python's ``socket`` module and so this guard).

Configuration comes from the ``SELLERHUB_*`` environment, as for ``sellerhub serve``."""

from __future__ import annotations

import _socket
import ipaddress
import socket
import sys
from typing import Any

_LOCAL_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_getaddrinfo = socket.getaddrinfo


def _loopback(host: object) -> bool:
    try:
        return ipaddress.ip_address(str(host).split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _check(sock: _socket.socket, address: Any) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
        raise ConnectionRefusedError(f"fuzz network guard: {address[0]} is not loopback")


def _guarded_connect(self: _socket.socket, address: Any) -> None:
    _check(self, address)
    _connect(self, address)


def _guarded_connect_ex(self: _socket.socket, address: Any) -> int:
    _check(self, address)
    return _connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    name = host.decode() if isinstance(host, bytes) else host
    if name is not None and name.lower() not in _LOCAL_NAMES and not _loopback(name):
        raise socket.gaierror(socket.EAI_NONAME, f"fuzz network guard: {name!r} not resolved")
    return _getaddrinfo(host, *args, **kwargs)


def install_guard() -> None:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo


def main(port: int) -> None:
    install_guard()
    import uvicorn

    uvicorn.run(
        "sellerhub.app:production_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        loop="asyncio",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main(int(sys.argv[1]))
