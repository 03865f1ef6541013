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
        raise SourceError(f"{where}: cannot read CSV file {path}: {exc}") from exc
    finally:
        con.close()
    if rejects:
        raise SourceError(_rejects_message(path, rejects, where=where))
    return table


def _rejects_message(path: Path, rejects: list[tuple], *, where: str) -> str:
    lines = [
        f"  line {line}: {message.strip()}: {text.strip()[:80]!r}"
        for line, message, text in rejects[:_SHOWN_REJECTS]
    ]
    more = len(rejects) - _SHOWN_REJECTS
    if more > 0:
        lines.append(f"  ... and {more} more")
    return (
        f"{where}: {path} has {len(rejects)} malformed row(s):\n"
        + "\n".join(lines)
        + "\nFix the export so every row has as many fields as the header, "
        "or quote fields that contain the delimiter."
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
