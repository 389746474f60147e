"""One-time 6-digit codes mailed to a user (email verification, password reset).

Only an HMAC-SHA256 of the code is stored, keyed with the application secret and bound to the
user and the purpose, so a database reader cannot use or brute-force the hashes offline, and a
code of one user or purpose never matches another. A code expires after 15 minutes, dies after
5 wrong attempts, is consumed by its first successful use, and issuing a new one discards the
older ones of the same purpose. The guard against guessing is this per-code count; how many
codes an address can be sent, and so the worst-case odds, is in ``service`` ("Guessing a
code").
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta
from enum import StrEnum

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=15)
MAX_ATTEMPTS = 5


class Purpose(StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 - a purpose name, not a password


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def normalize(code: str) -> str:
    """What people type: spaces and dashes between the digits are ignored."""
    return "".join(ch for ch in code if ch not in " -\t")


def hash_code(secret_key: str, user_id: uuid.UUID, purpose: Purpose, code: str) -> str:
    message = f"sellerhub.email-code\x1f{purpose.value}\x1f{user_id}\x1f{normalize(code)}"
    return hmac.new(secret_key.encode(), message.encode(), hashlib.sha256).hexdigest()


def matches(stored_hash: str, candidate_hash: str) -> bool:
    return hmac.compare_digest(stored_hash.encode(), candidate_hash.encode())
