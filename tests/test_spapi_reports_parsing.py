"""The report document parser on its own: any split of the text into chunks gives the same
rows; quoted (ledger) and plain (flat file) lines, escaped quotes, CRLF, a BOM, short rows
padded, extra empty fields dropped, extra values refused; the block path equal to the line
path."""

from __future__ import annotations

import random

import pytest

from sellerhub.connections.providers.amazon_spapi.documents import MalformedDocument, TsvParser

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
