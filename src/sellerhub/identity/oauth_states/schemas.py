from __future__ import annotations

from pydantic import BaseModel


class AuthStart(BaseModel):
    """A started consent flow, for single-page apps: where to send the browser."""

    auth_url: str
    state: str
