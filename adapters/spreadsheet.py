"""Reads one sheet of an Excel workbook (.xlsx) into Arrow, every cell kept as text.

The first row is the header. Each record remembers its row number in the sheet,
so a quarantined value can be found in Excel by the person who fixes it.
"""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import pyarrow as pa
from python_calamine import CalamineError, CalamineWorkbook

from tallyclerk.errors import SourceError

from .base import LINE_COLUMN, ROW_COLUMN


def read_xlsx(path: Path, *, where: str, sheet: str | None) -> pa.Table:
    """Read `sheet` (the first sheet when None) of the workbook at `path`."""
    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except CalamineError as exc:
        raise SourceError(
            f"{where}: {path} is not a readable Excel workbook ({exc}); "
            "save it again as .xlsx, or export the sheet as CSV."
        ) from exc
    names = workbook.sheet_names
    if sheet is not None and sheet not in names:
        raise SourceError(
            f"{where}: {path} has no sheet {sheet!r}; its sheets are: {', '.join(names)}. "
            "Fix `sheet:` in tallyclerk.yaml."
        )
    if not names:
        raise SourceError(f"{where}: {path} has no sheets.")
    rows = workbook.get_sheet_by_name(sheet or names[0]).to_python(skip_empty_area=False)
    workbook.close()
    if not rows:
        raise SourceError(f"{where}: sheet {sheet or names[0]!r} of {path} is empty.")

    header = [_cell_text(value) for value in rows[0]]
    _check_header(header, path, where=where)
    columns: list[list[str | None]] = [[] for _ in header]
    lines: list[int] = []
    for number, row in enumerate(rows[1:], start=2):
        values = [_cell_text(value) for value in row]
        if not any(values):
            continue
        lines.append(number)
        for index, column in enumerate(columns):
            column.append(values[index] if index < len(values) else None)
    table = pa.table(
        {name: pa.array(col, pa.string()) for name, col in zip(header, columns, strict=True)}
    )
    table = table.add_column(0, ROW_COLUMN, pa.array(range(1, len(lines) + 1), pa.int64()))
    return table.append_column(LINE_COLUMN, pa.array(lines, pa.int64()))


def _check_header(header: list[str | None], path: Path, *, where: str) -> None:
    for position, name in enumerate(header, start=1):
        if not name:
            raise SourceError(
                f"{where}: {path} row 1, column {position}: the header cell is empty; "
                "give every column a name."
            )
    seen = [name for position, name in enumerate(header) if name in header[:position]]
    if seen:
        raise SourceError(
            f"{where}: {path} row 1: the column name {seen[0]!r} appears twice; "
            "give every column its own name."
        )


def _cell_text(value: object) -> str | None:
    """A cell as text: whole numbers without `.0`, dates and times in ISO form."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return str(value)
