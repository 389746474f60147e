"""The reservation lane (``core.lanes.RouteLane`` serving ``app.LANES``) answers exactly as the
documented route: the same requests — made, replayed, the key reused, short of stock, an
unknown SKU, malformed and invalid bodies, no or bad credentials, a session without its CSRF
token, a member, too large, another content type, the database down, an unexpected error —
sent through the app (the lane answers them itself, the app behind it refuses to) and through
the same app without the lane (the FastAPI route) give the same status, headers, body, metrics
and log events."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from sellerhub.app import LANES
from sellerhub.commerce.inventory import service
from sellerhub.commerce.inventory.endpoints import RESERVATIONS_PATH, serve_reservation
from sellerhub.identity.organizations.models import Role
from sellerhub.identity.sessions.cookies import ACCESS_COOKIE, CSRF_COOKIE
from sellerhub.runtime import Runtime
from tests.conftest import Tenant, make_tenant
from tests.lanes import Answer, assert_edges_answered, lane_app, lane_client, send
from tests.lanes import as_json as _json
from tests.test_cross_app import sign_in
from tests.test_reservations import _body, _seed


def test_the_lane_serves_the_reservation_route() -> None:
    assert LANES[("POST", RESERVATIONS_PATH)] is serve_reservation


async def _send(
    client: httpx.AsyncClient, tenant: Tenant, case: dict[str, Any], request_id: str
) -> Answer:
    return await send(client, RESERVATIONS_PATH, tenant.headers, case, request_id)


def _cases(runtime: Runtime, member: Tenant) -> list[dict[str, Any]]:
    made = _body("k-made", ("A", "main", 2))
    return [
        {"name": "made", "content": _json(made)},
        {"name": "replayed", "content": _json(made)},
        {"name": "key reused", "content": _json(_body("k-made", ("A", "main", 1)))},
        {"name": "short", "content": _json(_body("k-short", ("B", "main", 5)))},
        {
            "name": "two lines, one short",
            "content": _json(_body("k-2", ("A", "main", 1), ("B", "main", 2))),
        },
        {"name": "unknown sku", "content": _json(_body("k-nope", ("NOPE", "main", 1)))},
        {"name": "unknown location", "content": _json(_body("k-loc", ("A", "nowhere", 1)))},
        {
            "name": "with expiry",
            "content": _json(_body("k-exp", ("A", "main", 1), expires_in_seconds=60)),
        },
        {"name": "malformed json", "content": b'{"idempotency_key": "k-bad", "lines": ['},
        {"name": "not an object", "content": b"[1, 2]"},
        {"name": "empty body", "content": b""},
        {"name": "no lines", "content": _json({"idempotency_key": "k-none", "lines": []})},
        {"name": "negative quantity", "content": _json(_body("k-neg", ("A", "main", -1)))},
        {"name": "unknown field", "content": _json(_body("k-x", ("A", "main", 1), colour="red"))},
        {
            "name": "repeated line",
            "content": _json(_body("k-rep", ("A", "main", 1), ("A", "main", 1))),
        },
        {"name": "NUL", "content": _json(_body("k-\u0000", ("A", "main", 1)))},
        {"name": "too deep", "content": b'{"lines": ' + b"[" * 100 + b"]" * 100 + b"}"},
        {
            "name": "too large",
            "content": b'{"pad": "' + b"x" * runtime.settings.max_body_bytes + b'"}',
        },
        {
            "name": "text/plain",
            "content": _json(_body("k-text", ("A", "main", 1))),
            "headers": {"Content-Type": "text/plain"},
            "keep_auth": True,
        },
        {"name": "no credentials", "content": _json(made), "anonymous": True},
        {"name": "basic auth", "content": _json(made), "headers": {"Authorization": "Basic eDp5"}},
        {
            "name": "unknown api key",
            "content": _json(made),
            "headers": {"Authorization": "Bearer shk_" + "0" * 40},
        },
        {
            "name": "a forged access token",
            "content": _json(made),
            "headers": {"Authorization": "Bearer aaa.bbb.ccc"},
        },
        {
            "name": "a forged session without csrf",
            "content": _json(made),
            "headers": {"Cookie": "sh_access=aaa.bbb.ccc"},
        },
        {
            "name": "member",
            "content": _json(_body("k-m", ("A", "main", 1))),
            "headers": member.headers,
        },
        {"name": "session", "content": _json(_body("k-s", ("A", "main", 1))), "session": "good"},
        {"name": "session without its csrf token", "content": _json(made), "session": "no csrf"},
        {
            "name": "session with a wrong csrf token",
            "content": _json(made),
            "session": "wrong csrf",
        },
        {
            "name": "unregistered origin",
            "content": _json(_body("k-o", ("A", "main", 1))),
            "headers": {"Origin": "https://elsewhere.example"},
            "keep_auth": True,
        },
        {"name": "trailing slash", "content": _json(made), "path": RESERVATIONS_PATH + "/"},
    ]


async def _seeded(client: httpx.AsyncClient, runtime: Runtime, name: str) -> Tenant:
    tenant = await make_tenant(runtime, name)
    await _seed(client, tenant, {"A": 5, "B": 1})
    return tenant


async def test_the_lane_answers_as_the_documented_route(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = await make_tenant(runtime, "Members", role=Role.MEMBER)
    cases = _cases(runtime, member)
    answers: dict[bool, list[Answer]] = {}
    for lane in (True, False):
        async with lane_client(lane_app(runtime, lane=lane)) as client:
            tenant = await _seeded(client, runtime, f"Lane {lane}")
            issued = await sign_in(runtime, tenant)
            cookie = f"{ACCESS_COOKIE}={issued.access_token}; {CSRF_COOKIE}={issued.csrf_token}"
            sessions = {
                "good": {"Cookie": cookie, "X-CSRF-Token": issued.csrf_token},
                "no csrf": {"Cookie": cookie},
                "wrong csrf": {"Cookie": cookie, "X-CSRF-Token": "x" * len(issued.csrf_token)},
            }
            answers[lane] = []
            for i, case in enumerate(cases):
                if "session" in case:
                    case = {**case, "headers": sessions[case["session"]]}
                if case.get("keep_auth"):
                    case = {**case, "headers": {**tenant.headers, **case["headers"]}}
                answers[lane].append(await _send(client, tenant, case, f"req-{i:04d}-same"))
            # The database down, then an error nothing handles.
            with monkeypatch.context() as patched:

                async def down(*args: object, **kwargs: object) -> Any:
                    raise psycopg.OperationalError("connection refused")

                patched.setattr(service, "reserve_now", down)
                case = {"content": _json(_body("k-down", ("A", "main", 1)))}
                answers[lane].append(await _send(client, tenant, case, "req-down-same"))

                async def broken(*args: object, **kwargs: object) -> Any:
                    raise RuntimeError("a bug")

                patched.setattr(service, "reserve_now", broken)
                case = {"content": _json(_body("k-bug", ("A", "main", 1)))}
                answers[lane].append(await _send(client, tenant, case, "req-bug-same"))

    names = [c["name"] for c in cases] + ["database down", "unexpected error"]
    for name, through_lane, through_route in zip(names, answers[True], answers[False], strict=True):
        assert through_lane == through_route, name
        route = RESERVATIONS_PATH if name not in ("too large", "trailing slash") else "unmatched"
        assert through_lane.counted == {("POST", route, str(through_lane.status)): 1}, name

    by_name = dict(zip(names, answers[True], strict=True))
    expected = {
        "made": 201,
        "replayed": 200,
        "key reused": 409,
        "short": 409,
        "two lines, one short": 409,
        "unknown sku": 404,
        "unknown location": 404,
        "with expiry": 201,
        "malformed json": 400,
        "not an object": 422,
        "empty body": 400,
        "no lines": 422,
        "negative quantity": 422,
        "unknown field": 422,
        "repeated line": 422,
        "too large": 413,
        "no credentials": 401,
        "basic auth": 401,
        "unknown api key": 401,
        "a forged access token": 401,
        "a forged session without csrf": 403,
        "member": 404,  # a member may reserve; its organization has no such SKU
        "session": 201,
        "session without its csrf token": 403,
        "session with a wrong csrf token": 403,
        "database down": 503,
        "unexpected error": 500,
    }
    for name, status in expected.items():
        assert by_name[name].status == status, (name, by_name[name])
    assert_edges_answered(by_name, made="made", problem="short")


async def test_the_lane_keeps_tenants_apart(client: httpx.AsyncClient, runtime: Runtime) -> None:
    """Through the app as served (lane installed): another organization's SKU is not found and
    its stock untouched."""
    owner = await _seeded(client, runtime, "Owner")
    other = await make_tenant(runtime, "Other")
    answer = await client.post(
        RESERVATIONS_PATH, json=_body("k-steal", ("A", "main", 1)), headers=other.headers
    )
    assert answer.status_code == 404, answer.text
    mine = await client.post(
        RESERVATIONS_PATH, json=_body("k-steal", ("A", "main", 5)), headers=owner.headers
    )
    assert mine.status_code == 201, mine.text
