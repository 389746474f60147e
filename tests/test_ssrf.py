"""The SSRF guard: store URLs normalised or refused with a precise 422 (never a 500, for any
text), "globally routable" as the address rule (embedded IPv4 included), and the production
provider client connecting only to the addresses it checked (no DNS rebinding), with the Host
header, SNI and certificate verification on the host name."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable, Iterable
from typing import Any

import httpcore
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sellerhub.config import Environment, Settings, get_settings
from sellerhub.core.http import AddressNotAllowed, PinnedTransport, provider_client
from sellerhub.core.ssrf import UnsafeUrl, check_url, globally_routable, normalize_store_url
from tests.conftest import Tenant

PUBLIC = "93.184.215.14"
PUBLIC6 = "2606:4700::1111"

# -- normalisation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("Shop.Example.com/store/", "https://shop.example.com/store"),
        ("HTTPS://SHOP.example:443/", "https://shop.example"),
        ("http://127.0.0.1:8000/s/demo?x=1#top", "http://127.0.0.1:8000/s/demo"),
        ("shop.example/path?next=http://elsewhere", "https://shop.example/path"),
        ("https://[2606:4700:0::1111]/shop", "https://[2606:4700::1111]/shop"),
        ("[::1]:8443", "https://[::1]:8443"),
        ("https://münchen.example/Straße", "https://xn--mnchen-3ya.example/Stra%C3%9Fe"),
        ("https://faß.example", "https://xn--fa-hia.example"),  # IDNA 2008: not fass.example
        ("https://shop\uff0eexample.", "https://shop.example"),  # full-width dot, final dot
        ("https://xn--strae-oqa.example", "https://xn--strae-oqa.example"),
        ("https://shop.example:8080/%zz", "https://shop.example:8080/%25zz"),
        ("https://shop.example:", "https://shop.example"),
    ],
)
def test_store_urls_are_normalized(raw: str, normalized: str) -> None:
    assert normalize_store_url(raw) == normalized
    assert normalize_store_url(normalized) == normalized


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty"),
        ("ftp://shop.example", "http"),
        ("https://user:pw@shop.example", "credentials"),
        ("store:abc", "port must be a number from 1 to 65535"),
        ("https://shop.example:0", "port must be a number"),
        ("https://shop.example:65536", "port must be a number"),
        ("https://shop.example:+443", "port must be a number"),
        ("https://shop.example:٤٤٣", "port must be a number"),  # Arabic-Indic digits
        ("https://[::1", "closing ']'"),
        ("https://[::1]x", "after its IPv6 address"),
        ("https://[not-an-ip]", "invalid IPv6"),
        ("https://[1.2.3.4]", "invalid IPv6"),
        ("https://[fe80::1%25eth0]", "network interface"),
        ("https://2001:db8::1/shop", "brackets"),
        ("https://a..b", "not a valid domain name"),
        ("xn--a.com", "not a valid domain name"),
        ("https://a_b.example", "not a valid domain name"),
        ("https://-shop.example", "not a valid domain name"),
        ("https://" + "a" * 64 + ".example", "not a valid domain name"),
        ("https://☃.example", "not a valid domain name"),
        ("https://shop.example]", "not a valid domain name"),
        ("https://127.1", "not a valid IPv4 address"),
        ("https://0x7f.0.0.1", "not a valid IPv4 address"),
        ("https://shop\u2028.example", "spaces or control characters"),
        ("\u2028", "empty"),  # stripped like other surrounding white space
        ("https://shop .example", "spaces or control characters"),
        ("https://shop.example/\x00", "spaces or control characters"),
        ("https://sh\ud800op.example", "spaces or control characters"),  # a lone surrogate
        ("https://shop\uff03.example", "not a valid domain name"),  # NFKC '#'
        ("https://", "no host"),
        ("https://:8443/shop", "no host"),
        ("https://shop.example/" + "a" * 170, "at most 190 characters"),  # too long to be saved
        ("https://shop.example/" + "é" * 30, "at most 190 characters"),  # once percent-encoded
    ],
)
def test_bad_store_urls_are_refused_naming_the_rule(raw: str, message: str) -> None:
    with pytest.raises(UnsafeUrl, match=message) as caught:
        normalize_store_url(raw)
    assert "store_url" in caught.value.detail


_URLISH = st.builds(
    lambda scheme, host, port, path: f"{scheme}{host}{port}{path}",
    st.sampled_from(["", "https://", "http://", "HTTP://", "ftp://", "//", "x:"]),
    st.one_of(
        st.text(max_size=30),
        st.from_regex(r"[a-zA-Z0-9.\-_]{0,20}", fullmatch=True),
        st.ip_addresses(v=4).map(str),
        st.ip_addresses(v=6).map(lambda ip: f"[{ip}]"),
        st.ip_addresses(v=6).map(str),
        st.text(alphabet="[]:%.@0123456789abcdefxn-\u00dfü\uff0e", max_size=25),
    ),
    st.one_of(st.just(""), st.text(max_size=8).map(lambda p: f":{p}"), st.integers().map(str)),
    st.one_of(st.just(""), st.text(max_size=20).map(lambda p: f"/{p}")),
)


@given(st.one_of(st.text(), _URLISH))
def test_any_text_is_normalized_or_refused(raw: str) -> None:
    """Never another exception; what comes out is stable and parses as the same URL in httpx."""
    try:
        normalized = normalize_store_url(raw)
    except UnsafeUrl:
        return
    assert normalize_store_url(normalized) == normalized
    url = httpx.URL(normalized + "/wp-json/wc/v3/system_status")
    assert url.scheme in ("http", "https")
    host = normalized.split("://", 1)[1].split("/", 1)[0]
    if not host.startswith("["):
        host = host.rsplit(":", 1)[0] if ":" in host else host
        assert url.raw_host.decode("ascii") == host
    else:
        assert url.raw_host.decode("ascii") == host[1 : host.index("]")]


# -- the address rule ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        (PUBLIC, True),
        (PUBLIC6, True),
        ("::ffff:93.184.215.14", True),  # IPv4-mapped: the embedded address decides
        ("2002:5db8:d70e::1", True),  # 6to4 of a public address
        ("64:ff9b::5db8:d70e", True),  # NAT64 of a public address
        ("100.64.0.1", False),  # shared address space (cloud metadata lives here)
        ("100.100.100.200", False),
        ("169.254.169.254", False),
        ("10.1.2.3", False),
        ("127.0.0.1", False),
        ("0.0.0.0", False),  # noqa: S104 - an address under test, nothing binds
        ("224.0.0.1", False),  # multicast: is_global says yes in Python 3.11
        ("240.0.0.1", False),
        ("::1", False),
        ("::", False),
        ("fd00::1", False),
        ("fe80::1", False),
        ("fe80::1%eth0", False),
        ("fec0::1", False),  # site-local: is_global says yes in Python 3.11
        ("ff0e::1", False),
        ("2001:db8::1", False),
        ("2001::1", False),  # Teredo
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("::127.0.0.1", False),  # IPv4-compatible (deprecated): is_global says yes
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1: is_global says yes
        ("2002:6440:1::1", False),  # 6to4 of 100.64.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("64:ff9b:1::5db8:d70e", False),  # local-use NAT64 prefix
        ("not-an-address", False),
    ],
)
def test_only_globally_routable_addresses_are_allowed(address: str, allowed: bool) -> None:
    assert globally_routable(address) is allowed


# -- resolution --------------------------------------------------------------------------------

_real_getaddrinfo = socket.getaddrinfo


class FakeDns:
    """``socket.getaddrinfo`` answering ``answers[host]`` (one list per call, the last one
    repeated); literals resolve as themselves, other names do not resolve."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        self.calls.append(name)
        if name not in self.answers:
            return _real_getaddrinfo(
                name, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
            )
        queue = self.answers[name]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, int(port or 0), 0, 0) if ":" in a else (a, int(port or 0)),
            )
            for a in addresses
        ]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, list[list[str]]]], FakeDns]:
    def install(answers: dict[str, list[list[str]]]) -> FakeDns:
        fake = FakeDns(answers)
        monkeypatch.setattr(socket, "getaddrinfo", fake)
        return fake

    return install


async def test_check_url_requires_every_address_to_be_global(dns: Any) -> None:
    dns(
        {
            "shop.example": [[PUBLIC, PUBLIC6]],
            "metadata.example": [["100.100.100.200"]],
            "mixed.example": [[PUBLIC, "10.0.0.7"]],
            "mapped.example": [["::ffff:169.254.169.254"]],
        }
    )
    assert await check_url("https://shop.example", allow_local=False) == [PUBLIC, PUBLIC6]
    assert await check_url(f"https://[{PUBLIC6}]:8443/shop", allow_local=False) == [PUBLIC6]
    for url in (
        "https://metadata.example",
        "https://mixed.example",
        "https://mapped.example",
        "https://100.64.1.2",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00::1]",
        "https://[fe80::1]",
    ):
        with pytest.raises(UnsafeUrl, match="not globally routable"):
            await check_url(url, allow_local=False)
    with pytest.raises(UnsafeUrl, match="does not resolve"):
        await check_url("https://nowhere.example", allow_local=False)
    with pytest.raises(UnsafeUrl, match="https"):
        await check_url("http://shop.example", allow_local=False)
    with pytest.raises(UnsafeUrl, match="port"):
        await check_url("https://shop.example:99999", allow_local=False)
    # development: plain http and local addresses, for the emulators
    assert await check_url("http://127.0.0.1:8000/store", allow_local=True) == ["127.0.0.1"]
    assert await check_url("http://[::1]:8000/store", allow_local=True) == ["::1"]


# -- the pinned provider client -----------------------------------------------------------------


class Wire:
    def __init__(self) -> None:
        self.connects: list[tuple[str, int]] = []
        self.sni: list[str | None] = []
        self.contexts: list[ssl.SSLContext] = []
        self.written = b""


class RecordingStream(httpcore.AsyncNetworkStream):
    def __init__(self, wire: Wire, replies: list[bytes]) -> None:
        self.wire, self.replies = wire, replies

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return self.replies.pop(0) if self.replies else b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        self.wire.written += buffer

    async def aclose(self) -> None:
        return None

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        self.wire.sni.append(server_hostname)
        self.wire.contexts.append(ssl_context)
        return self

    def get_extra_info(self, info: str) -> Any:
        return None


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """Stands in for the network under the pinning backend: records where it is asked to
    connect and answers 200 on every connection (refusing ``down`` addresses)."""

    def __init__(self, wire: Wire, down: Iterable[str] = ()) -> None:
        self.wire, self.down = wire, set(down)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.wire.connects.append((host, port))
        if host in self.down:
            raise httpcore.ConnectError("refused")
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        return RecordingStream(self.wire, [ok, ok, ok])

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def test_the_checked_address_is_the_one_connected_to(dns: Any) -> None:
    resolver = dns({"shop.example": [[PUBLIC], ["127.0.0.1"]]})  # rebinds after one answer
    wire = Wire()
    async with provider_client(allow_local=False, backend=RecordingBackend(wire)) as http:
        first = await http.get("https://shop.example/wp-json/wc/v3/system_status")
        second = await http.get("https://shop.example/wp-json/wc/v3/orders")
    assert first.status_code == second.status_code == 200
    assert wire.connects == [(PUBLIC, 443)]  # one connection, to the checked address, kept
    assert resolver.calls == ["shop.example"]
    assert wire.sni == ["shop.example"]  # SNI and certificate check on the name
    (context,) = wire.contexts
    assert context.check_hostname and context.verify_mode is ssl.CERT_REQUIRED
    assert wire.written.count(b"\r\nHost: shop.example\r\n") == 2


async def test_a_host_with_any_private_address_is_never_connected_to(dns: Any) -> None:
    dns({"mixed.example": [[PUBLIC, "10.0.0.7"]], "meta.example": [["100.100.100.200"]]})
    wire = Wire()
    async with provider_client(allow_local=False, backend=RecordingBackend(wire)) as http:
        for url in (
            "https://mixed.example/",
            "https://meta.example/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[64:ff9b::a9fe:a9fe]/",
        ):
            with pytest.raises(AddressNotAllowed, match="not globally routable"):
                await http.get(url)
    assert wire.connects == []


async def test_the_operators_provider_hosts_are_not_checked_but_stores_are(dns: Any) -> None:
    """A provider URL the operator configured (an egress proxy, a private mirror, the bench's
    emulators) is the operator's choice; a store on the same private address is a user's."""
    dns({"shop.example": [["10.1.2.3"]]})
    wire = Wire()
    trusted = Settings(
        env=Environment.PRODUCTION,
        fedex_api_url="https://fedex-mirror.internal:8443",
        _env_file=None,
    ).operator_hosts()
    assert "fedex-mirror.internal" in trusted
    async with provider_client(
        allow_local=False, backend=RecordingBackend(wire), trusted=trusted
    ) as http:
        answer = await http.get("https://fedex-mirror.internal:8443/oauth/token")
        with pytest.raises(AddressNotAllowed):
            await http.get("https://shop.example/wp-json/wc/v3/orders")
    assert answer.status_code == 200
    assert wire.connects == [("fedex-mirror.internal", 8443)]


async def test_ipv6_stores_and_address_fallback(dns: Any) -> None:
    dead = "2606:4700::2222"
    dns({"dual.example": [[dead, PUBLIC]]})
    wire = Wire()
    backend = RecordingBackend(wire, down={dead})
    async with provider_client(allow_local=False, backend=backend) as http:
        assert (await http.get(f"https://[{PUBLIC6}]:8443/shop")).status_code == 200
        assert (await http.get("https://dual.example/")).status_code == 200
    assert wire.connects == [(PUBLIC6, 8443), (dead, 443), (PUBLIC, 443)]
    assert wire.sni == [PUBLIC6, "dual.example"]


def _drain(server: socket.socket, accepted: list[socket.socket]) -> None:
    """Accept what the listener has pending, recording it."""
    while True:
        try:
            conn, _ = server.accept()
        except BlockingIOError:
            return
        accepted.append(conn)


async def test_dns_rebinding_after_the_check_does_not_reach_the_private_address(
    dns: Any,
) -> None:
    """The resolver answers a public address to the check and 127.0.0.1 afterwards (a real
    listener there): the production client refuses, where a plain client would connect."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.setblocking(False)
    port = server.getsockname()[1]
    accepted: list[socket.socket] = []
    try:
        url = f"https://rebind.example:{port}/wp-json/wc/v3/system_status"
        dns({"rebind.example": [[PUBLIC], ["127.0.0.1"]]})
        assert await check_url(url, allow_local=False) == [PUBLIC]
        async with provider_client(allow_local=False) as http:
            with pytest.raises(AddressNotAllowed):
                await http.get(url)
        await asyncio.sleep(0.05)
        _drain(server, accepted)
        assert accepted == []
        # The same sequence through a plain client lands on the private listener.
        dns({"rebind.example": [[PUBLIC], ["127.0.0.1"]]})
        await check_url(url, allow_local=False)
        async with provider_client(allow_local=True) as plain:
            with pytest.raises(httpx.HTTPError):
                await plain.get(url, timeout=0.5)
        _drain(server, accepted)
        assert len(accepted) == 1
    finally:
        for conn in accepted:
            conn.close()
        server.close()


async def test_the_shared_client_is_pinned_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Runtime`` builds ``provider_client()`` without arguments: the process's settings
    decide."""
    get_settings.cache_clear()
    try:
        monkeypatch.setenv("SELLERHUB_ENV", "production")
        async with provider_client() as production:
            assert isinstance(production._transport, PinnedTransport)
        get_settings.cache_clear()
        monkeypatch.setenv("SELLERHUB_ENV", "development")
        async with provider_client() as development:
            assert not isinstance(development._transport, PinnedTransport)
    finally:
        get_settings.cache_clear()


# -- through the HTTP API -----------------------------------------------------------------------

CONNECT = "/api/v1/auth/woocommerce/connect"
MANUAL = "/integrations/woocommerce/credentials"
KEYS = {"consumer_key": "ck_" + "a" * 40, "consumer_secret": "cs_" + "b" * 40}


def _problem(response: httpx.Response, status: int, code: str, detail: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code and detail in body["detail"], body


@pytest.mark.parametrize(
    ("store_url", "detail"),
    [
        ("https://[::1", "closing ']'"),
        ("store:abc", "port must be a number from 1 to 65535"),
        ("https://shop.example:99999", "port must be a number from 1 to 65535"),
        ("https://a..b", "not a valid domain name"),
        ("xn--a.com", "not a valid domain name"),
        ("https://shop\u2028.example", "spaces or control characters"),
        ("https://2001:db8::1/", "brackets"),
        ("https://[fe80::1%25eth0]/", "network interface"),
        ("https://shop.example/" + "a" * 170, "at most 190 characters"),
    ],
)
async def test_bad_store_urls_answer_a_precise_422(
    client: httpx.AsyncClient, tenant: Tenant, store_url: str, detail: str
) -> None:
    connect = await client.post(CONNECT, json={"store_url": store_url}, headers=tenant.headers)
    _problem(connect, 422, "unsafe-url", detail)
    manual = await client.post(
        MANUAL, json={"store_url": store_url, **KEYS}, headers=tenant.headers
    )
    _problem(manual, 422, "unsafe-url", detail)


@pytest.fixture
def production(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "env", Environment.PRODUCTION)


@pytest.mark.usefixtures("production")
async def test_production_refuses_addresses_that_are_not_global(
    client: httpx.AsyncClient, tenant: Tenant, dns: Any
) -> None:
    dns({"metadata.example": [["100.100.100.200"]], "intranet.example": [["10.0.0.7"]]})
    for store_url in (
        "https://100.64.1.2/shop",
        "https://metadata.example",
        "https://intranet.example",
        "https://[::1]:8443",
        "https://[::ffff:169.254.169.254]",
    ):
        connect = await client.post(CONNECT, json={"store_url": store_url}, headers=tenant.headers)
        _problem(connect, 422, "unsafe-url", "not globally routable")
        manual = await client.post(
            MANUAL, json={"store_url": store_url, **KEYS}, headers=tenant.headers
        )
        _problem(manual, 422, "unsafe-url", "not globally routable")
    plain = await client.post(
        CONNECT, json={"store_url": "http://shop.example"}, headers=tenant.headers
    )
    _problem(plain, 422, "unsafe-url", "https")


@pytest.mark.usefixtures("production")
async def test_an_ipv6_store_can_be_connected(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        CONNECT, json={"store_url": f"https://[{PUBLIC6}]:8443/shop/"}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    auth_url = response.json()["auth_url"]
    assert auth_url.startswith(f"https://[{PUBLIC6}]:8443/shop/wc-auth/v1/authorize?")
    assert httpx.URL(auth_url).host == PUBLIC6
