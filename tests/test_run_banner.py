"""The banner ``sellerhub run`` prints: where the API, the docs and the dev mailbox are."""

from __future__ import annotations

import httpx

from sellerhub.cli.processes import banner
from sellerhub.config import Environment, Settings


def _banner(settings: Settings, env: Environment) -> str:
    return banner(
        settings.model_copy(update={"env": env}),
        email="admin@example.com",
        organization_slug="demo",
        api_key=None,
    )


async def test_the_banner_names_the_dev_mailbox_where_it_is_served(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    text = _banner(settings, Environment.DEVELOPMENT)
    url = f"http://{settings.host}:{settings.port}"
    line = next(line for line in text.splitlines() if "dev mailbox:" in line)
    mailbox = line.split()[2]
    assert mailbox == f"{url}/api/v1/dev/mail"
    # The route the banner names is the mailbox (from this machine).
    served = await client.get(mailbox.removeprefix(url))  # a loopback client
    assert served.status_code == 200 and "items" in served.json()


def test_no_dev_mailbox_in_production(settings: Settings) -> None:
    text = _banner(settings, Environment.PRODUCTION)
    assert "dev mailbox" not in text and "/api/v1/dev/mail" not in text
    assert "sellerhub is starting on" in text


async def test_the_banner_sends_people_to_the_web_ui(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    """Issue 12: the printed link used to end on a JSON route; it is the web UI's front door,
    which sends a visitor who is not signed in to the sign-in page."""
    text = _banner(settings, Environment.DEVELOPMENT)
    url = f"http://{settings.host}:{settings.port}"
    line = next(line for line in text.splitlines() if "web UI:" in line)
    assert line.split()[2] == f"{url}/"
    front = await client.get("/", headers={"Accept": "text/html"})
    assert front.status_code == 303 and front.headers["location"] == "/login?next=%2F"
    login = await client.get("/login")
    assert login.status_code == 200 and "Login with Amazon" in login.text
