"""Issued access and refresh tokens, in memory, with the lifecycle the control surface needs
(api-contract.md §4): ``expire_access`` ends every access token issued so far while refresh
tokens stay valid; ``revoke_all`` ends every token issued so far; ``clear`` forgets them all.

Tokens issued after ``expire``/``revoke`` work normally: the switches model "time passed" and
"the seller removed the app", not a broken provider.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class TokenKind(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


class TokenStatus(StrEnum):
    VALID = "valid"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(slots=True)
class TokenRecord:
    value: str
    kind: TokenKind
    client_id: str
    scopes: tuple[str, ...]
    subject: Mapping[str, str] | None  # the identity that consented; None for app-only tokens
    issued_at: float
    expires_at: float | None  # None: does not expire (refresh tokens)
    revoked: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    def status(self, now: float) -> TokenStatus:
        if self.revoked:
            return TokenStatus.REVOKED
        if self.expires_at is not None and now >= self.expires_at:
            return TokenStatus.EXPIRED
        return TokenStatus.VALID


@dataclass(frozen=True, slots=True)
class TokenLookup:
    status: TokenStatus
    record: TokenRecord | None

    @property
    def valid(self) -> bool:
        return self.status is TokenStatus.VALID


class TokenStore:
    """Thread- and asyncio-safe: every method is one short critical section, never awaited."""

    def __init__(self, clock: Callable[[], float], *, random_bytes: int = 270) -> None:
        self._clock = clock
        self._random_bytes = random_bytes
        self._lock = threading.Lock()
        self._tokens: dict[str, TokenRecord] = {}

    def issue(
        self,
        kind: TokenKind,
        *,
        prefix: str,
        client_id: str,
        scopes: tuple[str, ...],
        subject: Mapping[str, str] | None,
        ttl_seconds: int | None,
        extra: Mapping[str, str] | None = None,
    ) -> TokenRecord:
        now = self._clock()
        record = TokenRecord(
            value=prefix + secrets.token_urlsafe(self._random_bytes),
            kind=kind,
            client_id=client_id,
            scopes=scopes,
            subject=dict(subject) if subject is not None else None,
            issued_at=now,
            expires_at=None if ttl_seconds is None else now + ttl_seconds,
            extra=dict(extra or {}),
        )
        with self._lock:
            self._tokens[record.value] = record
        return record

    def lookup(self, value: str, kind: TokenKind) -> TokenLookup:
        with self._lock:
            record = self._tokens.get(value)
        if record is None or record.kind is not kind:
            return TokenLookup(TokenStatus.UNKNOWN, None)
        return TokenLookup(record.status(self._clock()), record)

    def expire_access(self) -> int:
        """Every access token issued so far expires now; returns how many were still valid."""
        now = self._clock()
        count = 0
        with self._lock:
            for record in self._tokens.values():
                if record.kind is TokenKind.ACCESS and record.status(now) is TokenStatus.VALID:
                    record.expires_at = now
                    count += 1
        return count

    def revoke_all(self) -> int:
        """Every token issued so far stops working; returns how many were not yet revoked."""
        count = 0
        with self._lock:
            for record in self._tokens.values():
                if not record.revoked:
                    record.revoked = True
                    count += 1
        return count

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()
