"""Rendering: one Jinja2 environment (autoescaped), the page context every layout needs, and the
security headers of every page — a strict Content-Security-Policy (no inline script or style,
nothing from another origin), no framing, no caching of signed-in pages."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
HTMX_FILE = "htmx-2.0.11.min.js"  # htmx.org 2.0.11 from npm (0BSD), pinned to major version 2

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
}

environment = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    # Templates ship with the code: never stat their files again per render (a changed
    # template takes a restart, as changed code does).
    auto_reload=False,
)
environment.globals["htmx_file"] = HTMX_FILE
# Words a seller reads, for the codes the API uses.
PROVIDER_LABELS = {
    "amazon_spapi": "Amazon Seller Central",
    "amazon_ads": "Amazon Ads",
    "shopify": "Shopify",
    "woocommerce": "WooCommerce",
    "fedex": "FedEx",
    "dhl": "DHL eCommerce",
}
environment.globals["labels"] = PROVIDER_LABELS
environment.globals["status_words"] = {
    "connected": "Connected",
    "pending": "Pending",
    "error": "Error",
    "needs_reauth": "Needs re-auth",
    "disconnected": "Disconnected",
}


# The main navigation: (path, label), in the order the layout shows them.
NAV = (
    ("/", "Dashboard"),
    ("/connections", "Connections"),
    ("/orders", "Orders"),
    ("/inventory", "Inventory"),
    ("/products", "Products"),
    ("/claims", "Claims"),
    ("/billing", "Billing"),
    ("/credits", "Credits"),
    ("/settings", "Settings"),
)


@functools.lru_cache(maxsize=32)
def nav_links(current: str) -> Markup:
    """The layout's navigation links, the ``current`` page's marked ``aria-current``: written
    once per page kind instead of looped over by every render (``current`` is a page's own
    constant: the cache holds one entry per page kind)."""
    return Markup("\n").join(
        Markup('<a href="{}"{}>{}</a>').format(
            href, Markup(' aria-current="page"') if href == current else "", label
        )
        for href, label in NAV
    )


environment.globals["nav_links"] = nav_links


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render ``template`` with the request in its context, as a page with the security
    headers."""
    html = environment.get_template(template).render(request=request, **(context or {}))
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS | (headers or {}))
