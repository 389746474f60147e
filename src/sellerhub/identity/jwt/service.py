"""Signing keys and JWTs.

Access tokens are ES256 (ECDSA P-256) JWTs with a ``kid`` header, verifiable by any standard
JWKS client against ``/.well-known/jwks.json``. ES256 rather than EdDSA: every JOSE library
supports it, and OpenSSL verifies P-256 about 1.25 times as fast as Ed25519 here (``make bench``:
``identity.jwt.es256_vs_eddsa_raw_verify``).
Private keys live encrypted in ``signing_keys``;
each process keeps the signing key and the published public keys in a ``KeyStore``, reloaded
periodically and whenever a token names an unknown ``kid`` (so a rotation by another process is
picked up without restarts).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import Algorithm, ECAlgorithm, OKPAlgorithm
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sellerhub.core.clock import utcnow
from sellerhub.core.crypto import KeyRing
from sellerhub.core.errors import Unauthenticated
from sellerhub.core.inputs import json_problem
from sellerhub.core.logging import get_logger
from sellerhub.db.encrypted import seal, unseal
from sellerhub.identity.jwt.models import SigningKey
from sellerhub.identity.jwt.repository import SigningKeyRepository

log = get_logger(__name__)

ALGORITHM = "ES256"
MAX_ACCESS_TOKEN_TTL = timedelta(minutes=15)
LEEWAY_SECONDS = 30
# A retired key stays published this long after it stops signing: every token it signed
# has expired by then (plus clock leeway).
PUBLISH_AFTER_RETIREMENT = MAX_ACCESS_TOKEN_TTL + timedelta(minutes=5)
# A new key is published at once but signs only after this delay, longer than every process's
# reload interval: by then every JWKS served anywhere already contains it.
ACTIVATION_DELAY = timedelta(seconds=90)
RELOAD_SECONDS = 60.0


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _new_key_material() -> tuple[str, str, dict[str, Any]]:
    """(kid, private PEM, public JWK) for a fresh P-256 key; kid = RFC 7638 thumbprint."""
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    public_jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(private.public_key()))
    thumbprint_input = json.dumps(
        {k: public_jwk[k] for k in ("crv", "kty", "x", "y")},
        separators=(",", ":"),
        sort_keys=True,
    )
    kid = _b64url(hashlib.sha256(thumbprint_input.encode()).digest())[:22]
    public_jwk.update({"kid": kid, "use": "sig", "alg": ALGORITHM})
    return kid, pem, public_jwk


async def create_signing_key(session: AsyncSession, ring: KeyRing) -> SigningKey:
    kid, pem, public_jwk = _new_key_material()
    key = SigningKey(kid=kid, algorithm=ALGORITHM, public_jwk=public_jwk, private_key="")
    seal(ring, key, "private_key", pem)
    SigningKeyRepository(session).add(key)
    await session.flush()
    log.info("signing_key.created", kid=kid)
    return key


async def ensure_signing_key(session: AsyncSession, ring: KeyRing) -> None:
    """Create the first signing key if there is none (idempotent under concurrency)."""
    if not await SigningKeyRepository(session).active_for_update():
        await create_signing_key(session, ring)


async def rotate_signing_key(session: AsyncSession, ring: KeyRing) -> SigningKey:
    """Add a new key: published now, signing after ``ACTIVATION_DELAY``; the old ones sign
    until then and stay published until every token they signed has expired."""
    now = utcnow()
    for old in await SigningKeyRepository(session).active_for_update():
        old.retired_at = now + ACTIVATION_DELAY
        old.published_until = old.retired_at + PUBLISH_AFTER_RETIREMENT
        log.info("signing_key.retired", kid=old.kid, published_until=str(old.published_until))
    return await create_signing_key(session, ring)


def _signing_key(keys: Sequence[SigningKey], now: datetime) -> SigningKey | None:
    """The newest unretired key past its activation delay; when none is that old yet (a fresh
    install, or a rotation right after one) the oldest unretired key."""
    usable = sorted(
        (k for k in keys if k.retired_at is None or k.retired_at > now),
        key=lambda k: (k.created_at, str(k.id)),
    )
    activated = [k for k in usable if k.created_at <= now - ACTIVATION_DELAY]
    if activated:
        return activated[-1]
    return usable[0] if usable else None


_VERIFIERS: dict[str, Algorithm] = {
    "ES256": ECAlgorithm(ECAlgorithm.SHA256),
    "EdDSA": OKPAlgorithm(),  # keys created before the switch to ES256 still verify
}


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _json_segment(segment: str) -> Any:
    """A token segment's JSON under the input policy (``core.inputs``): a header or payload that
    nests too deeply or holds a NUL is malformed, never a crash of the parser."""
    raw = _b64decode(segment)
    if json_problem(raw):
        raise ValueError("the segment is refused by the input policy")
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("the segment nests too deeply") from None


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of ``token`` *without* any check: only to find out which key or app should
    verify it. Raises ``Unauthenticated`` when it is not a JWT."""
    try:
        _header, payload_b64, _signature = token.split(".")
        claims = _json_segment(payload_b64)
    except (ValueError, TypeError, UnicodeEncodeError):
        raise Unauthenticated("the token is malformed") from None
    if not isinstance(claims, dict):
        raise Unauthenticated("the token is malformed")
    return claims


def _audiences(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return set(value)
    return set()


@dataclass
class KeyStore:
    """The process's view of the signing keys."""

    sessionmaker: async_sessionmaker[AsyncSession]
    keyring: KeyRing
    issuer: str
    refresh_seconds: float = RELOAD_SECONDS
    _signing: tuple[str, str, Any] | None = None  # (kid, algorithm, private key)
    _public: dict[str, tuple[str, Any]] = field(default_factory=dict)  # kid -> (alg, key)
    _jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    _loaded_at: float = 0.0
    _last_forced: float = 0.0

    async def load(self) -> None:
        now = utcnow()
        async with self.sessionmaker() as session:
            keys = await SigningKeyRepository(session).published(now)
            public = {
                k.kid: (k.algorithm, _VERIFIERS[k.algorithm].from_jwk(k.public_jwk))
                for k in keys
                if k.algorithm in _VERIFIERS
            }
            chosen = _signing_key(keys, now)
            signing: tuple[str, str, Any] | None = None
            if chosen is not None:
                pem = unseal(self.keyring, chosen, "private_key") or ""
                private = serialization.load_pem_private_key(pem.encode(), password=None)
                signing = (chosen.kid, chosen.algorithm, private)
            jwks = {"keys": [dict(k.public_jwk) for k in keys]}
        self._signing, self._public, self._jwks = signing, public, jwks
        self._loaded_at = time.monotonic()

    async def refresh_if_stale(self) -> None:
        if time.monotonic() - self._loaded_at > self.refresh_seconds:
            await self.load()

    def jwks(self) -> dict[str, Any]:
        return self._jwks

    def sign(self, claims: dict[str, Any]) -> str:
        if self._signing is None:
            raise RuntimeError("no active signing key (run migrations and start the app)")
        kid, algorithm, private = self._signing
        return jwt.encode(claims, private, algorithm=algorithm, headers={"kid": kid})

    def issue(
        self,
        *,
        subject: str,
        audience: str,
        ttl: timedelta,
        claims: dict[str, Any] | None = None,
    ) -> tuple[str, datetime]:
        ttl = min(ttl, MAX_ACCESS_TOKEN_TTL)
        now = utcnow()
        expires_at = now + ttl
        payload = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
            "jti": uuid.uuid4().hex,
            **(claims or {}),
        }
        return self.sign(payload), expires_at

    def verify(self, token: str, audience: str | list[str]) -> dict[str, Any]:
        """Verify signature, issuer, audience and lifetime with the cached keys (RFC 7519 §7.2,
        RFC 8725). The algorithm comes from our key, never from the token: a header naming any
        other algorithm (``none``, ``HS256``…) is refused. Raises ``UnknownKeyError`` for a
        ``kid`` not in the cache (the caller may reload once).

        Written out rather than through ``jwt.decode``: the same checks at about 1.3 times the
        speed (``make bench``: ``identity.jwt.keystore_vs_pyjwt_decode``)."""
        try:
            header_b64, payload_b64, signature_b64 = token.split(".")
            header = _json_segment(header_b64)
        except (ValueError, TypeError, UnicodeEncodeError):
            raise Unauthenticated("the access token is malformed") from None
        if not isinstance(header, dict) or not isinstance(header.get("kid"), str):
            raise Unauthenticated("the access token is malformed")
        entry = self._public.get(header["kid"])
        if entry is None:
            raise UnknownKeyError("the access token was signed by an unknown key")
        algorithm, key = entry
        if header.get("alg") != algorithm:
            raise Unauthenticated("the access token uses an unexpected algorithm")
        try:
            signature = _b64decode(signature_b64)
            valid = _VERIFIERS[algorithm].verify(
                f"{header_b64}.{payload_b64}".encode("ascii"), key, signature
            )
            claims = _json_segment(payload_b64) if valid else None
        except (ValueError, TypeError, UnicodeEncodeError):
            raise Unauthenticated("the access token is malformed") from None
        if not valid:
            raise Unauthenticated("the access token is not valid")
        if not isinstance(claims, dict):
            raise Unauthenticated("the access token is malformed")
        self._check_claims(claims, audience)
        return claims

    def _check_claims(self, claims: dict[str, Any], audience: str | list[str]) -> None:
        now = time.time()
        exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf", 0)
        numbers = (int, float)
        if not (isinstance(exp, numbers) and isinstance(iat, numbers)):
            raise Unauthenticated("the access token lacks exp or iat")
        if not isinstance(nbf, numbers) or isinstance(exp, bool) or isinstance(iat, bool):
            raise Unauthenticated("the access token has malformed time claims")
        if now > exp + LEEWAY_SECONDS:
            raise Unauthenticated("the access token has expired")
        if now + LEEWAY_SECONDS < nbf or now + LEEWAY_SECONDS < iat:
            raise Unauthenticated("the access token is not valid yet")
        if claims.get("iss") != self.issuer:
            raise Unauthenticated("the access token was issued by someone else")
        if not isinstance(claims.get("sub"), str):
            raise Unauthenticated("the access token lacks a subject")
        wanted = {audience} if isinstance(audience, str) else set(audience)
        if not _audiences(claims.get("aud")) & wanted:
            raise Unauthenticated("the access token is not meant for this audience")

    async def verify_or_reload(self, token: str, audience: str | list[str]) -> dict[str, Any]:
        """``verify``; on an unknown ``kid`` reload the keys (at most every 5 s) and retry."""
        try:
            return self.verify(token, audience)
        except UnknownKeyError:
            if time.monotonic() - self._last_forced < 5:
                raise Unauthenticated("the access token was signed by an unknown key") from None
            self._last_forced = time.monotonic()
            await self.load()
        try:
            return self.verify(token, audience)
        except UnknownKeyError:
            raise Unauthenticated("the access token was signed by an unknown key") from None


class UnknownKeyError(Unauthenticated):
    pass
