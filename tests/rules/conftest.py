"""Run one rule over tiny inline tables on DuckDB, and check its Spark SQL transpiles."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from pydantic import TypeAdapter, ValidationError

from rules.compile import compile_rule, finish_findings, rule_sql
from rules.findings import FINDING_COLUMNS, CompileContext, family_of
from rules.model import Rule
from rules.sql import table_name

# What most tests compare; a test asks for other columns when they matter to it.
SHOWN = ("problem", "key", "field", "systems", "owner_system", "owner_value", "other_value")

RunRule = Callable[..., list[tuple[Any, ...]]]


def build_context(
    tables: Mapping[str, Any],
    *,
    owners: Mapping[str, str] | None = None,
    field_owners: Mapping[tuple[str, str], str] | None = None,
    period: tuple[str, str] | None = None,
) -> CompileContext:
    """A CompileContext knowing the columns of the given inline tables."""
    bounds = {} if period is None else {"period_start": period[0], "period_end": period[1]}
    arrow = {ref: _arrow(data) for ref, data in tables.items()}
    return CompileContext(
        tables={ref: list(data.column_names) for ref, data in arrow.items()},
        types={
            ref: {
                field.name: family
                for field in data.schema
                if (family := family_of(field.type)) is not None
            }
            for ref, data in arrow.items()
        },
        owners=dict(owners or {}),
        field_owners=dict(field_owners or {}),
        **bounds,
    )


def parse_rule(rule: Mapping[str, Any]) -> Any:
    return TypeAdapter(Rule).validate_python(dict(rule))


def refusal(rule: Mapping[str, Any]) -> str:
    """Why a rule is refused when it is read: 'location: message' of its first error."""
    with pytest.raises(ValidationError) as raised:
        parse_rule(rule)
    error = raised.value.errors()[0]
    # The first step of the location is the rule kind pydantic chose; the rest is the key.
    location = ".".join(str(step) for step in error["loc"][1:])
    message = error["msg"].removeprefix("Value error, ")
    return f"{location}: {message}" if location else message


def evaluate(
    rule: Mapping[str, Any],
    tables: Mapping[str, Any],
    *,
    owners: Mapping[str, str] | None = None,
    field_owners: Mapping[tuple[str, str], str] | None = None,
    period: tuple[str, str] | None = None,
    columns: Sequence[str] = SHOWN,
    spark: bool = True,
) -> list[tuple[Any, ...]]:
    """Compile `rule` against `tables`, run it on DuckDB, return the chosen columns sorted.

    The rule's Spark SQL is written and read back too, unless `spark` is False for a rule
    using what Spark lacks.
    """
    parsed = parse_rule(rule)
    ctx = build_context(tables, owners=owners, field_owners=field_owners, period=period)
    if spark:
        sqlglot.parse_one(rule_sql(parsed, ctx, "spark"), read="spark")

    con = duckdb.connect()
    # Instants print, and dates become instants, in the session time zone: pin it.
    con.execute("SET TimeZone = 'UTC'")
    for ref, data in tables.items():
        con.register(table_name(ref), _arrow(data))
    query = compile_rule(parsed, ctx).sql(dialect="duckdb")
    result = finish_findings(parsed, con.sql(query).to_arrow_table())
    con.close()
    rows = result.to_pylist()

    assert tuple(result.column_names) == FINDING_COLUMNS
    ids = [row["finding_id"] for row in rows]
    assert len(set(ids)) == len(ids), "finding ids must be unique within a rule"
    assert {row["rule_id"] for row in rows} <= {parsed.id}
    return sorted(
        (tuple(row[name] for name in columns) for row in rows),
        key=lambda found: tuple("" if part is None else str(part) for part in found),
    )


@pytest.fixture
def run_rule() -> RunRule:
    """`evaluate`, as a fixture so a test can ask for it by name."""
    return evaluate


def _arrow(data: Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    return data.to_arrow()
