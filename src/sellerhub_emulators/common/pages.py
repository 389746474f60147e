"""Minimal HTML pages for consent screens and browser-facing errors (Jinja2 is not a dependency
of the server, so pages are string templates and every interpolated value is escaped)."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from string import Template

from starlette.responses import HTMLResponse

_PAGE = Template(
    """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>$title</title>
<style>
body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#111}
.banner{background:#fff3cd;border:1px solid #e0c36a;padding:.5rem .75rem;font-size:.9rem}
label{display:block;margin:.6rem 0 .2rem;font-weight:600}
input[type=text],input[type=email]{width:100%;padding:.4rem;box-sizing:border-box}
button{margin:1rem .5rem 0 0;padding:.5rem 1.2rem;font-size:1rem}
code{background:#f3f3f3;padding:0 .2rem}
</style>
</head>
<body>
<p class="banner">$banner</p>
$body
</body>
</html>
"""
)

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}


def render_page(title: str, body_html: str, *, banner: str) -> str:
    """A full page; ``title`` and ``banner`` are escaped, ``body_html`` must already be."""
    return _PAGE.substitute(title=escape(title), banner=escape(banner), body=body_html)


def html_page(title: str, body_html: str, *, banner: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        render_page(title, body_html, banner=banner),
        status_code=status_code,
        headers=PAGE_HEADERS,
    )


def hidden_inputs(fields: Mapping[str, str | None]) -> str:
    """``<input type="hidden">`` for every field that has a value."""
    return "\n".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in fields.items()
        if value is not None
    )


def text_input(name: str, label: str, value: str, *, kind: str = "text") -> str:
    ident = escape(f"f-{name}")
    return (
        f'<label for="{ident}">{escape(label)}</label>'
        f'<input type="{escape(kind)}" id="{ident}" name="{escape(name)}" value="{escape(value)}">'
    )
