"""Reads exported files (CSV, Parquet) into Arrow, every CSV field kept as text.

Types are applied later by the mapping, so a bad value becomes a quarantined row
that names its line instead of failing the whole read.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from tallyclerk.errors import SourceError

log = logging.getLogger(__name__)

ROW_COLUMN = "__row"
_SHOWN_REJECTS = 5


@dataclass(frozen=True)
class FileRead:
    """A file read as an Arrow table, with what the manifest needs to know of it."""

    path: Path
    table: pa.Table
    sha256: str


def read_file(path: Path, *, where: str, delimiter: str = ",") -> FileRead:
    """Read one CSV or Parquet file; `where` names the system and source for errors."""
    if not path.is_file():
        raise SourceError(
            f"{where}: file {path} does not exist. Check the `file:` path in tallyclerk.yaml "
            "(it is relative to the workspace folder), or export the file again."
        )
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        table = _read_parquet(path, where=where)
    elif suffix in (".csv", ".txt", ".tsv"):
        table = _read_csv(path, where=where, delimiter="\t" if suffix == ".tsv" else delimiter)
    else:
        raise SourceError(
            f"{where}: cannot read {path.name}: unknown file type {suffix!r}; "
            "use .csv, .tsv or .parquet."
        )
    log.info("read %s rows from %s", table.num_rows, path)
    return FileRead(path=path, table=table, sha256=_sha256(path))


def _read_parquet(path: Path, *, where: str) -> pa.Table:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"{where}: {path} is not a readable Parquet file: {exc}") from exc
    rows = pa.array(range(1, table.num_rows + 1), type=pa.int64())
    return table.append_column(ROW_COLUMN, rows)


def _read_csv(path: Path, *, where: str, delimiter: str) -> pa.Table:
    if path.stat().st_size == 0:
        raise SourceError(
            f"{where}: {path} is empty: not even a header line. Export the file again."
        )
    con = duckdb.connect()
    scan = (
        "read_csv(?, header = true, all_varchar = true, delim = ?, quote = '\"', "
        "store_rejects = true)"
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
        raise SourceError(_unreadable_message(path, exc, where=where)) from exc
    finally:
        con.close()
    if rejects:
        raise SourceError(_rejects_message(path, rejects, where=where))
    return table


def _rejects_message(path: Path, rejects: list[tuple], *, where: str) -> str:
    # DuckDB may report one line more than once (each extra field); keep the first.
    first_per_line: dict[int, tuple] = {}
    for line, message, text in rejects:
        first_per_line.setdefault(line, (message, text))
    shown = [
        f"  line {line}: {message.strip()}: {(text or '').strip()[:80]!r}"
        for line, (message, text) in list(first_per_line.items())[:_SHOWN_REJECTS]
    ]
    more = len(first_per_line) - _SHOWN_REJECTS
    if more > 0:
        shown.append(f"  ... and {more} more")
    encoding = any("unicode" in message.lower() for message, _ in first_per_line.values())
    advice = (
        "Save the export as UTF-8."
        if encoding
        else "Fix the export so every row has as many fields as the header, "
        "or quote fields that contain the delimiter."
    )
    return (
        f"{where}: {path} has {len(first_per_line)} malformed row(s):\n"
        + "\n".join(shown)
        + f"\n{advice}"
    )


def _unreadable_message(path: Path, exc: duckdb.Error, *, where: str) -> str:
    """DuckDB's own message is long; say what is wrong, and where when we can find it."""
    first = str(exc).strip().splitlines()[0]
    line = _unclosed_quote_line(path)
    if line is not None:
        return (
            f"{where}: {path} line {line}: a quoted field is never closed, so the rest of the "
            "file cannot be split into rows. Close the quote, or double quotes inside fields."
        )
    return f"{where}: cannot read {path} as CSV: {first}"


def _unclosed_quote_line(path: Path) -> int | None:
    """The line where a quote opens that no later quote closes, if there is one."""
    opened_at, inside = None, False
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, text in enumerate(handle, start=1):
            for char in text:
                if char == '"':
                    inside = not inside
                    opened_at = number if inside else opened_at
    return opened_at if inside else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
