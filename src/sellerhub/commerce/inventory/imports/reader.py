"""Reading an upload as it arrives (bounded memory): the body's chunks under the import's own
size and idle-time limits, the CSV header (BOM, delimiter, columns) with the rest of the file
passed through untouched to PostgreSQL's ``COPY … (FORMAT csv)``, or a JSON array decoded one
element at a time into rows for ``COPY``."""

from __future__ import annotations

import asyncio
import codecs
import csv
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from sellerhub.commerce.inventory.imports.errors import (
    ImportTooLarge,
    MalformedImport,
    UploadTimeout,
)
from sellerhub.core.inputs import text_problem

COLUMNS = ("sku", "location", "quantity", "mode")
REQUIRED = ("sku", "location", "quantity")
MAX_HEADER_BYTES = 8192
MAX_ELEMENT_CHARS = 65_536  # one JSON array element (an object of four short fields)
BOM = b"\xef\xbb\xbf"
_LINE_ENDS = b"\r\n"


async def limited(
    chunks: AsyncIterator[bytes], *, max_bytes: int, declared: str | None, idle_seconds: float
) -> AsyncIterator[bytes]:
    """``chunks`` under the import's limits: a declared ``Content-Length`` above ``max_bytes``
    is refused before anything is read, a body passing it as soon as it does (413); a body
    that stops arriving for ``idle_seconds`` gets 408 (a large upload may take long in total,
    but not pause)."""
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ImportTooLarge(f"import files are limited to {max_bytes} bytes")
    size = 0
    iterator = aiter(chunks)
    while True:
        try:
            async with asyncio.timeout(idle_seconds):
                chunk = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise UploadTimeout(
                f"the upload paused for more than {idle_seconds:g} seconds"
            ) from None
        size += len(chunk)
        if size > max_bytes:
            raise ImportTooLarge(f"import files are limited to {max_bytes} bytes")
        if chunk:
            yield chunk


@dataclass
class Upload:
    """What the reader found: the file's format, its columns in file order (``None`` for a
    column the import ignores), the CSV delimiter, and either the CSV bytes after the header
    (``csv_body``) or decoded rows of (sku, location, quantity, mode) (``rows``)."""

    file_format: str
    columns: list[str | None] = field(default_factory=list)
    delimiter: str = ","
    csv_body: AsyncIterator[bytes] | None = None
    rows: AsyncIterator[tuple[str | None, ...]] | None = None


async def _first_chunks(chunks: AsyncIterator[bytes]) -> tuple[bytes, AsyncIterator[bytes]]:
    """Enough of the start to tell the format and read the CSV header line."""
    iterator = aiter(chunks)
    head = b""
    while b"\n" not in head and len(head) <= MAX_HEADER_BYTES:
        try:
            head += await anext(iterator)
        except StopAsyncIteration:
            break
    return head, iterator


async def open_upload(chunks: AsyncIterator[bytes], content_type: str) -> Upload:
    media = content_type.split(";", 1)[0].strip().lower()
    if media.startswith("multipart/") or media == "application/x-www-form-urlencoded":
        raise MalformedImport(
            "send the file itself as the request body (text/csv or application/json), not a form"
        )
    head, rest = await _first_chunks(chunks)
    if head.startswith(BOM):
        head = head[len(BOM) :]
    if not head.strip():
        raise MalformedImport("the file is empty")
    is_json = media == "application/json" or media.endswith("+json")
    if is_json or (media != "text/csv" and head.lstrip()[:1] == b"["):
        return Upload("json", rows=_json_rows(head, rest))
    return _csv(head, rest)


def _csv(head: bytes, rest: AsyncIterator[bytes]) -> Upload:
    line, newline, after = head.partition(b"\n")
    if not newline and len(head) > MAX_HEADER_BYTES:
        raise MalformedImport(f"the header row is longer than {MAX_HEADER_BYTES} bytes")
    try:
        header = line.rstrip(b"\r").decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedImport("the file is not UTF-8 text") from None
    if text_problem(header):
        raise MalformedImport(f"the header row {text_problem(header)}")
    delimiter = ";" if header.count(";") > header.count(",") else ","
    names = [name.strip().lower() for name in next(csv.reader([header], delimiter=delimiter))]
    columns: list[str | None] = [name if name in COLUMNS else None for name in names]
    for name in COLUMNS:
        if columns.count(name) > 1:
            raise MalformedImport(f"the header names the column {name!r} more than once")
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise MalformedImport(
            "the header row must name the columns sku, location and quantity (mode is "
            f"optional); missing: {', '.join(missing)}"
        )
    return Upload("csv", columns=columns, delimiter=delimiter, csv_body=_body(after, rest))


async def _body(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The CSV after its header, with the line ends at the very end of the file dropped (a
    blank last line is common and would read as a row without columns): each chunk's trailing
    line ends are held back until more data follows them."""
    held = b""
    chunk = first
    while True:
        data = held + chunk
        stripped = data.rstrip(_LINE_ENDS)
        held = data[len(stripped) :]
        if stripped:
            yield stripped
        try:
            chunk = await anext(rest)
        except StopAsyncIteration:
            break
    if held:  # the last row's own end, in the file's style (COPY refuses a mix)
        yield held[:2] if held.startswith(b"\r\n") else held[:1]


def _cell(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value)  # reported as not a valid value, in the file's own notation


async def _json_rows(
    head: bytes, rest: AsyncIterator[bytes]
) -> AsyncIterator[tuple[str | None, ...]]:
    """The elements of a JSON array of objects, one at a time (the text decoded incrementally,
    each element parsed once it is complete)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    parser = json.JSONDecoder()
    buffer, position = "", 0
    # start: expects "["; first: an object or "]"; after: "," or "]"; next: an object; end.
    state = "start"
    element = 0
    chunk, exhausted = head, False

    def fail(message: str) -> MalformedImport:
        return MalformedImport(f"the JSON array {message}")

    while True:
        try:
            buffer = buffer[position:] + decoder.decode(chunk, final=exhausted)
        except UnicodeDecodeError:
            raise MalformedImport("the file is not UTF-8 text") from None
        position = 0
        while True:
            while position < len(buffer) and buffer[position] in " \t\r\n":
                position += 1
            if position >= len(buffer):
                break
            char = buffer[position]
            if state == "end":
                raise fail("has text after its closing bracket")
            if state == "start":
                if char != "[":
                    raise MalformedImport("a JSON upload must be an array of objects")
                state, position = "first", position + 1
            elif state == "after":
                if char not in ",]":
                    raise fail(f"expects a comma after element {element}")
                state, position = ("next" if char == "," else "end"), position + 1
            elif char == "]" and state == "first":
                state, position = "end", position + 1
            elif char != "{":
                raise fail(f"element {element + 1} is not an object")
            else:
                try:
                    value, end = parser.raw_decode(buffer, position)
                except RecursionError:
                    raise fail(f"element {element + 1} nests too deeply") from None
                except ValueError:
                    if exhausted:
                        raise fail(f"element {element + 1} is not valid JSON") from None
                    if len(buffer) - position > MAX_ELEMENT_CHARS:
                        raise fail(
                            f"element {element + 1} is longer than {MAX_ELEMENT_CHARS} characters"
                        ) from None
                    break  # the element is not complete yet: read on
                element += 1
                state, position = "after", end
                fields = {str(k).strip().lower(): v for k, v in value.items()}
                row = tuple(_cell(fields.get(name)) for name in COLUMNS)
                for cell in row:
                    if cell is not None and (problem := text_problem(cell)):
                        raise fail(f"element {element} has a value that {problem}")
                yield row
        if exhausted:
            break
        try:
            chunk = await anext(rest)
        except StopAsyncIteration:
            chunk, exhausted = b"", True
    if state != "end":
        raise fail("is not complete (no closing bracket)")
