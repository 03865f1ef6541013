"""Reads delimited text exports (CSV, `;`, tab) into Arrow, every field kept as text.

Real exports come with a byte-order mark, Latin-1 or Windows-1252 text, quoted
line breaks and blank trailing lines. The file is decoded once in Python, which
finds the line of an encoding error, then DuckDB parses it and reports rows with
the wrong number of fields. DuckDB counts lines without the breaks inside quoted
fields, so a second pass finds the line each record starts on in the file.
"""

from __future__ import annotations

import codecs
import csv
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from tallyclerk.errors import SourceError
from tallyclerk.wording import plural

from .base import LINE_COLUMN, ROW_COLUMN

log = logging.getLogger(__name__)

_SHOWN_REJECTS = 5
_CHUNK = 1 << 20
_UTF8 = ("utf-8", "utf8", "utf_8", "utf-8-sig")
_UTF8_BOM = codecs.BOM_UTF8


@dataclass(frozen=True)
class _Layout:
    """What one pass over the bytes learnt about the file's lines."""

    inner_blank_lines: bool
    has_quotes: bool


def read_delimited(path: Path, *, where: str, delimiter: str, encoding: str) -> pa.Table:
    """Read one delimited file; `where` names the system and entity for errors."""
    if len(delimiter) != 1:
        raise SourceError(
            f"{where}: delimiter {delimiter!r} must be one character, such as ',', ';' or a tab."
        )
    if path.stat().st_size == 0:
        raise SourceError(
            f"{where}: {path} is empty: not even a header line. Export the file again."
        )
    with tempfile.TemporaryDirectory(prefix="tallyclerk-") as scratch:
        utf8 = path if encoding.lower() in _UTF8 else Path(scratch) / "utf8.csv"
        layout = _decode(
            path, where=where, encoding=encoding, copy_to=None if utf8 == path else utf8
        )
        table, rejects = _parse(utf8, shown=path, where=where, delimiter=delimiter)
        if rejects:
            starts = _record_starts(utf8, delimiter=delimiter)
            raise SourceError(_rejects_message(path, rejects, starts, where=where))
        lines = _line_numbers(utf8, table.num_rows, layout, delimiter=delimiter)
    return table.append_column(LINE_COLUMN, pa.array(lines, type=pa.int64()))


def _decode(path: Path, *, where: str, encoding: str, copy_to: Path | None) -> _Layout:
    """Check every byte decodes; write a UTF-8 copy when the file is in another encoding."""
    utf8 = encoding.lower() in _UTF8
    try:
        decoder = codecs.getincrementaldecoder("utf-8-sig" if utf8 else encoding)()
    except LookupError:
        raise SourceError(
            f"{where}: unknown encoding {encoding!r}; use utf-8, latin-1 or windows-1252."
        ) from None
    if not utf8 and _starts_with_utf8_bom(path):
        # Single-byte encodings decode the mark as `ï»¿`, glued to the first header name.
        raise SourceError(
            f"{where}: {path} starts with a UTF-8 byte-order mark but {encoding} is declared: "
            f"remove `encoding` (the file is UTF-8) or re-export it in {encoding}."
        )
    lines, blank_run, inner_blank, quotes, pending = 0, 0, False, False, ""
    out = copy_to.open("w", encoding="utf-8", newline="") if copy_to else None
    try:
        with path.open("rb") as handle:
            while block := handle.read(_CHUNK):
                try:
                    text = decoder.decode(block)
                except UnicodeDecodeError as exc:
                    raise SourceError(
                        _encoding_message(path, block, exc, lines, where, encoding)
                    ) from exc
                if out is not None:
                    out.write(text)
                quotes = quotes or '"' in text
                *complete, pending = (pending + text).split("\n")
                for line in complete:
                    lines += 1
                    if line.strip("\r\t "):
                        inner_blank = inner_blank or blank_run > 0
                        blank_run = 0
                    else:
                        blank_run += 1
            decoder.decode(b"", final=True)
        inner_blank = inner_blank or (blank_run > 0 and bool(pending.strip("\r\t ")))
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{where}: {path} ends in the middle of a character ({exc.reason}); "
            "the file is truncated or not in the declared encoding "
            f"{encoding!r}. Export it again."
        ) from exc
    finally:
        if out is not None:
            out.close()
    return _Layout(inner_blank_lines=inner_blank, has_quotes=quotes)


def _starts_with_utf8_bom(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(_UTF8_BOM)) == _UTF8_BOM


def _encoding_message(
    path: Path, block: bytes, exc: UnicodeDecodeError, lines_before: int, where: str, encoding: str
) -> str:
    line = lines_before + block[: exc.start].count(b"\n") + 1
    bad = block[exc.start : exc.start + 1].hex()
    hint = (
        "declare `encoding: windows-1252` (or latin-1) for this source"
        if encoding.lower() in _UTF8
        else "check which encoding the system exports and declare it under `encoding:`"
    )
    return (
        f"{where}: {path} line {line}: byte 0x{bad} is not valid {encoding}; "
        f"the file is in another encoding: {hint}."
    )


def _parse(path: Path, *, shown: Path, where: str, delimiter: str) -> tuple[pa.Table, list[tuple]]:
    """The records DuckDB read, and the ones it rejected as (line, message, text)."""
    con = duckdb.connect()
    scan = (
        "read_csv(?, header = true, all_varchar = true, delim = ?, quote = '\"', "
        "escape = '\"', store_rejects = true)"
    )
    try:
        table = con.sql(
            f"SELECT row_number() OVER () AS {ROW_COLUMN}, * FROM {scan}",
            params=[str(path), delimiter],
        ).to_arrow_table()
        rejects = con.execute(
            "SELECT line, error_message, csv_line FROM reject_errors ORDER BY line"
        ).fetchall()
    except duckdb.Error as exc:
        raise SourceError(_diagnose(path, shown, where, delimiter, exc)) from exc
    finally:
        con.close()
    return table, rejects


def _diagnose(path: Path, shown: Path, where: str, delimiter: str, exc: duckdb.Error) -> str:
    """Say which line is wrong when DuckDB gives up on the whole file."""
    line = _unclosed_quote_line(path)
    if line is not None:
        return (
            f"{where}: {shown} line {line}: a quoted field is never closed, so the rest of the "
            "file cannot be split into rows. Close the quote, or double quotes inside fields."
        )
    first = str(exc).strip().splitlines()[0]
    return f"{where}: cannot read {shown} as delimited text ({first}); check the delimiter."


def _unclosed_quote_line(path: Path) -> int | None:
    """The line where a quote opens that no later quote closes, if there is one."""
    opened_at, inside = None, False
    with path.open(encoding="utf-8-sig", errors="replace") as handle:
        for number, text in enumerate(handle, start=1):
            for _ in range(text.count('"')):
                inside = not inside
                opened_at = number if inside else opened_at
    return opened_at if inside else None


def _rejects_message(
    path: Path, rejects: list[tuple], starts: list[tuple[int, bool]], *, where: str
) -> str:
    """Name each malformed row by the line it starts on in the file.

    DuckDB's line n is the n-th record it read, header and blank lines included;
    `starts` gives the line each such record starts on.
    """
    # DuckDB may report one line more than once (each extra field); keep the first.
    first_per_line: dict[int, tuple] = {}
    for line, message, text in rejects:
        physical = starts[line - 1][0] if 0 < line <= len(starts) else line
        first_per_line.setdefault(physical, (message, text))
    shown = [
        f"  line {line}: {message.strip()}: {(text or '').strip()[:80]!r}"
        for line, (message, text) in list(first_per_line.items())[:_SHOWN_REJECTS]
    ]
    more = len(first_per_line) - _SHOWN_REJECTS
    if more > 0:
        shown.append(f"  ... and {more} more")
    return (
        f"{where}: {path} has {plural(len(first_per_line), 'malformed row')}:\n"
        + "\n".join(shown)
        + "\nFix the export so every row has as many fields as the header, "
        "or quote fields that contain the delimiter."
    )


def _line_numbers(path: Path, records: int, layout: _Layout, *, delimiter: str) -> list[int]:
    """The line each record starts on (the header is line 1).

    Without quotes or blank lines inside the file, record n is on line n + 1; only
    files with quoted line breaks or blank lines need a second, slower pass.
    """
    if not layout.has_quotes and not layout.inner_blank_lines:
        return list(range(2, records + 2))
    starts = [line for line, blank in _record_starts(path, delimiter=delimiter) if not blank]
    return starts[1 : records + 1]


def _record_starts(path: Path, *, delimiter: str) -> list[tuple[int, bool]]:
    """For each record of the file, header and blank lines included: the line it starts
    on, and whether it is blank."""
    starts: list[tuple[int, bool]] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        start = 1
        for fields in reader:
            starts.append((start, not fields))
            start = reader.line_num + 1
    return starts
