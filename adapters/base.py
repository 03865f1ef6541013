"""What every adapter returns: a raw Arrow table, the manifest of its source, and issues.

Raw tables carry bookkeeping columns whose names start with `__`: the record
number, and where the source can say so, the file and line each record came from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

ROW_COLUMN = "__row"
FILE_COLUMN = "__file"
LINE_COLUMN = "__line"
BOOKKEEPING_PREFIX = "__"


@dataclass(frozen=True)
class SourceIssue:
    """A problem in the source data that is reported as a finding, not raised.

    `problem` is a short code (`control_number_mismatch`, `count_mismatch`,
    `schema_drift`, ...), `where` says where in the source it is. `variant` tells
    apart issues of one problem at one place and field (a drift's `added` and
    `dropped`), and is part of the finding's id.
    """

    problem: str
    where: str
    message: str
    field: str = ""
    severity: str = "high"
    variant: str = ""


@dataclass(frozen=True)
class Extract:
    """One extraction: the raw table, a description of the source without secrets,
    the highest watermark value read (None when the source has no watermark), and
    the issues found on the way."""

    table: pa.Table
    source: dict[str, object]
    watermark: str | None = None
    issues: list[SourceIssue] = field(default_factory=list)


def data_columns(table: pa.Table) -> list[str]:
    """The columns of a raw table that came from the source, without bookkeeping."""
    return [name for name in table.column_names if not name.startswith(BOOKKEEPING_PREFIX)]


def with_row_numbers(table: pa.Table) -> pa.Table:
    """Prepend `__row`, numbering records from 1 in the order they were read."""
    rows = pa.array(range(1, table.num_rows + 1), type=pa.int64())
    return table.add_column(0, ROW_COLUMN, rows)


def file_facts(path: Path, *, root: Path | None = None) -> dict[str, object]:
    """Path (relative to `root` when inside it), size and SHA-256 of one file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    shown = path
    if root is not None:
        try:
            shown = path.resolve().relative_to(root.resolve())
        except ValueError:
            shown = path
    return {"path": shown.as_posix(), "bytes": path.stat().st_size, "sha256": digest.hexdigest()}
