"""What the app needs for the web UI besides its routes: the static files (our stylesheet and
script, the vendored htmx), served with long caching for the versioned htmx file."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from sellerhub.web.templating import STATIC_DIR


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
