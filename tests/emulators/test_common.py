"""Building blocks of every emulator: token bucket, PKCE, token and code stores."""

from __future__ import annotations

from sellerhub_emulators.common import (
    CodeStore,
    TokenBucket,
    TokenKind,
    TokenStatus,
    TokenStore,
    verify_pkce,
)

from .conftest import FakeClock

# RFC 7636 Appendix B.
RFC_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_pkce_s256_matches_the_rfc_example() -> None:
    assert verify_pkce("S256", RFC_CHALLENGE, RFC_VERIFIER)
    assert not verify_pkce("S256", RFC_CHALLENGE, RFC_VERIFIER[:-1] + "l")
    assert verify_pkce("plain", RFC_VERIFIER, RFC_VERIFIER)
    assert not verify_pkce("S512", RFC_CHALLENGE, RFC_VERIFIER)
    assert not verify_pkce("plain", "short", "short")  # shorter than 43 characters


def test_token_bucket_allows_burst_then_refills_at_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(per_second=2, burst=3, clock=clock)

    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.advance(0.5)
    assert bucket.take()
    assert not bucket.take()
    clock.advance(100)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_token_store_expire_and_revoke() -> None:
    clock = FakeClock()
    store = TokenStore(clock, random_bytes=16)

    def issue(kind: TokenKind, ttl: int | None) -> str:
        record = store.issue(
            kind, prefix="T|", client_id="c", scopes=("s",), subject=None, ttl_seconds=ttl
        )
        return record.value

    access, refresh = issue(TokenKind.ACCESS, 60), issue(TokenKind.REFRESH, None)
    assert store.lookup(access, TokenKind.ACCESS).valid
    assert store.lookup(access, TokenKind.REFRESH).status is TokenStatus.UNKNOWN

    assert store.expire_access() == 1
    assert store.lookup(access, TokenKind.ACCESS).status is TokenStatus.EXPIRED
    assert store.lookup(refresh, TokenKind.REFRESH).valid
    later = issue(TokenKind.ACCESS, 60)
    assert store.lookup(later, TokenKind.ACCESS).valid

    assert store.revoke_all() == 3
    assert store.lookup(refresh, TokenKind.REFRESH).status is TokenStatus.REVOKED
    assert store.lookup(later, TokenKind.ACCESS).status is TokenStatus.REVOKED
    store.clear()
    assert store.lookup(later, TokenKind.ACCESS).status is TokenStatus.UNKNOWN


def test_codes_are_single_use_and_expire() -> None:
    clock = FakeClock()
    codes = CodeStore(clock, ttl_seconds=300)

    def issue() -> str:
        return codes.issue(
            client_id="c",
            redirect_uri="https://a.example/cb",
            scopes=("profile",),
            code_challenge=None,
            code_challenge_method=None,
            subject={"user_id": "u"},
        ).code

    once = issue()
    assert codes.redeem(once) is not None
    assert codes.redeem(once) is None
    late = issue()
    clock.advance(300)
    assert codes.redeem(late) is None
