"""``sellerhub credits``: grants once per key from the command line, and ``reconcile`` proves the
ledger (exit 0) or reports the broken account (exit 1, recorded in the platform audit trail)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from sqlalchemy import text

from sellerhub.billing.credits import service
from sellerhub.core.clock import utcnow
from sellerhub.runtime import Runtime
from tests.conftest import Tenant
from tests.test_inventory import sellerhub_cli


async def test_grant_and_reconcile_from_the_command_line(
    runtime: Runtime, database_url: str, tenant: Tenant
) -> None:
    org = str(tenant.organization.id)
    code, out, err = await sellerhub_cli(
        runtime, database_url, "credits", "grant", org, "40", "--key", "launch", "--reason", "x"
    )
    assert code == 0, err
    made = json.loads(out.strip().splitlines()[-1])
    assert made["created"] is True and made["balance_after"] == 40
    code, out, _ = await sellerhub_cli(
        runtime, database_url, "credits", "grant", org, "40", "--key", "launch"
    )
    assert json.loads(out.strip().splitlines()[-1])["created"] is False
    code, _, err = await sellerhub_cli(
        runtime, database_url, "credits", "grant", "not-an-id", "1", "--key", "k"
    )
    assert code == 2 and "organization id" in err
    code, out, err = await sellerhub_cli(
        runtime, database_url, "credits", "grant", str(uuid.uuid4()), "1", "--key", "nobody"
    )
    assert code == 1 and "no organization has that id" in err and "Traceback" not in err

    code, out, _ = await sellerhub_cli(runtime, database_url, "credits", "reconcile")
    report = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and report["ok"] is True and report["transfers"] == 1

    async with runtime.writes.connection() as conn:
        await conn.execute(
            "UPDATE credit_accounts SET credits_posted = 41 WHERE kind = 'wallet'"
            " AND organization_id = %s",
            (tenant.organization.id,),
        )
        assert (await service.wallet(conn, tenant.organization.id)).balance == 41
    code, out, err = await sellerhub_cli(runtime, database_url, "credits", "reconcile")
    report = json.loads(out.strip().splitlines()[-1])
    assert code == 1 and report["ok"] is False and report["posted_sum"] == 1
    assert [m["kind"] for m in report["mismatches"]] == ["wallet"]
    assert report["mismatches"][0]["summed"]["credits_posted"] == 40
    assert "does not reconcile" in err
    async with runtime.engine.connect() as db:
        alarms = await db.scalar(
            text(
                "SELECT count(*) FROM platform_audit_events"
                " WHERE action = 'credits.ledger_mismatch'"
            )
        )
    assert alarms == 1


async def test_a_grant_from_the_command_line_can_expire(
    runtime: Runtime, database_url: str, tenant: Tenant
) -> None:
    org = str(tenant.organization.id)
    code, out, err = await sellerhub_cli(
        runtime, database_url, "credits", "grant", org, "25", "--key", "trial",
        "--expires-in-days", "14",
    )  # fmt: skip
    assert code == 0, err
    made = json.loads(out.strip().splitlines()[-1])
    assert made["created"] is True and made["balance_after"] == 25
    async with runtime.writes.connection() as conn:
        cursor = await conn.execute(
            "SELECT amount, expires_at FROM credit_lots WHERE id = %s",
            (uuid.UUID(made["id"]),),
        )
        lots = await cursor.fetchall()
    assert len(lots) == 1 and lots[0][0] == 25
    assert abs(lots[0][1] - (utcnow() + timedelta(days=14))) < timedelta(minutes=5)
    code, _, err = await sellerhub_cli(
        runtime, database_url, "credits", "grant", org, "1", "--key", "t2",
        "--expires-in-days", "0",
    )  # fmt: skip
    assert code == 2 and "expires-in-days" in err
