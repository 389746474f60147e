"""The OpenAPI document declares every status code and content type an operation answers
(``core.openapi``); the fuzz run in CI (``tests/fuzz``) checks the answers against it."""

from __future__ import annotations

import importlib
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from sellerhub.app import create_app
from sellerhub.config import Environment, Settings
from sellerhub.core import openapi
from sellerhub.core.crypto import generate_key_entry
from tests.conftest import Tenant

PROBLEM = "application/problem+json"
METHODS = ("get", "put", "post", "delete", "patch")
# Errors in another documented format than problem+json: RFC 6749 token errors, the readiness
# report.
OWN_ERROR_FORMAT = {("/oauth/token", "post", "400"), ("/oauth/token", "post", "401")}
OWN_ERROR_FORMAT |= {("/readyz", "get", "503")}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    settings = Settings(
        env=Environment.TEST,
        database_url="postgresql://nobody@127.0.0.1:1/none",
        encryption_keys=generate_key_entry("doc"),
        emulators=True,
        _env_file=None,
    )
    return create_app(settings).openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_every_route_is_documented_and_no_emulator_is(document: dict[str, Any]) -> None:
    ops = operations(document)
    assert len(ops) >= 60
    assert not [path for path, _, _ in ops if path.startswith("/_emulators")]


def test_every_error_response_is_a_problem(document: dict[str, Any]) -> None:
    missing = []
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            if not status.isdigit() or int(status) < 400:
                continue
            if (path, method, status) in OWN_ERROR_FORMAT:
                assert response["content"]["application/json"]["schema"], (path, status)
                continue
            content = response.get("content", {})
            if content.get(PROBLEM, {}).get("schema") != openapi.PROBLEM_REF:
                missing.append(f"{method.upper()} {path} {status}")
    assert not missing
    assert "HTTPValidationError" not in document["components"]["schemas"]
    problem = document["components"]["schemas"]["ProblemDetails"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}


def test_a_request_body_can_be_malformed_too_large_of_another_type_or_invalid(
    document: dict[str, Any],
) -> None:
    for path, method, operation in operations(document):
        responses = operation["responses"]
        # Any request: the input policy refuses a NUL or a control character in the path.
        assert PROBLEM in responses["400"]["content"], (method, path)
        if "requestBody" in operation:
            assert {"400", "408", "413", "415", "422"} <= set(responses), (method, path)
        elif operation.get("parameters"):
            assert "422" in responses, (method, path)
    token = document["paths"]["/oauth/token"]["post"]["responses"]
    assert set(token["400"]["content"]) == {"application/json", PROBLEM}
    assert set(token["401"]["content"]) == {"application/json"}  # only RFC 6749 errors


def test_authenticated_operations_declare_401_403_and_their_security(
    document: dict[str, Any],
) -> None:
    authenticated = 0
    for path, method, operation in operations(document):
        security = operation.get("security")
        if not security:
            continue
        authenticated += 1
        responses = operation["responses"]
        assert "401" in responses, (method, path)
        assert "WWW-Authenticate" in responses["401"]["headers"], (method, path)
        if {"bearerAuth": []} in security and method != "get":
            assert "403" in responses, (method, path)  # the CSRF check of a session
            assert {"sessionCookie": [], "csrfCookie": [], "csrfToken": []} in security
    assert authenticated >= 40
    schemes = document["components"]["securitySchemes"]
    assert set(schemes) == {
        "bearerAuth",
        "sessionCookie",
        "csrfCookie",
        "csrfToken",
        "appToken",
        "appClient",
    }
    orders = document["paths"]["/api/v1/orders"]["get"]
    assert orders["security"] == [{"bearerAuth": []}, {"sessionCookie": []}]
    assert document["paths"]["/api/cross-app/user"]["get"]["security"] == [{"appToken": []}]
    validate = document["paths"]["/api/cross-app/validate-token"]["post"]
    assert validate["security"] == [{"appClient": []}, {}]
    assert "security" not in document["paths"]["/healthz"]["get"]


def test_role_guarded_operations_declare_403(document: dict[str, Any]) -> None:
    assert "403" in document["paths"]["/api/v1/api-keys"]["post"]["responses"]
    assert "403" in document["paths"]["/api/v1/api-keys/{key_id}"]["delete"]["responses"]
    assert "403" not in document["paths"]["/api/v1/orders"]["get"]["responses"]


def test_an_id_in_the_path_can_be_unknown(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        ids = [
            p
            for p in operation.get("parameters", [])
            if p["in"] == "path" and p["schema"].get("format") == "uuid"
        ]
        if ids and not path.startswith("/webhooks/"):
            assert "404" in operation["responses"], (method, path)


def test_retry_after_and_location_headers(document: dict[str, Any]) -> None:
    seen = {"429": 0, "503": 0, "3xx": 0}
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            if status in ("429", "503"):
                seen[status] += 1
                assert "Retry-After" in response["headers"], (method, path, status)
            elif status.startswith("3"):
                seen["3xx"] += 1
                assert "Location" in response["headers"], (method, path, status)
    assert seen["429"] >= 6 and seen["503"] >= 40 and seen["3xx"] >= 4


def test_database_and_rate_limited_routes(document: dict[str, Any]) -> None:
    signup = document["paths"]["/api/auth/signup"]["post"]["responses"]
    assert {"201", "400", "413", "415", "422", "429", "503"} <= set(signup)
    assert "503" not in document["paths"]["/healthz"]["get"]["responses"]
    assert "503" in document["paths"]["/webhooks/shopify"]["post"]["responses"]
    assert "503" in document["paths"]["/api/v1/orders"]["get"]["responses"]


def test_pages_for_browsers_are_declared_next_to_problems(document: dict[str, Any]) -> None:
    callback = document["paths"]["/api/auth/amazon/callback"]["get"]["responses"]
    assert set(callback["400"]["content"]) == {"text/html", PROBLEM}
    assert "Location" in callback["302"]["headers"]
    proxy = document["paths"]["/api/v1/connections/{connection_id}/proxy/{path}"]["get"]
    assert "*/*" in proxy["responses"]["default"]["content"]
    assert {"*/*", PROBLEM} <= set(proxy["responses"]["404"]["content"])


def test_the_dependencies_the_document_is_derived_from_exist() -> None:
    closures = {openapi.PERMISSION_GUARD}
    for name in (openapi.USER_AUTH | openapi.APP_TOKEN_AUTH | openapi.DATABASE) - closures:
        module, _, attribute = name.partition(":")
        assert callable(getattr(importlib.import_module(module), attribute)), name
    from sellerhub import deps

    # The guards are closures: their code objects are constants of the functions making them.
    for maker, qualname in (
        (deps.require_role, "require_role.<locals>.guard"),
        (deps.require_permission, "require_permission.<locals>.guard"),
    ):
        consts = maker.__code__.co_consts
        assert any(getattr(c, "co_qualname", "") == qualname for c in consts), qualname


async def test_the_answers_are_the_documented_ones(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """A few answers of each kind, checked against their operation's declaration."""
    document = app.openapi()

    def declared(path: str, method: str, response: httpx.Response) -> None:
        responses = document["paths"][path][method]["responses"]
        assert str(response.status_code) in responses, (path, response.status_code)
        media = response.headers["content-type"].split(";")[0]
        assert media in responses[str(response.status_code)]["content"], (path, media)

    unauthenticated = await client.get("/api/v1/orders")
    assert unauthenticated.status_code == 401
    declared("/api/v1/orders", "get", unauthenticated)
    invalid = await client.post("/api/v1/api-keys", json={"name": 1}, headers=tenant.headers)
    assert invalid.status_code == 422
    declared("/api/v1/api-keys", "post", invalid)
    assert invalid.json()["errors"][0]["field"] == "name"
    malformed = await client.post(
        "/api/v1/api-keys",
        content=b"{",
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400
    declared("/api/v1/api-keys", "post", malformed)
    unknown = await client.get(
        "/api/v1/sync-jobs/00000000-0000-7000-8000-000000000000", headers=tenant.headers
    )
    assert unknown.status_code == 404
    declared("/api/v1/sync-jobs/{job_id}", "get", unknown)


def test_the_order_listing_documents_its_answer(document: dict[str, Any]) -> None:
    """GET /api/v1/orders returns JSON rendered by PostgreSQL; its schema is still declared."""
    ok = document["paths"]["/api/v1/orders"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/OrderPage"}
    schemas = document["components"]["schemas"]
    assert set(schemas["OrderPage"]["properties"]) == {"items", "next_cursor"}
    assert schemas["OrderPage"]["properties"]["items"]["items"] == {
        "$ref": "#/components/schemas/OrderOut"
    }
    order = schemas["OrderOut"]["properties"]
    assert {"id", "channel", "connection_id", "external_id", "total_minor", "lines"} <= set(order)
    assert order["lines"]["items"] == {"$ref": "#/components/schemas/OrderLineOut"}
    assert set(schemas["OrderLineOut"]["properties"]) == {
        "sku",
        "title",
        "quantity",
        "unit_price_minor",
    }
