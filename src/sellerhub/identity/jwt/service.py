"""Signing keys and JWTs.

Access tokens are EdDSA (Ed25519) JWTs with a ``kid`` header, verifiable by any standard JWKS
client against ``/.well-known/jwks.json``. Private keys live encrypted in ``signing_keys``;
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
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sellerhub.core.clock import utcnow
from sellerhub.core.crypto import KeyRing
from sellerhub.core.errors import Unauthenticated
from sellerhub.core.logging import get_logger
from sellerhub.db.encrypted import seal, unseal
from sellerhub.identity.jwt.models import SigningKey
from sellerhub.identity.jwt.repository import SigningKeyRepository

log = get_logger(__name__)

ALGORITHM = "EdDSA"
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
    """(kid, private PEM, public JWK) for a fresh Ed25519 key; kid = RFC 7638 thumbprint."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    public_jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(private.public_key()))
    thumbprint_input = json.dumps(
        {"crv": public_jwk["crv"], "kty": public_jwk["kty"], "x": public_jwk["x"]},
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


@dataclass
class KeyStore:
    """The process's view of the signing keys."""

    sessionmaker: async_sessionmaker[AsyncSession]
    keyring: KeyRing
    issuer: str
    refresh_seconds: float = RELOAD_SECONDS
    _signing: tuple[str, Ed25519PrivateKey] | None = None
    _public: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    _jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    _loaded_at: float = 0.0
    _last_forced: float = 0.0

    async def load(self) -> None:
        now = utcnow()
        async with self.sessionmaker() as session:
            keys = await SigningKeyRepository(session).published(now)
            public = {k.kid: OKPAlgorithm.from_jwk(k.public_jwk) for k in keys}
            chosen = _signing_key(keys, now)
            signing: tuple[str, Ed25519PrivateKey] | None = None
            if chosen is not None:
                pem = unseal(self.keyring, chosen, "private_key") or ""
                private = serialization.load_pem_private_key(pem.encode(), password=None)
                assert isinstance(private, Ed25519PrivateKey)
                signing = (chosen.kid, private)
            jwks = {"keys": [dict(k.public_jwk) for k in keys]}
        self._signing, self._jwks = signing, jwks
        self._public = {
            kid: key for kid, key in public.items() if isinstance(key, Ed25519PublicKey)
        }
        self._loaded_at = time.monotonic()

    async def refresh_if_stale(self) -> None:
        if time.monotonic() - self._loaded_at > self.refresh_seconds:
            await self.load()

    def jwks(self) -> dict[str, Any]:
        return self._jwks

    def sign(self, claims: dict[str, Any]) -> str:
        if self._signing is None:
            raise RuntimeError("no active signing key (run migrations and start the app)")
        kid, private = self._signing
        return jwt.encode(claims, private, algorithm=ALGORITHM, headers={"kid": kid})

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
        """Verify signature, issuer, audience and lifetime with the cached keys. Raises
        ``UnknownKeyError`` for a ``kid`` not in the cache (the caller may reload once)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("the access token is malformed") from None
        if header.get("alg") != ALGORITHM:
            raise Unauthenticated("the access token uses an unexpected algorithm")
        key = self._public.get(str(header.get("kid")))
        if key is None:
            raise UnknownKeyError("the access token was signed by an unknown key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the access token has expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the access token is not meant for this audience") from None
        except jwt.PyJWTError:
            raise Unauthenticated("the access token is not valid") from None
        return claims

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
