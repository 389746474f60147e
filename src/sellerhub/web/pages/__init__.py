"""The web UI's pages, one module per page; ``ROUTERS`` is the table ``api.py`` includes."""

from fastapi import APIRouter

from sellerhub.web.pages import auth, dashboard

ROUTERS: list[APIRouter] = [auth.router, dashboard.router]
