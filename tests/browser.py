"""A minimal browser for journeys over real HTTP: a cookie jar, manual redirects, and forms
submitted the way a browser submits them (hidden fields and the clicked button)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower()))
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1].fields[a["name"]] = a.get("value", "")
        elif tag == "button" and self.forms and a.get("name"):
            self.forms[-1].buttons.append((a["name"], a.get("value", "")))


def forms_of(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


class Browser:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client = httpx.Client(follow_redirects=False, timeout=15)
        self.history: list[httpx.Response] = []

    def close(self) -> None:
        self.client.close()

    def csrf(self) -> dict[str, str]:
        """The double-submit header an unsafe request of this signed-in browser carries."""
        return {"X-CSRF-Token": self.client.cookies.get("sh_csrf") or ""}

    def get(self, url: str, follow: bool = True) -> httpx.Response:
        return self._go("GET", urljoin(self.base_url, url), None, follow)

    def submit(
        self,
        page: httpx.Response,
        button: tuple[str, str],
        follow: bool = True,
        overrides: dict[str, str] | None = None,
    ) -> httpx.Response:
        (form,) = forms_of(page.text)
        assert button in form.buttons, form.buttons
        data = {**form.fields, **(overrides or {}), button[0]: button[1]}
        action = urljoin(str(page.url), form.action or str(page.url))
        return self._go(form.method.upper(), action, data, follow)

    def _go(
        self, method: str, url: str, data: dict[str, str] | None, follow: bool
    ) -> httpx.Response:
        response = self.client.request(
            method, url, data=data, headers={"Accept": "text/html,application/json"}
        )
        self.history.append(response)
        hops = 0
        while follow and response.is_redirect and hops < 10:
            location = urljoin(str(response.url), response.headers["location"])
            if not location.startswith(self.base_url):
                break  # a real browser would leave; tests inspect where it would go
            response = self.client.get(location, headers={"Accept": "text/html,application/json"})
            self.history.append(response)
            hops += 1
        return response
