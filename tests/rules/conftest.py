"""Run one rule over tiny inline tables on DuckDB, and check its Spark SQL transpiles."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from pydantic import TypeAdapter

from rules.compile import compile_rule, rule_sql
from rules.findings import FINDING_COLUMNS, CompileContext
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
    return CompileContext(
        tables={ref: list(_arrow(data).column_names) for ref, data in tables.items()},
        owners=dict(owners or {}),
        field_owners=dict(field_owners or {}),
        **bounds,
    )


def parse_rule(rule: Mapping[str, Any]) -> Any:
    return TypeAdapter(Rule).validate_python(dict(rule))


@pytest.fixture
def run_rule() -> RunRule:
    """Compile `rule` against `tables`, run it on DuckDB, return the chosen columns sorted."""

    def run(
        rule: Mapping[str, Any],
        tables: Mapping[str, Any],
        *,
        owners: Mapping[str, str] | None = None,
        field_owners: Mapping[tuple[str, str], str] | None = None,
        period: tuple[str, str] | None = None,
        columns: Sequence[str] = SHOWN,
    ) -> list[tuple[Any, ...]]:
        parsed = parse_rule(rule)
        ctx = build_context(tables, owners=owners, field_owners=field_owners, period=period)
        spark = rule_sql(parsed, ctx, "spark")
        sqlglot.parse_one(spark, read="spark")

        con = duckdb.connect()
        # Instants print, and dates become instants, in the session time zone: pin it.
        con.execute("SET TimeZone = 'UTC'")
        for ref, data in tables.items():
            con.register(table_name(ref), _arrow(data))
        result = con.sql(compile_rule(parsed, ctx).sql(dialect="duckdb")).to_arrow_table()
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

    return run


def _arrow(data: Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    return data.to_arrow()
