"""Maps a source table onto a canonical entity: renames, expressions, value maps, casts.

Mapping expressions arrive as parsed sqlglot trees; this module only checks that
the columns they read exist, then runs them in DuckDB over the Arrow table.
Values that do not cast to the canonical type are set aside, never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from tallyclerk.errors import ConfigError

from .canonical import SQL_TYPES, Entity
from .files import ROW_COLUMN

BAD_COLUMNS = "__bad_columns"
_SOURCE = "source"


@dataclass(frozen=True)
class Mapped:
    """A mapped source: every row typed canonically (a value that did not cast is NULL),
    and the source rows holding such values, with the columns concerned."""

    table: pa.Table
    rejected: pa.Table


def apply_mapping(
    raw: pa.Table,
    entity: Entity,
    columns: Mapping[str, exp.Expression],
    *,
    value_maps: Mapping[str, Mapping[str, str]] | None = None,
    types: Mapping[str, str] | None = None,
    where: str,
) -> Mapped:
    """Map `raw` onto `entity`; `where` names the system and file for error messages.

    `types` declares canonical types of source columns, so expressions can do
    arithmetic on them (`WEIGHT_LB * 0.45359237`).
    """
    value_maps, types = value_maps or {}, types or {}
    _check_mapping(raw, entity, columns, value_maps, types, where=where)

    # Step 1: type the declared source columns, then apply value maps.
    # Columns come out in the entity's canonical order, key first.
    mapped = {
        name: _apply_value_map(_typed_sources(columns[name], types), value_maps.get(name))
        for name in entity.columns
        if name in columns
    }

    # Step 2: cast to canonical types. A value that comes out NULL although every
    # source column it reads has one did not parse: note the column for that row.
    typed: list[exp.Expression] = [exp.column(ROW_COLUMN, quoted=True)]
    failures: list[exp.Expression] = []
    for name, value in mapped.items():
        target = exp.DataType.build(SQL_TYPES[entity.columns[name]], dialect="duckdb")
        cast = exp.TryCast(this=value, to=target)
        typed.append(cast.as_(name, quoted=True))
        sources = [
            exp.column(c, quoted=True)
            for c in dict.fromkeys(c.name for c in columns[name].find_all(exp.Column))
        ]
        if sources:
            present = exp.and_(
                *(exp.Not(this=exp.Is(this=s, expression=exp.null())) for s in sources)
            )
            failed = exp.and_(present, exp.Is(this=cast.copy(), expression=exp.null()))
            flag = exp.If(this=failed, true=exp.Literal.string(f"{name},"))
            failures.append(exp.Coalesce(this=flag, expressions=[exp.Literal.string("")]))
    flags = exp.Concat(expressions=failures, safe=True) if failures else exp.Literal.string("")
    typed.append(flags.as_(BAD_COLUMNS))
    select = exp.select(*typed).from_(exp.to_table(_SOURCE))

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register(_SOURCE, raw)
        result = con.sql(select.sql(dialect="duckdb")).to_arrow_table()
    except duckdb.Error as exc:
        raise ConfigError(f"{where}: the mapping cannot be applied: {exc}") from exc
    finally:
        con.close()

    # Step 3: set aside the source rows holding a value of the wrong type
    # (BAD_COLUMNS lists the columns as "a,b," for such rows, and is empty otherwise).
    bad = pc.not_equal(result[BAD_COLUMNS], "")
    rejected = raw.filter(bad) if raw.num_rows else raw
    rejected = rejected.append_column(BAD_COLUMNS, result[BAD_COLUMNS].filter(bad))
    return Mapped(table=result.drop_columns([BAD_COLUMNS]), rejected=rejected)


def _check_mapping(
    raw: pa.Table,
    entity: Entity,
    columns: Mapping[str, exp.Expression],
    value_maps: Mapping[str, Mapping[str, str]],
    types: Mapping[str, str],
    *,
    where: str,
) -> None:
    available = [name for name in raw.column_names if name != ROW_COLUMN]
    for name, type_name in types.items():
        if name not in available:
            raise ConfigError(
                f"{where}: types.{name}: the file has no column {name!r}; "
                f"its header has: {', '.join(available)}."
            )
        if type_name not in SQL_TYPES:
            raise ConfigError(
                f"{where}: types.{name}: unknown type {type_name!r}; "
                f"use one of: {', '.join(SQL_TYPES)}."
            )
    for name, tree in columns.items():
        if name not in entity.columns:
            raise ConfigError(
                f"{where}: columns.{name}: {entity.name} has no canonical column {name!r}; "
                f"its columns are: {', '.join(entity.columns)}."
            )
        for column in tree.find_all(exp.Column):
            if column.name not in available:
                raise ConfigError(
                    f"{where}: columns.{name}: the file has no column {column.name!r}; "
                    f"its header has: {', '.join(available)}."
                )
    for name in value_maps:
        if name not in columns:
            raise ConfigError(
                f"{where}: value_maps.{name}: {name!r} is not mapped under `columns`; "
                "map it first, then translate its values."
            )
    missing_key = [name for name in entity.key if name not in columns]
    if missing_key:
        raise ConfigError(
            f"{where}: the key of {entity.name} is {', '.join(entity.key)}, "
            f"but {', '.join(missing_key)} is not mapped under `columns`."
        )


def _typed_sources(tree: exp.Expression, types: Mapping[str, str]) -> exp.Expression:
    """Read each declared source column through TRY_CAST to its declared type."""

    def cast(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and node.name in types:
            target = exp.DataType.build(SQL_TYPES[types[node.name]], dialect="duckdb")
            return exp.TryCast(this=exp.column(node.name, quoted=True), to=target)
        return node

    return tree.copy().transform(cast)


def _apply_value_map(tree: exp.Expression, value_map: Mapping[str, str] | None) -> exp.Expression:
    if not value_map:
        return tree
    case = exp.Case(this=tree.copy())
    for source_value, canonical_value in value_map.items():
        case = case.when(exp.Literal.string(str(source_value)), exp.Literal.string(canonical_value))
    return case.else_(tree.copy())
