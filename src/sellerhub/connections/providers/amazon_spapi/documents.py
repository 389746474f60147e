"""Downloading a report document: streamed, decompressed and parsed as it arrives, never whole
in memory (providers.md §1.6).

The pre-signed URL of ``getReportDocument`` is fetched with the shared provider client as a
stream (no SP-API token: the URL carries its own signature). Each chunk of the body goes through
an incremental gzip decompressor (``zlib.decompressobj(wbits=31)``), an incremental text
decoder and a tab-separated line parser that yields one ``dict`` per row, keyed by the header's
column names (a ledger file's fields are in double quotes, which the parser removes; the
flat files' are not). At any time the parser holds one chunk of text and the last partial line.

**Resuming.** A connection dropped mid-body, a 5xx (S3 answers 503 ``SlowDown``) or a 429 is
retried (``MAX_ATTEMPTS`` in all, backing off) from where it stopped: the request asks
``Range: bytes=<compressed bytes received>-`` and a 206 continues feeding the same decompressor,
so nothing is read or yielded twice. A server that ignores the range (200) is read again from
the start with fresh state, skipping the rows already yielded. An expired URL (403) is renewed
once per attempt through ``renew`` (another ``getReportDocument``). ``DownloadStats`` counts
what happened (chunks, bytes, rows, resumes, restarts, renewals).
"""

from __future__ import annotations

import asyncio
import codecs
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from sellerhub.core.errors import UpstreamUnavailable
from sellerhub.core.logging import get_logger

log = get_logger(__name__)

MAX_ATTEMPTS = 6
CHUNK_BYTES = 64 * 1024
TEXT_BYTES = 128 * 1024  # decompressed text parsed at a time (a batch: ~1,000 ledger rows)
MAX_ERROR_DOCUMENT = 64 * 1024
BACKOFF_SECONDS = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)


class DocumentDownloadFailed(UpstreamUnavailable):
    code = "report-download-failed"
    title = "The report document could not be downloaded"


class DocumentUrlExpired(DocumentDownloadFailed):
    code = "report-url-expired"
    title = "The report document's pre-signed URL has expired"


class MalformedDocument(DocumentDownloadFailed):
    status = 502
    code = "report-document-malformed"
    title = "The report document is not the tab-separated text Amazon documents"


@dataclass(frozen=True)
class ReportDocument:
    """``getReportDocument``'s answer. ``url`` is a secret-bearing pre-signed URL: never log it."""

    document_id: str
    url: str = field(repr=False)
    compression: str | None  # "GZIP" or None


@dataclass
class DownloadStats:
    chunks: int = 0
    compressed_bytes: int = 0  # bytes of the body received (over every attempt)
    largest_chunk: int = 0
    rows: int = 0
    resumes: int = 0  # continued with a Range request
    restarts: int = 0  # read again from the start (range not honoured)
    renewals: int = 0  # URL renewed after it expired
    failures: list[str] = field(default_factory=list)


class TsvParser:
    """Incremental tab-separated rows: ``feed`` text, get the complete rows it finished."""

    def __init__(self) -> None:
        self.header: tuple[str, ...] | None = None
        self._rest = ""
        self._line = 0

    @staticmethod
    def _fields(line: str) -> list[str]:
        if line.startswith('"') and line.endswith('"') and len(line) >= 2:
            values = line[1:-1].split('"\t"')
            if '""' in line:  # an escaped quote, or only an empty field ("")
                values = [v.replace('""', '"') if '""' in v else v for v in values]
            return values
        return line.split("\t")

    def _fit(self, values: list[str], line_number: int) -> list[str]:
        """Pad a short row with empty fields; refuse a long one unless its extra are empty."""
        assert self.header is not None
        width = len(self.header)
        if len(values) < width:
            return values + [""] * (width - len(values))
        if any(v for v in values[width:]):
            raise MalformedDocument(
                f"line {line_number} has {len(values)} fields; the header has {width}"
            )
        return values[:width]

    def _rows(self, lines: list[str]) -> list[dict[str, str]]:
        first = self._line
        self._line += len(lines)
        if self.header is None:
            for index, line in enumerate(lines):
                line = line.removesuffix("\r")
                if line:
                    header = tuple(v.strip().lstrip("\ufeff") for v in self._fields(line))
                    if not any(header):
                        raise MalformedDocument("the report document has an empty header line")
                    self.header = header
                    lines = lines[index + 1 :]
                    first += index + 1
                    break
            else:
                return []
        header = self.header
        width = len(header)
        fields = self._fields
        rows: list[dict[str, str]] = []
        append = rows.append
        for number, line in enumerate(lines, first + 1):
            if line.endswith("\r"):
                line = line[:-1]
            if not line:
                continue
            values = fields(line)
            if len(values) != width:
                values = self._fit(values, number)
            append(dict(zip(header, values, strict=True)))
        return rows

    def feed(self, text: str) -> list[dict[str, str]]:
        """The rows completed by ``text`` (a partial last line waits for the next feed)."""
        if not text:
            return []
        combined = self._rest + text
        cut = combined.rfind("\n")
        if cut < 0:
            self._rest = combined
            return []
        body, self._rest = combined[:cut], combined[cut + 1 :]
        if self.header is not None:
            rows = self._uniform(body)
            if rows is not None:
                return rows
        return self._rows(body.split("\n"))

    def _uniform(self, body: str) -> list[dict[str, str]] | None:
        """The fast path: when every line of ``body`` has exactly the header's fields (no empty
        line, no carriage return, no quote inside a quoted value), split the whole block at
        once and cut it into rows; None sends anything else line by line."""
        assert self.header is not None
        header = self.header
        width = len(header)
        if not body or "\r" in body:
            return None
        lines = body.count("\n") + 1
        if body[0] == '"':
            if body[-1] != '"' or body.count('"\n"') != lines - 1:
                return None
            flat = body[1:-1].replace('"\n"', '"\t"').split('"\t"')
            if body.count('"') != 2 * len(flat):  # a quote inside a value: line by line
                return None
        else:
            flat = body.replace("\n", "\t").split("\t")
        if len(flat) != lines * width:
            return None
        self._line += lines
        return [
            dict(zip(header, flat[i : i + width], strict=True)) for i in range(0, len(flat), width)
        ]

    def close(self) -> list[dict[str, str]]:
        rest, self._rest = self._rest, ""
        return self._rows([rest]) if rest else []


class _Retry(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Renew = Callable[[], Awaitable[ReportDocument]]


def _charset(response: httpx.Response, default: str) -> str:
    charset = response.charset_encoding
    if charset:
        try:
            codecs.lookup(charset)
        except LookupError:
            return default
        return charset
    return default


async def iter_document_rows(
    http: httpx.AsyncClient,
    document: ReportDocument,
    *,
    renew: Renew | None = None,
    stats: DownloadStats | None = None,
    encoding: str = "utf-8",
    chunk_bytes: int = CHUNK_BYTES,
    max_attempts: int = MAX_ATTEMPTS,
) -> AsyncIterator[dict[str, str]]:
    """Every row of the document, in order, each exactly once (see the module docstring)."""
    async for batch in iter_document_batches(
        http,
        document,
        renew=renew,
        stats=stats,
        encoding=encoding,
        chunk_bytes=chunk_bytes,
        max_attempts=max_attempts,
    ):
        for row in batch:
            yield row


async def iter_document_batches(
    http: httpx.AsyncClient,
    document: ReportDocument,
    *,
    renew: Renew | None = None,
    stats: DownloadStats | None = None,
    encoding: str = "utf-8",
    chunk_bytes: int = CHUNK_BYTES,
    max_attempts: int = MAX_ATTEMPTS,
) -> AsyncIterator[list[dict[str, str]]]:
    """The document's rows in order, in lists of the rows each ``TEXT_BYTES`` of text completed
    (about a thousand ledger rows), each row exactly once. For writers that store rows in
    batches; ``iter_document_rows`` gives them one by one."""
    stats = stats if stats is not None else DownloadStats()
    if document.compression not in (None, "GZIP"):
        raise MalformedDocument(f"unknown compressionAlgorithm {document.compression!r}")
    attempts = 0
    received = 0  # compressed bytes fed to the decompressor
    yielded = 0
    skip = 0
    inflate: Any = None  # zlib's decompress object (its class is private)
    decoder: codecs.IncrementalDecoder | None = None
    parser = TsvParser()

    def fresh_state(response: httpx.Response) -> None:
        nonlocal inflate, decoder, parser
        inflate = zlib.decompressobj(wbits=31) if document.compression == "GZIP" else None
        decoder = codecs.getincrementaldecoder(_charset(response, encoding))(errors="strict")
        parser = TsvParser()

    def fresh(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        """The rows not yet yielded (after a restart from the beginning, skip the others)."""
        nonlocal skip, yielded
        if skip:
            dropped = min(skip, len(rows))
            skip -= dropped
            rows = rows[dropped:]
        yielded += len(rows)
        stats.rows += len(rows)
        return rows

    renewed = False  # the last attempt renewed the URL: a 403 now is final
    while True:
        try:
            headers = {"Range": f"bytes={received}-"} if received else {}
            async with http.stream("GET", document.url, headers=headers) as response:
                status = response.status_code
                if status == 403:
                    body = (await response.aread())[:2000].decode("utf-8", "replace")
                    if renew is None or renewed:
                        raise DocumentUrlExpired(_s3_message(body) or "403 from the document URL")
                    raise _Renew()
                renewed = False
                if status == 429 or status >= 500:
                    raise _Retry(f"HTTP {status}")
                if received and status == 200:
                    stats.restarts += 1
                    skip, received = yielded, 0
                    log.info("report_document.restart", skip_rows=skip)
                elif received and status == 206:
                    resumed_at = _range_start(response.headers.get("content-range", ""))
                    if resumed_at != received:
                        raise DocumentDownloadFailed(
                            f"the document resumed at byte {resumed_at}, not at {received}"
                        )
                    stats.resumes += 1
                elif received or status != 200:
                    body = (await response.aread())[:2000].decode("utf-8", "replace")
                    raise DocumentDownloadFailed(
                        f"the document URL answered {status}: {_s3_message(body) or body[:200]}"
                    )
                if received == 0:
                    fresh_state(response)
                assert decoder is not None
                async for chunk in response.aiter_raw(chunk_bytes):
                    received += len(chunk)
                    stats.chunks += 1
                    stats.compressed_bytes += len(chunk)
                    stats.largest_chunk = max(stats.largest_chunk, len(chunk))
                    if inflate is None:
                        batch = fresh(parser.feed(_decode(decoder, chunk, final=False)))
                        if batch:
                            yield batch
                        continue
                    pending = chunk
                    while pending:  # at most TEXT_BYTES of text at a time: batches stay small
                        data = inflate.decompress(pending, TEXT_BYTES)
                        pending = inflate.unconsumed_tail
                        batch = fresh(parser.feed(_decode(decoder, data, final=False)))
                        if batch:
                            yield batch
                if inflate is not None and not inflate.eof:
                    raise _Retry("the gzip stream ended early")
                tail = inflate.flush() if inflate is not None else b""
                batch = fresh(parser.feed(_decode(decoder, tail, final=True)) + parser.close())
                if batch:
                    yield batch
                return
        except _Renew:
            if renew is None:
                raise DocumentUrlExpired("the document URL has expired") from None
            document = await renew()
            stats.renewals += 1
            renewed = True
            attempts += 1
            if attempts >= max_attempts:
                raise DocumentDownloadFailed("the document URL kept expiring") from None
            continue
        except (_Retry, httpx.TransportError) as exc:
            reason = exc.reason if isinstance(exc, _Retry) else type(exc).__name__
            stats.failures.append(reason)
            attempts += 1
            log.info("report_document.retry", reason=reason, received_bytes=received)
        except zlib.error:
            raise MalformedDocument("the report document is not valid gzip") from None
        if attempts >= max_attempts:
            raise DocumentDownloadFailed(
                f"the document download failed {attempts} times: {', '.join(stats.failures[-3:])}"
            )
        await asyncio.sleep(BACKOFF_SECONDS[min(attempts - 1, len(BACKOFF_SECONDS) - 1)])


class _Renew(Exception):
    pass


def _range_start(content_range: str) -> int | None:
    """The first byte of ``Content-Range: bytes <first>-<last>/<size>``; None if unreadable."""
    unit, _, spec = content_range.strip().partition(" ")
    first = spec.partition("-")[0]
    return int(first) if unit == "bytes" and first.isdigit() else None


def _decode(decoder: codecs.IncrementalDecoder, data: bytes, *, final: bool) -> str:
    try:
        return decoder.decode(data, final=final)
    except UnicodeDecodeError:
        raise MalformedDocument("the report document is not text in its charset") from None


def _s3_message(body: str) -> str | None:
    """``Code: Message`` of an S3 XML error body, if it is one."""

    def between(tag: str) -> str | None:
        start, end = body.find(f"<{tag}>"), body.find(f"</{tag}>")
        return body[start + len(tag) + 2 : end] if 0 <= start < end else None

    code, message = between("Code"), between("Message")
    return f"{code}: {message}"[:200] if code else None


async def read_error_document(http: httpx.AsyncClient, document: ReportDocument) -> str:
    """The text of a FATAL report's error document (bounded), decompressed if it is gzip."""
    async with http.stream("GET", document.url) as response:
        if response.status_code != 200:
            return f"the error document could not be read (HTTP {response.status_code})"
        data = b""
        async for chunk in response.aiter_raw():
            data += chunk
            if len(data) > MAX_ERROR_DOCUMENT:
                break
    if document.compression == "GZIP":
        try:
            data = zlib.decompressobj(wbits=31).decompress(data, MAX_ERROR_DOCUMENT)
        except zlib.error:
            return "the error document is not valid gzip"
    return data[:MAX_ERROR_DOCUMENT].decode("utf-8", "replace")
