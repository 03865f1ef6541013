"""Check records of one entity, as a system holds them, before they are posted: mapped and
quarantined as a run would, then checked by the rules that read them, without a run.

Records arrive in the source's own field names (those its mapping in `tallyclerk.yaml`
reads), so an integration checks exactly what the month-end run would read from it.
Other tables a rule reads (master data for a reference check) come from the
workspace's latest finished run.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from adapters.base import data_columns, with_row_numbers
from adapters.canonical import ENTITIES
from adapters.mapping import NumberFormat, apply_mapping
from rules.compile import compile_rule, finish_findings
from rules.findings import CompileContext, family_of
from rules.model import AnyRule, ValidateRule
from rules.packs import tables_read
from rules.sql import columns_of
from rules.validate import rule_key
from tallyclerk.duckdb_answers import SMALL_ROWS
from tallyclerk.errors import ConfigError

from .backends.duckdb import DuckDBBackend
from .config import LoadedWorkspace, parse_period
from .findings import empty_findings, quarantine_findings, to_findings
from .record_rules import ON_RECORDS
from .snapshot import Snapshot, quarantine

log = logging.getLogger(__name__)

# The snapshot of another table a rule reads, by `system.entity`, or None when there is none.
References = Callable[[str], pa.Table | None]
# Compiled rules by rule and context, oldest first; a dict is enough, threads only add.
_SQL: dict[str, str] = {}
_SQL_CACHE = 512


@dataclass(frozen=True)
class Checked:
    """The findings on some records, the rules that ran, and those that could not."""

    findings: pa.Table
    rules: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)
    records: int = 0
    quarantined: int = 0


def source_of(workspace: LoadedWorkspace, system: str | None, entity: str) -> tuple[str, int]:
    """The system and source index that map records of `entity`; the system may be left out
    when one system maps it, or the entity's owner does."""
    if entity not in ENTITIES:
        raise ConfigError(
            f"unknown entity {entity!r}; the entities are: {', '.join(sorted(ENTITIES))}."
        )
    config = workspace.config
    mapping = {
        name: index
        for name, system_config in config.systems.items()
        for index, source in enumerate(system_config.sources)
        if source.entity == entity
    }
    if system is None:
        owner = config.ownership.get(entity)
        if len(mapping) == 1:
            system = next(iter(mapping))
        elif owner is not None and owner.owner in mapping:
            system = owner.owner
        else:
            raise ConfigError(
                f"{len(mapping)} systems map {entity} ({', '.join(sorted(mapping)) or 'none'}); "
                "name the system the records are for."
            )
    if system not in config.systems:
        raise ConfigError(
            f"unknown system {system!r}; the workspace's systems are: "
            f"{', '.join(sorted(config.systems))}."
        )
    if system not in mapping:
        raise ConfigError(
            f"system {system!r} maps no source onto {entity}; the systems that do: "
            f"{', '.join(sorted(mapping)) or 'none'}."
        )
    return system, mapping[system]


def check_records(
    workspace: LoadedWorkspace,
    raw: pa.Table,
    *,
    system: str,
    index: int,
    rules: Sequence[AnyRule],
    references: References,
    period: str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Checked:
    """Map `raw` onto its entity as source `index` of `system` does, quarantine what does
    not fit, and run `rules` over the rest; `period` (YYYY-MM) bounds the rules' period
    filters, the current month by default."""
    config = workspace.config
    ref = f"{system}.{config.systems[system].sources[index].entity}"

    # Step 1: map and quarantine, as a run does with a file.
    snapshot = map_records(workspace, raw, system=system, index=index, con=con)
    table = snapshot.table

    # Step 2: the other tables the rules read, from the latest finished run.
    tables = {ref: table}
    runnable, skipped = [], {}
    for rule in rules:
        missing = []
        for other in tables_read(rule.model_dump()):
            if other not in tables and (found := references(other)) is not None:
                tables[other] = found
            if other not in tables:
                missing.append(other)
        if missing:
            skipped[rule.id] = (
                f"it reads {', '.join(missing)}, and no finished run of this workspace holds "
                "a snapshot of it"
            )
        else:
            runnable.append(rule)

    # Step 3: run the rules.
    label = period or datetime.now(UTC).astimezone(ZoneInfo(config.timezone)).strftime("%Y-%m")
    context = config.compile_context(
        {name: t.column_names for name, t in tables.items()},
        parse_period(label, config.timezone),
        {name: _families(t) for name, t in tables.items()},
    )
    context = dataclasses.replace(context, unique_keys=_unique_keys(runnable, ref, table))
    # An answer is small when the tables read are: the records, and small master data.
    small = sum(t.num_rows for t in tables.values()) <= SMALL_ROWS
    results = [quarantine_findings([snapshot])]
    results += _rule_findings(runnable, tables, context, system=system, small=small, con=con)
    findings = pa.concat_tables([empty_findings(), *results]).sort_by(
        [("rule_id", "ascending"), ("key", "ascending"), ("field", "ascending")]
    )
    return Checked(
        findings=findings,
        rules=tuple(rule.id for rule in runnable),
        skipped=skipped,
        records=snapshot.read_rows,
        quarantined=len(snapshot.quarantined),
    )


def _unique_keys(rules: Sequence[AnyRule], ref: str, table: pa.Table) -> dict[str, list[list[str]]]:
    """The keys of the validate rules on the records that no two records share: where a
    batch's key is unique, as an integration's usually is, each failing row is a finding of
    its own and the rule skips gathering them by key (a millisecond of its query)."""
    keys = {
        tuple(rule_key(rule, table.column_names))
        for rule in rules
        if isinstance(rule, ValidateRule) and rule.table == ref
    }
    unique = [
        list(key)
        for key in sorted(keys)
        if set(key) <= set(table.column_names) and _no_repeats(table, key)
    ]
    return {ref: unique} if unique else {}


def _no_repeats(table: pa.Table, key: Sequence[str]) -> bool:
    """Whether no two rows share the key as a finding writes it ("a=1, b=NULL"): a NULL
    and the text NULL, or "x, b=y" and "x" beside "y", are one key there."""
    parts: list[pa.ChunkedArray | str] = []
    for position, name in enumerate(key):
        try:
            text = pc.cast(table[name], pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False  # a type with no text form here; gathering by key is safe anyway
        parts += [f"{', ' if position else ''}{name}=", pc.fill_null(text, "NULL")]
    written = pc.binary_join_element_wise(*parts, "")
    return len(pc.unique(written)) == table.num_rows


def _rule_findings(
    rules: Sequence[AnyRule],
    tables: dict[str, pa.Table],
    context: CompileContext,
    *,
    system: str,
    small: bool,
    con: duckdb.DuckDBPyConnection | None,
) -> list[pa.Table]:
    """The findings of each rule over `tables`. Rules over small tables in a database given
    run side by side, a cursor each: such a query spends its time being planned, on one core."""

    def run(rule: AnyRule, backend: DuckDBBackend) -> pa.Table:
        sql = compiled_sql(rule, context)
        found = to_findings(finish_findings(rule, backend.query(sql, label=rule.id, small=small)))
        if rule.kind not in ON_RECORDS:
            found = found.filter(pc.not_equal(found["problem"], f"missing_in_{system}"))
        return found

    def alone(rule: AnyRule) -> pa.Table:
        with _backend(tables, con) as backend:
            return run(rule, backend)

    if con is None or not small or len(rules) < 2:
        with _backend(tables, con) as backend:
            return [run(rule, backend) for rule in rules]
    pending = [(rule, _side_by_side().submit(alone, rule)) for rule in rules[1:]]
    try:
        found = [alone(rules[0])]
    finally:
        # A rule no other thread has taken up yet is run here instead, once this one is free.
        wait([future for _, future in pending if not future.cancel()])
    for rule, future in pending:
        found.append(alone(rule) if future.cancelled() else future.result())
    return found


@contextmanager
def _backend(
    tables: dict[str, pa.Table], con: duckdb.DuckDBPyConnection | None
) -> Iterator[DuckDBBackend]:
    backend = DuckDBBackend(con=con)
    try:
        for name, table in tables.items():
            backend.register(name, table)
        yield backend
    finally:
        backend.close()


@functools.cache
def _side_by_side() -> ThreadPoolExecutor:
    """Threads for the rules a check runs beside its own: one for each other core."""
    return ThreadPoolExecutor(max(1, (os.cpu_count() or 2) - 1), thread_name_prefix="rules")


def map_records(
    workspace: LoadedWorkspace,
    raw: pa.Table,
    *,
    system: str,
    index: int,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Snapshot:
    """The records mapped onto their entity as source `index` of `system` maps its file, with
    the values that did not fit quarantined."""
    source = workspace.config.systems[system].sources[index]
    entity = ENTITIES[source.entity]
    ref = f"{system}.{source.entity}"
    mapping = workspace.mappings[(system, index)]
    _check_columns(raw, mapping, source.types, ref)
    raw = with_row_numbers(raw.select(data_columns(raw)))
    number_format = None
    if source.number_format is not None:
        number_format = NumberFormat(source.number_format.decimal, source.number_format.thousands)
    mapped = apply_mapping(
        raw,
        entity,
        mapping,
        value_maps=source.value_maps,
        types=source.types,
        number_format=number_format,
        where=f"records for {ref}",
        con=con,
    )
    places = _RecordPlaces(raw.num_rows)
    # The schema check only finds keys that are missing; most batches have none to find.
    keyless = any(mapped.table[k].null_count for k in entity.key if k in mapped.table.column_names)
    table, quarantined = quarantine(mapped, mapping, entity, places, schema=keyless)
    return Snapshot(
        system,
        source.entity,
        "records",
        table,
        "",
        quarantined=quarantined,
        read_rows=raw.num_rows,
    )


class _RecordPlaces(Mapping[int, str]):
    """Where each of `count` records is ("record 7"), written only for those quarantined."""

    def __init__(self, count: int) -> None:
        self._count = count

    def __getitem__(self, row: int) -> str:
        if not 1 <= row <= self._count:
            raise KeyError(row)
        return f"record {row}"

    def __iter__(self) -> Iterator[int]:
        return iter(range(1, self._count + 1))

    def __len__(self) -> int:
        return self._count


def compiled_sql(rule: AnyRule, context: CompileContext) -> str:
    """The rule's SQL for DuckDB; compiling takes far longer than checking a thousand
    records, and the same rules check records of the same columns call after call."""
    facts = dataclasses.asdict(context)
    facts["field_owners"] = sorted(map(list, context.field_owners.items()))
    key = json.dumps([rule.model_dump(mode="json"), facts], sort_keys=True, default=str)
    sql = _SQL.get(key)
    if sql is None:
        sql = compile_rule(rule, context).sql(dialect="duckdb")
        if len(_SQL) >= _SQL_CACHE:
            _SQL.pop(next(iter(_SQL)))
        _SQL[key] = sql
    return sql


def _check_columns(raw: pa.Table, mapping: dict, types: dict[str, str], ref: str) -> None:
    """Refuse records lacking a column the mapping reads, or holding one it does not know."""
    read = dict.fromkeys(name for tree in mapping.values() for name in columns_of(tree))
    read |= dict.fromkeys(types)
    given = data_columns(raw)
    missing = [name for name in read if name not in given]
    if missing:
        raise ConfigError(
            f"the records lack {', '.join(repr(n) for n in missing)}, which the mapping of "
            f"{ref} reads; its columns are: {', '.join(read)}."
        )
    unknown = [name for name in given if name not in read]
    if unknown:
        raise ConfigError(
            f"unknown column {unknown[0]!r}: the mapping of {ref} reads only {', '.join(read)}."
        )


def _families(table: pa.Table) -> dict[str, str]:
    return {f.name: family for f in table.schema if (family := family_of(f.type)) is not None}
