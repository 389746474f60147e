from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.db.base import Base


class KeyRingHolder(Base):
    """One row per running process that holds the encryption key ring (``db.keyring``): which
    keys it holds, refreshed every few seconds, so that ``sellerhub keys rotate`` knows whether
    every live process can read what it is about to write."""

    __tablename__ = "key_ring_holders"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    command: Mapped[str] = mapped_column(String(200))
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    source: Mapped[str] = mapped_column(String(20))  # "environment" or "file"
    active_kid: Mapped[str] = mapped_column(String(32))
    kids: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime]
    seen_at: Mapped[datetime] = mapped_column(index=True)
