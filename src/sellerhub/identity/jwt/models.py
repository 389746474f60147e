from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.db.base import Base, IdMixin
from sellerhub.db.encrypted import register_encrypted


class SigningKey(IdMixin, Base):
    """A JWT signing key. The private key is encrypted at rest; the public JWK is published in
    /.well-known/jwks.json from its creation until ``published_until`` (after retirement, as
    long as tokens it signed can still be valid). It signs from ``activates_at`` until
    ``retired_at``: times stored with the key, so every process picks the same key by the
    clock, whenever it last reloaded."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), unique=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    private_key: Mapped[str] = mapped_column(Text)  # v1.<kid>.<ciphertext> of the PEM
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    activates_at: Mapped[datetime] = mapped_column(server_default=func.now())
    retired_at: Mapped[datetime | None] = mapped_column(default=None)
    published_until: Mapped[datetime | None] = mapped_column(default=None)


register_encrypted(SigningKey, "private_key")
