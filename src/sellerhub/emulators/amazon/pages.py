"""The LWA consent page: sign-in identity fields plus the approve / deny decision
(api-contract.md §4: a form with two submit buttons ``decision=approve`` and ``decision=deny``)."""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

from sellerhub.emulators.amazon import constants as c
from sellerhub.emulators.amazon.errors import BANNER
from sellerhub.emulators.common.pages import hidden_inputs, html_page, text_input


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
