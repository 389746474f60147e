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
    KeyRing,
    KeyRingError,
    generate_key_entry,
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
