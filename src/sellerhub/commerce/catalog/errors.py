"""The catalog's own errors (``core.errors`` classes with stable codes)."""

from __future__ import annotations

from sellerhub.core.errors import Conflict


class SkuTaken(Conflict):
    code = "sku-taken"
    title = "Another product of the organization has this SKU"


class ListingTaken(Conflict):
    code = "listing-taken"
    title = "This store's listing id is already linked to a product"


class ProductArchived(Conflict):
    code = "product-archived"
    title = "The product is archived"
