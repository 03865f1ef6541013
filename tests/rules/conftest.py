"""Run one rule over tiny inline tables on every backend: DuckDB, and Spark in local mode.

The `run_rule` fixture is parametrized by backend, so each rule test runs on both and must
find the same things on both. The property tests (test_properties.py) run their generated
tables on DuckDB only: fifty examples per property at about a second each on Spark would
add minutes, and the example tests already run every rule kind on Spark.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlglot
from pydantic import TypeAdapter, ValidationError

from engine.backends.duckdb import DuckDBBackend
from rules.compile import compile_rule, finish_findings, rule_sql
from rules.findings import FINDING_COLUMNS, CompileContext, family_of
from rules.model import Rule

# What most tests compare; a test asks for other columns when they matter to it.
SHOWN = ("problem", "key", "field", "systems", "owner_system", "owner_value", "other_value")

RunRule = Callable[..., list[tuple[Any, ...]]]
BACKENDS = ("duckdb", "spark")


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
    backend: Any = None,
) -> list[tuple[Any, ...]]:
    """Compile `rule` against `tables`, run it on `backend` (a fresh DuckDB by default),
    return the chosen columns sorted.

    On DuckDB the rule's Spark SQL is written and read back too, unless `spark` is False
    for a rule using what Spark lacks; on Spark such a test is skipped.
    """
    parsed = parse_rule(rule)
    ctx = build_context(tables, owners=owners, field_owners=field_owners, period=period)
    engine = backend if backend is not None else DuckDBBackend()
    if engine.dialect == "spark" and not spark:
        pytest.skip("the rule uses what Spark lacks; its refusal is tested on its own")
    if spark and engine.dialect == "duckdb":
        sqlglot.parse_one(rule_sql(parsed, ctx, "spark"), read="spark")

    try:
        for ref, data in tables.items():
            engine.register(ref, _arrow(data))
        query = compile_rule(parsed, dataclasses.replace(ctx, dialect=engine.dialect))
        result = finish_findings(parsed, engine.query(query, label=f"rule {parsed.id!r}"))
    finally:
        if backend is None:
            engine.close()
    rows = result.to_pylist()

    assert tuple(result.column_names) == FINDING_COLUMNS
    ids = [row["finding_id"] for row in rows]
    assert len(set(ids)) == len(ids), "finding ids must be unique within a rule"
    assert {row["rule_id"] for row in rows} <= {parsed.id}
    return sorted(
        (tuple(row[name] for name in columns) for row in rows),
        key=lambda found: tuple("" if part is None else str(part) for part in found),
    )


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """One local Spark session for the whole test session: starting one takes seconds."""
    pytest.importorskip("pyspark", reason="the spark extra is not installed")
    from engine.backends.spark import spark_session as start

    session = start("local[2]", {"spark.sql.shuffle.partitions": "2"})
    yield session
    session.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Each backend in turn, empty for each test."""
    if request.param == "duckdb":
        engine: Any = DuckDBBackend()
    else:
        from engine.backends.spark import SparkBackend

        session = request.getfixturevalue("spark_session")
        staging = Path(tempfile.mkdtemp(prefix="tallyclerk-spark-"))
        engine = SparkBackend(session=session, staging=staging)
    yield engine
    engine.close()
    if request.param == "spark":
        shutil.rmtree(staging, ignore_errors=True)


@pytest.fixture
def run_rule(backend: Any) -> RunRule:
    """`evaluate` on the test's backend, as a fixture so a test can ask for it by name."""
    return partial(evaluate, backend=backend)


def _arrow(data: Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    return data.to_arrow()
