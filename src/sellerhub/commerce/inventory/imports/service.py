"""Bulk inventory imports: an upload streamed into its staging table (``COPY``), validated in
SQL against the organization's products, locations and levels into one consolidated report,
and applied with one upsert of the levels and one journal insert in the same transaction.
Small uploads are applied while the request waits; larger ones are committed as uploaded and
finished by the ``inventory.import_run`` job."""

from __future__ import annotations

import csv
import io
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import psycopg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sellerhub.commerce.inventory.imports import reader
from sellerhub.commerce.inventory.imports.errors import (
    ImportConflict,
    ImportRejected,
    MalformedImport,
)
from sellerhub.commerce.inventory.imports.repository import ImportRepository
from sellerhub.commerce.inventory.imports.schemas import ImportErrorOut, ImportOut, ImportResult
from sellerhub.commerce.inventory.models import ImportStatus, InventoryImport
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import NotFound, ValidationFailed
from sellerhub.core.inputs import text_problem
from sellerhub.core.logging import get_logger
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.jobs import app as jobs

log = get_logger(__name__)

RUN_TASK = "inventory.import_run"
REPORT_LINES = 1000  # error lines in a response body; the whole report is errors.csv
ERROR_PAGE = 5000
FINISHED = (ImportStatus.SUCCEEDED, ImportStatus.REJECTED, ImportStatus.FAILED)
_COPY_LINE = re.compile(r"line (\d+)")


@dataclass(frozen=True)
class Uploaded:
    item: InventoryImport
    replayed: bool  # an earlier upload with the same Idempotency-Key


def describe(item: InventoryImport) -> ImportOut:
    return ImportOut(
        id=item.id,
        status=str(item.status),
        file_format=item.file_format,
        partial=item.partial,
        rows_read=item.rows_read,
        rows_valid=item.rows_valid,
        rows_applied=item.rows_applied,
        error_count=item.error_count,
        failure=item.failure,
        created_at=item.created_at,
        finished_at=item.finished_at,
        errors_url=f"/api/v1/inventory/imports/{item.id}/errors.csv",
    )


async def result(session: AsyncSession, item: InventoryImport) -> ImportResult:
    repo = ImportRepository(session, item.organization_id)
    lines = await repo.first_errors(item.id, REPORT_LINES) if item.error_count else []
    return ImportResult(
        **describe(item).model_dump(),
        errors=[
            ImportErrorOut(row=e.row_number, column=e.column_name, value=e.value, message=e.message)
            for e in lines
        ],
    )


async def rejected(session: AsyncSession, item: InventoryImport) -> ImportRejected:
    """The answer to an upload whose rows were refused (the import and its report are kept)."""
    body = await result(session, item)
    return ImportRejected(
        f"{item.error_count} problem(s) in {item.rows_read - item.rows_valid} of "
        f"{item.rows_read} rows; nothing was applied (send partial=true to apply the good rows)",
        keep_writes=True,
        **{"import": describe(item).model_dump(mode="json")},
        # Each line names its field as every 422 does (``field``), and keeps the report's own
        # row, column and value.
        errors=[{"field": line.column, **line.model_dump()} for line in body.errors],
    )


def _check_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > 200 or text_problem(key):
        raise ValidationFailed("Idempotency-Key must be 1 to 200 characters of text")
    return key


def _copy_refused(exc: psycopg.Error) -> MalformedImport:
    """PostgreSQL could not read the CSV as rows: say where, in words."""
    context = exc.diag.context or ""
    found = _COPY_LINE.search(context)
    where = f"row {found.group(1)}: " if found else ""
    sqlstate = exc.sqlstate or ""
    if sqlstate in ("22021", "22P05"):
        reason = "the text is not valid UTF-8 (or holds a NUL character)"
    elif sqlstate == "22P04":
        message = (exc.diag.message_primary or "").lower()
        if "extra data" in message:
            reason = "the row has more columns than the header"
        elif "missing data" in message:
            reason = "the row has fewer columns than the header"
        elif "quoted" in message or "quote" in message:
            reason = "a quoted value is not closed"
        else:
            reason = "the row cannot be read as CSV (mixed line ends or a stray quote)"
    else:
        raise exc
    return MalformedImport(f"the CSV cannot be read at {where}{reason}; nothing was stored")


async def upload(
    session: AsyncSession,
    organization_id: uuid.UUID,
    body: AsyncIterator[bytes],
    *,
    content_type: str,
    partial: bool,
    key: str | None,
    inline_rows: int,
) -> Uploaded:
    """Store an upload as a new import; apply it now when it has at most ``inline_rows`` rows,
    else leave it to the job (requested in this transaction). With ``key``, an earlier import
    with the same key is answered instead (the body is not read)."""
    repo = ImportRepository(session, organization_id)
    key = _check_key(key)
    if key is not None:
        await repo.lock_key(key)
        existing = await repo.by_key(key)
        if existing is not None:
            return Uploaded(existing, replayed=True)
    source = await reader.open_upload(body, content_type)
    item = InventoryImport(
        organization_id=organization_id,
        file_format=source.file_format,
        partial=partial,
        idempotency_key=key,
        status=ImportStatus.RECEIVING,
    )
    item.ensure_id()
    repo.add(item)
    await session.flush()
    ignored = source.columns.count(None)
    started = time.perf_counter()
    await repo.create_staging(item.id, ignored)
    try:
        if source.csv_body is not None:
            names, n = [], 0
            for column in source.columns:
                if column is None:
                    n += 1
                names.append(column or f"ignored_{n}")
            item.rows_read = await repo.copy_csv(item.id, names, source.delimiter, source.csv_body)
        else:
            assert source.rows is not None
            item.rows_read = await repo.copy_rows(item.id, source.rows)
    except psycopg.Error as exc:
        raise _copy_refused(exc) from None
    if item.rows_read == 0:
        raise MalformedImport("the file has no rows")
    log.info(
        "inventory.import_received",
        import_id=str(item.id),
        rows=item.rows_read,
        copy_s=round(time.perf_counter() - started, 3),
    )
    if item.rows_read <= inline_rows:
        await process(repo, item)
    else:
        item.status = ImportStatus.VALIDATING
        await jobs.enqueue(
            session, RUN_TASK, {"organization_id": str(organization_id), "import_id": str(item.id)}
        )
    return Uploaded(item, replayed=False)


class _Phases:
    """Seconds per phase of an import (logged with its outcome: where a large import's time
    goes)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._mark = time.perf_counter()

    def done(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = round(now - self._mark, 3)
        self._mark = now


async def process(
    repo: ImportRepository,
    item: InventoryImport,
    progress: async_sessionmaker[AsyncSession] | None = None,
) -> None:
    """Validate the staged rows and apply them (or reject the import), in the caller's
    transaction; the staging table is dropped with the import's final state. With
    ``progress``, the counts reached before applying are committed on their own for readers
    of the import (GET) while the apply runs."""
    phases = _Phases()
    await repo.lock_applying()
    phases.done("lock_s")
    staged = await repo.resolve(item.id)
    phases.done("resolve_s")
    if staged != item.rows_read:
        # The staging table is UNLOGGED: a database crash after the upload's commit empties
        # it. Nothing is applied from a partial file; the import says so and ends.
        item.status = ImportStatus.FAILED
        item.failure = (
            f"{item.rows_read - staged} of the {item.rows_read} uploaded rows were lost before "
            "they were validated (the database restarted); nothing was applied, upload the "
            "file again"
        )
        item.finished_at = utcnow()
        await repo.drop_staging(item.id)
        log.error("inventory.import_staging_lost", import_id=str(item.id), staged=staged)
        return
    await repo.lock_levels()
    phases.done("lock_levels_s")
    errors, bad_rows = await repo.record_errors(item.id)
    phases.done("validate_s")
    item.error_count, item.rows_valid = errors, item.rows_read - bad_rows
    if errors and not item.partial:
        item.status = ImportStatus.REJECTED
    else:
        if progress is not None:
            await _progress(progress, item, ImportStatus.APPLYING)
            phases.done("progress_s")
        try:
            applied, _ = await repo.apply(item.id, f"import:{item.id}", phases.done)
        except psycopg.errors.IntegrityError:
            raise ImportConflict(
                "stock levels changed while the import was applied (a level was created or "
                "changed by another writer); nothing was applied, retry"
            ) from None
        item.rows_applied = applied
        item.status = ImportStatus.SUCCEEDED
    item.finished_at = utcnow()
    await repo.drop_staging(item.id)
    phases.done("drop_staging_s")
    log.info(
        "inventory.import_finished",
        import_id=str(item.id),
        status=str(item.status),
        rows=item.rows_read,
        errors=errors,
        applied=item.rows_applied,
        **phases.seconds,
    )


async def _progress(
    sessionmaker: async_sessionmaker[AsyncSession], item: InventoryImport, status: ImportStatus
) -> None:
    """Commits on its own: progress is for readers while the import's transaction runs."""
    async with unit_of_work(sessionmaker) as session:
        set_tenant(session, item.organization_id)
        row = await ImportRepository(session, item.organization_id).get(item.id)
        if row is not None:
            row.status, row.rows_valid, row.error_count = status, item.rows_valid, item.error_count


async def run(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    organization_id: uuid.UUID,
    import_id: uuid.UUID,
) -> None:
    """The job's part of a large import (idempotent: a finished import is left alone, and a
    run that failed left nothing but the staging table it starts from again)."""
    set_tenant(session, organization_id)
    repo = ImportRepository(session, organization_id)
    # Read after taking the organization's apply lock: a second run of the same import waits
    # for the first and finds it finished (the journal's key index does not cover imports).
    await repo.lock_applying()
    item = await repo.get(import_id)
    if item is None or item.status in FINISHED:
        return
    log.info(
        "inventory.import_started",
        import_id=str(item.id),
        since_created_s=round((utcnow() - item.created_at).total_seconds(), 3),
    )
    await process(repo, item, progress=sessionmaker)


async def get(
    session: AsyncSession, organization_id: uuid.UUID, import_id: uuid.UUID
) -> InventoryImport:
    item = await ImportRepository(session, organization_id).get(import_id)
    if item is None:
        raise NotFound("no such import")
    return item


_FORMULA_START = ("=", "+", "@", "\t", "\r")


def _cell(value: str) -> str:
    """A report value that a spreadsheet would run as a formula is shown as text."""
    if value.startswith(_FORMULA_START) or (
        value.startswith("-") and not value[1:].strip().isdigit()
    ):
        return "'" + value
    return value


async def error_csv(
    sessionmaker: async_sessionmaker[AsyncSession],
    organization_id: uuid.UUID,
    import_id: uuid.UUID,
) -> AsyncIterator[str]:
    """The consolidated report as CSV (row, column, value, message), read page by page in
    short transactions of its own while the response streams (the request's session has
    ended by then)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["row", "column", "value", "message"])
    after: tuple[int, str] = (0, "")
    while True:
        async with unit_of_work(sessionmaker) as session:
            page = await ImportRepository(session, organization_id).error_page(
                import_id, after, ERROR_PAGE
            )
        for row_number, column, value, message in page:
            writer.writerow([row_number, column, _cell(value), message])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(page) < ERROR_PAGE:
            return
        after = (page[-1][0], page[-1][1])
