"""Turns JSON-like records (from JSON files and APIs) into an Arrow table of text.

Every value is kept as the text the source wrote, as for CSV: decimals are read
as Decimal so `1.10` stays `1.10`, and nested values stay JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import pyarrow as pa

from .base import with_row_numbers


def as_text(value: Any) -> str | None:
    """One record value as text: scalars as written, nested values as JSON."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return _json_text(value)
    return str(value)


def _json_text(value: Any) -> str:
    """Compact JSON of a nested value, numbers written exactly as they were read."""
    if isinstance(value, dict):
        items = ",".join(
            f"{json.dumps(str(k), ensure_ascii=False)}:{_json_text(v)}" for k, v in value.items()
        )
        return "{" + items + "}"
    if isinstance(value, list):
        return "[" + ",".join(_json_text(v) for v in value) + "]"
    if isinstance(value, (Decimal, int)) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def records_table(records: Iterable[Mapping[str, Any]], *, drop: Iterable[str] = ()) -> pa.Table:
    """An Arrow table of text columns, in the order keys first appear, numbered by `__row`."""
    dropped = set(drop)
    columns: dict[str, list[str | None]] = {}
    count = 0
    for record in records:
        for name in record:
            if name not in dropped and name not in columns:
                columns[name] = [None] * count
        for name, values in columns.items():
            values.append(as_text(record.get(name)))
        count += 1
    if columns:
        table = pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})
    else:
        # Records without fields still count: keep one row for each.
        table = pa.table({"__empty": pa.nulls(count, pa.string())}).drop_columns(["__empty"])
    return with_row_numbers(table)


def loads_exact(text: str | bytes) -> Any:
    """`json.loads` reading decimals as Decimal, so no amount is rounded by a float."""
    return json.loads(text, parse_float=Decimal)


def dig(document: Any, path: str | None) -> Any:
    """The value at a dotted path (`data.items`); the whole document when `path` is empty."""
    node = document
    for step in filter(None, (path or "").split(".")):
        if not isinstance(node, Mapping) or step not in node:
            return None
        node = node[step]
    return node
