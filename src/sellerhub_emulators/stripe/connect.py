"""Connect: accounts, account links, transfers and payouts (providers.md §8.4)."""

from __future__ import annotations

from typing import Any

ROUTES: tuple[Any, ...] = ()
