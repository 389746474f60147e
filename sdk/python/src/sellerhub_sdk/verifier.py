"""``TokenVerifier``: offline verification of sellerhub's access tokens (ES256 JWTs with a
``kid``), for apps that accept sellerhub tokens without calling sellerhub on each request.

- The JWKS is fetched once and cached for the ``Cache-Control: max-age`` the server sends
  (bounded by ``max_cache_seconds``); each key is parsed once into a public-key object.
- A token whose ``kid`` is not cached (the server rotated its key) makes one refetch, at most
  every ``min_refetch_seconds``: a flood of tokens with forged kids costs the server one
  request per interval, not one per token.
- The algorithm is pinned to ES256 (from the key, never from the token): ``none``, ``HS256``
  signed with the public key, or any other algorithm is refused before anything else.
- ``exp`` (required), ``nbf`` and ``iat`` are checked with ``leeway`` seconds; ``iss`` must be
  the issuer, ``aud`` must contain the audience.
- If a refetch fails (sellerhub unreachable) the keys already cached keep verifying.
- A token verified once is remembered (up to ``cache_tokens`` of them, keyed by the whole
  token, signature included) so that the same token presented again skips the signature
  check; its lifetime (``exp``, ``nbf``) is still checked on every call, and the memory is
  dropped when a key it was signed with leaves the JWKS.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwt.algorithms import ECAlgorithm

from sellerhub_sdk.errors import InvalidToken, TokenExpired, UnknownSigningKey

ALGORITHM = "ES256"
_ECDSA = ec.ECDSA(hashes.SHA256())
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)
_NUMBERS = (int, float)
_HEADER_CACHE_SIZE = 256
_MAX_KEYS = 32
_MAX_TOKEN_LENGTH = 8192


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def max_age(cache_control: str | None) -> float | None:
    if not cache_control or "no-store" in cache_control.lower():
        return None
    found = _MAX_AGE.search(cache_control)
    return float(found.group(1)) if found else None


class TokenVerifier:
    """Verify sellerhub access tokens offline. ``jwks_url`` defaults to the issuer's
    ``/.well-known/jwks.json``; ``audience`` is your app id (tokens of other apps are refused).
    Thread-safe; one instance per process is enough (it holds the key cache)."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str | Collection[str],
        jwks_url: str | None = None,
        leeway: float = 30.0,
        default_cache_seconds: float = 300.0,
        max_cache_seconds: float = 3600.0,
        min_refetch_seconds: float = 5.0,
        http_client: httpx.Client | None = None,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        cache_tokens: int = 4096,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self._audiences = frozenset([audience] if isinstance(audience, str) else audience)
        if not self._audiences:
            raise ValueError("audience is required")
        self.jwks_url = jwks_url or f"{self.issuer}/.well-known/jwks.json"
        self.leeway = leeway
        self._default_cache = default_cache_seconds
        self._max_cache = max_cache_seconds
        self._min_refetch = min_refetch_seconds
        self._http = http_client or httpx.Client(timeout=timeout)
        self._clock = clock
        self._keys: dict[str, ec.EllipticCurvePublicKey] = {}
        self._headers: dict[str, str] = {}  # header segment -> kid, checked once
        self._expires_at = float("-inf")  # monotonic
        self._last_fetch = float("-inf")  # monotonic, successful or not
        self._lock = threading.Lock()
        self._verified: dict[str, tuple[str, dict[str, Any]]] = {}  # token -> (kid, claims)
        self._cache_tokens = cache_tokens
        self.fetches = 0  # how many JWKS requests were made (for tests and metrics)

    @classmethod
    def for_server(
        cls, base_url: str, audience: str | Collection[str], **options: Any
    ) -> TokenVerifier:
        """Issuer and JWKS URL from the server's ``/.well-known/oauth-authorization-server``."""
        http = options.get("http_client") or httpx.Client(timeout=options.get("timeout", 5.0))
        options["http_client"] = http
        response = http.get(base_url.rstrip("/") + "/.well-known/oauth-authorization-server")
        response.raise_for_status()
        meta = response.json()
        return cls(issuer=meta["issuer"], audience=audience, jwks_url=meta["jwks_uri"], **options)

    # --- verification ---------------------------------------------------------------------

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or ``InvalidToken`` (``TokenExpired``, ``UnknownSigningKey``)."""
        known = self._verified.get(token)
        if known is not None:
            return self._remembered(known[1])
        header, payload, signature = self._split(token)
        kid = self._kid(header)
        key = self._keys.get(kid)
        if key is None or time.monotonic() >= self._expires_at:
            key = self._key_after_fetch(kid)
        return self._remember(token, kid, self._check(key, header, payload, signature))

    async def verify_async(self, token: str) -> dict[str, Any]:
        """``verify`` for an event loop: a JWKS fetch, when needed, runs in a thread."""
        known = self._verified.get(token)
        if known is not None:
            return self._remembered(known[1])
        header, payload, signature = self._split(token)
        kid = self._kid(header)
        key = self._keys.get(kid)
        if key is None or time.monotonic() >= self._expires_at:
            key = await asyncio.to_thread(self._key_after_fetch, kid)
        return self._remember(token, kid, self._check(key, header, payload, signature))

    def _remembered(self, claims: dict[str, Any]) -> dict[str, Any]:
        now = self._clock()
        if now > claims["exp"] + self.leeway:
            raise TokenExpired("the token has expired")
        return dict(claims)

    def _remember(self, token: str, kid: str, claims: dict[str, Any]) -> dict[str, Any]:
        if self._cache_tokens > 0:
            if len(self._verified) >= self._cache_tokens:
                self._verified.clear()
            self._verified[token] = (kid, dict(claims))
        return claims

    @staticmethod
    def _split(token: str) -> tuple[str, str, str]:
        if not isinstance(token, str) or len(token) > _MAX_TOKEN_LENGTH:
            raise InvalidToken("the token is malformed")
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("the token is malformed")
        return parts[0], parts[1], parts[2]

    def _kid(self, header: str) -> str:
        kid = self._headers.get(header)
        if kid is not None:
            return kid
        try:
            parsed = json.loads(_b64decode(header))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise InvalidToken("the token's header is malformed") from None
        if not isinstance(parsed, dict):
            raise InvalidToken("the token's header is malformed")
        if parsed.get("alg") != ALGORITHM:
            raise InvalidToken(f"the token's algorithm is not {ALGORITHM}")
        kid = parsed.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token has no kid")
        if "crit" in parsed:
            raise InvalidToken("the token has critical header parameters")
        if len(self._headers) >= _HEADER_CACHE_SIZE:
            self._headers.clear()
        self._headers[header] = kid
        return kid

    def _check(
        self, key: ec.EllipticCurvePublicKey, header: str, payload: str, signature: str
    ) -> dict[str, Any]:
        try:
            raw = _b64decode(signature)
        except (ValueError, binascii.Error):
            raise InvalidToken("the token's signature is malformed") from None
        if len(raw) != 64:
            raise InvalidToken("the token's signature is malformed")
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        try:
            key.verify(der, f"{header}.{payload}".encode("ascii"), _ECDSA)
        except (InvalidSignature, UnicodeEncodeError):
            raise InvalidToken("the token's signature is not valid") from None
        try:
            claims = json.loads(_b64decode(payload))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise InvalidToken("the token's claims are malformed") from None
        if not isinstance(claims, dict):
            raise InvalidToken("the token's claims are malformed")
        self._check_claims(claims)
        return claims

    def _check_claims(self, claims: dict[str, Any]) -> None:
        now = self._clock()
        exp = claims.get("exp")
        if not isinstance(exp, _NUMBERS) or isinstance(exp, bool):
            raise InvalidToken("the token has no valid exp")
        if now > exp + self.leeway:
            raise TokenExpired("the token has expired")
        for name in ("nbf", "iat"):
            value = claims.get(name)
            if value is None:
                continue
            if not isinstance(value, _NUMBERS) or isinstance(value, bool):
                raise InvalidToken(f"the token's {name} is malformed")
            if now + self.leeway < value:
                raise InvalidToken("the token is not valid yet")
        if claims.get("iss") != self.issuer:
            raise InvalidToken("the token was issued by someone else")
        aud = claims.get("aud")
        if isinstance(aud, str):
            if aud not in self._audiences:
                raise InvalidToken("the token is not meant for this audience")
        elif not (isinstance(aud, list) and self._audiences.intersection(aud)):
            raise InvalidToken("the token is not meant for this audience")
        if not isinstance(claims.get("sub"), str):
            raise InvalidToken("the token has no subject")

    # --- the key cache ----------------------------------------------------------------------

    def _key_after_fetch(self, kid: str) -> ec.EllipticCurvePublicKey:
        """The key for ``kid``, fetching the JWKS when the cache expired, or when the kid is
        unknown and the last fetch is older than ``min_refetch_seconds``."""
        with self._lock:
            now = time.monotonic()
            key = self._keys.get(kid)
            expired = now >= self._expires_at
            may_fetch = now - self._last_fetch >= self._min_refetch
            if (expired or key is None) and may_fetch:
                self._fetch()
                key = self._keys.get(kid)
        if key is None:
            raise UnknownSigningKey("no published key has this token's kid")
        return key

    def _fetch(self) -> None:
        self._last_fetch = time.monotonic()
        self.fetches += 1
        try:
            response = self._http.get(self.jwks_url, headers={"Accept": "application/json"})
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError):
            # Keep the keys we have; try again after min_refetch_seconds.
            self._expires_at = self._last_fetch + self._min_refetch
            return
        keys: dict[str, ec.EllipticCurvePublicKey] = {}
        for jwk in (document.get("keys") if isinstance(document, dict) else None) or []:
            if len(keys) >= _MAX_KEYS:
                break
            key = self._parse(jwk)
            if key is not None:
                keys[jwk["kid"]] = key
        known = self._keys
        self._keys = {kid: known.get(kid) or key for kid, key in keys.items()}
        if known.keys() - keys.keys():  # a key was withdrawn: forget what it verified
            self._verified.clear()
        seconds = max_age(response.headers.get("cache-control"))
        seconds = self._default_cache if seconds is None else seconds
        self._expires_at = self._last_fetch + min(seconds, self._max_cache)

    @staticmethod
    def _parse(jwk: Any) -> ec.EllipticCurvePublicKey | None:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
            return None
        if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
            return None
        if jwk.get("alg", ALGORITHM) != ALGORITHM or jwk.get("use", "sig") != "sig":
            return None
        try:
            key = ECAlgorithm.from_jwk(jwk)
        except Exception:
            return None
        return key if isinstance(key, ec.EllipticCurvePublicKey) else None

    def close(self) -> None:
        self._http.close()
