"""Inventory and products in a real browser (issue 13, deliverable 7): a 1,000-row CSV uploaded
through the import page (the File streamed to the API's import route) whose progress reaches
100 % and whose levels then show; a file with bad rows answered with the report as a table in
words and nothing applied; a running import's progress polled by htmx until it finishes; an
adjustment with a stale on hand refused in words (compare-and-set) and the figures read again;
the low-stock and location filters; a member sees everything, may adjust (as in the API), but
cannot import or change products (disabled with the reason, and forged requests are refused in
words); products created, searched, edited and archived; the dashboard's inventory card."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from playwright.async_api import expect
from sqlalchemy import func, select

from sellerhub.commerce.catalog import service as catalog
from sellerhub.commerce.catalog.models import Product
from sellerhub.commerce.catalog.schemas import ProductIn
from sellerhub.commerce.inventory import service as inventory
from sellerhub.commerce.inventory.models import (
    ImportStatus,
    InventoryImport,
    StockLevel,
    StockMovement,
)
from sellerhub.commerce.inventory.schemas import AdjustmentIn, LocationIn
from sellerhub.core.clock import utcnow
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.runtime import Runtime
from tests.web.conftest import WebPage
from tests.web.test_settings import Team, csrf_token, expect_refused_in_console, make_team, sign_in

LOCATIONS = ("main", "east", "west", "north")


@dataclass
class Shop:
    team: Team
    skus: list[str]


async def make_shop(runtime: Runtime, products: int = 3) -> Shop:
    """A team whose organization has ``products`` SKUs and four locations, no stock yet."""
    team = await make_team(runtime)
    skus = [f"SKU-{i:04d}" for i in range(products)]
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, team.organization_id)
        for code in LOCATIONS:
            await inventory.create_location(session, LocationIn(code=code, name=code.title()))
        for sku in skus:
            await catalog.create(session, ProductIn(sku=sku, title=f"Widget {sku}"))
    return Shop(team, skus)


async def adjust(runtime: Runtime, shop: Shop, sku: str, location: str, on_hand: int) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, shop.team.organization_id)
        await inventory.adjust(
            session,
            AdjustmentIn(
                idempotency_key=str(uuid.uuid4()),
                sku=sku,
                location=location,
                mode="set",
                quantity=on_hand,
            ),
        )


async def stock(runtime: Runtime, shop: Shop) -> tuple[int, int, int]:
    """(levels, units on hand, movements) of the shop's organization."""
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, shop.team.organization_id)
        levels = await session.scalar(select(func.count(StockLevel.product_id)))
        units = await session.scalar(select(func.coalesce(func.sum(StockLevel.on_hand), 0)))
        moves = await session.scalar(select(func.count(StockMovement.id)))
    return int(levels or 0), int(units or 0), int(moves or 0)


async def upload(web: WebPage, name: str, content: str, *, partial: bool = False) -> None:
    await web.go("/inventory/import")
    await web.page.get_by_label("File", exact=True).set_input_files(
        {"name": name, "mimeType": "text/csv", "buffer": content.encode()}
    )
    if partial:
        await web.page.get_by_label("Apply the good rows even if others are wrong").check()
    await web.page.get_by_role("button", name="Upload and import").click()


# --- bulk import ---------------------------------------------------------------------------


async def test_a_thousand_row_file_uploaded_through_the_page_is_imported(
    web: WebPage, runtime: Runtime
) -> None:
    shop = await make_shop(runtime, products=250)
    rows = [
        f"{sku};{code};{(i * 7 + j) % 40 + 1}"
        for i, sku in enumerate(shop.skus)
        for j, code in enumerate(LOCATIONS)
    ]
    assert len(rows) == 1000
    csv = "\ufeffSKU;Location;Quantity\r\n" + "\r\n".join(rows) + "\r\n"  # BOM, semicolons
    expected_units = sum(int(r.rsplit(";", 1)[1]) for r in rows)

    await sign_in(web, shop.team.owner.email)
    await upload(web, "stock.csv", csv)
    bar = web.page.locator("#import-bar")
    await expect(bar).to_have_attribute("value", "100")
    status = web.page.locator(".import-state")
    await expect(status).to_have_text("Imported · 100 %")
    await expect(web.page.locator("[data-rows-read]")).to_have_text("1,000")
    await expect(web.page.locator("[data-rows-valid]")).to_have_text("1,000")
    await expect(web.page.locator("[data-rows-applied]")).to_have_text("1,000")
    await expect(web.page.locator(".import-status")).to_contain_text("Every row was applied.")
    await expect(web.page).to_have_url(re.compile(r"/inventory/import\?import=[0-9a-f-]{36}$"))
    assert await stock(runtime, shop) == (1000, expected_units, 1000)

    # The levels show on the inventory page, with available = on hand - reserved.
    await web.page.get_by_role("link", name="See the stock levels").click()
    await expect(web.page.get_by_role("heading", level=1)).to_have_text("Inventory")
    table = web.page.locator("table.levels tbody tr")
    await expect(table).to_have_count(50)  # a page of 50
    await expect(web.page.get_by_role("link", name="Next page")).to_be_visible()
    await web.page.get_by_label("SKU").fill("SKU-0249")
    await web.page.get_by_role("button", name="Apply filters").click()
    await expect(table).to_have_count(4)
    i = 249
    for j, code in enumerate(LOCATIONS):
        row = table.filter(has=web.page.get_by_role("cell", name=code, exact=True))
        quantity = (i * 7 + j) % 40 + 1
        await expect(row.locator("td.available")).to_contain_text(str(quantity))

    # Reloading the import's address shows the same finished import (no polling).
    await web.page.go_back()
    await web.page.go_back()
    await web.page.reload()
    await expect(web.page.locator(".import-state")).to_have_text("Imported · 100 %")
    assert await web.page.locator("[hx-trigger]").count() == 0


async def test_a_file_with_bad_rows_shows_the_report_and_applies_nothing(
    web: WebPage, runtime: Runtime
) -> None:
    shop = await make_shop(runtime)
    await adjust(runtime, shop, "SKU-0000", "main", 3)
    before = await stock(runtime, shop)
    csv = (
        "sku,location,quantity,mode\n"
        "SKU-0000,main,10,set\n"
        "NOPE-1,main,5,set\n"
        "SKU-0001,attic,5,set\n"
        "SKU-0002,main,lots,set\n"
        "SKU-0001,main,-9,add\n"
    )
    await sign_in(web, shop.team.owner.email)
    await upload(web, "bad.csv", csv)
    status = web.page.locator(".import-state")
    await expect(status).to_contain_text(
        "Not imported: some rows are wrong, so nothing was applied"
    )
    await expect(web.page.locator("#import-bar")).to_have_attribute("value", "100")
    table = web.page.locator("table.import-errors")
    await expect(table.locator("thead")).to_contain_text("Row")
    await expect(table.locator("thead")).to_contain_text("Problem")
    rows = table.locator("tbody tr")
    unknown = rows.filter(has_text="NOPE-1")
    await expect(unknown.locator("td").nth(0)).to_have_text("2")
    await expect(unknown.locator("td").nth(1)).to_have_text("sku")
    await expect(rows.filter(has_text="attic").locator("td").nth(1)).to_have_text("location")
    await expect(rows.filter(has_text="lots")).to_contain_text("the quantity is not a whole number")
    body = await table.inner_text()
    assert "{" not in body and "Traceback" not in body
    link = web.page.get_by_role("link", name="Download the whole report (errors.csv)")
    href = await link.get_attribute("href")
    assert href is not None and href.endswith("/errors.csv")
    report = await web.page.request.get(web.base + href)
    assert report.ok
    lines = (await report.text()).splitlines()
    assert lines[0] == "row,column,value,message"
    assert any(line.startswith("2,sku,NOPE-1,") for line in lines)
    # Nothing was applied: the levels and the journal are as before.
    assert await stock(runtime, shop) == before

    # A file that cannot be read at all is refused in words under the form.
    await upload(web, "broken.csv", 'sku,location,quantity\n"SKU-0000,main,1\n')
    error = web.page.locator("form [data-errors]")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("cannot be read")
    await expect(error).not_to_contain_text("{")
    assert await stock(runtime, shop) == before

    # With "apply the good rows", the good row goes in and the report lists the others.
    await upload(web, "bad.csv", csv, partial=True)
    await expect(web.page.locator(".import-status")).to_contain_text(
        "The good rows were applied; the rows below were skipped."
    )
    await expect(web.page.locator("table.import-errors tbody tr").first).to_be_visible()
    levels, units, _ = await stock(runtime, shop)
    assert (levels, units) == (1, 10)


async def test_a_running_import_is_polled_until_it_finishes(web: WebPage, runtime: Runtime) -> None:
    """A large import continues in a job: the page polls its progress every second and stops
    once it has finished (here the import's row is moved on as the job would move it)."""
    shop = await make_shop(runtime)
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, shop.team.organization_id)
        item = InventoryImport(
            organization_id=shop.team.organization_id,
            status=ImportStatus.VALIDATING,
            file_format="csv",
            rows_read=20_000,
        )
        item.ensure_id()
        session.add(item)
    await sign_in(web, shop.team.member.email)  # any member follows an import
    await web.go(f"/inventory/import?import={item.id}")
    progress = web.page.locator(f"#import-{item.id}")
    await expect(progress).to_have_attribute("hx-trigger", "every 1s")
    await expect(web.page.locator(".import-state")).to_have_text("Checking every row · 33 %")
    await expect(web.page.locator("[data-rows-read]")).to_have_text("20,000")
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, shop.team.organization_id)
        row = await session.get(InventoryImport, item.id)
        assert row is not None
        row.status, row.rows_valid, row.rows_applied = ImportStatus.APPLYING, 20_000, 0
    await expect(web.page.locator(".import-state")).to_have_text("Applying the quantities · 66 %")
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, shop.team.organization_id)
        row = await session.get(InventoryImport, item.id)
        assert row is not None
        row.status, row.rows_applied, row.finished_at = ImportStatus.SUCCEEDED, 20_000, utcnow()
    await expect(web.page.locator(".import-state")).to_have_text("Imported · 100 %")
    await expect(web.page.locator("#import-bar")).to_have_attribute("value", "100")
    await expect(web.page.locator(f"#import-{item.id}")).not_to_have_attribute(
        "hx-trigger", "every 1s"
    )


# --- levels, adjustments -------------------------------------------------------------------


async def test_an_adjustment_with_a_stale_quantity_is_refused_in_words(
    web: WebPage, runtime: Runtime
) -> None:
    shop = await make_shop(runtime)
    await adjust(runtime, shop, "SKU-0001", "main", 10)
    await sign_in(web, shop.team.owner.email)
    await web.go("/inventory/sku?sku=SKU-0001")
    card = web.page.locator("article.level-card", has_text="main")
    await expect(card.locator("[data-on-hand]")).to_have_text("10")

    # Someone else changes it after the page was read.
    await adjust(runtime, shop, "SKU-0001", "main", 7)
    await card.get_by_label("Quantity at main").fill("12")
    await card.get_by_role("button", name="Save").click()
    flash = web.page.locator("#flash")
    await expect(flash).to_contain_text(
        "The quantity changed since you looked: SKU-0001 at main has 7 on hand now, not 10. "
        "Nothing was changed"
    )
    expect_refused_in_console(web, 409, "/inventory/adjust")
    # The figures were read again; on hand is still what the other writer set.
    await expect(card.locator("[data-on-hand]")).to_have_text("7")
    assert (await stock(runtime, shop))[1] == 7

    # Adjusting again from the fresh figures works, and the journal shows it.
    await card.get_by_label("Change").select_option("delta")
    await card.get_by_label("Quantity at main").fill("-2")
    await card.get_by_role("button", name="Save").click()
    await expect(flash).to_contain_text("Saved: SKU-0001 at main has 5 on hand (-2), 5 available.")
    await expect(card.locator("[data-on-hand]")).to_have_text("5")
    journal = web.page.locator("table.journal tbody tr")
    await expect(journal).to_have_count(3)
    await expect(journal.first).to_contain_text("Adjusted")
    await expect(journal.first).to_contain_text("5 / 0")
    assert (await stock(runtime, shop))[1] == 5

    # Stocking another location from the same page.
    form = web.page.get_by_role("form", name="Stock another location")
    await form.get_by_label("Location").select_option("east")
    await form.get_by_label("On hand there").fill("4")
    await form.get_by_role("button", name="Save").click()
    await expect(flash).to_contain_text("Saved: SKU-0001 at east has 4 on hand (+4)")
    await expect(web.page.locator("article.level-card", has_text="east")).to_be_visible()
    await expect(journal).to_have_count(4)


async def test_low_stock_and_location_filters(web: WebPage, runtime: Runtime) -> None:
    shop = await make_shop(runtime)
    await adjust(runtime, shop, "SKU-0000", "main", 2)
    await adjust(runtime, shop, "SKU-0001", "main", 50)
    await adjust(runtime, shop, "SKU-0002", "east", 1)
    await adjust(runtime, shop, "SKU-0002", "main", 8)
    other = await make_shop(runtime)  # another organization's stock counts nowhere here
    await adjust(runtime, other, "SKU-0000", "main", 1)
    await adjust(runtime, other, "SKU-0001", "east", 900)
    await sign_in(web, shop.team.member.email)

    # The dashboard's inventory card counts the same.
    card = web.page.locator("section.card", has_text="Inventory")
    await expect(card.locator("[data-skus]")).to_have_text("3")
    await expect(card.locator("[data-units]")).to_have_text("61")
    await expect(card.locator("[data-low]")).to_contain_text("2 stock levels low")
    await card.locator("[data-low]").click()
    rows = web.page.locator("table.levels tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_contain_text("SKU-0000")
    await expect(rows.nth(1)).to_contain_text("SKU-0002")
    await expect(rows.nth(1)).to_contain_text("east")

    await web.page.get_by_label("Location").select_option("main")
    await web.page.get_by_role("button", name="Apply filters").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("SKU-0000")
    await web.page.get_by_label("Low stock: fewer than").fill("10")
    await web.page.get_by_role("button", name="Apply filters").click()
    await expect(rows).to_have_count(2)  # SKU-0000 (2) and SKU-0002 (8) at main
    await web.page.get_by_label("Only low stock").uncheck()
    await web.page.get_by_role("button", name="Apply filters").click()
    await expect(rows).to_have_count(3)
    await web.page.get_by_label("SKU").fill("NOPE")
    await web.page.get_by_role("button", name="Apply filters").click()
    await expect(web.page.get_by_role("alert")).to_contain_text("no product has the SKU 'NOPE'")


async def test_a_member_cannot_import_or_change_products(web: WebPage, runtime: Runtime) -> None:
    shop = await make_shop(runtime)
    await sign_in(web, shop.team.member.email)
    await web.go("/inventory/import")
    reason = "Only an owner or admin of the organization can import stock."
    await expect(web.page.locator("#import-admin-only")).to_have_text(reason)
    await expect(web.page.get_by_role("button", name="Upload and import")).to_be_disabled()
    await expect(web.page.get_by_label("File", exact=True)).to_be_disabled()

    # Past the disabled control, the API refuses the upload in words.
    token = await csrf_token(web)
    forged = await web.page.request.post(
        f"{web.base}/api/v1/inventory/imports",
        headers={"X-CSRF-Token": token, "Content-Type": "text/csv"},
        data="sku,location,quantity\nSKU-0000,main,5\n",
    )
    assert forged.status == 403
    assert (await forged.json())["detail"] == "this needs the admin role or higher"

    await web.go("/products")
    why = "Only an owner or admin of the organization can create, edit or archive products."
    await expect(web.page.locator("#products-admin-only")).to_have_text(why)
    await expect(web.page.get_by_role("button", name="Create product")).to_be_disabled()
    archive = web.page.get_by_role("button", name="Archive SKU-0000")
    await expect(archive).to_be_disabled()
    await expect(archive).to_have_attribute("title", why)
    htmx = {"HX-Request": "true", "X-CSRF-Token": token}
    created = await web.page.request.post(
        f"{web.base}/products", headers=htmx, form={"sku": "SNEAKY"}
    )
    assert created.status == 403
    assert created.headers["hx-retarget"] == "#flash"
    assert "only an owner or admin of the organization can do this" in await created.text()
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, shop.team.organization_id)
        product = await catalog.by_sku(session, "SKU-0000")
        assert (
            await session.scalar(select(func.count(Product.id)).where(Product.sku == "SNEAKY")) == 0
        )
    archived = await web.page.request.post(
        f"{web.base}/products/{product.id}/archive", headers=htmx
    )
    assert archived.status == 403
    assert "only an owner or admin" in await archived.text()
    no_csrf = await web.page.request.post(
        f"{web.base}/products/{product.id}/archive", headers={"HX-Request": "true"}
    )
    assert no_csrf.status == 403
    assert "reload the page" in await no_csrf.text()
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, shop.team.organization_id)
        assert (await catalog.by_sku(session, "SKU-0000")).archived_at is None

    # A member adjusts stock, as the API lets members do.
    await web.go("/inventory/sku?sku=SKU-0000")
    form = web.page.get_by_role("form", name="Stock another location")
    await form.get_by_label("On hand there").fill("3")
    await form.get_by_role("button", name="Save").click()
    await expect(web.page.locator("#flash")).to_contain_text("Saved: SKU-0000 at main has 3")
    card = web.page.locator("article.level-card", has_text="main")
    await expect(card.locator("[data-on-hand]")).to_have_text("3")  # the figures read again
    await expect(web.page.locator("table.journal tbody tr")).to_have_count(1)


# --- products ------------------------------------------------------------------------------


async def test_products_are_created_searched_edited_and_archived(
    web: WebPage, runtime: Runtime
) -> None:
    shop = await make_shop(runtime)
    await sign_in(web, shop.team.owner.email)
    await web.go("/products")
    rows = web.page.locator("table.products tbody tr")
    await expect(rows).to_have_count(3)

    create = web.page.locator("section.product-create")
    await create.get_by_label("SKU", exact=True).fill("MUG-RED")
    await create.get_by_label("Title").fill("Red mug")
    await create.get_by_label("ASIN").fill("B000RED001")
    await create.get_by_role("button", name="Create product").click()
    await expect(web.page.get_by_role("status").filter(has_text="created")).to_have_text(
        "Product MUG-RED created."
    )
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Red mug")
    await expect(rows.first).to_contain_text("ASIN B000RED001")
    await expect(rows.first).to_contain_text("not listed")

    # The same SKU again is refused in words.
    await create.get_by_label("SKU", exact=True).fill("MUG-RED")
    await create.get_by_role("button", name="Create product").click()
    await expect(web.page.locator("#flash")).to_have_text(
        "another product already has the SKU 'MUG-RED'"
    )
    expect_refused_in_console(web, 409, "/products")

    # Search by part of the title.
    await web.page.get_by_label("Search", exact=True).fill("widget")
    await web.page.get_by_role("button", name="Search").click()
    await expect(rows).to_have_count(3)
    await web.page.get_by_label("Search", exact=True).fill("0001")
    await web.page.get_by_role("button", name="Search").click()
    await expect(rows).to_have_count(1)
    row = rows.first
    await expect(row).to_contain_text("SKU-0001")

    # Edit, then archive after the confirmation dialog.
    await row.locator("summary").click()
    await row.get_by_label("Title").fill("Blue widget")
    await row.get_by_role("button", name="Save SKU-0001").click()
    await expect(row).to_contain_text("Saved.")
    await expect(row).to_contain_text("Blue widget")
    await row.get_by_role("button", name="Archive SKU-0001").click()
    dialog = web.page.locator("#modal")
    await expect(dialog).to_contain_text("Archive SKU-0001?")
    await dialog.get_by_role("button", name="OK").click()
    await expect(row).to_contain_text("Archived")
    await expect(row.get_by_role("button", name="Archive SKU-0001")).to_have_count(0)
    await web.page.reload()
    await expect(rows).to_have_count(0)
    await expect(web.page.locator("#products")).to_contain_text("No product matches")
    await web.page.get_by_label("Include archived").check()
    await web.page.get_by_role("button", name="Search").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Archived")


async def test_inventory_pages_fit_a_phone(web: WebPage, runtime: Runtime) -> None:
    shop = await make_shop(runtime)
    await adjust(runtime, shop, "SKU-0000", "main", 2)
    await sign_in(web, shop.team.owner.email)
    await web.page.set_viewport_size({"width": 375, "height": 740})
    for path in ("/inventory", "/inventory/sku?sku=SKU-0000", "/inventory/import", "/products"):
        response = await web.page.goto(web.base + path)
        assert response is not None and response.status == 200, path
        csp = await response.header_value("content-security-policy")
        assert csp is not None and "'unsafe-inline'" not in csp, path
        overflow = await web.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, (path, overflow)
