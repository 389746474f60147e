"""AES-256-GCM key ring: format, binding to the row, tampering, rotation-friendly decryption."""

from __future__ import annotations

import base64
import os
import stat
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sellerhub.core.crypto import (
    Binding,
    DecryptionError,
    EnvKeySource,
    FileKeySource,
    KeyRing,
    KeyRingError,
    generate_key_entry,
    keyring_from_settings,
    kid_of,
    load_or_create_dev_keys,
    prepend_dev_key,
)

RING = KeyRing.parse(generate_key_entry("a1"))
HERE = Binding("connections", "refresh_token", "row-1", "org-1")


def test_round_trip_and_format() -> None:
    token = RING.encrypt_str("Atzr|secret-refresh", HERE)
    version, kid, body = token.split(".")
    assert (version, kid) == ("v1", "a1")
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert len(raw) == 12 + len("Atzr|secret-refresh") + 16
    assert "secret" not in token
    assert RING.decrypt_str(token, HERE) == "Atzr|secret-refresh"


def test_nonce_is_random_per_value() -> None:
    assert RING.encrypt_str("same", HERE) != RING.encrypt_str("same", HERE)


@pytest.mark.parametrize(
    "elsewhere",
    [
        Binding("connections", "refresh_token", "row-2", "org-1"),  # another row
        Binding("connections", "refresh_token", "row-1", "org-2"),  # another organization
        Binding("connections", "access_token", "row-1", "org-1"),  # another column
        Binding("webhooks", "refresh_token", "row-1", "org-1"),  # another table
        Binding("connections", "refresh_token", "row-1", None),  # platform row
    ],
)
def test_copied_ciphertext_fails_elsewhere(elsewhere: Binding) -> None:
    token = RING.encrypt_str("secret", HERE)
    with pytest.raises(DecryptionError, match="bound to another row"):
        RING.decrypt_str(token, elsewhere)


def test_binding_encoding_is_unambiguous() -> None:
    a = Binding("ab", "c", "1", "2").associated_data()
    b = Binding("a", "bc", "1", "2").associated_data()
    assert a != b


def test_tampered_ciphertext_fails() -> None:
    token = RING.encrypt_str("secret", HERE)
    prefix, body = token.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    for index in (0, 12, len(raw) - 1):  # nonce, ciphertext, tag
        flipped = bytearray(raw)
        flipped[index] ^= 0x01
        forged = prefix + "." + base64.urlsafe_b64encode(bytes(flipped)).rstrip(b"=").decode()
        with pytest.raises(DecryptionError):
            RING.decrypt_str(forged, HERE)
    with pytest.raises(DecryptionError, match="truncated"):
        RING.decrypt_str(prefix + "." + body[:10], HERE)


@pytest.mark.parametrize(
    "bad", ["", "v1.a1", "v2.a1.AAAA", "v1.zz.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]
)
def test_malformed_tokens(bad: str) -> None:
    with pytest.raises(DecryptionError):
        RING.decrypt_str(bad, HERE)


def test_old_key_decrypts_until_rotation() -> None:
    old_entry, new_entry = generate_key_entry("old"), generate_key_entry("new")
    token = KeyRing.parse(old_entry).encrypt_str("secret", HERE)
    both = KeyRing.parse(f"{new_entry},{old_entry}")
    assert both.active_kid == "new"
    assert both.decrypt_str(token, HERE) == "secret"
    assert both.needs_rotation(token)
    rotated = both.encrypt_str(both.decrypt_str(token, HERE), HERE)
    assert kid_of(rotated) == "new" and not both.needs_rotation(rotated)
    with pytest.raises(DecryptionError, match="not in the key ring"):
        KeyRing.parse(new_entry).decrypt_str(token, HERE)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("nokey", "kid:base64key"),
        ("a:not base64!", "not valid base64"),
        (f"a:{base64.b64encode(b'short').decode()}", "32 bytes"),
        (f"a.b:{base64.b64encode(os.urandom(32)).decode()}", "not valid"),
        (",".join([f"a:{base64.b64encode(os.urandom(32)).decode()}"] * 2), "twice"),
    ],
)
def test_key_ring_errors_name_the_problem(spec: str, message: str) -> None:
    with pytest.raises(KeyRingError, match=message):
        KeyRing.parse(spec)


def test_error_messages_never_contain_key_material() -> None:
    key = base64.b64encode(os.urandom(31)).decode()
    with pytest.raises(KeyRingError) as info:
        KeyRing.parse(f"a:{key}")
    assert key not in str(info.value)


def test_dev_key_file_is_private_and_stable(tmp_path: Path) -> None:
    first = load_or_create_dev_keys(tmp_path)
    mode = stat.S_IMODE((tmp_path / "encryption.keys").stat().st_mode)
    assert mode == 0o600
    assert load_or_create_dev_keys(tmp_path) == first
    kid = prepend_dev_key(tmp_path)
    ring = KeyRing.parse(load_or_create_dev_keys(tmp_path))
    assert ring.active_kid == kid and len(ring.kids) == 2
    assert stat.S_IMODE((tmp_path / "encryption.keys").stat().st_mode) == 0o600


@settings(max_examples=300, deadline=None)
@given(
    plaintext=st.binary(max_size=4096),
    table=st.text(min_size=1, max_size=30),
    column=st.text(min_size=1, max_size=30),
    row=st.uuids(),
    org=st.one_of(st.none(), st.uuids()),
)
def test_property_round_trip_and_binding(
    plaintext: bytes, table: str, column: str, row: uuid.UUID, org: uuid.UUID | None
) -> None:
    binding = Binding(table, column, str(row), str(org) if org else None)
    token = RING.encrypt(plaintext, binding)
    assert token.isascii() and token.startswith("v1.a1.")
    assert RING.decrypt(token, binding) == plaintext
    other = Binding(table, column, str(row) + "x", binding.organization_id)
    with pytest.raises(DecryptionError):
        RING.decrypt(token, other)


def test_uuid7_is_monotonic_and_well_formed() -> None:
    from sellerhub.core.ids import uuid7

    ids = [uuid7() for _ in range(5000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(i.version == 7 and i.variant == "specified in RFC 4122" for i in ids[:10])


def test_pooled_random_bytes_are_never_shared_with_a_forked_child() -> None:
    """The ids' random bits come from a pool of os.urandom bytes: a child forked with part of
    the pool unread must not hand out the parent's next bytes (its ids would repeat them)."""
    from sellerhub.core.ids import random_bytes, request_id

    random_bytes(100)  # the pool is filled, most of it unread
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next bytes, to the parent
        os.close(read)
        os.write(write, random_bytes(64))
        os._exit(0)
    os.close(write)
    child = b""
    while chunk := os.read(read, 64):
        child += chunk
    os.close(read)
    os.waitpid(pid, 0)
    parent = random_bytes(64)
    assert len(child) == 64 and child != parent
    ids = {request_id() for _ in range(2000)}
    assert len(ids) == 2000 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert len({random_bytes(5000) for _ in range(3)}) == 3  # more than a pool at once


# --- a key ring read from a file: reloaded in place, bounded, shared by every holder ------------


def _write_ring(path: Path, *entries: str) -> None:
    path.write_text("\n".join(entries) + "\n")


def test_a_file_ring_reloads_on_an_unknown_kid_and_every_holder_sees_it(tmp_path: Path) -> None:
    path = tmp_path / "ring.keys"
    old, new = generate_key_entry("old"), generate_key_entry("new")
    _write_ring(path, old)
    ring = KeyRing.from_source(FileKeySource(path))
    holders = [ring, ring]  # runtime, jobs, key store: one object, never a copy
    _write_ring(path, new, old)  # another process (keys rotate --new-key) changed the file
    token = KeyRing.parse(f"{new},{old}").encrypt_str("secret", HERE)
    assert kid_of(token) == "new"
    assert holders[0].decrypt_str(token, HERE) == "secret"  # reloaded, then decrypted
    assert holders[1].active_kid == "new" and holders[1].kids == ["new", "old"]
    assert kid_of(holders[1].encrypt_str("x", HERE)) == "new"
    assert ring.version == 1 and ring.error is None


def test_reload_on_unknown_kid_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ring.keys"
    _write_ring(path, generate_key_entry("a1"))
    source = FileKeySource(path)
    reads: list[int] = []
    original = FileKeySource.read

    def counting(self: FileKeySource) -> str:
        reads.append(1)
        return original(self)

    ring = KeyRing.from_source(source)
    monkeypatch.setattr(FileKeySource, "read", counting)
    stranger = KeyRing.parse(generate_key_entry("zz")).encrypt_str("secret", HERE)
    for _ in range(50):  # an unchanged file is read again at most once per interval
        with pytest.raises(DecryptionError, match="not in the key ring"):
            ring.decrypt_str(stranger, HERE)
    assert reads == []  # read when the ring was made, less than an interval ago
    monkeypatch.setattr(KeyRing, "RELOAD_INTERVAL_SECONDS", 0.0)
    with pytest.raises(DecryptionError, match="not in the key ring"):
        ring.decrypt_str(stranger, HERE)
    assert len(reads) == 1


def test_a_changed_file_is_read_at_once_even_right_after_a_read(tmp_path: Path) -> None:
    path = tmp_path / "ring.keys"
    old, new = generate_key_entry("old"), generate_key_entry("new")
    _write_ring(path, old)
    ring = KeyRing.from_source(FileKeySource(path))
    stranger = KeyRing.parse(new).encrypt_str("secret", HERE)
    with pytest.raises(DecryptionError):
        ring.decrypt_str(stranger, HERE)  # a read just now, the file without the key
    prepended = tmp_path / "ring.tmp"
    _write_ring(prepended, new, old)
    prepended.replace(path)  # written the way prepend_key writes: a new file renamed over it
    assert ring.decrypt_str(stranger, HERE) == "secret"


def test_an_unreadable_file_keeps_the_keys_and_says_why(tmp_path: Path) -> None:
    path = tmp_path / "ring.keys"
    entry = generate_key_entry("a1")
    _write_ring(path, entry)
    ring = KeyRing.from_source(FileKeySource(path))
    token = ring.encrypt_str("secret", HERE)
    path.write_text("a1:not base64!\n")
    assert ring.reload() is False
    assert ring.error is not None and "not valid base64" in ring.error
    assert entry.split(":", 1)[1] not in ring.error
    assert ring.decrypt_str(token, HERE) == "secret"  # still serving with what it held
    path.unlink()
    ring.reload()
    assert ring.error is not None and "cannot be read (FileNotFoundError)" in ring.error
    _write_ring(path, entry)
    ring.reload()
    assert ring.error is None and ring.kids == ["a1"]


def test_an_environment_ring_is_not_reloaded() -> None:
    ring = KeyRing.from_source(EnvKeySource(generate_key_entry("a1")))
    assert not ring.reloadable and ring.reload(force=True) is False
    stranger = KeyRing.parse(generate_key_entry("zz")).encrypt_str("secret", HERE)
    with pytest.raises(DecryptionError, match="not in the key ring"):
        ring.decrypt_str(stranger, HERE)
    assert repr(ring.source) == "EnvKeySource(reloadable=False)"  # the keys stay out of reprs


def test_the_process_ring_is_one_object_per_source(tmp_path: Path) -> None:
    first = keyring_from_settings(None, tmp_path, production=False)
    prepend_dev_key(tmp_path)
    again = keyring_from_settings(None, tmp_path, production=False)
    assert again is first and len(first.kids) == 2
    with pytest.raises(KeyRingError, match="not both"):
        keyring_from_settings(generate_key_entry("a1"), tmp_path, False, tmp_path / "f")
    with pytest.raises(KeyRingError, match="not set"):
        keyring_from_settings(None, tmp_path, production=True)
