"""The only place where connection secrets are encrypted or decrypted. Everything else sees a
``Connection`` with ciphertext, or a masked hint."""

from __future__ import annotations

from sellerhub.connections.models import Connection
from sellerhub.connections.providers.base import ClientSecrets, TokenGrant
from sellerhub.core.crypto import KeyRing
from sellerhub.db.encrypted import seal, unseal


def store_client_secret(ring: KeyRing, connection: Connection, client_id: str, secret: str) -> None:
    connection.client_id = client_id
    seal(ring, connection, "client_secret", secret)


def store_tokens(ring: KeyRing, connection: Connection, grant: TokenGrant) -> None:
    seal(ring, connection, "access_token", grant.access_token)
    if grant.refresh_token is not None:  # rotated: keep the new one, in the same transaction
        seal(ring, connection, "refresh_token", grant.refresh_token)
    connection.access_expires_at = grant.expires_at
    if grant.scopes:
        connection.scopes = grant.scopes


def access_token(ring: KeyRing, connection: Connection) -> str | None:
    return unseal(ring, connection, "access_token")


def client_secrets(ring: KeyRing, connection: Connection) -> ClientSecrets:
    return ClientSecrets(
        client_id=connection.client_id or "",
        client_secret=unseal(ring, connection, "client_secret") or "",
        environment=connection.environment,
        refresh_token=unseal(ring, connection, "refresh_token"),
        details=dict(connection.details or {}),
    )


def wipe(connection: Connection) -> None:
    connection.client_secret = None
    connection.access_token = None
    connection.refresh_token = None
    connection.webhook_secret = None
    connection.access_expires_at = None


def mask(value: str | None) -> str | None:
    """A hint to recognise a credential: its last four characters."""
    if not value:
        return None
    return "…" + value[-4:] if len(value) > 8 else "…"


def store_webhook_secret(ring: KeyRing, connection: Connection, secret: str) -> None:
    seal(ring, connection, "webhook_secret", secret)


def webhook_secret(ring: KeyRing, connection: Connection) -> str | None:
    return unseal(ring, connection, "webhook_secret")
