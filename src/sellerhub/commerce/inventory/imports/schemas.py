from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class ImportErrorOut(BaseModel):
    row: int = Field(
        description="the data row (1 is the first row after the CSV header, or "
        "the first element of a JSON array)"
    )
    column: str = Field(
        description="sku, location, quantity, mode, or sku+location for a duplicate"
    )
    value: str
    message: str


class ImportOut(BaseModel):
    id: uuid.UUID
    status: str = Field(
        description="receiving, validating, applying, succeeded, rejected (a row was bad and "
        "the import was not partial: nothing applied) or failed"
    )
    file_format: str
    partial: bool
    rows_read: int
    rows_valid: int
    rows_applied: int = Field(description="stock levels written")
    error_count: int = Field(description="lines of the error report")
    failure: str | None
    created_at: datetime
    finished_at: datetime | None
    errors_url: str


class ImportResult(ImportOut):
    errors: list[ImportErrorOut] = Field(
        description="the first lines of the error report (all of it: errors_url)"
    )
