"""Discovery metadata publishes only what is implemented (issue 11, item 8): RFC 8414
authorization-server metadata, also at the OpenID path that JWT libraries read, without an
authorization or userinfo endpoint that generic OAuth/OIDC clients would try and fail on."""

from __future__ import annotations

import httpx
import pytest

from sellerhub.runtime import Runtime


@pytest.mark.parametrize(
    "path", ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]
)
async def test_metadata_names_only_implemented_endpoints(
    client: httpx.AsyncClient, runtime: Runtime, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    metadata = response.json()
    base = runtime.settings.public_url
    assert metadata["issuer"] == base
    assert metadata["jwks_uri"] == f"{base}/.well-known/jwks.json"
    assert metadata["token_endpoint"] == f"{base}/oauth/token"
    assert metadata["grant_types_supported"] == ["client_credentials", "refresh_token"]
    assert metadata["response_types_supported"] == []  # no authorization endpoint
    for absent in (
        "authorization_endpoint",
        "userinfo_endpoint",
        "id_token_signing_alg_values_supported",
    ):
        assert absent not in metadata


async def test_every_advertised_endpoint_answers(client: httpx.AsyncClient) -> None:
    """Each URL in the metadata is served: the JWKS with keys, the token endpoint with an
    OAuth error (RFC 6749 §5.2) for a request without credentials, the documentation."""
    metadata = (await client.get("/.well-known/oauth-authorization-server")).json()
    for field in ("jwks_uri", "service_documentation"):
        path = httpx.URL(metadata[field]).path
        assert (await client.get(path)).status_code == 200, field
    token = await client.post(
        httpx.URL(metadata["token_endpoint"]).path, data={"grant_type": "client_credentials"}
    )
    assert token.status_code == 401 and token.json()["error"] == "invalid_client"
