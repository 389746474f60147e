"""State of the DHL emulator: the common control surface plus registered API clients."""

from __future__ import annotations

import hmac
import time
from typing import Any, ClassVar

from pydantic import Field, field_validator

from sellerhub_emulators.common.config import ConfigUpdate
from sellerhub_emulators.common.state import Clock, EmulatorState
from sellerhub_emulators.common.tokens import TokenStore
from sellerhub_emulators.dhl import constants as c
from sellerhub_emulators.dhl import errors

DEFAULT_CLIENTS: dict[str, str] = {c.DEFAULT_CLIENT_ID: c.DEFAULT_CLIENT_SECRET}
# DHL's access tokens are 28-character opaque strings (e.g. "edEB6SlC8wafnWgAlgqxagATPF0F" in
# its documentation): 21 random bytes in URL-safe base64 have that length.
TOKEN_RANDOM_BYTES = 21


class DhlConfigUpdate(ConfigUpdate):
    """Adds ``clients`` ``{"client id": "client secret"}``: registers (or re-keys) clients."""

    clients: dict[str, str] | None = Field(default=None, max_length=100)

    @field_validator("clients")
    @classmethod
    def _clients(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for client_id, secret in (value or {}).items():
            if not client_id or len(client_id.encode()) > 100 or not client_id.isprintable():
                raise ValueError("a client id must be 1-100 bytes of printable characters")
            if not secret or len(secret) > 512 or not secret.isprintable():
                raise ValueError(f"the secret of {client_id!r} must be 1-512 printable characters")
        return value


class DhlEmulator(EmulatorState):
    config_model: ClassVar[type[ConfigUpdate]] = DhlConfigUpdate

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        super().__init__(
            "dhl",
            {c.ENDPOINT_TOKEN: errors.token_fault, c.ENDPOINT_TRACK: errors.track_fault},
            clock=clock,
        )
        self.tokens = TokenStore(clock, random_bytes=TOKEN_RANDOM_BYTES)
        self.clients: dict[str, str] = dict(DEFAULT_CLIENTS)

    def check_secret(self, client_id: str, secret: str) -> bool:
        expected = self.clients.get(client_id)
        return expected is not None and hmac.compare_digest(
            expected.encode("utf-8"), secret.encode("utf-8")
        )

    def apply_config(self, update: ConfigUpdate) -> None:
        super().apply_config(update)
        if isinstance(update, DhlConfigUpdate) and update.clients:
            self.clients.update(update.clients)

    def config_snapshot(self) -> dict[str, Any]:
        snapshot = super().config_snapshot()
        snapshot["clients"] = sorted(self.clients)
        return snapshot

    def reset(self) -> None:
        super().reset()
        self.clients = dict(DEFAULT_CLIENTS)
