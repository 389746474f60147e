"""WooCommerce REST auth over plain http (providers.md §5.2): our OAuth 1.0a one-legged signer
(checked against a base string and HMAC worked out here from the documented algorithm, not from
the signer's code), the emulator verifying it like ``WC_REST_Authentication`` (signature,
timestamp window, nonce reuse, Basic refused over http), the provider's choice of Basic or
OAuth by the store's scheme, and the official Python SDK (wc-api-python) against the emulator."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import string
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from fastapi import FastAPI

from sellerhub.connections.providers.woocommerce.adapter import (
    OAuth1Signer,
    WooCommerceProvider,
    basic_credential,
    rest_auth,
    sign,
    signature_base_string,
)
from sellerhub_emulators.app import create_emulators_app

KEY, SECRET = "ck_" + "1" * 40, "cs_" + "2" * 40
STORE = "/woocommerce/stores/demo"
ORDERS = f"{STORE}/wp-json/wc/v3/orders"
STATUS = f"{STORE}/wp-json/wc/v3/system_status"
WEBHOOKS = f"{STORE}/wp-json/wc/v3/webhooks"
UNRESERVED = set(string.ascii_letters + string.digits + "-._~")


def rfc3986(text: str) -> str:
    """Percent-encoding of RFC 3986 §2, written out byte by byte (independent of urllib)."""
    return "".join(
        char if char in UNRESERVED else "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))
        for char in text
    )


def hmac_b64(secret: str, text: str, digest: Callable[[], Any] = hashlib.sha256) -> str:
    return base64.b64encode(
        hmac.new(f"{secret}&".encode(), text.encode(), digest).digest()
    ).decode()


def query_of(request: httpx.Request) -> list[tuple[str, str]]:
    return parse_qsl(request.url.query.decode(), keep_blank_values=True)


def with_query(request: httpx.Request, pairs: list[tuple[str, str]]) -> httpx.Request:
    query = "&".join(f"{rfc3986(name)}={rfc3986(value)}" for name, value in pairs).encode()
    return httpx.Request(
        request.method,
        request.url.copy_with(query=query),
        headers=request.headers,
        content=request.content,
    )


def signed(request: httpx.Request, signer: OAuth1Signer) -> httpx.Request:
    return next(signer.auth_flow(request))


# -- the signature, worked out by hand -------------------------------------------------------

# Unsorted, a value with reserved, space and non-ASCII characters, and a repeated name (PHP,
# hence WooCommerce, keeps the last value).
KAT_PARAMS = [
    ("status", "on-hold"),
    ("modified_after", "2024-01-05T00:00:00+00:00"),
    ("oauth_timestamp", "1700000000"),
    ("search", "a b&c=d/é~"),
    ("oauth_nonce", "0123456789abcdef0123456789abcdef"),
    ("per_page", "10"),
    ("oauth_consumer_key", KEY),
    ("oauth_signature_method", "HMAC-SHA256"),
    ("per_page", "100"),
]
KAT_BASE_STRING = (
    "GET"
    "&http%3A%2F%2Fstore.example%3A8080%2Fshop%2Fwp-json%2Fwc%2Fv3%2Forders"
    "&modified_after%3D2024-01-05T00%253A00%253A00%252B00%253A00"
    f"%26oauth_consumer_key%3D{KEY}"
    "%26oauth_nonce%3D0123456789abcdef0123456789abcdef"
    "%26oauth_signature_method%3DHMAC-SHA256"
    "%26oauth_timestamp%3D1700000000"
    "%26per_page%3D100"
    "%26search%3Da%2520b%2526c%253Dd%252F%25C3%25A9~"
    "%26status%3Don-hold"
)


def test_signature_base_string_known_answer() -> None:
    # Scheme and host lower-cased, the non-default port kept, the query left out of the URL.
    url = httpx.URL("HTTP://Store.Example:8080/shop/wp-json/wc/v3/orders?ignored=1")
    assert signature_base_string("get", url, KAT_PARAMS) == KAT_BASE_STRING
    assert sign(KAT_BASE_STRING, SECRET) == hmac_b64(SECRET, KAT_BASE_STRING)
    assert sign(KAT_BASE_STRING, SECRET, "HMAC-SHA1") == hmac_b64(
        SECRET, KAT_BASE_STRING, hashlib.sha1
    )
    default_port = httpx.URL("http://store.example:80/wp-json/wc/v3/orders")
    assert signature_base_string("GET", default_port, []) == (
        "GET&http%3A%2F%2Fstore.example%2Fwp-json%2Fwc%2Fv3%2Forders&"
    )


def test_signer_puts_oauth_params_in_the_query_and_signs_the_final_url() -> None:
    signer = OAuth1Signer(KEY, SECRET, clock=lambda: 1_700_000_000.9)
    request = httpx.Request(
        "GET",
        "http://127.0.0.1:8000/s/wp-json/wc/v3/orders",
        params=[("per_page", "5"), ("modified_after", "2024-01-05T00:00:00+00:00")],
    )
    out = signed(request, signer)
    query = query_of(out)
    assert [name for name, _ in query] == [
        "per_page",
        "modified_after",
        "oauth_consumer_key",
        "oauth_nonce",
        "oauth_signature_method",
        "oauth_timestamp",
        "oauth_signature",
    ]  # no oauth_version (WooCommerce's list), the signature last
    params = dict(query)
    assert params["oauth_timestamp"] == "1700000000"
    assert params["oauth_signature_method"] == "HMAC-SHA256"
    assert re.fullmatch(r"[0-9a-f]{32}", params["oauth_nonce"])
    assert "authorization" not in out.headers
    pairs = sorted((rfc3986(k), rfc3986(v)) for k, v in query if k != "oauth_signature")
    text = "&".join(
        [
            "GET",
            rfc3986("http://127.0.0.1:8000/s/wp-json/wc/v3/orders"),
            rfc3986("&".join(f"{k}={v}" for k, v in pairs)),
        ]
    )
    assert params["oauth_signature"] == hmac_b64(SECRET, text)
    again = dict(query_of(signed(request, signer)))
    assert again["oauth_nonce"] != params["oauth_nonce"]  # a fresh nonce per request
    stale = httpx.Request("GET", out.url)  # re-signing replaces the old oauth_* parameters
    assert [name for name, _ in query_of(signed(stale, signer))].count("oauth_signature") == 1


def test_provider_uses_basic_over_https_and_oauth_over_http() -> None:
    headers, auth = rest_auth("https://shop.example", KEY, SECRET)
    assert headers == {"Authorization": f"Basic {basic_credential(KEY, SECRET)}"}
    assert auth is None
    headers, auth = rest_auth("http://127.0.0.1:8000/store", KEY, SECRET)
    assert headers == {}
    assert isinstance(auth, OAuth1Signer) and auth.consumer_key == KEY

    provider = WooCommerceProvider()
    token = basic_credential(KEY, SECRET)
    https = {"store_url": "https://shop.example"}
    assert provider.auth_headers(token, https) == {"Authorization": f"Basic {token}"}
    assert provider.request_auth(token, https) is None
    plain = {"store_url": "http://127.0.0.1:8000/store"}
    assert provider.auth_headers(token, plain) == {}  # never Basic over plain http
    signer = provider.request_auth(token, plain)
    assert isinstance(signer, OAuth1Signer) and signer.consumer_key == KEY
    with pytest.raises(ValueError, match="key:secret"):
        provider.request_auth("bm90LWEtcGFpcg==", plain)  # "not-a-pair"


# -- the emulator ------------------------------------------------------------------------------


@pytest.fixture
def emulators_app() -> FastAPI:
    return create_emulators_app()


@pytest.fixture
async def http(emulators_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=emulators_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def https(emulators_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=emulators_app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        yield client


async def new_key(
    http: httpx.AsyncClient, store: str = "demo", permissions: str = "read_write"
) -> tuple[str, str]:
    body = (
        await http.post(
            "/woocommerce/_admin/keys", json={"store": store, "permissions": permissions}
        )
    ).json()
    return body["consumer_key"], body["consumer_secret"]


def auth_error(response: httpx.Response, message: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {
        "code": "woocommerce_rest_authentication_error",
        "message": message,
        "data": {"status": 401},
    }


async def test_emulator_accepts_our_signed_requests(http: httpx.AsyncClient) -> None:
    ck, cs = await new_key(http)
    params = {
        "per_page": "5",
        "orderby": "id",
        "order": "asc",
        "modified_after": "2024-01-01T00:00:00+00:00",
        "search": "a b&c=d/é~",  # not an orders filter, but signed like any parameter
    }
    orders = await http.get(ORDERS, params=params, auth=OAuth1Signer(ck, cs))
    assert orders.status_code == 200, orders.text
    assert [o["id"] for o in orders.json()] == [1, 2, 3, 4, 5]
    sha1 = await http.get(STATUS, auth=OAuth1Signer(ck, cs, signature_method="HMAC-SHA1"))
    assert sha1.status_code == 200, sha1.text
    created = await http.post(
        WEBHOOKS,
        json={"topic": "order.created", "delivery_url": "http://127.0.0.1:9/hook"},
        auth=OAuth1Signer(ck, cs),
    )  # a JSON body is not signed
    assert created.status_code == 201, created.text
    form = await http.post(
        WEBHOOKS,
        data={"topic": "order.updated", "delivery_url": "http://127.0.0.1:9/hook"},
        auth=OAuth1Signer(ck, cs),
    )  # a POST's form body is signed (WooCommerce reads it as $_POST)
    assert form.status_code == 201, form.text


async def test_emulator_accepts_oauth_params_in_the_authorization_header(
    http: httpx.AsyncClient,
) -> None:
    ck, cs = await new_key(http)
    oauth = {
        "oauth_consumer_key": ck,
        "oauth_nonce": "nonce-in-the-header-0001",
        "oauth_signature_method": "HMAC-SHA256",
        "oauth_timestamp": str(int(time.time())),
    }
    url = httpx.URL(f"http://testserver{ORDERS}?per_page=2")
    text = signature_base_string("GET", url, [("per_page", "2"), *oauth.items()])
    oauth["oauth_signature"] = sign(text, cs)
    header = "OAuth " + ", ".join(f'{k}="{rfc3986(v)}"' for k, v in oauth.items())
    response = await http.get(url, headers={"Authorization": header})
    assert response.status_code == 200, response.text
    assert len(response.json()) == 2


async def test_emulator_refuses_a_tampered_signature_or_request(http: httpx.AsyncClient) -> None:
    ck, cs = await new_key(http)
    request = signed(
        http.build_request("GET", ORDERS, params={"per_page": "5"}), OAuth1Signer(ck, cs)
    )
    query = query_of(request)
    forged = base64.b64encode(b"\0" * 32).decode()
    tampered = [(k, forged if k == "oauth_signature" else v) for k, v in query]
    auth_error(
        await http.send(with_query(request, tampered)),
        "Invalid signature - provided signature does not match.",
    )
    more = [(k, "100" if k == "per_page" else v) for k, v in query]  # a changed parameter
    auth_error(
        await http.send(with_query(request, more)),
        "Invalid signature - provided signature does not match.",
    )
    wrong_secret = await http.get(ORDERS, auth=OAuth1Signer(ck, "cs_" + "0" * 40))
    auth_error(wrong_secret, "Invalid signature - provided signature does not match.")
    form = http.build_request("POST", WEBHOOKS, data={"topic": "order.created"})
    form_signed = signed(form, OAuth1Signer(ck, cs))
    other_body = httpx.Request(
        "POST",
        form_signed.url,
        data={"topic": "order.deleted", "delivery_url": "http://127.0.0.1:9/hook"},
    )
    auth_error(
        await http.send(other_body), "Invalid signature - provided signature does not match."
    )
    method = [(k, "PLAINTEXT" if k == "oauth_signature_method" else v) for k, v in query]
    auth_error(
        await http.send(with_query(request, method)),
        "Invalid signature - signature method is invalid.",
    )


@pytest.mark.parametrize("offset", [-16 * 60, 16 * 60])
async def test_emulator_refuses_a_timestamp_outside_15_minutes(
    http: httpx.AsyncClient, offset: int
) -> None:
    ck, cs = await new_key(http)
    skewed = OAuth1Signer(ck, cs, clock=lambda: time.time() + offset)
    auth_error(await http.get(ORDERS, auth=skewed), "Invalid timestamp.")
    within = OAuth1Signer(ck, cs, clock=lambda: time.time() + offset * 14 / 16)
    assert (await http.get(ORDERS, auth=within)).status_code == 200


async def test_emulator_refuses_a_reused_nonce(http: httpx.AsyncClient) -> None:
    ck, cs = await new_key(http)
    request = signed(http.build_request("GET", STATUS), OAuth1Signer(ck, cs))
    first = await http.send(request)
    assert first.status_code == 200, first.text
    replay = await http.send(request)
    auth_error(replay, "Invalid nonce - nonce has already been used.")
    other_key, other_secret = await new_key(http)  # nonces are remembered per key
    nonce = dict(query_of(request))["oauth_nonce"]
    query = [(k, v) for k, v in query_of(request) if not k.startswith("oauth_")]
    oauth = [
        ("oauth_consumer_key", other_key),
        ("oauth_nonce", nonce),
        ("oauth_signature_method", "HMAC-SHA256"),
        ("oauth_timestamp", str(int(time.time()))),
    ]
    text = signature_base_string("GET", request.url, [*query, *oauth])
    reused_elsewhere = with_query(
        request, [*query, *oauth, ("oauth_signature", sign(text, other_secret))]
    )
    assert (await http.send(reused_elsewhere)).status_code == 200


async def test_emulator_refuses_basic_and_query_keys_over_http(
    http: httpx.AsyncClient, https: httpx.AsyncClient
) -> None:
    ck, cs = await new_key(http)
    denied = {
        "code": "woocommerce_rest_cannot_view",
        "message": "Sorry, you cannot list resources.",
        "data": {"status": 401},
    }
    basic = await http.get(ORDERS, auth=(ck, cs))
    assert basic.status_code == 401
    assert basic.json() == denied
    query = await http.get(ORDERS, params={"consumer_key": ck, "consumer_secret": cs})
    assert query.status_code == 401
    assert query.json() == denied
    write = await http.post(
        WEBHOOKS, auth=(ck, cs), json={"topic": "order.created", "delivery_url": "x"}
    )
    assert write.status_code == 401
    assert write.json()["code"] == "woocommerce_rest_cannot_create"
    # The same keys work over https, as Basic and (WooCommerce's fallback) as OAuth 1.0a.
    assert (await https.get(ORDERS, auth=(ck, cs))).status_code == 200
    assert (await https.get(ORDERS, auth=OAuth1Signer(ck, cs))).status_code == 200


async def test_emulator_oauth_parameter_and_key_errors(http: httpx.AsyncClient) -> None:
    ck, cs = await new_key(http)
    request = signed(http.build_request("GET", ORDERS), OAuth1Signer(ck, cs))
    query = query_of(request)
    no_nonce = await http.send(
        with_query(request, [(k, v) for k, v in query if k != "oauth_nonce"])
    )
    assert no_nonce.status_code == 401
    assert no_nonce.json() == {
        "code": "woocommerce_rest_authentication_missing_parameter",
        "message": "Missing OAuth parameter oauth_nonce",
        "data": {"status": 401},
    }
    only_key = await http.get(ORDERS, params={"oauth_consumer_key": ck})
    assert only_key.status_code == 401
    assert only_key.json()["message"] == (
        "Missing OAuth parameters oauth_timestamp, oauth_nonce, oauth_signature, "
        "oauth_signature_method"
    )
    unknown = await http.get(ORDERS, auth=OAuth1Signer("ck_" + "f" * 40, cs))
    auth_error(unknown, "Consumer key is invalid.")
    other_ck, other_cs = await new_key(http, store="other")  # a key of another store
    auth_error(
        await http.get(ORDERS, auth=OAuth1Signer(other_ck, other_cs)), "Consumer key is invalid."
    )
    await http.post("/woocommerce/_admin/revoke")
    auth_error(await http.get(ORDERS, auth=OAuth1Signer(ck, cs)), "Consumer key is invalid.")


async def test_emulator_checks_permissions_after_oauth(http: httpx.AsyncClient) -> None:
    ck, cs = await new_key(http, permissions="read")
    assert (await http.get(ORDERS, auth=OAuth1Signer(ck, cs))).status_code == 200
    write = await http.post(
        WEBHOOKS,
        json={"topic": "order.created", "delivery_url": "http://127.0.0.1:9/hook"},
        auth=OAuth1Signer(ck, cs),
    )
    auth_error(write, "The API key provided does not have write permissions.")


# -- the official SDK --------------------------------------------------------------------------


def test_emulator_accepts_requests_signed_by_the_official_sdk(live_server: str) -> None:
    """wc-api-python signs with OAuth 1.0a whenever the store URL is not https."""
    from woocommerce import API

    store = f"{live_server}/_emulators/woocommerce/stores/sdk"
    keys = httpx.post(
        f"{live_server}/_emulators/woocommerce/_admin/keys", json={"store": "sdk"}, timeout=15
    ).json()
    api = API(
        url=store,
        consumer_key=keys["consumer_key"],
        consumer_secret=keys["consumer_secret"],
        version="wc/v3",
        timeout=15,
    )
    status = api.get("system_status")
    assert status.status_code == 200, status.text
    assert "oauth_signature=" in status.request.url
    assert "authorization" not in {name.lower() for name in status.request.headers}
    orders = api.get("orders", params={"per_page": 3, "orderby": "id", "order": "asc"})
    assert orders.status_code == 200, orders.text
    assert [o["id"] for o in orders.json()] == [1, 2, 3]
    wrong = API(
        url=store,
        consumer_key=keys["consumer_key"],
        consumer_secret="cs_" + "0" * 40,
        version="wc/v3",
        timeout=15,
    ).get("system_status")
    assert wrong.status_code == 401
    assert wrong.json()["message"] == "Invalid signature - provided signature does not match."
    basic = httpx.get(
        f"{store}/wp-json/wc/v3/system_status",
        auth=(keys["consumer_key"], keys["consumer_secret"]),
        timeout=15,
    )
    assert basic.status_code == 401
    assert basic.json()["code"] == "woocommerce_rest_cannot_view"
