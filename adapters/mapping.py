"""Maps a source table onto a canonical entity: renames, expressions, value maps, casts.

Mapping expressions arrive as parsed sqlglot trees; this module only checks that
the columns they read exist, then runs them in DuckDB over the Arrow table.
Values that do not cast to the canonical type are set aside, never dropped.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from tallyclerk.duckdb_answers import SMALL_ROWS, small_answer_over
from tallyclerk.errors import ConfigError

from .base import ROW_COLUMN, data_columns
from .canonical import SQL_TYPES, Entity

BAD_COLUMNS = "__bad_columns"
_SOURCE = "source"
_NUMERIC = frozenset({"integer", "decimal", "money"})
_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.IntDiv, exp.Neg, exp.Pow)


@dataclass(frozen=True)
class NumberFormat:
    """How a source writes numbers: `1.234,50` is decimal="," and thousands=".".

    The mapping rewrites such text into canonical decimals before casting.
    """

    decimal: str = "."
    thousands: str | None = None


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
    number_format: NumberFormat | None = None,
    where: str,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Mapped:
    """Map `raw` onto `entity`; `where` names the system and file for error messages.

    `con` is a DuckDB connection to map in (a caller mapping many small tables keeps one,
    since opening one costs more than mapping a thousand rows); by default a fresh one.

    `types` declares canonical types of source columns, so expressions can do
    arithmetic on them (`WEIGHT_LB * 0.45359237`). `number_format` says how the
    source writes numbers in columns that are numeric (declared, or mapped bare
    onto a numeric canonical column).
    """
    value_maps, types = value_maps or {}, types or {}
    sql, reads = _checked_sql(raw, entity, columns, value_maps, types, number_format, where=where)

    owned = con is None
    con = duckdb.connect() if con is None else con.cursor()
    registered = False
    try:
        if owned:
            # A database given is the caller's, its time zone set (`small_batch_database`).
            con.execute("SET TimeZone = 'UTC'")
        if raw.num_rows <= SMALL_ROWS:
            result = small_answer_over(con, sql, raw)
        else:
            con.register(_SOURCE, raw)
            registered = True
            result = con.sql(sql).to_arrow_table()
    except duckdb.Error as exc:
        if not registered:
            con.register(_SOURCE, raw)  # the column that failed is found one query at a time
            registered = True
        typed = _mapping_select(raw, entity, columns, value_maps, types, number_format)[1]
        raise ConfigError(
            _failed_column(con, typed, raw, types, where=where) or _first(exc, where)
        ) from exc
    finally:
        if registered and not owned:
            con.unregister(_SOURCE)
        con.close()

    # Step 3: set aside the source rows holding a value of the wrong type: a value that
    # came out NULL although every source column it reads has one did not parse.
    failed = {
        name: pc.and_(_every(pc.is_valid(raw[c]) for c in sources), pc.is_null(result[name]))
        for name, sources in reads.items()
        if result[name].null_count
    }
    bad = _any(list(failed.values()))
    if bad is None or not pc.any(bad).as_py():
        rejected = raw.slice(0, 0).append_column(BAD_COLUMNS, pa.array([], pa.string()))
        return Mapped(table=result, rejected=rejected)
    # BAD_COLUMNS lists the columns that did not parse as "a,b," on each such row.
    flags = [pc.if_else(mask.filter(bad), f"{name},", "") for name, mask in failed.items()]
    rejected = raw.filter(bad).append_column(BAD_COLUMNS, pc.binary_join_element_wise(*flags, ""))
    return Mapped(table=result, rejected=rejected)


def _sources_by_column(
    entity: Entity, columns: Mapping[str, exp.Expression]
) -> dict[str, list[str]]:
    """The source columns each mapped column reads, in canonical order; a column reading
    none (a constant) cannot fail to parse."""
    found = {}
    for name in entity.columns:
        if name in columns:
            sources = list(dict.fromkeys(c.name for c in columns[name].find_all(exp.Column)))
            if sources:
                found[name] = sources
    return found


def _every(masks: Iterable[pa.ChunkedArray]) -> pa.ChunkedArray:
    return functools.reduce(pc.and_, masks)


def _any(masks: list[pa.ChunkedArray]) -> pa.ChunkedArray | None:
    return functools.reduce(pc.or_, masks) if masks else None


# Mapping queries by mapping and source layout: checking and building one takes longer than
# running it on a thousand rows, and a caller mapping batch after batch maps the same layout.
_SQL: dict[tuple, tuple[Mapping[str, exp.Expression], str, dict[str, list[str]]]] = {}
_SQL_CACHE = 256


def _checked_sql(
    raw: pa.Table,
    entity: Entity,
    columns: Mapping[str, exp.Expression],
    value_maps: Mapping[str, Mapping[str, str]],
    types: Mapping[str, str],
    number_format: NumberFormat | None,
    *,
    where: str,
) -> tuple[str, dict[str, list[str]]]:
    """The mapping query for `raw`'s layout, once the mapping is checked against it, and
    the source columns each mapped column reads (see `_sources_by_column`)."""
    layout = tuple((f.name, str(f.type)) for f in raw.schema)
    key = (id(columns), entity.name, layout, repr(value_maps), repr(types), number_format)
    cached = _SQL.get(key)
    if cached is not None and cached[0] is columns:
        return cached[1], cached[2]
    _check_mapping(raw, entity, columns, value_maps, types, where=where)
    sql = _mapping_select(raw, entity, columns, value_maps, types, number_format)[0]
    reads = _sources_by_column(entity, columns)
    if len(_SQL) >= _SQL_CACHE:
        _SQL.clear()
    _SQL[key] = (columns, sql, reads)
    return sql, reads


def _mapping_select(
    raw: pa.Table,
    entity: Entity,
    columns: Mapping[str, exp.Expression],
    value_maps: Mapping[str, Mapping[str, str]],
    types: Mapping[str, str],
    number_format: NumberFormat | None,
) -> tuple[str, list[exp.Expression]]:
    """The query mapping `raw` onto `entity`, and its typed projections."""
    numeric = _numeric_sources(entity, columns, types, raw) if number_format else set()
    # Step 1: normalise numbers, type the declared source columns, apply value maps.
    # Columns come out in the entity's canonical order, key first.
    mapped = {
        name: _apply_value_map(
            _typed_sources(columns[name], types, numeric, number_format), value_maps.get(name)
        )
        for name in entity.columns
        if name in columns
    }

    # Step 2: cast to canonical types; a value that does not cast comes out NULL.
    typed: list[exp.Expression] = [exp.column(ROW_COLUMN, quoted=True)]
    for name, value in mapped.items():
        target = exp.DataType.build(SQL_TYPES[entity.columns[name]], dialect="duckdb")
        typed.append(exp.TryCast(this=value, to=target).as_(name, quoted=True))
    select = exp.select(*typed).from_(exp.to_table(_SOURCE))
    return select.sql(dialect="duckdb"), typed


def _check_mapping(
    raw: pa.Table,
    entity: Entity,
    columns: Mapping[str, exp.Expression],
    value_maps: Mapping[str, Mapping[str, str]],
    types: Mapping[str, str],
    *,
    where: str,
) -> None:
    available = data_columns(raw)
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
    for name, tree in columns.items():
        _refuse_text_arithmetic(name, tree, raw, types, where=where)
    missing_key = [name for name in entity.key if name not in columns]
    if missing_key:
        raise ConfigError(
            f"{where}: the key of {entity.name} is {', '.join(entity.key)}, "
            f"but {', '.join(missing_key)} is not mapped under `columns`."
        )


def _refuse_text_arithmetic(
    name: str, tree: exp.Expression, raw: pa.Table, types: Mapping[str, str], *, where: str
) -> None:
    """Arithmetic on a column that arrives as text fails in DuckDB: PostgreSQL NUMERIC
    does, and every field of a CSV file. Say which column to declare, and as what."""
    for node in tree.find_all(*_ARITHMETIC):
        operands = [node.this] if isinstance(node, exp.Neg) else [node.this, node.expression]
        for operand in operands:
            column = operand.unnest() if operand is not None else None
            if not isinstance(column, exp.Column) or column.name in types:
                continue
            if not _is_text(raw.schema.field(column.name).type):
                continue
            other = [o for o in operands if o is not operand]
            wanted = (
                "timestamp" if other and isinstance(other[0].unnest(), exp.Interval) else "decimal"
            )
            raise ConfigError(
                f"{where}: columns.{name} computes with the source column {column.name!r}, "
                f"which arrives as text; declare its type beside `columns`: "
                f"`types: {{{column.name}: {wanted}}}`."
            )


def _failed_column(
    con: duckdb.DuckDBPyConnection,
    typed: list[exp.Expression],
    raw: pa.Table,
    types: Mapping[str, str],
    *,
    where: str,
) -> str | None:
    """Which mapped column DuckDB refused, tried one at a time: first as written (a type
    that does not fit), then over the rows (a function failing on a value, as strptime
    does); None if each works alone."""
    text = {c for c in data_columns(raw) if c not in types and _is_text(raw.schema.field(c).type)}
    for over_rows in (False, True):
        for projection in typed[1:]:  # after the row number
            if over_rows:  # counted, so every row is computed without being fetched
                query = exp.select(exp.Count(this=projection.unalias())).from_(_SOURCE)
            else:
                query = exp.select(projection).from_(exp.to_table(_SOURCE)).limit(0)
            try:
                con.execute(query.sql(dialect="duckdb")).fetchall()
            except duckdb.Error as exc:
                reason = _reason(exc).rstrip(".")
                if over_rows:
                    return (
                        f"{where}: columns.{projection.alias} cannot be computed from a value it "
                        f"reads ({reason}). A function that fails on a bad value stops the "
                        "read; its TRY form (try_strptime, TRY_CAST) gives NULL instead, and "
                        "the value is quarantined."
                    )
                reads = [c.name for c in projection.find_all(exp.Column) if c.name in text]
                shown = ", ".join(repr(name) for name in dict.fromkeys(reads))
                hint = (
                    f" It reads {shown} as text; if it computes with that, declare the type: "
                    f"`types: {{{reads[0]}: decimal}}`."
                    if reads
                    else ""
                )
                return f"{where}: columns.{projection.alias} cannot be computed ({reason}).{hint}"
    return None


def _first(exc: duckdb.Error, where: str) -> str:
    return f"{where}: the mapping cannot be applied: {_reason(exc)}"


def _reason(exc: duckdb.Error) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _is_text(type_: pa.DataType) -> bool:
    return pa.types.is_string(type_) or pa.types.is_large_string(type_)


def _typed_sources(
    tree: exp.Expression,
    types: Mapping[str, str],
    numeric: set[str],
    number_format: NumberFormat | None,
) -> exp.Expression:
    """Read each source column as the expression needs it: numbers normalised to
    `1234.50` when the source writes them otherwise, declared columns through
    TRY_CAST to their declared type."""

    def cast(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Column):
            return node
        value: exp.Expression = exp.column(node.name, quoted=True)
        if node.name in numeric and number_format is not None:
            value = _normalised_number(value, number_format)
        if node.name in types:
            target = exp.DataType.build(SQL_TYPES[types[node.name]], dialect="duckdb")
            value = exp.TryCast(this=value, to=target)
        return value

    return tree.copy().transform(cast)


def _apply_value_map(tree: exp.Expression, value_map: Mapping[str, str] | None) -> exp.Expression:
    if not value_map:
        return tree
    case = exp.Case(this=tree.copy())
    for source_value, canonical_value in value_map.items():
        case = case.when(exp.Literal.string(str(source_value)), exp.Literal.string(canonical_value))
    return case.else_(tree.copy())


def _numeric_sources(
    entity: Entity, columns: Mapping[str, exp.Expression], types: Mapping[str, str], raw: pa.Table
) -> set[str]:
    """Text source columns that hold numbers: declared numeric, or mapped bare onto one."""
    names = {name for name, type_name in types.items() if type_name in _NUMERIC}
    names |= {
        tree.name
        for name, tree in columns.items()
        if isinstance(tree, exp.Column) and entity.columns[name] in _NUMERIC
    }
    return {name for name in names if pa.types.is_string(raw.schema.field(name).type)}


def _normalised_number(value: exp.Expression, number_format: NumberFormat) -> exp.Expression:
    """`1.234,50` as `1234.50`: thousands separators removed, the decimal mark a point."""
    if number_format.thousands:
        value = exp.func("replace", value, exp.Literal.string(number_format.thousands), "''")
    if number_format.decimal != ".":
        value = exp.func("replace", value, exp.Literal.string(number_format.decimal), "'.'")
    return exp.Trim(this=value)
