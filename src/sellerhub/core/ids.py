"""Sortable identifiers: UUID version 7 (RFC 9562), time-ordered so B-tree inserts stay local.

Within one process the ids are strictly increasing: the 12 ``rand_a`` bits are a counter that
restarts at a random value each millisecond (RFC 9562 §6.2, method 1), so rows created in the
same millisecond keep their creation order (order lines, audit events)."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7() -> uuid.UUID:
    global _last_ms, _counter
    with _lock:
        unix_ms = time.time_ns() // 1_000_000
        if unix_ms <= _last_ms:
            unix_ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                unix_ms += 1
                _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
        else:
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF  # leaves room to count
        _last_ms = unix_ms
        counter = _counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= counter << 64  # rand_a as a counter
    value |= 0b10 << 62  # variant
    value |= rand_b
    return uuid.UUID(int=value)
