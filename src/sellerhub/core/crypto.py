"""Encryption at rest: AES-256-GCM under a key ring, each value bound to where it is stored.

Storage format (ASCII, fits a ``text`` column)::

    v1.<kid>.<base64url(nonce(12) || ciphertext || tag(16))>

The associated data binds a value to its table, column, row id and organization id, so a
ciphertext copied to another row, column or tenant fails to decrypt. The key ring comes from
``SELLERHUB_ENCRYPTION_KEYS`` (``kid:base64key[,kid:base64key...]``), from a key-ring file
(``SELLERHUB_ENCRYPTION_KEYS_FILE``, or the data dir's in development) that a running process
reads again when it changes; the first key encrypts, every key decrypts, which is what lets
``sellerhub keys rotate`` re-encrypt while the service runs.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sellerhub.core.logging import get_logger

FORMAT_VERSION = "v1"
NONCE_BYTES = 12
KEY_BYTES = 32
_KID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
KEY_FILE_NAME = "encryption.keys"

log = get_logger(__name__)


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


class KeySource(Protocol):
    """Where a key ring is read from. ``signature`` changes when the source may have changed
    (None: it never changes while the process runs)."""

    @property
    def reloadable(self) -> bool: ...

    def describe(self) -> str: ...

    def read(self) -> str: ...

    def signature(self) -> object | None: ...


@dataclass(frozen=True, slots=True)
class EnvKeySource:
    """``SELLERHUB_ENCRYPTION_KEYS``: a running process cannot read its environment again."""

    spec: str = field(repr=False)
    reloadable: bool = False

    def describe(self) -> str:
        return "SELLERHUB_ENCRYPTION_KEYS"

    def read(self) -> str:
        return self.spec

    def signature(self) -> object | None:
        return None


@dataclass(frozen=True, slots=True)
class FileKeySource:
    """A key-ring file, one ``kid:base64key`` a line (or comma-separated), the first active:
    the data dir's development file or ``SELLERHUB_ENCRYPTION_KEYS_FILE``. Read again when it
    changes, so a running process picks up a new key."""

    path: Path
    reloadable: bool = True

    def describe(self) -> str:
        return str(self.path)

    def read(self) -> str:
        return ",".join(line.strip() for line in self.path.read_text().splitlines() if line.strip())

    def signature(self) -> object | None:
        try:
            st = self.path.stat()
        except OSError as exc:
            return type(exc).__name__
        return (st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True, slots=True)
class _Keys:
    kids: tuple[str, ...]
    ciphers: dict[str, AESGCM]


def _parse(spec: str) -> list[tuple[str, bytes]]:
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
    return keys


def _build(keys: list[tuple[str, bytes]]) -> _Keys:
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
    return _Keys(tuple(kid for kid, _ in keys), {kid: AESGCM(key) for kid, key in keys})


class KeyRing:
    """Ordered keys; the first is active.

    One object per process, shared by every holder (runtime, jobs, key store, flows): a ring
    read from a reloadable source (a file) replaces its keys in place when the source changes,
    so every holder sees the new ring at once. A ciphertext under a key id the ring does not
    hold makes it read the source again before failing: at once when the file changed, else at
    most once per ``RELOAD_INTERVAL_SECONDS``, one reader at a time. A source that cannot be
    read or parsed keeps the keys already held and is reported by ``error`` (``/readyz``)."""

    RELOAD_INTERVAL_SECONDS = 1.0

    def __init__(self, keys: list[tuple[str, bytes]], source: KeySource | None = None) -> None:
        self._keys = _build(keys)
        self.source = source
        self.version = 0  # bumped whenever the keys change
        self.error: str | None = None  # why the source could not be read, if it could not
        self._signature = source.signature() if source is not None else None
        self._read_at = time.monotonic()
        self._lock = threading.Lock()

    @property
    def kids(self) -> list[str]:
        return list(self._keys.kids)

    @property
    def active_kid(self) -> str:
        return self._keys.kids[0]

    @property
    def reloadable(self) -> bool:
        return self.source is not None and self.source.reloadable

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        return cls(_parse(spec))

    @classmethod
    def from_source(cls, source: KeySource) -> KeyRing:
        return cls(_parse(source.read()), source)

    def reload(self, *, force: bool = False) -> bool:
        """Read the source again if it changed (or ``force``); True when the keys changed.
        Never raises: a failure keeps the current keys and is kept in ``error``."""
        if not self.reloadable:
            return False
        assert self.source is not None
        with self._lock:
            signature = self.source.signature()
            if not force and signature == self._signature and self.error is None:
                return False
            return self._read(signature)

    def _read(self, signature: object | None) -> bool:
        assert self.source is not None
        self._read_at = time.monotonic()
        self._signature = signature
        try:
            keys = _build(_parse(self.source.read()))
        except KeyRingError as exc:
            failure = f"the key ring in {self.source.describe()} is not valid: {exc}"
        except (OSError, UnicodeDecodeError) as exc:
            failure = f"the key ring {self.source.describe()} cannot be read ({type(exc).__name__})"
        else:
            self.error = None
            if keys.kids == self._keys.kids:
                return False
            dropped = [kid for kid in self._keys.kids if kid not in keys.kids]
            self._keys = keys
            self.version += 1
            log.info(
                "keyring.reloaded", active_kid=keys.kids[0], kids=list(keys.kids), dropped=dropped
            )
            return True
        if failure != self.error:
            log.warning("keyring.unreadable", reason=failure)
        self.error = failure
        return False

    def _reload_for(self, kid: str) -> bool:
        """A ciphertext names ``kid``, which the ring does not hold: read the source again
        (bounded, single flight) and say whether the ring now holds it."""
        if not self.reloadable:
            return False
        assert self.source is not None
        with self._lock:
            if kid in self._keys.ciphers:  # another thread read it meanwhile
                return True
            signature = self.source.signature()
            recent = time.monotonic() - self._read_at < self.RELOAD_INTERVAL_SECONDS
            if signature == self._signature and recent:
                return False
            self._read(signature)
            return kid in self._keys.ciphers

    def encrypt(self, plaintext: bytes, binding: Binding) -> str:
        keys = self._keys
        kid = keys.kids[0]
        nonce = os.urandom(NONCE_BYTES)
        sealed = keys.ciphers[kid].encrypt(nonce, plaintext, binding.associated_data())
        return f"{FORMAT_VERSION}.{kid}.{_b64url_encode(nonce + sealed)}"

    def decrypt(self, token: str, binding: Binding) -> bytes:
        version, kid, body = split_token(token)
        if version != FORMAT_VERSION:
            raise DecryptionError(f"unknown ciphertext version {version!r}")
        cipher = self._keys.ciphers.get(kid)
        if cipher is None and self._reload_for(kid):
            cipher = self._keys.ciphers.get(kid)
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


def dev_key_file(data_dir: Path) -> Path:
    """Development only: the data dir's key-ring file, created (mode 0600) if absent."""
    path = data_dir / KEY_FILE_NAME
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process of the same data dir created it meanwhile
            return path
        with os.fdopen(fd, "w") as handle:
            handle.write(generate_key_entry() + "\n")
    return path


def load_or_create_dev_keys(data_dir: Path) -> str:
    """Development only: read the key ring from the data dir, creating it (mode 0600) if absent."""
    return FileKeySource(dev_key_file(data_dir)).read()


def prepend_key(path: Path) -> str:
    """Add a new active key in front of a key-ring file (written whole, then renamed over it,
    mode 0600); returns its kid."""
    existing = FileKeySource(path).read()
    KeyRing.parse(existing)  # never rewrite a file we could not read back
    entry = generate_key_entry()
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join([entry, *existing.split(",")]) + "\n")
    tmp.replace(path)
    return entry.split(":", 1)[0]


def prepend_dev_key(data_dir: Path) -> str:
    """Development only: add a new active key in front of the file's ring; returns its kid."""
    return prepend_key(dev_key_file(data_dir))


def key_source(
    encryption_keys: str | None, keys_file: Path | None, data_dir: Path, production: bool
) -> KeySource:
    """Where the process's key ring comes from: the setting, the key-ring file setting, or
    (outside production) the data dir's key file."""
    if encryption_keys and encryption_keys.strip():
        if keys_file is not None:
            raise KeyRingError(
                "set SELLERHUB_ENCRYPTION_KEYS or SELLERHUB_ENCRYPTION_KEYS_FILE, not both"
            )
        return EnvKeySource(encryption_keys)
    if keys_file is not None:
        return FileKeySource(keys_file)
    if production:
        raise KeyRingError("SELLERHUB_ENCRYPTION_KEYS is not set")
    return FileKeySource(dev_key_file(data_dir))


_keyring_cache: dict[object, KeyRing] = {}


def keyring_from_settings(
    encryption_keys: str | None,
    data_dir: Path,
    production: bool,
    keys_file: Path | None = None,
) -> KeyRing:
    """The process key ring: one object per source, shared by every runtime of the process (a
    file-backed one is brought up to date with its file first)."""
    source = key_source(encryption_keys, keys_file, data_dir, production)
    ring = _keyring_cache.get(source)
    if ring is None:
        ring = KeyRing.from_source(source)
        _keyring_cache[source] = ring
    elif ring.reloadable:
        ring.reload()
        if ring.error is not None:
            raise KeyRingError(ring.error)
    return ring
