"""Sortable identifiers: UUID version 7 (RFC 9562), time-ordered so B-tree inserts stay local,
and request ids.

Within one process the ids are strictly increasing: the 12 ``rand_a`` bits are a counter that
restarts at a random value each millisecond (RFC 9562 §6.2, method 1), so rows created in the
same millisecond keep their creation order (order lines, audit events).

Their random bits come from the operating system's CSPRNG (``os.urandom``) read
``_POOL_BYTES`` at a time rather than once per id: one system call per few hundred ids (the
consume route made two per request, for its transfer id and its request id). The pool is
emptied in a forked child, so two processes never hand out the same bytes."""

from __future__ import annotations

import os
import threading
import time
import uuid

_POOL_BYTES = 4096

_lock = threading.Lock()
_last_ms = 0
_counter = 0
_pool = b""
_taken = 0


def _forget_pool() -> None:
    """In a forked child: the parent's unread bytes are the parent's."""
    global _pool, _taken
    _pool, _taken = b"", 0


os.register_at_fork(after_in_child=_forget_pool)


def _random(n: int) -> bytes:
    """``n`` bytes of the pool (the caller holds ``_lock``)."""
    global _pool, _taken
    if _taken + n > len(_pool):
        _pool, _taken = os.urandom(max(_POOL_BYTES, n)), 0
    chunk = _pool[_taken : _taken + n]
    _taken += n
    return chunk


def random_bytes(n: int) -> bytes:
    """``n`` bytes from the operating system's CSPRNG, through the pool."""
    with _lock:
        return _random(n)


def request_id() -> str:
    """A new request id: 32 random hexadecimal digits (128 bits)."""
    return random_bytes(16).hex()


def uuid7() -> uuid.UUID:
    global _last_ms, _counter
    with _lock:
        unix_ms = time.time_ns() // 1_000_000
        if unix_ms <= _last_ms:
            unix_ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                unix_ms += 1
                _counter = int.from_bytes(_random(2), "big") & 0x3FF
        else:
            _counter = int.from_bytes(_random(2), "big") & 0x3FF  # leaves room to count
        _last_ms = unix_ms
        counter = _counter
        rand_b = int.from_bytes(_random(8), "big") & ((1 << 62) - 1)
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= counter << 64  # rand_a as a counter
    value |= 0b10 << 62  # variant
    value |= rand_b
    return uuid.UUID(int=value)
