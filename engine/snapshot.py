"""Snapshots: each source read, mapped and checked against its canonical schema.

Rows that break a hard constraint (a key missing, a value of the wrong type) are
quarantined: kept in the run folder and reported as data-quality findings.
A source with a watermark is read incrementally and merged with the previous
run's snapshot by key; drift of the source's columns is reported before rules run.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlglot import exp

from adapters.base import FILE_COLUMN, LINE_COLUMN, ROW_COLUMN, SourceIssue
from adapters.canonical import ENTITIES, Entity
from adapters.mapping import BAD_COLUMNS, Mapped, NumberFormat, apply_mapping
from adapters.secrets import Secrets
from adapters.source_fields import source_scales
from rules.sql import columns_of
from tallyclerk.errors import SourceError

from .config import LoadedWorkspace
from .drift import Change, drift_issues, schema_changes, source_schema
from .extract import extract

log = logging.getLogger(__name__)


def _pandera_polars():
    """Import pandera while pyspark is hidden from it.

    With pyspark installed (the spark extra), pandera imports pyspark.pandas as it loads:
    a second or two for every tallyclerk process, and a warning that pyspark does not
    support pandas 3. tallyclerk validates with pandera's polars API and hands Spark no
    pandas, so pandera is loaded without it; pyspark imports normally afterwards.
    """
    if "pandera.polars" in sys.modules:
        return sys.modules["pandera.polars"]
    hidden = [name for name in ("pyspark", "pyspark.pandas") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        return importlib.import_module("pandera.polars")
    finally:
        for name in hidden:
            del sys.modules[name]


# Loaded with this module, before any run worker starts: importing it is not thread-safe.
pa_polars = _pandera_polars()


@dataclass(frozen=True)
class Quarantined:
    """One row set aside: where it came from and why."""

    row: int
    column: str
    value: str | None
    reason: str
    key: str | None
    where: str = ""


@dataclass(frozen=True)
class Previous:
    """What the last finished run kept of one snapshot: its manifest entry and table."""

    run_id: str
    manifest: dict
    path: Path

    @property
    def watermark(self) -> str | None:
        mark = self.manifest.get("watermark") or {}
        return mark.get("value")

    def table(self) -> pa.Table:
        return pq.read_table(self.path)


@dataclass
class Snapshot:
    system: str
    entity: str
    source_file: str
    table: pa.Table
    extracted_at: str
    source: dict = field(default_factory=dict)
    quarantined: list[Quarantined] = field(default_factory=list)
    issues: list[SourceIssue] = field(default_factory=list)
    source_schema: dict[str, str] = field(default_factory=dict)
    watermark: dict | None = None
    mode: str = "full"
    read_rows: int = 0
    config_sha256: str = ""
    # Decimals of the source columns that linear mappings read, where known.
    scales: dict[str, int] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.system}.{self.entity}"

    def manifest(self) -> dict[str, object]:
        return {
            "system": self.system,
            "entity": self.entity,
            "source": self.source,
            "extracted_at": self.extracted_at,
            "mode": self.mode,
            "rows": self.table.num_rows,
            "rows_read": self.read_rows,
            "quarantined": len(self.quarantined),
            "source_issues": len(self.issues),
            "sha256": content_hash(self.table),
            "schema": {f.name: str(f.type) for f in self.table.schema},
            "source_schema": self.source_schema,
            "watermark": self.watermark,
            "config_sha256": self.config_sha256,
            "source_scales": self.scales,
        }


def take_snapshot(
    workspace: LoadedWorkspace,
    system: str,
    index: int,
    *,
    previous: Previous | None = None,
    full: bool = False,
    secrets: Secrets | None = None,
) -> Snapshot:
    """Read, map and check one source of one system.

    With a `previous` snapshot and a watermark, only what changed is read and
    merged by key; `full` reads everything again.
    """
    source = workspace.config.systems[system].sources[index]
    entity = ENTITIES[source.entity]
    where = f"system {system!r}, {source.entity} from {source.label}"
    column = getattr(getattr(source, "watermark", None), "column", None)
    fingerprint = hashlib.sha256(source.model_dump_json().encode()).hexdigest()
    since = previous.watermark if previous and column and not full else None
    if since is not None and previous.manifest.get("config_sha256") != fingerprint:
        # The source was declared differently last time: its snapshot cannot be merged.
        log.warning(
            "%s: the source changed since run %s; reading it in full", where, previous.run_id
        )
        since = None
    started = datetime.now(UTC).isoformat(timespec="seconds")

    # Step 1: read the source. A failure raises, so a half read never becomes a snapshot.
    read = extract(workspace.root, source, where=where, since=since, secrets=secrets or Secrets())
    schema = source_schema(read.table)
    issues = list(read.issues)
    mapping = workspace.mappings[(system, index)]
    if previous is not None and previous.manifest.get("source_schema"):
        changes = schema_changes(previous.manifest["source_schema"], schema)
        _refuse_lost_columns(changes, mapping, where=where, since_run=previous.run_id)
        issues += drift_issues(changes, where=where, since_run=previous.run_id)

    # Step 2: map onto the canonical entity and quarantine what does not fit.
    number_format = None
    if source.number_format is not None:
        number_format = NumberFormat(source.number_format.decimal, source.number_format.thousands)
    mapped = apply_mapping(
        read.table,
        entity,
        mapping,
        value_maps=source.value_maps,
        types=source.types,
        number_format=number_format,
        where=where,
    )
    table, quarantined = quarantine(mapped, mapping, entity, _places(read.table, source.label))
    if quarantined:
        log.warning("%s: %d row(s) quarantined", where, len(quarantined))

    # Step 3: merge an incremental read into the previous snapshot by key.
    mode, read_rows = "full", table.num_rows
    scales = source_scales(read.table, mapping, number_format)
    if since is not None and previous is not None:
        table, mode = merge_by_key(previous.table(), table, entity.key), "incremental"
        earlier = previous.manifest.get("source_scales") or {}
        scales = {name: max(scales.get(name, 0), earlier.get(name, 0)) for name in scales | earlier}
    mark = _watermark(column, since, read.watermark, mode)
    return Snapshot(
        system=system,
        entity=source.entity,
        source_file=source.label,
        table=table,
        extracted_at=started,
        source=read.source,
        quarantined=quarantined,
        issues=issues,
        source_schema=schema,
        watermark=mark,
        mode=mode,
        read_rows=read_rows,
        config_sha256=fingerprint,
        scales=scales,
    )


def merge_by_key(previous: pa.Table, delta: pa.Table, key: tuple[str, ...]) -> pa.Table:
    """The previous rows whose key the delta does not hold, then every delta row.

    Rows deleted in the source stay until the next full read, which is why a
    `--full` run exists.
    """
    previous = previous.select(delta.column_names).cast(delta.schema)
    kept = previous.join(delta.select(list(key)), keys=list(key), join_type="left anti")
    return pa.concat_tables([kept.select(delta.column_names), delta])


def content_hash(table: pa.Table) -> str:
    """SHA-256 of the table's rows in a fixed order, so the same data hashes the same."""
    ordered = table.sort_by([(name, "ascending") for name in table.column_names])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, ordered.schema) as writer:
        writer.write_table(ordered)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def _watermark(column: str | None, since: str | None, read: str | None, mode: str) -> dict | None:
    if column is None:
        return None
    # An empty incremental read keeps the mark where it was.
    value = read if read is not None or mode == "full" else since
    return {"column": column, "value": value, "since": since}


def _refuse_lost_columns(
    changes: list[Change], mapping: dict, *, where: str, since_run: str
) -> None:
    used = {c.name: name for name, tree in mapping.items() for c in tree.find_all(exp.Column)}
    for change in changes:
        lost = change.old_name if change.kind == "renamed" else change.column
        if change.kind in ("dropped", "renamed") and lost in used:
            raise SourceError(
                f"{where}: column {change.detail} since run {since_run}, but "
                f"columns.{used[lost]} reads it; update the mapping in tallyclerk.yaml."
            )


def _places(raw: pa.Table, label: str) -> dict[int, str]:
    """Where each record came from (`file line n`), keyed by its `__row`."""
    rows = raw.column(ROW_COLUMN).to_pylist()
    files = raw.column(FILE_COLUMN).to_pylist() if FILE_COLUMN in raw.column_names else None
    lines = raw.column(LINE_COLUMN).to_pylist() if LINE_COLUMN in raw.column_names else None
    places = {}
    for index, row in enumerate(rows):
        name = files[index] if files else label
        line = lines[index] if lines else None
        places[row] = f"{name} line {line}" if line is not None else f"{name} record {row}"
    return places


def quarantine(
    mapped: Mapped,
    mapping: dict[str, exp.Expression],
    entity: Entity,
    places: Mapping[int, str],
    *,
    schema: bool = True,
) -> tuple[pa.Table, list[Quarantined]]:
    """The mapped table with each value that does not cast set to NULL, and (with `schema`)
    the rows the canonical schema refuses set aside; what was quarantined, where."""
    table, quarantined = _wrong_types(mapped.table, mapped.rejected, mapping, entity, places)
    if schema:
        table, failures = _check_schema(table, entity, places)
        quarantined += failures
    return table.drop_columns([ROW_COLUMN]), quarantined


def _wrong_types(
    table: pa.Table,
    rejected: pa.Table,
    trees: dict[str, exp.Expression],
    entity: Entity,
    places: Mapping[int, str],
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
                where=places.get(number, ""),
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


def _check_schema(
    table: pa.Table, entity: Entity, places: Mapping[int, str]
) -> tuple[pa.Table, list[Quarantined]]:
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
    except pa_polars.errors.SchemaErrors as exc:
        cases = exc.failure_cases.filter(pl.col("index").is_not_null())
        bad_rows = set(cases["index"].to_list())
        quarantined = [
            Quarantined(
                row=frame[ROW_COLUMN][index],
                column=column,
                value=None if value is None else str(value),
                reason="is missing (part of the key)" if check == "not_nullable" else check,
                key=f"row={frame[ROW_COLUMN][index]}",
                where=places.get(frame[ROW_COLUMN][index], ""),
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
