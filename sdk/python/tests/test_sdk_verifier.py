"""TokenVerifier unit tests with keys made here and a JWKS served by httpx.MockTransport:
valid tokens, expiry / nbf with leeway, wrong issuer and audience, forged algorithms (none,
HS256 with the public key as secret), a tampered payload, key rotation, an unknown kid
refetched at most once per interval, Cache-Control max-age, a JWKS outage."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sellerhub_sdk import InvalidToken, TokenExpired, TokenVerifier, UnknownSigningKey
from sellerhub_sdk.verifier import max_age

ISSUER = "https://hub.example.com"


class Keys:
    def __init__(self) -> None:
        self.private: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.published: list[str] = []
        self.requests = 0
        self.cache_control = "public, max-age=300"
        self.down = False

    def add(self, kid: str, publish: bool = True) -> None:
        self.private[kid] = ec.generate_private_key(ec.SECP256R1())
        if publish:
            self.published.append(kid)

    def jwk(self, kid: str) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self.private[kid].public_key()))
        return {**out, "kid": kid, "alg": "ES256", "use": "sig"}

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        assert request.url.path == "/.well-known/jwks.json"
        if self.down:
            return httpx.Response(503)
        keys = [self.jwk(k) for k in self.published]
        return httpx.Response(
            200, json={"keys": keys}, headers={"Cache-Control": self.cache_control}
        )

    def token(self, kid: str = "k1", **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": "adsight", "sub": "user-1", "iat": now, "nbf": now,
                "exp": now + 600, **claims}  # fmt: skip
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, self.private[kid], algorithm="ES256", headers={"kid": kid})


@pytest.fixture
def keys() -> Keys:
    k = Keys()
    k.add("k1")
    return k


def verifier(keys: Keys, **kw: Any) -> TokenVerifier:
    http = httpx.Client(transport=httpx.MockTransport(keys.handler))
    return TokenVerifier(issuer=ISSUER, audience="adsight", http_client=http, **kw)


def test_a_valid_token_verifies_with_one_jwks_fetch(keys: Keys) -> None:
    v = verifier(keys)
    for _ in range(50):
        claims = v.verify(keys.token(jti=None))
        assert claims["sub"] == "user-1"
    token = keys.token()
    first = v.verify(token)
    first["sub"] = "changed by the caller"
    assert v.verify(token)["sub"] == "user-1"  # the remembered claims are not shared
    assert keys.requests == 1 and v.fetches == 1


def test_expiry_and_not_before_with_leeway(keys: Keys) -> None:
    v = verifier(keys, leeway=30)
    now = int(time.time())
    assert v.verify(keys.token(exp=now - 10))  # within the leeway
    with pytest.raises(TokenExpired):
        v.verify(keys.token(exp=now - 60))
    with pytest.raises(InvalidToken, match="not valid yet"):
        v.verify(keys.token(nbf=now + 120))
    with pytest.raises(InvalidToken, match="exp"):
        v.verify(keys.token(exp=None))
    # A token remembered while valid expires all the same.
    clock = [time.time()]
    v = verifier(keys, leeway=0, clock=lambda: clock[0])
    token = keys.token(exp=now + 5)
    v.verify(token)
    clock[0] += 10
    with pytest.raises(TokenExpired):
        v.verify(token)


def test_wrong_issuer_audience_or_subject(keys: Keys) -> None:
    v = verifier(keys)
    with pytest.raises(InvalidToken, match="issued by someone else"):
        v.verify(keys.token(iss="https://evil.example.com"))
    with pytest.raises(InvalidToken, match="audience"):
        v.verify(keys.token(aud="another-app"))
    assert v.verify(keys.token(aud=["another-app", "adsight"]))
    with pytest.raises(InvalidToken, match="audience"):
        v.verify(keys.token(aud=["another-app"]))
    with pytest.raises(InvalidToken, match="subject"):
        v.verify(keys.token(sub=None))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_forged_algorithms_and_tampering_are_refused(keys: Keys) -> None:
    v = verifier(keys)
    good = keys.token()
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    none = _b64(json.dumps({"alg": "none", "kid": "k1"}).encode())
    with pytest.raises(InvalidToken, match="algorithm"):
        v.verify(f"{none}.{payload}.")
    # HS256 "signed" with the public key's PEM: the classic key-confusion forgery.
    pem = (
        keys.private["k1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    hs_header = _b64(json.dumps({"alg": "HS256", "kid": "k1", "typ": "JWT"}).encode())
    import hashlib
    import hmac

    mac = hmac.new(pem, f"{hs_header}.{payload}".encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidToken, match="algorithm"):
        v.verify(f"{hs_header}.{payload}.{_b64(mac)}")
    richer = _b64(json.dumps({**claims, "sub": "admin"}).encode())
    with pytest.raises(InvalidToken, match="signature"):
        v.verify(f"{header}.{richer}.{signature}")
    for bad in ("", "a.b", "a.b.c.d", f"{header}.{payload}.!!", "x" * 9000, f"e30.{payload}.x"):
        with pytest.raises(InvalidToken):
            v.verify(bad)


def test_rotation_and_unknown_kids_are_refetched_at_most_once_per_interval(keys: Keys) -> None:
    v = verifier(keys, min_refetch_seconds=0.5)
    v.verify(keys.token())
    keys.add("k2")  # the server rotates: k2 published
    with pytest.raises(UnknownSigningKey):  # fetched just now: not again yet
        v.verify(keys.token("k2"))
    time.sleep(0.6)
    assert v.verify(keys.token("k2"))["sub"] == "user-1"
    assert v.fetches == 2
    keys.add("forged", publish=False)
    forged = keys.token("forged")
    for _ in range(1000):  # a flood of unknown kids: no more requests within the interval
        with pytest.raises(UnknownSigningKey):
            v.verify(forged)
    assert keys.requests == 2
    time.sleep(0.6)
    with pytest.raises(UnknownSigningKey):
        v.verify(forged)
    assert keys.requests == 3
    # The valid keys still verify meanwhile.
    assert v.verify(keys.token("k1")) and v.verify(keys.token("k2"))


def test_a_withdrawn_key_stops_verifying_even_remembered_tokens(keys: Keys) -> None:
    v = verifier(keys, min_refetch_seconds=0, default_cache_seconds=0)
    keys.cache_control = "no-store"
    token = keys.token()
    v.verify(token)
    keys.add("k2")
    keys.published = ["k2"]
    v.verify(keys.token("k2"))  # refetched (cache of 0 s): k1 withdrawn
    with pytest.raises(UnknownSigningKey):
        v.verify(token)


def test_cache_control_max_age_is_honoured_and_bounded(keys: Keys) -> None:
    assert max_age("public, max-age=120") == 120
    assert max_age("no-store") is None and max_age(None) is None
    keys.cache_control = "public, max-age=0"
    v = verifier(keys, min_refetch_seconds=0)
    v.verify(keys.token(jti="a"))
    v.verify(keys.token(jti="b"))
    assert keys.requests == 2  # max-age=0: fetched again for the next new token
    keys.cache_control = "public, max-age=999999"
    v = verifier(keys, max_cache_seconds=0.05, min_refetch_seconds=0)
    v.verify(keys.token(jti="c"))
    time.sleep(0.06)
    v.verify(keys.token(jti="d"))
    assert v.fetches == 2


def test_a_jwks_outage_keeps_the_cached_keys(keys: Keys) -> None:
    v = verifier(keys, default_cache_seconds=0, min_refetch_seconds=0)
    keys.cache_control = ""
    v.verify(keys.token(jti="a"))
    keys.down = True
    assert v.verify(keys.token(jti="b"))["sub"] == "user-1"
    assert v.fetches == 2


async def test_verify_async(keys: Keys) -> None:
    v = verifier(keys)
    assert (await v.verify_async(keys.token()))["aud"] == "adsight"
    with pytest.raises(InvalidToken):
        await v.verify_async(keys.token(aud="x"))


def test_concurrent_unknown_kids_make_one_fetch(keys: Keys) -> None:
    import threading

    v = verifier(keys, min_refetch_seconds=60)
    keys.add("late", publish=False)
    token = keys.token("late")
    failures: list[Exception] = []

    def attempt() -> None:
        try:
            v.verify(token)
        except UnknownSigningKey as exc:
            failures.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(failures) == 32 and keys.requests == 1


def test_for_server_reads_the_metadata(keys: Keys) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/oauth-authorization-server":
            return httpx.Response(200, json={
                "issuer": ISSUER, "jwks_uri": "https://keys.example.com/.well-known/jwks.json"
            })  # fmt: skip
        assert request.url.host == "keys.example.com"
        return keys.handler(request)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    v = TokenVerifier.for_server(ISSUER, "adsight", http_client=http)
    assert v.issuer == ISSUER and v.jwks_url.startswith("https://keys.example.com/")
    assert v.verify(keys.token())["iss"] == ISSUER
