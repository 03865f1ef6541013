"""Reads JSON (an array of records, or records under a path) and NDJSON into Arrow.

Values are kept as the text the file wrote, like CSV fields; a line of NDJSON
that is not a JSON object is named by its line number.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from tallyclerk.errors import SourceError

from .base import LINE_COLUMN
from .records import dig, loads_exact, records_table


def read_json(path: Path, *, where: str, records: str | None) -> pa.Table:
    """A JSON document holding a list of records (at the dotted path `records`)."""
    text = _text(path, where=where)
    try:
        document = loads_exact(text)
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"{where}: {path} line {exc.lineno}, column {exc.colno}: not valid JSON "
            f"({exc.msg}); the file is truncated or is not JSON. Export it again."
        ) from exc
    items = dig(document, records)
    if not isinstance(items, list):
        found = "nothing" if items is None else f"a {type(items).__name__}"
        raise SourceError(
            f"{where}: {path}: expected a list of records at "
            f"{records or 'the top level'!r} but found {found}; set `records:` to the path "
            "of the list, for example records: value."
        )
    _check_records(items, path, where=where)
    return records_table(items)


def read_ndjson(path: Path, *, where: str) -> pa.Table:
    """One JSON object per line; blank lines are allowed, anything else is named."""
    items: list[Mapping[str, Any]] = []
    lines: list[int] = []
    for number, line in enumerate(_text(path, where=where).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = loads_exact(line)
        except json.JSONDecodeError as exc:
            raise SourceError(
                f"{where}: {path} line {number}, column {exc.colno}: not valid JSON "
                f"({exc.msg}); each line must hold one JSON object."
            ) from exc
        if not isinstance(item, dict):
            raise SourceError(
                f"{where}: {path} line {number}: expected a JSON object, found a "
                f"{type(item).__name__}; each line must hold one JSON object."
            )
        items.append(item)
        lines.append(number)
    return records_table(items).append_column(LINE_COLUMN, pa.array(lines, pa.int64()))


def _text(path: Path, *, where: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise SourceError(
            f"{where}: {path} line {line}: byte 0x{exc.object[exc.start]:02x} is not valid "
            "UTF-8; JSON files must be UTF-8. Export it again."
        ) from exc


def _check_records(items: list, path: Path, *, where: str) -> None:
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise SourceError(
                f"{where}: {path}: record {position} is a {type(item).__name__}, "
                "not an object; every record must be a JSON object."
            )
