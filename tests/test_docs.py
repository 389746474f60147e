"""The documentation's markdown tables render: every row has as many cells as its header.

GitHub splits a table row at every ``|`` that is not escaped as ``\\|``, inside code spans
too; a stray one shifts the row's cells or drops text. Write ``\\|`` in a cell (it renders as
``|``, also inside backticks)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted(
    [
        ROOT / "README.md",
        ROOT / "CONVENTIONS.md",
        ROOT / "bench" / "README.md",
        *(ROOT / "docs").glob("*.md"),
    ]
)
_DELIMITER = re.compile(r"^\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def cells(line: str) -> list[str]:
    """A table row's cells as GitHub splits them: at each ``|`` not escaped by a backslash,
    backticks or not; one leading and one trailing pipe are the row's edges."""
    text = line.strip()
    parts = re.split(r"(?<!\\)\|", text)
    if text.startswith("|"):
        parts = parts[1:]
    if text.endswith("|") and not text.endswith("\\|"):
        parts = parts[:-1]
    return [p.strip() for p in parts]


def broken_rows(text: str) -> list[tuple[int, int, int]]:
    """(line number, cells, header cells) of every row that does not match its header."""
    lines = text.splitlines()
    found: list[tuple[int, int, int]] = []
    in_fence = False
    index = 0
    while index < len(lines):
        line = lines[index]
        if _FENCE.match(line):
            in_fence = not in_fence
        elif (
            not in_fence
            and "|" in line
            and index + 1 < len(lines)
            and _DELIMITER.match(lines[index + 1])
            and "|" in lines[index + 1]
        ):
            width = len(cells(line))
            if len(cells(lines[index + 1])) != width:
                found.append((index + 2, len(cells(lines[index + 1])), width))
            index += 2
            while index < len(lines) and lines[index].strip() and "|" in lines[index]:
                if len(cells(lines[index])) != width:
                    found.append((index + 1, len(cells(lines[index])), width))
                index += 1
            continue
        index += 1
    return found


def test_cells_split_like_github() -> None:
    assert cells("| a | b |") == ["a", "b"]
    assert cells("a | b") == ["a", "b"]
    assert cells(r"| `x \| y` | z |") == [r"`x \| y`", "z"]
    assert cells("| `x | y` | z |") == ["`x", "y`", "z"]  # backticks do not protect a pipe
    assert broken_rows("| h1 | h2 |\n|---|---|\n| `a|b` | c |\n| ok | ok |\n") == [(3, 3, 2)]
    assert broken_rows("```\n| a | b |\n|---|\n```\n") == []


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_table_row_has_its_headers_cells(path: Path) -> None:
    broken = broken_rows(path.read_text(encoding="utf-8"))
    assert not broken, "\n".join(
        f"{path.name}:{line}: {n} cells, the header has {width} (escape | as \\| in a cell)"
        for line, n, width in broken
    )
