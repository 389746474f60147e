"""Bulk inventory imports over HTTP on PostgreSQL (issue 13, deliverable 5): one consolidated
report and nothing applied when a row is bad; partial imports; BOM, semicolon and JSON files;
the size limit; a retried upload with its key; large files through the job; tenants isolated;
the journal replayed equals the levels."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from sellerhub.commerce.catalog.models import Product
from sellerhub.commerce.inventory.models import (
    InventoryImport,
    Location,
    LocationKind,
    StockLevel,
    StockMovement,
)
from sellerhub.config import Settings
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant, system_context
from sellerhub.identity.organizations.models import Role
from sellerhub.runtime import Runtime
from tests.conftest import Tenant, make_tenant
from tests.jobs_helpers import run_worker

URL = "/api/v1/inventory/imports"
CSV = {"Content-Type": "text/csv"}


async def _catalog(runtime: Runtime, tenant: Tenant, skus: list[str], codes: list[str]) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        org = tenant.organization.id
        set_tenant(session, org)
        for sku in skus:
            product = Product(organization_id=org, sku=sku, title=sku)
            product.ensure_id()
            session.add(product)
        for code in codes:
            location = Location(organization_id=org, code=code, kind=LocationKind.WAREHOUSE)
            location.ensure_id()
            session.add(location)


async def _levels(runtime: Runtime, tenant: Tenant) -> dict[tuple[str, str], tuple[int, int]]:
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        rows = await session.execute(
            select(Product.sku, Location.code, StockLevel.on_hand, StockLevel.reserved)
            .join(Product, Product.id == StockLevel.product_id)
            .join(Location, Location.id == StockLevel.location_id)
        )
        return {(sku, code): (on_hand, reserved) for sku, code, on_hand, reserved in rows}


async def _replayed(runtime: Runtime, tenant: Tenant) -> dict[tuple[str, str], tuple[int, int]]:
    """The journal replayed: the sum of the deltas per level, and the last quantities after."""
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        rows = await session.execute(
            select(
                Product.sku,
                Location.code,
                func.sum(StockMovement.delta_on_hand),
                func.sum(StockMovement.delta_reserved),
            )
            .join(Product, Product.id == StockMovement.product_id)
            .join(Location, Location.id == StockMovement.location_id)
            .group_by(Product.sku, Location.code)
        )
        return {(sku, code): (int(a), int(b)) for sku, code, a, b in rows}


def _csv(rows: list[list[Any]], delimiter: str = ",") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode()


async def _post(
    client: httpx.AsyncClient,
    tenant: Tenant,
    body: bytes,
    *,
    path: str = URL,
    content_type: str = "text/csv",
    **params: str,
) -> httpx.Response:
    headers = tenant.headers | {"Content-Type": content_type}
    key = params.pop("key", None)
    if key:
        headers["Idempotency-Key"] = key
    return await client.post(path, content=body, headers=headers, params=params)


@pytest.fixture
async def stocked(runtime: Runtime, tenant: Tenant) -> Tenant:
    await _catalog(runtime, tenant, ["A-1", "B-2", "C-3"], ["WH1", "WH2"])
    return tenant


async def test_a_csv_sets_and_adds_and_the_journal_replays_to_the_levels(
    client: httpx.AsyncClient, runtime: Runtime, stocked: Tenant
) -> None:
    first = _csv([["sku", "location", "quantity"], ["A-1", "WH1", 10], ["B-2", "WH2", 4]])
    answer = await _post(client, stocked, first, path="/inventory/bulk")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["status"] == "succeeded" and body["errors"] == []
    assert (body["rows_read"], body["rows_valid"], body["rows_applied"]) == (2, 2, 2)
    second = _csv(
        [
            ["SKU", "Location", "Quantity", "Mode", "note"],
            ["A-1", "WH1", "-3", "add", "sold"],
            ["B-2", "WH2", "7", "set", ""],
            ["C-3", "WH1", "5", "add", ""],
            ["B-2", "WH1", "0", "", ""],
        ]
    )
    answer = await _post(client, stocked, second)
    assert answer.status_code == 201, answer.text
    levels = await _levels(runtime, stocked)
    assert levels == {
        ("A-1", "WH1"): (7, 0),
        ("B-2", "WH2"): (7, 0),
        ("C-3", "WH1"): (5, 0),
        ("B-2", "WH1"): (0, 0),
    }
    replayed = await _replayed(runtime, stocked)
    assert replayed == levels
    got = await client.get(f"{URL}/{body['id']}", headers=stocked.headers)
    assert got.status_code == 200 and got.json()["status"] == "succeeded"
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, stocked.organization.id)
        moves = (await session.scalars(select(StockMovement).order_by(StockMovement.id))).all()
    assert {m.reason for m in moves} == {"import"}
    assert moves[0].source == f"import:{body['id']}"
    a1 = [(m.delta_on_hand, m.on_hand_after) for m in moves if m.on_hand_after in (10, 7)]
    assert (10, 10) in a1 and (-3, 7) in a1


async def test_bad_rows_give_one_report_and_nothing_is_applied(
    client: httpx.AsyncClient, runtime: Runtime, stocked: Tenant
) -> None:
    await _post(client, stocked, _csv([["sku", "location", "quantity"], ["C-3", "WH1", 2]]))
    before_levels = await _levels(runtime, stocked)
    rows = [
        ["sku", "location", "quantity", "mode"],
        ["A-1", "WH1", "5", "set"],  # 1: good
        ["NOPE", "WH1", "5", "set"],  # 2: unknown SKU
        ["A-1", "XX", "abc", "set"],  # 3: unknown location and not a number
        ["C-3", "WH2", "1.5", "add"],  # 4: not a whole number
        ["B-2", "WH1", "3", "replace"],  # 5: bad mode
        ["C-3", "WH1", "-5", "add"],  # 6: would make on hand negative
        ["A-1", "WH2", "-1", "set"],  # 7: negative set
        ["B-2", "WH2", "2", "set"],  # 8: duplicate of 9
        ["B-2", "WH2", "3", "add"],  # 9: duplicate of 8
    ]
    answer = await _post(client, stocked, _csv(rows))
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["code"] == "inventory-import-rejected"
    assert problem["import"]["status"] == "rejected"
    report = {(e["row"], e["column"]) for e in problem["errors"]}
    assert report == {
        (2, "sku"),
        (3, "location"),
        (3, "quantity"),
        (4, "quantity"),
        (5, "mode"),
        (6, "quantity"),
        (7, "quantity"),
        (8, "sku+location"),
        (9, "sku+location"),
    }
    messages = {(e["row"], e["column"]): e["message"] for e in problem["errors"]}
    assert "no product has this SKU" in messages[(2, "sku")]
    assert "negative" in messages[(6, "quantity")]
    assert "row 8" in messages[(9, "sku+location")]
    assert problem["import"]["rows_valid"] == 1 and problem["import"]["rows_applied"] == 0
    assert await _levels(runtime, stocked) == before_levels  # nothing applied
    # The report is kept, and downloadable as CSV.
    import_id = problem["import"]["id"]
    got = await client.get(f"{URL}/{import_id}", headers=stocked.headers)
    assert got.json()["status"] == "rejected" and got.json()["error_count"] == 9
    report_csv = await client.get(f"{URL}/{import_id}/errors.csv", headers=stocked.headers)
    assert report_csv.status_code == 200
    assert report_csv.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(report_csv.text)))
    assert lines[0] == ["row", "column", "value", "message"]
    assert ["2", "sku", "NOPE", "no product has this SKU"] in lines
    assert len(lines) == 10


async def test_a_set_below_the_reserved_units_is_reported_in_words(
    client: httpx.AsyncClient, runtime: Runtime, stocked: Tenant
) -> None:
    await _post(client, stocked, _csv([["sku", "location", "quantity"], ["A-1", "WH1", 10]]))
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, stocked.organization.id)
        level = await session.scalar(select(StockLevel))
        assert level is not None
        level.reserved = 6
    answer = await _post(
        client, stocked, _csv([["sku", "location", "quantity"], ["A-1", "WH1", 5]])
    )
    assert answer.status_code == 422
    (error,) = answer.json()["errors"]
    assert error["column"] == "quantity" and "6 units are reserved" in error["message"]
    assert await _levels(runtime, stocked) == {("A-1", "WH1"): (10, 6)}


async def test_a_partial_import_applies_the_good_rows_and_reports_the_bad(
    client: httpx.AsyncClient, runtime: Runtime, stocked: Tenant
) -> None:
    rows: list[list[Any]] = [
        ["sku", "location", "quantity"],
        ["A-1", "WH1", 3],
        ["NOPE", "WH1", 1],
        ["B-2", "WH2", "x"],
    ]
    answer = await _post(client, stocked, _csv(rows), partial="true")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["status"] == "succeeded" and body["partial"] is True
    assert (body["rows_read"], body["rows_valid"], body["rows_applied"]) == (3, 1, 1)
    assert {(e["row"], e["column"]) for e in body["errors"]} == {(2, "sku"), (3, "quantity")}
    assert await _levels(runtime, stocked) == {("A-1", "WH1"): (3, 0)}
    assert await _replayed(runtime, stocked) == {("A-1", "WH1"): (3, 0)}


async def test_a_bom_and_semicolons_are_read(
    client: httpx.AsyncClient, runtime: Runtime, stocked: Tenant
) -> None:
    body = (
        b"\xef\xbb\xbf"
        + _csv(
            [
                ["sku", "location", "quantity", "mode"],
                ["A-1", "WH1", "4", "set"],
                ["B-2", "WH2", "2", "add"],
            ],
            delimiter=";",
        )
        + b"\r\n"
    )  # and a blank line at the end
    answer = await _post(client, stocked, body)
    assert answer.status_code == 201, answer.text
    assert await _levels(runtime, stocked) == {("A-1", "WH1"): (4, 0), ("B-2", "WH2"): (2, 0)}


async def test_a_json_array_is_read(
    client: httpx.AsyncClient, runtime: Runtime, stocked: Tenant
) -> None:
    rows = [
        {"sku": "A-1", "location": "WH1", "quantity": 8},
        {"sku": "B-2", "location": "WH2", "quantity": "5", "mode": "add"},
    ]
    answer = await _post(
        client, stocked, json.dumps(rows).encode(), content_type="application/json"
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["file_format"] == "json"
    assert await _levels(runtime, stocked) == {("A-1", "WH1"): (8, 0), ("B-2", "WH2"): (5, 0)}
    bad = [{"sku": "A-1", "location": "WH1", "quantity": 1.5}, {"sku": "A-1", "location": "WH1"}]
    answer = await _post(client, stocked, json.dumps(bad).encode(), content_type="application/json")
    assert answer.status_code == 422
    assert {(e["row"], e["column"]) for e in answer.json()["errors"]} == {
        (1, "quantity"),
        (2, "quantity"),
        (1, "sku+location"),
        (2, "sku+location"),
    }


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        (b"sku,location\nA-1,WH1\n", "text/csv", "missing: quantity"),
        (b"sku,location,quantity\nA-1,WH1,1,extra\n", "text/csv", "row 1: the row has more"),
        (b"sku,location,quantity\nA-1,WH1\n", "text/csv", "fewer columns"),
        (b"sku,location,quantity\nA-1,WH1,\xff\n", "text/csv", "not valid UTF-8"),
        (b"sku,location,quantity\n", "text/csv", "no rows"),
        (b'[{"sku": "A-1"}', "application/json", "not complete"),
        (b'{"sku": "A-1"}', "application/json", "array of objects"),
        (b'[{"sku": "A\\u0000"}]', "application/json", "NUL"),
    ],
)
async def test_a_file_that_cannot_be_read_is_refused_in_words_and_nothing_is_stored(
    client: httpx.AsyncClient,
    runtime: Runtime,
    stocked: Tenant,
    body: bytes,
    content_type: str,
    words: str,
) -> None:
    answer = await _post(client, stocked, body, content_type=content_type)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "inventory-import-malformed"
    assert words in answer.json()["detail"]
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, stocked.organization.id)
        assert await session.scalar(select(func.count(InventoryImport.id))) == 0


async def test_a_file_over_the_limit_is_413(
    client: httpx.AsyncClient, runtime: Runtime, stocked: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = 64 * 1024
    monkeypatch.setattr(runtime.settings, "inventory_import_max_bytes", limit)
    header = b"sku,location,quantity\n"
    big = header + b"A-1,WH1,1\n" * (limit // 10 + 1)
    answer = await _post(client, stocked, big)  # Content-Length declared: refused at once
    assert answer.status_code == 413, answer.text
    assert answer.json()["code"] == "inventory-import-too-large"

    async def chunked() -> AsyncIterator[bytes]:  # no length: refused once past the limit
        yield header
        for _ in range(limit // 10_000 + 2):
            yield b"A-1,WH1,1\n" * 1_000

    answer = await client.post(URL, content=chunked(), headers=stocked.headers | CSV)
    assert answer.status_code == 413
    assert answer.json()["code"] == "inventory-import-too-large"
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, stocked.organization.id)
        assert await session.scalar(select(func.count(InventoryImport.id))) == 0
    # Just under the limit is accepted.
    fits = header + b"A-1,WH1,1\n"
    assert (await _post(client, stocked, fits)).status_code == 201


async def test_an_import_above_the_general_body_limit_is_accepted(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, settings: Settings
) -> None:
    skus = [f"S-{n:05d}" for n in range(3000)]
    await _catalog(runtime, tenant, skus, ["WH1", "WH2", "WH3", "WH4"])
    padding = "x" * 300
    rows = [["sku", "location", "quantity", "note"]]
    rows += [[sku, f"WH{w}", "1", padding] for sku in skus for w in (1, 2, 3, 4)][:4000]
    body = _csv(rows)
    assert len(body) > settings.max_body_bytes
    answer = await _post(client, tenant, body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["rows_applied"] == 4000


async def test_a_retried_upload_with_its_key_returns_the_same_import(
    client: httpx.AsyncClient, runtime: Runtime, stocked: Tenant
) -> None:
    body = _csv([["sku", "location", "quantity", "mode"], ["A-1", "WH1", "2", "add"]])
    first = await _post(client, stocked, body, key="upload-1")
    assert first.status_code == 201
    again = await _post(client, stocked, body, key="upload-1")
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert await _levels(runtime, stocked) == {("A-1", "WH1"): (2, 0)}  # added once
    other = await _post(client, stocked, body, key="upload-2")
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert await _levels(runtime, stocked) == {("A-1", "WH1"): (4, 0)}
    bad = _csv([["sku", "location", "quantity"], ["NOPE", "WH1", "2"]])
    rejected = await _post(client, stocked, bad, key="upload-3")
    replay = await _post(client, stocked, bad, key="upload-3")
    assert rejected.status_code == replay.status_code == 422
    assert replay.json()["import"]["id"] == rejected.json()["import"]["id"]


async def test_a_large_file_answers_202_and_finishes_in_the_job(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, settings: Settings
) -> None:
    count = settings.inventory_import_sync_rows + 1
    skus = [f"L-{n:05d}" for n in range(count)]
    await _catalog(runtime, tenant, skus, ["WH1"])
    body = _csv(
        [["sku", "location", "quantity"]] + [[sku, "WH1", n % 7] for n, sku in enumerate(skus)]
    )
    answer = await _post(client, tenant, body)
    assert answer.status_code == 202, answer.text
    assert answer.headers["Location"] == f"{URL}/{answer.json()['id']}"
    assert answer.json()["status"] == "validating" and answer.json()["rows_read"] == count
    await run_worker()
    done = (await client.get(answer.headers["Location"], headers=tenant.headers)).json()
    assert done["status"] == "succeeded"
    assert (done["rows_read"], done["rows_valid"], done["rows_applied"]) == (count, count, count)
    levels = await _levels(runtime, tenant)
    assert len(levels) == count and levels[("L-00008", "WH1")] == (1, 0)
    assert await _replayed(runtime, tenant) == {k: v for k, v in levels.items() if v != (0, 0)} | {
        k: v for k, v in levels.items() if v == (0, 0)
    }


async def test_a_large_import_whose_staged_rows_were_lost_fails_and_applies_nothing(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, settings: Settings
) -> None:
    """The staging table is UNLOGGED: a database crash between the 202 and the job empties
    it. The job must not call the import succeeded with nothing applied."""
    count = settings.inventory_import_sync_rows + 1
    skus = [f"L-{n:05d}" for n in range(count)]
    await _catalog(runtime, tenant, skus, ["WH1"])
    body = _csv([["sku", "location", "quantity"]] + [[sku, "WH1", 1] for sku in skus])
    answer = await _post(client, tenant, body)
    assert answer.status_code == 202, answer.text
    import_id = uuid.UUID(answer.json()["id"])
    async with unit_of_work(runtime.sessionmaker) as session:
        with system_context(session, "test: what crash recovery does to an unlogged table"):
            await session.execute(text(f"TRUNCATE inventory_staging.import_{import_id.hex}"))
    await run_worker()
    done = (await client.get(answer.headers["Location"], headers=tenant.headers)).json()
    assert done["status"] == "failed" and done["rows_applied"] == 0
    assert "were lost before they were validated" in done["failure"]
    assert await _levels(runtime, tenant) == {}


async def test_a_large_file_with_bad_rows_is_rejected_by_the_job(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, settings: Settings
) -> None:
    count = settings.inventory_import_sync_rows + 1
    skus = [f"L-{n:05d}" for n in range(count)]
    await _catalog(runtime, tenant, skus, ["WH1"])
    rows = [[sku, "WH1", 1] for sku in skus]
    rows[100] = ["NOPE", "WH1", 1]
    answer = await _post(client, tenant, _csv([["sku", "location", "quantity"], *rows]))
    assert answer.status_code == 202
    await run_worker()
    done = (await client.get(answer.headers["Location"], headers=tenant.headers)).json()
    assert done["status"] == "rejected" and done["error_count"] == 1
    assert done["rows_valid"] == count - 1 and done["rows_applied"] == 0
    assert await _levels(runtime, tenant) == {}
    report = await client.get(f"{answer.headers['Location']}/errors.csv", headers=tenant.headers)
    assert list(csv.reader(io.StringIO(report.text)))[1][:3] == ["101", "sku", "NOPE"]


async def test_another_organizations_import_is_404_and_its_skus_are_unknown(
    client: httpx.AsyncClient, runtime: Runtime, stocked: Tenant, other_tenant: Tenant
) -> None:
    answer = await _post(
        client, stocked, _csv([["sku", "location", "quantity"], ["A-1", "WH1", 1]])
    )
    import_id = answer.json()["id"]
    for path in (f"{URL}/{import_id}", f"{URL}/{import_id}/errors.csv"):
        got = await client.get(path, headers=other_tenant.headers)
        assert got.status_code == 404 and got.json()["code"] == "not-found"
    # Another organization's SKUs and locations are unknown here, whatever the file says.
    await _catalog(runtime, other_tenant, [], ["WH9"])
    theirs = await _post(
        client, other_tenant, _csv([["sku", "location", "quantity"], ["A-1", "WH1", 1]])
    )
    assert theirs.status_code == 422
    assert {(e["row"], e["column"]) for e in theirs.json()["errors"]} == {
        (1, "sku"),
        (1, "location"),
    }
    # The same key in two organizations names two imports.
    mine = await _post(
        client, stocked, _csv([["sku", "location", "quantity"], ["A-1", "WH1", 1]]), key="k"
    )
    await _catalog(runtime, other_tenant, ["A-1"], [])
    yours = await _post(
        client, other_tenant, _csv([["sku", "location", "quantity"], ["A-1", "WH9", 1]]), key="k"
    )
    assert mine.status_code == yours.status_code == 201
    assert mine.json()["id"] != yours.json()["id"]


async def test_a_member_cannot_import(client: httpx.AsyncClient, runtime: Runtime) -> None:
    member = await make_tenant(runtime, "Members", role=Role.MEMBER)
    answer = await _post(client, member, _csv([["sku", "location", "quantity"], ["A-1", "WH1", 1]]))
    assert answer.status_code == 403
    unknown = await client.get(f"{URL}/{uuid.uuid4()}", headers=member.headers)
    assert unknown.status_code == 404


async def test_deleting_an_organization_deletes_its_levels_and_no_others(
    client: httpx.AsyncClient, runtime: Runtime, stocked: Tenant
) -> None:
    """stock_levels has no foreign key to organizations (its per-row check was the largest
    cost of a bulk import); a statement trigger keeps its cascade, also for a level whose
    product is not in the catalog (the products' own cascade cannot reach it). The
    organization is written by hand: one with audit events cannot be deleted at all."""
    rows = _csv([["sku", "location", "quantity"], ["A-1", "WH1", 3]])
    assert (await _post(client, stocked, rows)).status_code == 201
    gone = uuid.uuid4()
    async with unit_of_work(runtime.sessionmaker) as session:
        with system_context(session, "test: an organization with a level, then deleted"):
            await session.execute(
                text("INSERT INTO organizations (id, name, slug) VALUES (:id, 'Gone', :slug)"),
                {"id": gone, "slug": f"gone-{gone.hex}"},
            )
            await session.execute(
                text(
                    "INSERT INTO stock_levels (organization_id, product_id, location_id,"
                    " on_hand, reserved) VALUES (:org, gen_random_uuid(), gen_random_uuid(), 1, 0)"
                ),
                {"org": gone},
            )
    async with unit_of_work(runtime.sessionmaker) as session:
        with system_context(session, "test: delete the organization"):
            await session.execute(text("DELETE FROM organizations WHERE id = :id"), {"id": gone})
    async with unit_of_work(runtime.sessionmaker) as session:
        with system_context(session, "test: count the levels"):
            left = await session.execute(text("SELECT organization_id, on_hand FROM stock_levels"))
            assert [tuple(row) for row in left] == [(stocked.organization.id, 3)]
