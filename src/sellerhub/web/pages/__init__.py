"""The web UI's pages, one module per page; ``ROUTERS`` is the table ``api.py`` includes."""

from fastapi import APIRouter

from sellerhub.web.pages import auth, dashboard
from sellerhub.web.pages import billing as billing_page
from sellerhub.web.pages import claims as claims_page
from sellerhub.web.pages import connections as connections_page
from sellerhub.web.pages import credits as credits_page
from sellerhub.web.pages import embed as embed_page
from sellerhub.web.pages import inventory as inventory_page
from sellerhub.web.pages import orders as orders_page
from sellerhub.web.pages import products as products_page
from sellerhub.web.pages import settings as settings_page

ROUTERS: list[APIRouter] = [auth.router, dashboard.router]
ROUTERS.append(orders_page.router)
ROUTERS.append(settings_page.router)
ROUTERS.append(connections_page.router)
ROUTERS.extend([inventory_page.router, products_page.router])
ROUTERS.append(claims_page.router)
ROUTERS.append(billing_page.router)
ROUTERS.append(credits_page.router)
ROUTERS.append(embed_page.router)
