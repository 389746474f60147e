"""What the inventory routes read and answer. Quantities are whole units (integers)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_QUANTITY = 1_000_000_000
Key = Field(min_length=1, max_length=200, description="the same key repeats the same request")


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        description="the organization's short name for it (what imports and reservations name)",
    )
    name: str = Field("", max_length=200)
    kind: Literal["warehouse", "fba", "channel"] = "warehouse"
    marketplace_id: str | None = Field(None, max_length=20)
    connection_id: uuid.UUID | None = None


class LocationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200)
    marketplace_id: str | None = Field(None, max_length=20)


class LocationOut(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    kind: str
    marketplace_id: str | None
    connection_id: uuid.UUID | None
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime


class LocationPage(BaseModel):
    items: list[LocationOut]
    next_cursor: uuid.UUID | None


class LevelOut(BaseModel):
    product_id: uuid.UUID
    sku: str
    title: str
    location_id: uuid.UUID
    location: str = Field(description="the location's code")
    on_hand: int
    reserved: int
    available: int = Field(description="on_hand - reserved, never negative")
    updated_at: datetime


class LevelPage(BaseModel):
    items: list[LevelOut] = Field(description="by product id, then location id")
    next_cursor: str | None


class MovementOut(BaseModel):
    id: int
    sku: str
    location: str
    delta_on_hand: int
    delta_reserved: int
    on_hand_after: int
    reserved_after: int
    reason: str = Field(description="adjust, reserve, commit, release, expire, import, fba-sync…")
    source: str
    idempotency_key: str | None
    created_at: datetime


class MovementPage(BaseModel):
    items: list[MovementOut] = Field(description="newest first")
    next_cursor: int | None


class ReservationLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1, max_length=200)
    location: str = Field(min_length=1, max_length=64, description="the location's code")
    quantity: int = Field(ge=1, le=MAX_QUANTITY)


class ReservationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    idempotency_key: str = Key
    lines: list[ReservationLineIn] = Field(min_length=1, max_length=100)
    expires_in_seconds: int | None = Field(
        None, ge=1, le=90 * 86400, description="released by the expiry job after this long"
    )


class ReservationLineOut(BaseModel):
    sku: str
    location: str
    quantity: int


class ReservationOut(BaseModel):
    id: uuid.UUID
    idempotency_key: str
    status: str = Field(description="active, committed, released or expired")
    source: str
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    lines: list[ReservationLineOut]


class AdjustmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    idempotency_key: str = Key
    sku: str = Field(min_length=1, max_length=200)
    location: str = Field(min_length=1, max_length=64, description="the location's code")
    mode: Literal["set", "delta"]
    quantity: int = Field(
        ge=-MAX_QUANTITY, le=MAX_QUANTITY, description="set: the new on_hand; delta: the change"
    )
    expected_on_hand: int | None = Field(
        None,
        ge=0,
        le=MAX_QUANTITY,
        description="compare-and-set: applied only while on_hand is still this (409 otherwise)",
    )


class AdjustmentOut(BaseModel):
    sku: str
    location: str
    on_hand: int
    reserved: int
    available: int
    delta_on_hand: int
    movement_id: int
    replayed: bool = Field(description="true when the key had been applied before")


class Mismatch(BaseModel):
    """One difference between the journal replayed and a level."""

    organization_id: uuid.UUID
    product_id: uuid.UUID
    location_id: uuid.UUID
    sku: str | None
    location: str | None
    level_on_hand: int | None
    level_reserved: int | None
    journal_on_hand: int | None
    journal_reserved: int | None
    problem: str
