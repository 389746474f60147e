"""The web UI: server-rendered pages (Jinja2) with htmx for partial updates, over the same
services as the JSON API. ``pages/`` holds the routes (one module per page), ``templates/`` the
markup, ``static/`` the stylesheet, our small script and the vendored htmx (no CDN, no build)."""
