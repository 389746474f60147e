"""Encryption at rest: AES-256-GCM under a key ring, each value bound to where it is stored.

Storage format (ASCII, fits a ``text`` column)::

    v1.<kid>.<base64url(nonce(12) || ciphertext || tag(16))>

The associated data binds a value to its table, column, row id and organization id, so a
ciphertext copied to another row, column or tenant fails to decrypt. The key ring comes from
``SELLERHUB_ENCRYPTION_KEYS`` (``kid:base64key[,kid:base64key...]``); the first key encrypts,
every key decrypts, which is what lets ``sellerhub keys rotate`` re-encrypt while the service runs.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_VERSION = "v1"
NONCE_BYTES = 12
KEY_BYTES = 32
_KID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
KEY_FILE_NAME = "encryption.keys"


class CryptoError(Exception):
    """Base error; messages never contain key material or plaintext."""


class KeyRingError(CryptoError):
    pass


class DecryptionError(CryptoError):
    pass


@dataclass(frozen=True, slots=True)
class Binding:
    """Where a ciphertext lives. Becomes the AES-GCM associated data."""

    table: str
    column: str
    row_id: str
    organization_id: str | None

    def associated_data(self) -> bytes:
        parts = [
            FORMAT_VERSION,
            self.table,
            self.column,
            self.row_id,
            self.organization_id or "-",
        ]
        # Length-prefixed so that no two different bindings produce the same bytes.
        return b"".join(len(p.encode()).to_bytes(2, "big") + p.encode() for p in parts)


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_key_entry(kid: str | None = None) -> str:
    """A new ``kid:base64key`` entry with a random 256-bit key."""
    kid = kid or "k" + secrets.token_hex(4)
    if not _KID_RE.match(kid):
        raise KeyRingError("key id must be 1-32 characters of A-Z a-z 0-9 _ -")
    return f"{kid}:{base64.b64encode(os.urandom(KEY_BYTES)).decode('ascii')}"


class KeyRing:
    """Ordered keys; the first is active."""

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise KeyRingError("the key ring is empty")
        seen: set[str] = set()
        for kid, key in keys:
            if not _KID_RE.match(kid):
                raise KeyRingError(f"key id {kid!r} is not valid (A-Z a-z 0-9 _ -, 1-32 chars)")
            if kid in seen:
                raise KeyRingError(f"key id {kid!r} appears twice")
            if len(key) != KEY_BYTES:
                raise KeyRingError(f"key {kid!r} is not 32 bytes (AES-256)")
            seen.add(kid)
        self._ciphers = {kid: AESGCM(key) for kid, key in keys}
        self.kids = [kid for kid, _ in keys]

    @property
    def active_kid(self) -> str:
        return self.kids[0]

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        keys: list[tuple[str, bytes]] = []
        for raw in spec.split(","):
            entry = raw.strip()
            if not entry:
                continue
            kid, sep, b64 = entry.partition(":")
            if not sep:
                raise KeyRingError("each key must be written kid:base64key")
            try:
                key = base64.b64decode(b64.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise KeyRingError(f"key {kid!r} is not valid base64") from None
            keys.append((kid.strip(), key))
        return cls(keys)

    def encrypt(self, plaintext: bytes, binding: Binding) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.active_kid].encrypt(nonce, plaintext, binding.associated_data())
        return f"{FORMAT_VERSION}.{self.active_kid}.{_b64url_encode(nonce + sealed)}"

    def decrypt(self, token: str, binding: Binding) -> bytes:
        version, kid, body = split_token(token)
        if version != FORMAT_VERSION:
            raise DecryptionError(f"unknown ciphertext version {version!r}")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise DecryptionError(f"key {kid!r} is not in the key ring")
        try:
            raw = _b64url_decode(body)
        except (binascii.Error, ValueError):
            raise DecryptionError("ciphertext is not valid base64url") from None
        if len(raw) < NONCE_BYTES + 16:
            raise DecryptionError("ciphertext is truncated")
        try:
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], binding.associated_data())
        except InvalidTag:
            raise DecryptionError(
                "ciphertext failed authentication (tampered, or bound to another row)"
            ) from None

    def encrypt_str(self, plaintext: str, binding: Binding) -> str:
        return self.encrypt(plaintext.encode("utf-8"), binding)

    def decrypt_str(self, token: str, binding: Binding) -> str:
        return self.decrypt(token, binding).decode("utf-8")

    def needs_rotation(self, token: str) -> bool:
        return kid_of(token) != self.active_kid


def split_token(token: str) -> tuple[str, str, str]:
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise DecryptionError("value is not in the v1.<kid>.<data> format")
    return parts[0], parts[1], parts[2]


def kid_of(token: str) -> str:
    return split_token(token)[1]


def load_or_create_dev_keys(data_dir: Path) -> str:
    """Development only: read the key ring from the data dir, creating it (mode 0600) if absent."""
    path = data_dir / KEY_FILE_NAME
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(generate_key_entry() + "\n")
    return ",".join(line.strip() for line in path.read_text().splitlines() if line.strip())


def prepend_dev_key(data_dir: Path) -> str:
    """Development only: add a new active key in front of the file's ring; returns its kid."""
    path = data_dir / KEY_FILE_NAME
    existing = load_or_create_dev_keys(data_dir)
    entry = generate_key_entry()
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join([entry, *existing.split(",")]) + "\n")
    tmp.replace(path)
    return entry.split(":", 1)[0]


_keyring_cache: dict[str, KeyRing] = {}


def keyring_from_settings(encryption_keys: str | None, data_dir: Path, production: bool) -> KeyRing:
    """The process key ring: the setting, or (outside production) the data dir's key file."""
    if encryption_keys and encryption_keys.strip():
        spec = encryption_keys
    elif production:
        raise KeyRingError("SELLERHUB_ENCRYPTION_KEYS is not set")
    else:
        spec = load_or_create_dev_keys(data_dir)
    ring = _keyring_cache.get(spec)
    if ring is None:
        ring = KeyRing.parse(spec)
        _keyring_cache.clear()
        _keyring_cache[spec] = ring
    return ring
