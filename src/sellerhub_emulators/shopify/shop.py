"""The Shop resource of the Admin REST API: ``GET /admin/api/{version}/shop.json`` →
``{"shop": {...}}``, the cheapest authenticated read Shopify offers (no access scope is needed,
so any valid token of the shop may read it). providers.md does not cover it; the fields below are
a subset of the resource in Shopify's REST Admin reference ("Shop"), with the emulator's values:
the shop's name comes from its hostname, dates and ids are fixed per shop. ``fields``
(comma-separated) narrows the object as it does for orders."""

from __future__ import annotations

from typing import Any

from sellerhub_emulators.shopify.orders import EPOCH, stamp
from sellerhub_emulators.shopify.state import Shop


def shop_resource(shop: Shop) -> dict[str, Any]:
    handle = shop.domain.split(".", 1)[0]
    name = handle.replace("-", " ").replace("_", " ").title()
    created = stamp(EPOCH.replace(year=EPOCH.year - 1))
    return {
        "id": shop.shop_id,
        "name": name,
        "email": f"owner@{handle}.example.com",
        "domain": shop.domain,
        "myshopify_domain": shop.domain,
        "shop_owner": "Emu Lator",
        "country_code": "US",
        "country_name": "United States",
        "currency": "USD",
        "enabled_presentment_currencies": ["USD"],
        "primary_locale": "en",
        "timezone": "(GMT-05:00) Eastern Time (US & Canada)",
        "iana_timezone": "America/New_York",
        "weight_unit": "lb",
        "plan_name": "basic",
        "plan_display_name": "Basic",
        "password_enabled": False,
        "created_at": created,
        "updated_at": created,
    }
