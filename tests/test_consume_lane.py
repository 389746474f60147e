"""The consume lane (``core.lanes.RouteLane`` serving ``app.LANES``) answers exactly as the
documented ``POST /api/cross-app/credits/consume``: the same requests — made, replayed, the key
reused with another amount, too few credits, malformed and invalid bodies, no, bad or forged
credentials, an app token without ``credits:consume``, from an unregistered origin or naming
another organization, a member's API key, a session with and without its CSRF token, the
database down, an unexpected error — sent through the app (the lane answers them itself, the
app behind it refuses to) and through the same app without the lane (the FastAPI route) give
the same status, headers, body, metrics and log events."""

from __future__ import annotations

import base64
import json
from typing import Any

import psycopg
import pytest

from sellerhub.app import LANES
from sellerhub.billing.credits import service
from sellerhub.billing.credits.endpoints import consume
from sellerhub.identity.organizations.models import Role
from sellerhub.identity.sessions.cookies import ACCESS_COOKIE, CSRF_COOKIE
from sellerhub.runtime import Runtime
from tests import test_cross_app as cross_app
from tests.conftest import make_tenant
from tests.lanes import Answer, assert_edges_answered, lane_app, lane_client, send
from tests.lanes import as_json as _json
from tests.test_credits_api import CONSUME, ORG, ads_token, fund
from tests.test_cross_app import ORIGIN, World, app_tokens, bearer, sign_in

world = cross_app.world  # fixtures
_fresh_registry = cross_app._fresh_registry

ELSEWHERE = "00000000-0000-4000-8000-000000000000"  # an organization no token names


def _consume(key: str, amount: int = 1, **extra: Any) -> bytes:
    return _json({"amount": amount, "service": "ocr", "idempotency_key": key, **extra})


def _forged_app_token() -> str:
    """Shaped as an app token (azp = aud, org), signed by no one."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    claims = {"azp": "adsight", "aud": "adsight", "org": ELSEWHERE, "sub": ELSEWHERE}
    return f"{part({'alg': 'EdDSA', 'typ': 'JWT'})}.{part(claims)}.{'A' * 86}"


def test_the_lane_serves_the_consume_route() -> None:
    assert LANES[("POST", CONSUME)] is consume


def _cases(runtime: Runtime) -> list[dict[str, Any]]:
    made = _consume("k-made", 3, metadata={"page": 4})
    return [
        {"name": "made", "content": made},
        {"name": "replayed", "content": made},
        {"name": "key reused", "content": _consume("k-made", 4, metadata={"page": 4})},
        {"name": "insufficient", "content": _consume("k-big", 100)},
        {"name": "malformed json", "content": b'{"amount": 1, "service": "ocr", '},
        {"name": "missing fields", "content": _json({"amount": 1})},
        {"name": "amount 0", "content": _consume("k-0", 0)},
        {"name": "negative amount", "content": _consume("k-neg", -1)},
        {"name": "too-large metadata", "content": _consume("k-md", metadata={"x": "y" * 5000})},
        {
            "name": "service too long",
            "content": _json({"amount": 1, "service": "s" * 65, "idempotency_key": "k-s"}),
        },
        {"name": "unknown field", "content": _consume("k-x", colour="red")},
        {"name": "not an object", "content": b"[1, 2]"},
        {"name": "empty body", "content": b""},
        {
            "name": "too large",
            "content": b'{"pad": "' + b"x" * runtime.settings.max_body_bytes + b'"}',
        },
        {
            "name": "text/plain",
            "content": _consume("k-text"),
            "headers": {"Content-Type": "text/plain"},
            "keep_auth": True,
        },
        {"name": "no credentials", "content": made, "anonymous": True},
        {"name": "bad bearer", "content": made, "headers": {"Authorization": "Bearer not-a-token"}},
        {
            "name": "forged bearer",
            "content": made,
            "headers": {"Authorization": "Bearer aaa.bbb.ccc"},
        },
        {
            "name": "forged app token",
            "content": made,
            "headers": {**bearer(_forged_app_token()), "Origin": "https://ads.example.com"},
        },
        {"name": "token without credits:consume", "content": made, "token": "read only"},
        {"name": "app without credits:consume", "content": made, "token": "reimb"},
        {
            "name": "unregistered origin",
            "content": _consume("k-o"),
            "headers": {"Origin": "https://evil.test"},
            "keep_auth": True,
        },
        {
            "name": "another organization",
            "content": _consume("k-org"),
            "headers": {ORG: ELSEWHERE},
            "keep_auth": True,
        },
        {"name": "member api key", "content": _consume("k-m", 2), "token": "member"},
        {
            "name": "member api key naming another organization",
            "content": _consume("k-m2"),
            "token": "member",
            "extra": {ORG: ELSEWHERE},
        },
        {"name": "owner api key", "content": _consume("k-owner"), "token": "owner"},
        {"name": "session", "content": _consume("k-session"), "token": "session"},
        {"name": "session without its csrf token", "content": made, "token": "no csrf"},
        {"name": "trailing slash", "content": made, "path": CONSUME + "/"},
    ]


async def test_the_lane_answers_as_the_documented_route(
    runtime: Runtime, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = _cases(runtime)
    answers: dict[bool, list[Answer]] = {}
    for lane in (True, False):
        async with lane_client(lane_app(runtime, lane=lane)) as client:
            tenant = await make_tenant(runtime, f"Consume {lane}")
            await fund(runtime, tenant.organization.id, 10)
            member = await make_tenant(runtime, f"Members {lane}", role=Role.MEMBER)
            await fund(runtime, member.organization.id, 5)
            issued = await sign_in(runtime, tenant)
            users = World(
                world.admin, world.admin_headers, bearer(issued.access_token), world.reimb,
                world.ads,
            )  # fmt: skip
            ads = await ads_token(client, users)
            reimb = await app_tokens(client, users, "amzreimb")
            cookie = f"{ACCESS_COOKIE}={issued.access_token}; {CSRF_COOKIE}={issued.csrf_token}"
            tokens = {
                "read only": await ads_token(client, users, "credits:read"),
                "reimb": {**bearer(reimb["access_token"]), "Origin": ORIGIN},
                "member": member.headers,
                "owner": tenant.headers,
                "session": {"Cookie": cookie, "X-CSRF-Token": issued.csrf_token},
                "no csrf": {"Cookie": cookie},
            }
            answers[lane] = []
            for i, case in enumerate(cases):
                if "token" in case:
                    case = {**case, "headers": {**tokens[case["token"]], **case.get("extra", {})}}
                if case.get("keep_auth"):
                    case = {**case, "headers": {**ads, **case["headers"]}}
                answers[lane].append(await send(client, CONSUME, ads, case, f"req-{i:04d}-same"))
            # The database down, then an error nothing handles.
            with monkeypatch.context() as patched:

                async def down(*args: object, **kwargs: object) -> Any:
                    raise psycopg.OperationalError("connection refused")

                patched.setattr(service, "consume", down)
                case = {"content": _consume("k-down")}
                answers[lane].append(await send(client, CONSUME, ads, case, "req-down-same"))

                async def broken(*args: object, **kwargs: object) -> Any:
                    raise RuntimeError("a bug")

                patched.setattr(service, "consume", broken)
                case = {"content": _consume("k-bug")}
                answers[lane].append(await send(client, CONSUME, ads, case, "req-bug-same"))

    names = [c["name"] for c in cases] + ["database down", "unexpected error"]
    for name, through_lane, through_route in zip(names, answers[True], answers[False], strict=True):
        assert through_lane == through_route, name
        route = CONSUME if name not in ("too large", "trailing slash") else "unmatched"
        assert through_lane.counted == {("POST", route, str(through_lane.status)): 1}, name

    by_name = dict(zip(names, answers[True], strict=True))
    expected = {
        "made": 201,
        "replayed": 200,
        "key reused": 409,
        "insufficient": 402,
        "malformed json": 400,
        "missing fields": 422,
        "amount 0": 422,
        "negative amount": 422,
        "too-large metadata": 422,
        "service too long": 422,
        "unknown field": 422,
        "not an object": 422,
        "empty body": 400,
        "too large": 413,
        "no credentials": 401,
        "bad bearer": 401,
        "forged bearer": 401,
        "forged app token": 401,
        "token without credits:consume": 403,
        "app without credits:consume": 403,
        "unregistered origin": 403,
        "another organization": 403,
        "member api key": 201,
        "member api key naming another organization": 403,
        "owner api key": 201,
        "session": 201,
        "session without its csrf token": 403,
        "database down": 503,
        "unexpected error": 500,
    }
    for name, status in expected.items():
        assert by_name[name].status == status, (name, by_name[name])
    codes = {
        "key reused": "idempotency-key-reused",
        "insufficient": "insufficient-credits",
        "missing fields": "validation-failed",
        "token without credits:consume": "app-permission-missing",
        "app without credits:consume": "app-permission-missing",
        "unregistered origin": "origin-not-allowed",
        "another organization": "organization-not-granted",
        "member api key naming another organization": "organization-not-granted",
        "no credentials": "unauthenticated",
    }
    for name, code in codes.items():
        assert by_name[name].body["code"] == code, (name, by_name[name])
    assert by_name["made"].body["balance_after"] == 7 and by_name["made"].body["app_id"] == (
        "adsight"
    )
    assert by_name["replayed"].body == by_name["made"].body
    assert by_name["insufficient"].body["balance"] == 7
    assert by_name["member api key"].body["balance_after"] == 3
    assert by_name["member api key"].body["app_id"] is None
    assert_edges_answered(by_name, made="made", problem="insufficient")
