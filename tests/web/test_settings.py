"""Settings in a real browser (issue 12, deliverable 6): members and roles; an API key created
and shown once with a copy button, then only its prefix, revoked after the confirmation dialog;
a member sees the keys but cannot create or revoke one (disabled with the reason, and a forged
request is refused in words); the audit log pages and filters; the signing-key status for
platform admins only; a strict CSP on every settings page."""

from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
from playwright.async_api import expect
from sqlalchemy import select

from sellerhub.audit import service as audit
from sellerhub.audit.models import AuditEvent
from sellerhub.core.clock import utcnow
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.identity import service as identity
from sellerhub.identity.apikeys.models import ApiKey
from sellerhub.identity.jwt import service as signing_keys
from sellerhub.identity.jwt.models import SigningKey
from sellerhub.identity.organizations.models import Membership, Role
from sellerhub.identity.principal import Principal
from sellerhub.identity.users.models import User, UserType
from sellerhub.runtime import Runtime
from sellerhub.web.pages.settings import KEY_STATES
from sellerhub.web.templating import environment
from tests.conftest import remember_secret
from tests.web.conftest import WebPage

PASSWORD = "correct horse 42"  # a fixture password, registered in tests/conftest.py
SETTINGS_PAGES = ("/settings", "/settings/api-keys", "/settings/audit")


@dataclass
class Team:
    organization_id: uuid.UUID
    owner: User
    member: User

    def principal(self, user: User, role: Role) -> Principal:
        return Principal(
            user_id=user.id,
            organization_id=self.organization_id,
            role=role,
            user_type=UserType(user.user_type),
            via="session",
        )


async def make_team(runtime: Runtime, *, platform_admin: bool = False) -> Team:
    """An organization with an owner and a member, both signing in with a password."""
    tag = uuid.uuid4().hex[:8]
    async with unit_of_work(runtime.sessionmaker) as session:
        owner = await identity.create_user(
            session,
            email=f"owner-{tag}@example.com",
            name="Olivia Owner",
            password=PASSWORD,
            user_type=UserType.ADMIN if platform_admin else UserType.CUSTOMER,
        )
        org = await identity.create_organization(session, name=f"Acme {tag}", owner=owner)
        member = await identity.create_user(
            session, email=f"member-{tag}@example.com", name="Max Member", password=PASSWORD
        )
        session.add(Membership(organization_id=org.id, user_id=member.id, role=Role.MEMBER.value))
    return Team(org.id, owner, member)


async def issue_key(runtime: Runtime, team: Team, name: str) -> ApiKey:
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, team.organization_id)
        issued = await identity.issue_api_key(session, team.principal(team.owner, Role.OWNER), name)
    remember_secret(issued.secret)
    return issued.key


async def sign_in(web: WebPage, email: str) -> None:
    await web.go("/login")
    await web.page.get_by_label("Email").fill(email)
    await web.page.get_by_label("Password").fill(PASSWORD)
    await web.page.get_by_role("button", name="Sign in").click()
    await expect(web.page).to_have_url(web.base + "/")


def expect_refused_in_console(web: WebPage, status: int, path: str) -> None:
    """Chrome logs every refused request of the page as a console error, htmx's too. The one
    this test provoked (and whose words it checked on the page) is taken off the list; any
    other still fails the test."""
    wanted = f"status of {status} "
    found = [e for e in web.console_errors if wanted in e and e.endswith(f"{path})")]
    assert len(found) == 1, web.console_errors
    web.console_errors.remove(found[0])


async def csrf_token(web: WebPage) -> str:
    cookies = await web.page.context.cookies()
    return next(c["value"] for c in cookies if c["name"] == "sh_csrf")


async def revoked_at(runtime: Runtime, key_id: uuid.UUID) -> object:
    async with runtime.sessionmaker() as session:
        key = await session.get(ApiKey, key_id)
        assert key is not None
        return key.revoked_at


async def test_members_are_listed_with_their_roles(web: WebPage, runtime: Runtime) -> None:
    team = await make_team(runtime)
    await sign_in(web, team.member.email)
    await web.go("/settings")
    await expect(
        web.page.get_by_role("heading", name=re.compile("Members of Acme"))
    ).to_be_visible()
    tabs = web.page.get_by_role("navigation", name="Settings sections")
    await expect(tabs.get_by_role("link", name="Members")).to_have_attribute("aria-current", "page")
    await expect(tabs.get_by_role("link", name="Signing keys")).to_have_count(0)
    rows = web.page.locator("table.members tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_contain_text("Olivia Owner")
    await expect(rows.nth(0)).to_contain_text(team.owner.email)
    await expect(rows.nth(0)).to_contain_text("Owner")
    await expect(rows.nth(1)).to_contain_text("Max Member")
    await expect(rows.nth(1)).to_contain_text("Member")
    await expect(rows.nth(1)).to_contain_text("you")


async def test_an_owner_creates_a_key_shown_once_and_revokes_it(
    web: WebPage, runtime: Runtime
) -> None:
    team = await make_team(runtime)
    await web.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await sign_in(web, team.owner.email)
    await web.go("/settings/api-keys")
    await expect(web.page.locator("table.api-keys")).to_have_count(0)

    # A name of blanks is refused in words, nothing is created.
    await web.page.get_by_label("Name of the new key").fill("   ")
    await web.page.get_by_role("button", name="Create key").click()
    await expect(web.page.locator("#flash")).to_have_text(
        "Give the key a name of 1 to 100 characters."
    )
    await expect(web.page.locator("#new-api-key")).to_have_count(0)
    expect_refused_in_console(web, 422, "/settings/api-keys")

    await web.page.get_by_label("Name of the new key").fill("CI deploy")
    await web.page.get_by_role("button", name="Create key").click()
    shown = web.page.locator("#new-api-key")
    await expect(shown).to_have_text(re.compile(r"^shk_\S{20,}$"))
    secret = (await shown.text_content() or "").strip()
    remember_secret(secret)
    copy = web.page.locator('button[data-copy-target="new-api-key"]')
    await expect(copy).to_have_text("Copy")
    await copy.click()
    await expect(copy).to_have_text("Copied")
    assert await web.page.evaluate("navigator.clipboard.readText()") == secret
    row = web.page.locator("table.api-keys tbody tr", has_text="CI deploy")
    await expect(row).to_contain_text(secret[:8] + "…")
    await expect(row).to_contain_text("Active")
    await expect(web.page.get_by_label("Name of the new key")).to_have_value("")

    # The key works, and it is never shown again.
    async with httpx.AsyncClient(base_url=web.base) as api:
        bearer = {"Authorization": f"Bearer {secret}"}
        assert (await api.get("/api/v1/organizations/current", headers=bearer)).status_code == 200
        await web.page.reload()
        await expect(row).to_contain_text(secret[:8] + "…")
        assert secret not in await web.page.content()
        await expect(web.page.locator("#new-api-key")).to_have_count(0)

        # Revoke: the dialog asks first; Cancel changes nothing.
        await row.get_by_role("button", name="Revoke CI deploy").click()
        dialog = web.page.locator("dialog#modal")
        await expect(dialog).to_be_visible()
        await expect(dialog).to_contain_text("Revoke the API key “CI deploy”")
        await dialog.get_by_role("button", name="Cancel").click()
        await expect(dialog).to_be_hidden()
        await expect(row).to_contain_text("Active")
        await row.get_by_role("button", name="Revoke CI deploy").click()
        await dialog.get_by_role("button", name="OK").click()
        await expect(row).to_contain_text("Revoked")
        await expect(row.get_by_role("button")).to_have_count(0)
        await expect(web.page.get_by_role("status").filter(has_text="revoked")).to_have_text(
            "The API key was revoked. It no longer works."
        )
        assert (await api.get("/api/v1/organizations/current", headers=bearer)).status_code == 401
        assert secret not in await web.page.content()

    # The audit log says who did it.
    await web.go("/settings/audit")
    await expect(web.page.locator('tr[data-action="API_KEY_REVOKED"]')).to_contain_text(
        team.owner.email
    )
    await expect(web.page.locator('tr[data-action="API_KEY_CREATED"]')).to_contain_text("CI deploy")


async def test_a_member_cannot_create_or_revoke_keys(web: WebPage, runtime: Runtime) -> None:
    team = await make_team(runtime)
    key = await issue_key(runtime, team, "Warehouse")
    await sign_in(web, team.member.email)
    await web.go("/settings/api-keys")
    reason = "Only an owner or admin of the organization can create or revoke API keys."
    await expect(web.page.locator("#api-keys-admin-only")).to_contain_text(reason)
    row = web.page.locator("table.api-keys tbody tr", has_text="Warehouse")
    await expect(row).to_contain_text(key.prefix + "…")
    revoke = row.get_by_role("button", name="Revoke Warehouse")
    await expect(revoke).to_be_disabled()
    await expect(revoke).to_have_attribute("aria-describedby", "api-keys-admin-only")
    await expect(revoke).to_have_attribute("title", reason)
    await expect(web.page.get_by_role("button", name="Create key")).to_be_disabled()
    await expect(web.page.get_by_label("Name of the new key")).to_be_disabled()

    # Past the disabled buttons, the server refuses in words (the flash region's fragment).
    token = await csrf_token(web)
    htmx = {"HX-Request": "true", "X-CSRF-Token": token}
    forged = await web.page.request.delete(f"{web.base}/settings/api-keys/{key.id}", headers=htmx)
    assert forged.status == 403
    assert forged.headers["content-type"].startswith("text/html")
    assert forged.headers["hx-retarget"] == "#flash"
    body = await forged.text()
    assert "only an owner or admin can revoke API keys" in body
    assert "{" not in body
    created = await web.page.request.post(
        f"{web.base}/settings/api-keys", headers=htmx, form={"name": "sneaky"}
    )
    assert created.status == 403
    assert "only an owner or admin can create API keys" in await created.text()
    # Without the page's CSRF token: refused before anything else.
    no_csrf = await web.page.request.delete(
        f"{web.base}/settings/api-keys/{key.id}", headers={"HX-Request": "true"}
    )
    assert no_csrf.status == 403
    assert "reload the page" in await no_csrf.text()
    assert await revoked_at(runtime, key.id) is None
    await web.page.reload()
    await expect(row).to_contain_text("Active")
    await expect(web.page.locator("table.api-keys tbody tr")).to_have_count(1)


async def test_a_key_of_another_organization_is_not_found(web: WebPage, runtime: Runtime) -> None:
    mine, theirs = await make_team(runtime), await make_team(runtime)
    key = await issue_key(runtime, theirs, "Theirs")
    await sign_in(web, mine.owner.email)
    await web.go("/settings/api-keys")
    htmx = {"HX-Request": "true", "X-CSRF-Token": await csrf_token(web)}
    for target, words in (
        (str(key.id), "API key not found"),
        ("not-a-key", "That API key does not exist or was already revoked."),
    ):
        answer = await web.page.request.delete(
            f"{web.base}/settings/api-keys/{target}", headers=htmx
        )
        assert answer.status == 404, target
        assert words in await answer.text(), target
    assert await revoked_at(runtime, key.id) is None
    await expect(web.page.locator("table.api-keys")).to_have_count(0)


async def seed_audit(runtime: Runtime, team: Team, checks: int) -> int:
    """``checks`` connection checks by the owner; the organization's event count."""
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, team.organization_id)
        for number in range(checks):
            await audit.record(
                session,
                organization_id=team.organization_id,
                action="CONNECTION_CHECKED",
                actor_user_id=team.owner.id,
                target_type="connection",
                target_id=str(uuid.uuid4()),
                data={"reason": f"check {number}"},
            )
    async with runtime.sessionmaker() as session:
        set_tenant(session, team.organization_id)
        return len((await session.scalars(select(AuditEvent))).all())


async def event_ids(web: WebPage) -> list[str]:
    rows = web.page.locator("table.audit tbody tr")
    return [await r.get_attribute("data-event") or "" for r in await rows.all()]


async def test_the_audit_log_pages_and_filters(web: WebPage, runtime: Runtime) -> None:
    team = await make_team(runtime)
    await issue_key(runtime, team, "Nightly export")
    await sign_in(web, team.member.email)  # a member reads the log, as in the API
    total = await seed_audit(runtime, team, checks=40)  # and the sign-in's, the key's, …
    assert total > 25

    await web.go("/settings/audit")
    seen: list[str] = []
    pages = 0
    while True:
        pages += 1
        ids = await event_ids(web)
        assert len(ids) == (25 if pages * 25 <= total else total % 25)
        seen += ids
        older = web.page.get_by_role("link", name="Older events")
        if not await older.count():
            break
        await older.click()
        await expect(web.page.get_by_role("link", name="Newest events")).to_be_visible()
    assert pages == -(-total // 25)
    assert len(seen) == total == len(set(seen))
    assert seen == sorted(seen, reverse=True)  # UUIDv7: newest first, no gap, no repeat

    # Filter by action: only those events, paged the same way, the filter kept.
    await web.page.get_by_role("link", name="Newest events").click()
    await web.page.get_by_label("Show").select_option(label="Connection tested")
    await web.page.get_by_role("button", name="Filter").click()
    await expect(web.page).to_have_url(re.compile(r"action=CONNECTION_CHECKED"))
    rows = web.page.locator("table.audit tbody tr")
    await expect(rows).to_have_count(25)
    await expect(rows.first).to_contain_text("Connection tested")
    await expect(rows.first).to_contain_text(team.owner.email)
    await expect(rows.first).to_contain_text("check 39")
    assert {await r.get_attribute("data-action") for r in await rows.all()} == {
        "CONNECTION_CHECKED"
    }
    await web.page.get_by_role("link", name="Older events").click()
    await expect(web.page).to_have_url(re.compile(r"action=CONNECTION_CHECKED&cursor="))
    await expect(rows).to_have_count(15)
    await expect(rows.last).to_contain_text("check 0")
    await expect(web.page.get_by_role("link", name="Older events")).to_have_count(0)
    await expect(web.page.get_by_label("Show")).to_have_value("CONNECTION_CHECKED")

    await web.page.get_by_label("Show").select_option(label="API key created")
    await web.page.get_by_role("button", name="Filter").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Nightly export")

    await web.page.get_by_label("Show").select_option(label="Password reset")
    await web.page.get_by_role("button", name="Filter").click()
    await expect(rows).to_have_count(0)
    await expect(web.page.locator("main")).to_contain_text("No “Password reset” events.")

    # A cursor that is no event id: a page in words, not a traceback or JSON.
    answer = await web.page.request.get(f"{web.base}/settings/audit?cursor=nonsense")
    assert answer.status == 404
    assert "start again from the newest events" in await answer.text()


def _kid_of(token: str) -> str:
    header = token.split(".")[0]
    decoded: dict[str, str] = json.loads(
        base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
    )
    return decoded["kid"]


async def test_signing_keys_are_shown_to_platform_admins_only(
    web: WebPage, runtime: Runtime
) -> None:
    admins = await make_team(runtime, platform_admin=True)
    await sign_in(web, admins.owner.email)
    access = next(c for c in await web.page.context.cookies() if c["name"] == "sh_access")
    await web.go("/settings")
    tabs = web.page.get_by_role("navigation", name="Settings sections")
    await tabs.get_by_role("link", name="Signing keys").click()
    await expect(web.page).to_have_url(web.base + "/settings/signing-keys")
    signing = web.page.locator("table.signing-keys tr.key-signing")
    await expect(signing).to_have_count(1)
    await expect(signing).to_contain_text(_kid_of(access["value"]))
    await expect(signing).to_contain_text("Signing now")

    # Every settings page: 200, a strict CSP, and (the fixture checks) no console error.
    for path in (*SETTINGS_PAGES, "/settings/signing-keys"):
        response = await web.page.goto(web.base + path)
        assert response is not None and response.status == 200, path
        csp = await response.header_value("content-security-policy")
        assert csp is not None, path
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp, path
        assert "style-src 'self'" in csp and "frame-ancestors 'none'" in csp, path


async def test_a_seller_sees_no_signing_keys(web: WebPage, runtime: Runtime) -> None:
    team = await make_team(runtime)
    await sign_in(web, team.owner.email)
    for path in SETTINGS_PAGES:
        response = await web.page.goto(web.base + path)
        assert response is not None and response.status == 200, path
        csp = await response.header_value("content-security-policy") or ""
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp, path
        tabs = web.page.get_by_role("navigation", name="Settings sections")
        await expect(tabs.get_by_role("link", name="Signing keys")).to_have_count(0)
    refused = await web.page.request.get(f"{web.base}/settings/signing-keys")
    assert refused.status == 403
    text = await refused.text()
    assert "Only platform administrators can see the signing keys." in text
    assert "key-signing" not in text


async def test_settings_need_a_sign_in(web: WebPage) -> None:
    await web.go("/settings/api-keys")
    await expect(web.page).to_have_url(re.compile(r"/login\?next=%2Fsettings%2Fapi-keys$"))


async def test_key_status_names_what_each_key_does(runtime: Runtime) -> None:
    """The service behind the platform admins' table: signing, next (with its activation) and
    retired-but-published keys by their stored times; a key no longer published is left out.
    Written in a transaction that is rolled back (the live server never sees these keys)."""
    at = utcnow() + timedelta(days=10)  # later than every real key: ours decide
    rows = {
        "test-signing": (at - timedelta(hours=2), at + timedelta(minutes=5), None),
        "test-next": (at + timedelta(minutes=5), None, None),
        "test-retired": (
            at - timedelta(days=1),
            at - timedelta(hours=2),
            at + timedelta(minutes=10),
        ),
        "test-gone": (at - timedelta(days=2), at - timedelta(days=1), at - timedelta(minutes=1)),
    }
    async with runtime.sessionmaker() as session:
        for kid, (activates_at, retired_at, published_until) in rows.items():
            session.add(
                SigningKey(
                    kid=kid,
                    algorithm="ES256",
                    private_key="unused",
                    public_jwk={"kid": kid},
                    activates_at=activates_at,
                    retired_at=retired_at,
                    published_until=published_until,
                )
            )
        await session.flush()
        statuses = await signing_keys.key_status(session, at)
        await session.rollback()
    ours = {s.kid: s for s in statuses if s.kid.startswith("test-")}
    assert {kid: s.state for kid, s in ours.items()} == {
        "test-signing": "signing",
        "test-next": "next",
        "test-retired": "retired",
    }
    assert ours["test-next"].activates_at == rows["test-next"][0]
    assert ours["test-retired"].published_until == rows["test-retired"][2]
    assert [s.state for s in statuses].count("signing") == 1


def test_the_signing_key_table_says_when_the_next_key_signs() -> None:
    """The platform admins' table for a rotation in progress (one that the shared live server
    must not go through): the next key with its activation time, the retiring one with the time
    it stops being published."""
    start = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
    activates = start + timedelta(minutes=7, seconds=5)
    keys = [
        signing_keys.KeyStatus(
            "kid-next", "ES256", "next", start, activates, retired_at=None, published_until=None
        ),
        signing_keys.KeyStatus(
            "kid-now", "ES256", "signing", start - timedelta(days=30),
            start - timedelta(days=30), retired_at=activates,
            published_until=activates + timedelta(minutes=20),
        ),
    ]  # fmt: skip
    viewer = SimpleNamespace(
        csrf_token="token",
        organization_name="Ops",
        user_email="ops@example.com",
        user_name="",
    )
    html = environment.get_template("settings_signing_keys.html").render(
        request=None, viewer=viewer, nav="/settings", tabs=[], tab="", keys=keys,
        key_states=KEY_STATES,
    )  # fmt: skip
    rows = re.findall(r'<tr class="key-(\w+)">(.*?)</tr>', html, flags=re.S)
    assert [state for state, _ in rows] == ["next", "signing"]
    assert "Next" in rows[0][1] and "signs from 2030-05-01 12:07:05 UTC" in rows[0][1]
    assert "Signing now" in rows[1][1]
    assert "2030-05-01 12:07:05 UTC" in rows[1][1]  # retires when the next key signs
    assert "2030-05-01 12:27:05 UTC" in rows[1][1]  # and stays published 20 minutes more
