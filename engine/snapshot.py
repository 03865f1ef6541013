"""Snapshots: each source read, mapped and checked against its canonical schema.

Rows that break a hard constraint (a key missing, a value of the wrong type) are
quarantined: kept in the run folder and reported as data-quality findings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandera.polars as pa_polars
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from pandera.errors import SchemaErrors
from sqlglot import exp

from adapters.canonical import ENTITIES, Entity
from adapters.files import ROW_COLUMN, read_file
from adapters.mapping import BAD_COLUMNS, apply_mapping
from rules.sql import columns_of

from .config import LoadedWorkspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Quarantined:
    """One row set aside: where it came from and why."""

    row: int
    column: str
    value: str | None
    reason: str
    key: str | None


@dataclass
class Snapshot:
    system: str
    entity: str
    source_file: str
    table: pa.Table
    extracted_at: str
    sha256: str
    quarantined: list[Quarantined] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.system}.{self.entity}"

    def manifest(self) -> dict[str, object]:
        return {
            "system": self.system,
            "entity": self.entity,
            "source": self.source_file,
            "extracted_at": self.extracted_at,
            "rows": self.table.num_rows,
            "quarantined": len(self.quarantined),
            "sha256": self.sha256,
            "watermark": None,
        }


def take_snapshot(workspace: LoadedWorkspace, system: str, index: int) -> Snapshot:
    """Read, map and check one source of one system."""
    source = workspace.config.systems[system].sources[index]
    entity = ENTITIES[source.entity]
    where = f"system {system!r}, {source.entity} from {source.file}"

    read = read_file(workspace.root / source.file, where=where, delimiter=source.delimiter)
    mapped = apply_mapping(
        read.table,
        entity,
        workspace.mappings[(system, index)],
        value_maps=source.value_maps,
        types=source.types,
        where=where,
    )
    table, quarantined = _wrong_types(
        mapped.table, mapped.rejected, workspace.mappings[(system, index)], entity
    )
    table, schema_failures = _check_schema(table, entity)
    quarantined += schema_failures
    if quarantined:
        log.warning("%s: %d row(s) quarantined", where, len(quarantined))
    return Snapshot(
        system=system,
        entity=source.entity,
        source_file=source.file,
        table=table.drop_columns([ROW_COLUMN]),
        extracted_at=datetime.now(UTC).isoformat(timespec="seconds"),
        sha256=read.sha256,
        quarantined=quarantined,
    )


def _wrong_types(
    table: pa.Table, rejected: pa.Table, trees: dict[str, exp.Expression], entity: Entity
) -> tuple[pa.Table, list[Quarantined]]:
    """One quarantined value per column that did not cast, shown as the source gave it.

    A row whose key did not cast cannot be matched to anything and leaves the snapshot;
    any other bad value stays in the snapshot as NULL, so the record is not reported
    missing elsewhere, and its finding names the record by its key.
    """
    if not rejected.num_rows:
        return table, []
    sources = {name: columns_of(tree) for name, tree in trees.items()}
    rows = rejected.column(ROW_COLUMN)
    typed = {
        row[ROW_COLUMN]: row
        for row in table.filter(pc.is_in(table[ROW_COLUMN], value_set=rows)).to_pylist()
    }
    found, dropped = [], []
    for row in rejected.to_pylist():
        bad = [name for name in row[BAD_COLUMNS].split(",") if name]
        number = row[ROW_COLUMN]
        if any(name in entity.key for name in bad):
            dropped.append(number)
            key = f"row={number}"
        else:
            key = _key_text(entity, typed[number])
        found += [
            Quarantined(
                row=number,
                column=name,
                value=_source_value(row, sources[name]),
                reason=f"is not a valid {entity.columns[name]}",
                key=key,
            )
            for name in bad
        ]
    if dropped:
        keep = pc.invert(pc.is_in(table[ROW_COLUMN], value_set=pa.array(dropped, pa.int64())))
        table = table.filter(keep)
    return table, found


def _source_value(row: dict, columns: list[str]) -> str | None:
    """The raw value behind a mapped column: itself when it reads one column."""
    if len(columns) == 1:
        value = row.get(columns[0])
        return None if value is None else str(value)
    return ", ".join(f"{column}={row.get(column)!r}" for column in columns) or None


def _check_schema(table: pa.Table, entity: Entity) -> tuple[pa.Table, list[Quarantined]]:
    """Validate with pandera; return the rows that pass and the ones quarantined."""
    frame = pl.from_arrow(table)
    present = [name for name in entity.columns if name in table.column_names]
    schema = pa_polars.DataFrameSchema(
        {
            name: pa_polars.Column(nullable=name not in entity.key, required=True)
            for name in present
        },
        strict=False,
    )
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases.filter(pl.col("index").is_not_null())
        bad_rows = set(cases["index"].to_list())
        quarantined = [
            Quarantined(
                row=frame[ROW_COLUMN][index],
                column=column,
                value=None if value is None else str(value),
                reason="is missing (part of the key)" if check == "not_nullable" else check,
                key=f"row={frame[ROW_COLUMN][index]}",
            )
            for index, column, check, value in cases.select(
                "index", "column", "check", "failure_case"
            ).iter_rows()
        ]
        keep = ~pl.int_range(frame.height, eager=True).is_in(list(bad_rows))
        return frame.filter(keep).to_arrow(), quarantined
    return table, []


def _key_text(entity: Entity, values: dict[str, object]) -> str:
    return ", ".join(
        f"{name}={'NULL' if values.get(name) is None else values[name]}" for name in entity.key
    )
