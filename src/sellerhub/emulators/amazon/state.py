"""State of the Amazon emulator: the common control surface plus registered LWA clients and
outstanding authorization codes. Later SP-API and Ads parts add their state here."""

from __future__ import annotations

import hmac
import time
from typing import Any, ClassVar

from pydantic import Field, field_validator

from sellerhub.emulators.amazon import constants as c
from sellerhub.emulators.amazon import errors
from sellerhub.emulators.common.codes import CodeStore
from sellerhub.emulators.common.config import ConfigUpdate
from sellerhub.emulators.common.state import Clock, EmulatorState

DEFAULT_CLIENTS: dict[str, str] = {c.DEFAULT_CLIENT_ID: c.DEFAULT_CLIENT_SECRET}


class AmazonConfigUpdate(ConfigUpdate):
    """Adds ``clients`` ``{"client id": "client secret"}``: registers (or re-keys) clients."""

    clients: dict[str, str] | None = Field(default=None, max_length=100)

    @field_validator("clients")
    @classmethod
    def _clients(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for client_id, secret in (value or {}).items():
            # LWA: "client_id: Maximum size of 100 bytes" (authorization-code-grant page).
            if not client_id or len(client_id.encode()) > 100 or not client_id.isprintable():
                raise ValueError("a client id must be 1-100 bytes of printable characters")
            if not secret or len(secret) > 512 or not secret.isprintable():
                raise ValueError(f"the secret of {client_id!r} must be 1-512 printable characters")
        return value


class AmazonEmulator(EmulatorState):
    config_model: ClassVar[type[ConfigUpdate]] = AmazonConfigUpdate

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        super().__init__(
            "amazon",
            {
                c.ENDPOINT_AUTHORIZE: errors.authorize_fault,
                c.ENDPOINT_TOKEN: errors.token_fault,
                c.ENDPOINT_PROFILE: errors.profile_fault,
            },
            clock=clock,
        )
        self.clients: dict[str, str] = dict(DEFAULT_CLIENTS)
        self.codes = CodeStore(clock, ttl_seconds=c.CODE_TTL_SECONDS)

    def is_client(self, client_id: str) -> bool:
        return client_id in self.clients

    def check_secret(self, client_id: str, secret: str) -> bool:
        expected = self.clients.get(client_id)
        return expected is not None and hmac.compare_digest(
            expected.encode("utf-8"), secret.encode("utf-8")
        )

    def apply_config(self, update: ConfigUpdate) -> None:
        super().apply_config(update)
        if isinstance(update, AmazonConfigUpdate) and update.clients:
            self.clients.update(update.clients)

    def config_snapshot(self) -> dict[str, Any]:
        snapshot = super().config_snapshot()
        snapshot["clients"] = sorted(self.clients)
        return snapshot

    def revoke(self) -> dict[str, int]:
        """Tokens stop working and outstanding codes can no longer be exchanged."""
        result = super().revoke()
        result["revoked_codes"] = self.codes.clear()
        return result

    def reset(self) -> None:
        super().reset()
        self.clients = dict(DEFAULT_CLIENTS)
        self.codes.clear()
