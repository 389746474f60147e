"""Opaque secrets we issue (API keys, later refresh tokens): random, shown once, stored hashed.

They carry 256 bits of entropy, so a single SHA-256 is the right hash (a slow password hash
would add nothing but latency); lookups compare hashes, never the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
