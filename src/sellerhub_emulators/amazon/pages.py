"""Consent pages: the LWA one (sign-in identity fields) and Seller Central's SP-API website
authorization (selling partner and marketplaces), each with the approve / deny decision
(api-contract.md §4: a form with two submit buttons ``decision=approve`` and ``decision=deny``)."""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

from sellerhub_emulators.amazon import constants as c
from sellerhub_emulators.amazon.errors import BANNER
from sellerhub_emulators.amazon.marketplaces import DEFAULT_MARKETPLACE_IDS, MARKETPLACES
from sellerhub_emulators.amazon.spapi_errors import CONSENT_BANNER
from sellerhub_emulators.common.pages import hidden_inputs, html_page, text_input


def consent_page(
    *,
    action: str,
    client_id: str,
    scopes: tuple[str, ...],
    authorization_fields: dict[str, str | None],
) -> HTMLResponse:
    """``authorization_fields`` travel back in hidden inputs; the server validates them again."""
    wanted = "".join(
        f"<li><code>{escape(scope)}</code> - {escape(c.LWA_SCOPES.get(scope, scope))}</li>"
        for scope in scopes
    )
    body = f"""<h1>Sign in with Amazon</h1>
<p>The application <code>{escape(client_id)}</code> would like to access:</p>
<ul>{wanted}</ul>
<form method="post" action="{escape(action)}">
{hidden_inputs(authorization_fields)}
<fieldset>
<legend>Test identity (sent to the application if you allow)</legend>
{text_input("user_id", "Amazon user_id", c.DEFAULT_USER_ID)}
{text_input("name", "Name", c.DEFAULT_NAME)}
{text_input("email", "Email", c.DEFAULT_EMAIL, kind="email")}
{text_input("postal_code", "Postal code", c.DEFAULT_POSTAL_CODE)}
</fieldset>
<button type="submit" name="decision" value="approve">Allow</button>
<button type="submit" name="decision" value="deny">Cancel</button>
</form>"""
    return html_page("Amazon Sign-In", body, banner=BANNER)


def spapi_consent_page(
    *,
    action: str,
    application_id: str,
    draft: bool,
    authorization_fields: dict[str, str | None],
) -> HTMLResponse:
    """Seller Central's authorization page; the test fields choose what the app receives."""
    known = "".join(
        f"<li><code>{escape(m.id)}</code> {escape(m.name)} ({escape(m.region)})</li>"
        for m in MARKETPLACES.values()
    )
    beta = " (Draft - authorizing the beta version)" if draft else ""
    seller = text_input("selling_partner_id", "Selling partner id", c.DEFAULT_SELLING_PARTNER_ID)
    marketplaces = text_input(
        "marketplace_ids", "Marketplace ids (comma-separated)", ",".join(DEFAULT_MARKETPLACE_IDS)
    )
    body = f"""<h1>Authorize an application</h1>
<p>The application <code>{escape(application_id)}</code>{escape(beta)} asks for access to your
Selling Partner API data in the marketplaces of one region.</p>
<form method="post" action="{escape(action)}">
{hidden_inputs(authorization_fields)}
<fieldset>
<legend>Test selling partner (sent to the application if you confirm)</legend>
{seller}
{marketplaces}
</fieldset>
<button type="submit" name="decision" value="approve">Confirm</button>
<button type="submit" name="decision" value="deny">Cancel</button>
</form>
<details><summary>Known marketplaces</summary><ul>{known}</ul></details>"""
    return html_page("Seller Central - Authorize", body, banner=CONSENT_BANNER)
