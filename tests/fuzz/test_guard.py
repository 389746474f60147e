"""The fuzz target's network guard (tests/fuzz/server.py): nothing but loopback is reached."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_fuzz_server_reaches_only_loopback() -> None:
    # In a process of its own: the guard patches the socket module for the whole process.
    script = textwrap.dedent(
        """
        import asyncio, socket
        import httpx
        from tests.fuzz.server import install_guard

        install_guard()
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        socket.create_connection(listener.getsockname(), timeout=2).close()
        for address in (("192.0.2.1", 80), ("::ffff:192.0.2.1", 80)):
            try:
                socket.create_connection(address, timeout=2)
            except OSError as exc:  # refused to resolve or to connect, nothing sent
                assert "fuzz network guard" in str(exc)
            else:
                raise AssertionError(address)
        try:
            socket.getaddrinfo("example.com", 443)
        except socket.gaierror:
            pass
        else:
            raise AssertionError("example.com resolved")
        assert socket.getaddrinfo("localhost", 80)

        async def fetch():
            async with httpx.AsyncClient() as client:
                try:
                    await client.get("http://192.0.2.1/")
                except httpx.ConnectError:
                    return "refused"
            return "reached"

        assert asyncio.run(fetch()) == "refused"
        print("guarded")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "guarded", done.stderr
