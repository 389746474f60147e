from __future__ import annotations

from sellerhub.core.errors import Conflict, ValidationFailed


class NotAnAmazonSeller(ValidationFailed):
    code = "not-an-amazon-seller"
    title = "Only an Amazon SP-API connection has FBA inventory to sync"


class FbaLocationTaken(Conflict):
    code = "fba-location-code-taken"
    title = "The FBA location's code is used by another location"


class InventoryThrottled(Exception):
    """Amazon still answered 429 after the provider client's retries."""


class InventoryRefused(Exception):
    """Amazon refused the listing for good (4xx other than 429): the sync fails."""
