"""Reads exported files into Arrow: CSV and other delimited text, Parquet, JSON, NDJSON, .xlsx.

A source may name one file, a glob (`exports/orders_*.csv`) or a folder of daily
files; they are read in name order and stacked. Text formats keep every field
as text: types are applied by the mapping, so a bad value becomes a quarantined
row that names its file and line instead of failing the whole read.
"""

from __future__ import annotations

import glob
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tallyclerk.errors import SourceError

from .base import FILE_COLUMN, LINE_COLUMN, ROW_COLUMN, Extract, file_facts
from .delimited import read_delimited
from .jsonfiles import read_json, read_ndjson
from .spreadsheet import read_xlsx

__all__ = ["ROW_COLUMN", "FileOptions", "FileRead", "read_file", "read_files"]

log = logging.getLogger(__name__)

FORMATS = {
    ".csv": "delimited",
    ".txt": "delimited",
    ".tsv": "delimited",
    ".parquet": "parquet",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".xlsx": "xlsx",
}
_MAGIC = {b"PAR1": "a Parquet file", b"PK\x03\x04": "a ZIP archive (such as .xlsx)"}


@dataclass(frozen=True)
class FileOptions:
    """How to read the files of one source, as declared in tallyclerk.yaml."""

    delimiter: str = ","
    encoding: str = "utf-8"
    sheet: str | None = None
    records: str | None = None


@dataclass(frozen=True)
class FileRead:
    """A file read as an Arrow table, with what the manifest needs to know of it."""

    path: Path
    table: pa.Table
    sha256: str


def read_file(
    path: Path, *, where: str, delimiter: str = ",", options: FileOptions | None = None
) -> FileRead:
    """Read one file; `where` names the system and entity for errors."""
    options = options or FileOptions(delimiter=delimiter)
    if not path.is_file():
        raise SourceError(
            f"{where}: file {path} does not exist. Check the `file:` path in tallyclerk.yaml "
            "(it is relative to the workspace folder), or export the file again."
        )
    table = _read_one(path, where=where, options=options)
    log.info("read %s rows from %s", table.num_rows, path)
    return FileRead(path=path, table=table, sha256=str(file_facts(path)["sha256"]))


def read_files(pattern: str, *, root: Path, where: str, options: FileOptions) -> Extract:
    """Read every file `pattern` names (a file, a glob or a folder) and stack them.

    `__row` numbers records across all files; `__file` and `__line` say where each
    record came from.
    """
    paths = expand(pattern, root=root, where=where)
    tables = []
    for path in paths:
        table = _read_one(path, where=where, options=options).drop_columns([ROW_COLUMN])
        shown = file_facts(path, root=root)["path"]
        tables.append(table.append_column(FILE_COLUMN, pa.repeat(str(shown), table.num_rows)))
    try:
        stacked = pa.concat_tables(tables, promote_options="permissive")
    except pa.ArrowInvalid as exc:
        raise SourceError(f"{where}: the files of {pattern!r} do not stack: {exc}") from exc
    if len({tuple(t.column_names) for t in tables}) > 1:
        log.warning("%s: the files of %r do not all have the same columns", where, pattern)
    rows = pa.array(range(1, stacked.num_rows + 1), type=pa.int64())
    stacked = stacked.add_column(0, ROW_COLUMN, rows)
    log.info("read %s rows from %d file(s) of %s", stacked.num_rows, len(paths), pattern)
    return Extract(
        table=stacked,
        source={
            "kind": "file",
            "pattern": pattern,
            "files": [file_facts(p, root=root) for p in paths],
        },
    )


def expand(
    pattern: str, *, root: Path, where: str, suffixes: Iterable[str] = tuple(FORMATS)
) -> list[Path]:
    """The files a `file:` entry names, in name order: one file, a glob or a folder
    (of which only the files ending in one of `suffixes` are read)."""
    target = root / pattern
    if target.is_dir():
        wanted = set(suffixes)
        paths = [p for p in target.iterdir() if p.is_file() and p.suffix.lower() in wanted]
    elif glob.has_magic(pattern):
        paths = [Path(p) for p in glob.glob(str(target), recursive=True) if Path(p).is_file()]
    elif target.is_file():
        paths = [target]
    else:
        raise SourceError(
            f"{where}: file {target} does not exist. Check the `file:` path in tallyclerk.yaml "
            "(it is relative to the workspace folder), or export the file again."
        )
    if not paths:
        raise SourceError(
            f"{where}: no files match {pattern!r} in {root}; check the `file:` entry, "
            "or wait for the first export to arrive."
        )
    return sorted(paths)


def _read_one(path: Path, *, where: str, options: FileOptions) -> pa.Table:
    suffix = path.suffix.lower()
    kind = FORMATS.get(suffix)
    if kind is None:
        raise SourceError(
            f"{where}: cannot read {path.name}: unknown file type {suffix!r}; "
            f"use one of: {', '.join(FORMATS)}."
        )
    _check_content(path, kind, where=where)
    if kind == "parquet":
        return _read_parquet(path, where=where)
    if kind == "xlsx":
        return read_xlsx(path, where=where, sheet=options.sheet)
    if kind == "json":
        return read_json(path, where=where, records=options.records)
    if kind == "ndjson":
        return read_ndjson(path, where=where)
    delimiter = "\t" if suffix == ".tsv" else options.delimiter
    return read_delimited(path, where=where, delimiter=delimiter, encoding=options.encoding)


def _check_content(path: Path, kind: str, *, where: str) -> None:
    """Refuse a file whose first bytes say it is something other than its name claims."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    found = next((what for magic, what in _MAGIC.items() if head.startswith(magic)), None)
    expected = {"parquet": b"PAR1", "xlsx": b"PK\x03\x04"}.get(kind)
    if expected is not None and not head.startswith(expected):
        seen = found or ("an empty file" if not head else "text" if _is_text(head) else "binary")
        raise SourceError(
            f"{where}: {path} is named {path.suffix} but is {seen}, not {_KINDS[kind]}; "
            "export it again in that format, or rename it to what it is."
        )
    if expected is None and (found or not _is_text(head)):
        raise SourceError(
            f"{where}: {path} is named {path.suffix} but is {found or 'binary data'}, "
            f"not {_KINDS[kind]}; export it again, or rename it to what it is."
        )


_KINDS = {
    "delimited": "delimited text",
    "parquet": "a Parquet file",
    "json": "JSON",
    "ndjson": "NDJSON",
    "xlsx": "an Excel workbook",
}


def _is_text(head: bytes) -> bool:
    return b"\x00" not in head


def _read_parquet(path: Path, *, where: str) -> pa.Table:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(
            f"{where}: {path} is not a readable Parquet file ({exc}); it may be truncated. "
            "Export it again."
        ) from exc
    rows = pa.array(range(1, table.num_rows + 1), type=pa.int64())
    table = table.add_column(0, ROW_COLUMN, rows)
    return table.append_column(LINE_COLUMN, pa.nulls(table.num_rows, pa.int64()))
