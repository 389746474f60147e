"""State of the FedEx emulator: the common control surface plus registered API projects
(API key / secret key) and registered child credentials (customer key / customer password)."""

from __future__ import annotations

import hmac
import time
from typing import Any, ClassVar

from pydantic import Field, field_validator

from sellerhub_emulators.common.config import ConfigUpdate
from sellerhub_emulators.common.state import Clock, EmulatorState
from sellerhub_emulators.common.tokens import TokenStore
from sellerhub_emulators.fedex import constants as c
from sellerhub_emulators.fedex import errors

DEFAULT_CLIENTS: dict[str, str] = {c.DEFAULT_CLIENT_ID: c.DEFAULT_CLIENT_SECRET}
DEFAULT_CHILD_CREDENTIALS: dict[str, str] = {c.DEFAULT_CHILD_KEY: c.DEFAULT_CHILD_SECRET}
# The random part of an access token: the size of an RS256 signature (FedEx tokens are JWTs).
TOKEN_SIGNATURE_BYTES = 256


def check_credentials(value: dict[str, str] | None, what: str) -> dict[str, str] | None:
    for key, secret in (value or {}).items():
        if not key or len(key.encode()) > 100 or not key.isprintable():
            raise ValueError(f"a {what} must be 1-100 bytes of printable characters")
        if not secret or len(secret) > 512 or not secret.isprintable():
            raise ValueError(f"the secret of {key!r} must be 1-512 printable characters")
    return value


class FedexConfigUpdate(ConfigUpdate):
    """Adds ``clients`` ``{"API key": "secret key"}`` and ``child_credentials``
    ``{"customer key": "customer password"}``: registers (or re-keys) them."""

    clients: dict[str, str] | None = Field(default=None, max_length=100)
    child_credentials: dict[str, str] | None = Field(default=None, max_length=100)

    @field_validator("clients")
    @classmethod
    def _clients(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return check_credentials(value, "client id")

    @field_validator("child_credentials")
    @classmethod
    def _children(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return check_credentials(value, "child key")


def _same(expected: str | None, given: str) -> bool:
    return expected is not None and hmac.compare_digest(
        expected.encode("utf-8"), given.encode("utf-8")
    )


class FedexEmulator(EmulatorState):
    config_model: ClassVar[type[ConfigUpdate]] = FedexConfigUpdate

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        super().__init__(
            "fedex",
            {c.ENDPOINT_TOKEN: errors.token_fault, c.ENDPOINT_TRACK: errors.track_fault},
            clock=clock,
        )
        self.tokens = TokenStore(clock, random_bytes=TOKEN_SIGNATURE_BYTES)
        self.clients: dict[str, str] = dict(DEFAULT_CLIENTS)
        self.child_credentials: dict[str, str] = dict(DEFAULT_CHILD_CREDENTIALS)

    def check_secret(self, client_id: str, secret: str) -> bool:
        return _same(self.clients.get(client_id), secret)

    def check_child(self, child_key: str, child_secret: str) -> bool:
        return _same(self.child_credentials.get(child_key), child_secret)

    def apply_config(self, update: ConfigUpdate) -> None:
        super().apply_config(update)
        if isinstance(update, FedexConfigUpdate):
            if update.clients:
                self.clients.update(update.clients)
            if update.child_credentials:
                self.child_credentials.update(update.child_credentials)

    def config_snapshot(self) -> dict[str, Any]:
        snapshot = super().config_snapshot()
        snapshot["clients"] = sorted(self.clients)
        snapshot["child_credentials"] = sorted(self.child_credentials)
        return snapshot

    def reset(self) -> None:
        super().reset()
        self.clients = dict(DEFAULT_CLIENTS)
        self.child_credentials = dict(DEFAULT_CHILD_CREDENTIALS)
