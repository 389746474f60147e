"""The report document parser on its own: any split of the text into chunks gives the same
rows; quoted (ledger) and plain (flat file) lines, escaped quotes, CRLF, a BOM, short rows
padded, extra empty fields dropped, extra values refused; the block path equal to the line
path; the streamed reader against a scripted server: resumed by Range from the bytes it
consumed, read again when the range is ignored, refused when resumed at another byte, retried
when a gzip stream ends early."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from sellerhub.connections.providers.amazon_spapi.documents import (
    CHUNK_BYTES,
    DocumentDownloadFailed,
    DownloadStats,
    MalformedDocument,
    ReportDocument,
    TsvParser,
    iter_document_rows,
)

LEDGER = (
    '"Date"\t"FNSKU"\t"Title"\t"Quantity"\n'
    '"10/01/2026"\t"X00AAA"\t"A ""quoted"" title"\t"-3"\n'
    '"10/02/2026"\t"X00BBB"\t"Plain"\t"2"\n'
    '"10/03/2026"\t"X00CCC"\t""\t"1"\n'
)
FLAT = (
    "\ufeffapproval-date\treimbursement-id\tcase-id\tamount-total\r\n"
    "2026-10-01T00:00:00+00:00\t111\t\t10.00\r\n"
    "\r\n"
    "2026-10-02T00:00:00+00:00\t222\t999\r\n"  # short: padded
    "2026-10-03T00:00:00+00:00\t333\t\t-5.50\t\t\r\n"  # extra empty fields: dropped
)


def _parse(text: str, cuts: list[int]) -> list[dict[str, str]]:
    parser = TsvParser()
    rows: list[dict[str, str]] = []
    start = 0
    for cut in [*cuts, len(text)]:
        rows += parser.feed(text[start:cut])
        start = cut
    return rows + parser.close()


@pytest.mark.parametrize("text", [LEDGER, FLAT, LEDGER.rstrip("\n"), FLAT.replace("\r\n", "\n")])
def test_every_chunking_gives_the_same_rows(text: str) -> None:
    whole = _parse(text, [])
    rng = random.Random(7)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(text)), rng.randrange(1, 12)))
        assert _parse(text, cuts) == whole
    assert _parse(text, list(range(1, len(text)))) == whole  # a character at a time


def test_quoted_and_plain_lines_are_read_as_amazon_writes_them() -> None:
    ledger = _parse(LEDGER, [])
    assert ledger == [
        {"Date": "10/01/2026", "FNSKU": "X00AAA", "Title": 'A "quoted" title', "Quantity": "-3"},
        {"Date": "10/02/2026", "FNSKU": "X00BBB", "Title": "Plain", "Quantity": "2"},
        {"Date": "10/03/2026", "FNSKU": "X00CCC", "Title": "", "Quantity": "1"},
    ]
    flat = _parse(FLAT, [])
    assert [tuple(r) for r in flat] == [
        ("approval-date", "reimbursement-id", "case-id", "amount-total")
    ] * 3
    assert [r["reimbursement-id"] for r in flat] == ["111", "222", "333"]
    assert flat[1]["amount-total"] == "" and flat[2]["amount-total"] == "-5.50"


def test_a_row_with_more_values_than_the_header_is_refused_with_its_line() -> None:
    with pytest.raises(MalformedDocument, match="line 3 has 5 fields; the header has 4"):
        _parse("a\tb\tc\td\n1\t2\t3\t4\n1\t2\t3\t4\t5\n", [])
    with pytest.raises(MalformedDocument, match="empty header"):
        _parse("\t\t\n1\t2\n", [])


def test_many_uniform_rows_take_the_block_path_and_match_line_by_line() -> None:
    lines = ['"d"\t"reason"\t"q"'] + [f'"{n}"\t""\t"{n % 7}"' for n in range(5000)]
    text = "\n".join(lines) + "\n"
    blocks: list[int] = []
    fast = TsvParser()
    uniform = fast._uniform

    def counted(body: str) -> list[dict[str, str]] | None:
        rows = uniform(body)
        blocks.append(-1 if rows is None else len(rows))
        return rows

    fast._uniform = counted  # type: ignore[method-assign]
    third = len(text) // 3
    got = fast.feed(text[:third]) + fast.feed(text[third:]) + fast.close()
    slow = TsvParser()
    slow._uniform = lambda body: None  # type: ignore[method-assign]
    assert got == slow.feed(text) + slow.close()
    assert len(got) == 5000 and got[-1] == {"d": "4999", "reason": "", "q": str(4999 % 7)}
    assert blocks and -1 not in blocks  # empty quoted fields ("") keep the block path
    escaped = TsvParser()
    escaped.feed('"t"\n')
    assert escaped._uniform('"a ""b"" c"\n"d"') is None  # a quote inside a value


# -- the streamed reader against a scripted server ------------------------------------------------


def _document(rows: int) -> tuple[bytes, list[dict[str, str]]]:
    import gzip

    lines = ["a\tb"] + [f"{n}\t{n * 3}" for n in range(rows)]
    expected = [{"a": str(n), "b": str(n * 3)} for n in range(rows)]
    return gzip.compress(("\n".join(lines) + "\n").encode()), expected


class _Body(httpx.AsyncByteStream):
    def __init__(self, data: bytes, cut: int | None) -> None:
        self.data, self.cut = data, cut

    async def __aiter__(self) -> AsyncIterator[bytes]:
        end = len(self.data) if self.cut is None else self.cut
        for i in range(0, end, 4096):
            yield self.data[i : min(i + 4096, end)]
        if self.cut is not None:
            raise httpx.RemoteProtocolError("peer closed connection")


Answer = Callable[[httpx.Request], httpx.Response]


async def _read(
    answers: list[Answer],
) -> tuple[list[dict[str, str]], DownloadStats, list[str | None]]:
    ranges: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        ranges.append(request.headers.get("range"))
        return answers.pop(0)(request)

    stats = DownloadStats()
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        document = ReportDocument("doc-1", "https://s3.example/doc-1?sig=x", "GZIP")
        rows = [r async for r in iter_document_rows(http, document, stats=stats)]
    return rows, stats, ranges


def _served(data: bytes, *, cut: int | None = None, honour_range: bool = True) -> Answer:
    """Answer the document like S3: from the requested byte (206) or whole (200), cut after
    ``cut`` bytes of the body when asked."""

    def answer(request: httpx.Request) -> httpx.Response:
        asked = request.headers.get("range", "")
        start = int(asked.removeprefix("bytes=").rstrip("-")) if asked and honour_range else 0
        body = _Body(data[start:], cut)
        if start:
            headers = {"content-range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
            return httpx.Response(206, stream=body, headers=headers)
        return httpx.Response(200, stream=body)

    return answer


async def test_a_dropped_download_resumes_where_it_stopped() -> None:
    data, expected = _document(200_000)
    rows, stats, ranges = await _read([_served(data, cut=len(data) // 2), _served(data)])
    assert rows == expected and ranges[0] is None and ranges[1] is not None
    resumed_at = int(ranges[1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= len(data) // 2  # what was consumed, not more
    assert (stats.resumes, stats.restarts, stats.failures) == (1, 0, ["RemoteProtocolError"])


async def test_a_server_ignoring_the_range_is_read_again_skipping_the_rows_given() -> None:
    data, expected = _document(200_000)
    assert len(data) // 3 > CHUNK_BYTES  # rows were given before the drop
    rows, stats, _ = await _read(
        [_served(data, cut=len(data) // 3), _served(data, honour_range=False)]
    )
    assert rows == expected and (stats.resumes, stats.restarts) == (0, 1)


async def test_a_resume_at_the_wrong_byte_is_refused() -> None:
    data, _ = _document(200_000)

    def wrong(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            206, stream=_Body(data, None), headers={"content-range": "bytes 0-9/10"}
        )

    with pytest.raises(DocumentDownloadFailed, match="resumed at byte 0, not at"):
        await _read([_served(data, cut=len(data) // 2), wrong])


async def test_a_truncated_gzip_without_an_error_is_retried() -> None:
    data, expected = _document(5_000)

    def short(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_Body(data[: len(data) // 2], None))

    rows, stats, _ = await _read([short, _served(data)])
    assert rows == expected and stats.failures == ["the gzip stream ended early"]
