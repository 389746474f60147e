"""Authorization codes: random, single-use, short-lived, bound to the client, the redirect URI,
the scopes, the PKCE challenge and the consenting identity.

``redirect_uri`` is where the code was sent; ``redirect_uri_requested`` says whether the
authorization request named it, which decides whether the exchange must repeat it (RFC 6749
§4.1.3).

LWA codes expire after 5 minutes (providers.md §1.1 Step B). PKCE follows RFC 7636 as LWA
documents it (providers.md §2): methods ``S256`` and ``plain``, ``plain`` when none is given.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

DEFAULT_CODE_TTL_SECONDS = 300
PKCE_METHODS = ("S256", "plain")
# RFC 7636 §4.1/§4.2: 43-128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
_PKCE_VALUE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    code_challenge: str | None
    code_challenge_method: str | None
    subject: Mapping[str, str]
    expires_at: float
    redirect_uri_requested: bool = True


def is_valid_pkce_value(value: str) -> bool:
    """Whether ``value`` has the RFC 7636 shape of a code verifier or challenge."""
    return _PKCE_VALUE.fullmatch(value) is not None


def verify_pkce(method: str, challenge: str, verifier: str) -> bool:
    """RFC 7636 §4.6: does ``verifier`` match the ``challenge`` sent with the authorization?"""
    if not is_valid_pkce_value(verifier):
        return False
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    elif method == "plain":
        expected = verifier
    else:
        return False
    return hmac.compare_digest(expected, challenge)


class CodeStore:
    """Issued, not yet redeemed codes. Redeeming removes the code, so a reuse always fails."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        ttl_seconds: int = DEFAULT_CODE_TTL_SECONDS,
        prefix: str = "",
    ) -> None:
        self._clock = clock
        self._ttl = ttl_seconds
        self._prefix = prefix
        self._lock = threading.Lock()
        self._codes: dict[str, AuthorizationCode] = {}

    def issue(
        self,
        *,
        client_id: str,
        redirect_uri: str,
        scopes: tuple[str, ...],
        code_challenge: str | None,
        code_challenge_method: str | None,
        subject: Mapping[str, str],
        redirect_uri_requested: bool = True,
    ) -> AuthorizationCode:
        now = self._clock()
        code = AuthorizationCode(
            code=self._prefix + secrets.token_urlsafe(24),
            client_id=client_id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            code_challenge=code_challenge,
            code_challenge_method=code_challenge_method,
            subject=dict(subject),
            expires_at=now + self._ttl,
            redirect_uri_requested=redirect_uri_requested,
        )
        with self._lock:
            for stale in [c for c, v in self._codes.items() if v.expires_at <= now]:
                del self._codes[stale]
            self._codes[code.code] = code
        return code

    def redeem(self, code: str) -> AuthorizationCode | None:
        """The code's grant, once; None when unknown, already used or expired."""
        with self._lock:
            found = self._codes.pop(code, None)
        if found is None or self._clock() >= found.expires_at:
            return None
        return found

    def clear(self) -> int:
        with self._lock:
            count = len(self._codes)
            self._codes.clear()
        return count
