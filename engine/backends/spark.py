"""The Spark backend: snapshots read as Parquet, the same compiled rules run as Spark SQL.

Spark and DuckDB differ in a few places the rule compilers cannot see: how an instant
reads as text, how a moment becomes seconds, where NULLs sort. `spark_sql` rewrites the
compiled tree for those, so both engines return the same findings.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

from rules.sql import table_name
from tallyclerk.errors import ConfigError, RunError

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'tallyclerk[spark]'"
DEFAULT_MASTER = "local[2]"

# Settings of a session tallyclerk starts: UTC like DuckDB's session, few shuffle
# partitions for the small tables of a close, no web UI, and loopback in local mode.
_SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "4",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
_LOCAL_CONF = {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"}


def spark_session(master: str | None = None, conf: dict[str, str] | None = None) -> Any:
    """The Spark session for `master` (local[2] by default), started if none is running."""
    session_class = _session_class()
    master = master or DEFAULT_MASTER
    settings = dict(_SESSION_CONF)
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        settings |= _LOCAL_CONF
    settings |= conf or {}
    builder = session_class.builder.master(master).appName("tallyclerk")
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:
        raise RunError(
            f"cannot start Spark with master {master!r}: {exc}; check that a Java runtime "
            "(17 or newer) is installed and, for a cluster, that the master is reachable."
        ) from exc
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkBackend:
    """Rules on a Spark session; snapshots are Parquet files in a folder the cluster reads."""

    dialect = "spark"

    def __init__(
        self,
        *,
        staging: Path,
        master: str | None = None,
        conf: dict[str, str] | None = None,
        session: Any = None,
    ) -> None:
        if session is None:
            # A session already running in this process (a notebook's, the tests') is
            # borrowed and left running; one started here is stopped with the backend.
            self._owned = _active_session() is None
            session = spark_session(master, conf)
        else:
            self._owned = False
        self._session = session
        self._staging = staging
        self._views: list[str] = []

    def register(self, ref: str, table: pa.Table, *, path: Path | None = None) -> None:
        """Make the snapshot `system.entity` a view named as the rules name it.

        `path` is the snapshot's Parquet file when the run has written it already.
        """
        name = table_name(ref)
        if path is None or _has_null_columns(table):
            self._staging.mkdir(parents=True, exist_ok=True)
            path = self._staging / f"{name}-{uuid.uuid4().hex[:8]}.parquet"
            pq.write_table(_sparkable(table), path)
        try:
            frame = self._session.read.parquet(str(path))
        except Exception as exc:
            raise RunError(f"Spark cannot read the snapshot {ref} at {path}: {exc}") from exc
        frame.createOrReplaceTempView(name)
        self._views.append(name)

    def query(self, select: exp.Expression, *, label: str) -> pa.Table:
        sql = spark_sql(select)
        try:
            return self._session.sql(sql).toArrow()
        except Exception as exc:
            raise RunError(
                f"{label}: Spark could not run the compiled SQL: {_first_line(exc)}"
            ) from exc

    def close(self) -> None:
        for name in self._views:
            self._session.catalog.dropTempView(name)
        self._views.clear()
        if self._owned:
            self._session.stop()


def spark_sql(select: exp.Expression) -> str:
    """The compiled query as Spark SQL, with DuckDB's meaning where the two engines differ."""
    return select.copy().transform(_as_duckdb_means).sql(dialect="spark")


def _as_duckdb_means(node: exp.Expression) -> exp.Expression:
    # A node replaced here is not walked further, so its operand is rewritten first.
    if isinstance(node, exp.TimeToUnix):
        # DuckDB's epoch() keeps fractions of a second; Spark's unix_timestamp drops them.
        moment = node.this.transform(_as_duckdb_means)
        micros = exp.Anonymous(this="unix_micros", expressions=[moment])
        return exp.Div(this=micros, expression=exp.Literal.number("1000000.0"))
    if isinstance(node, exp.Cast) and node.to.is_type(*exp.DataType.TEXT_TYPES):
        return _text_with_offset(node)
    # DuckDB sorts NULLs last in both directions; Spark first when ascending.
    if isinstance(node, exp.Ordered) and node.args.get("nulls_first") is None:
        node.set("nulls_first", False)
    return node


def _text_with_offset(node: exp.Cast) -> exp.Expression:
    """An instant as text with its offset, as DuckDB writes it ('2026-11-03 10:00:00+00');
    Spark writes none. Values that cannot be instants are cast as they are."""
    value = node.this.transform(_as_duckdb_means)
    cast = exp.Cast(this=value, to=node.to.copy())
    if isinstance(value, _NEVER_INSTANTS) or _is_null_cast(value):
        return cast
    if isinstance(value, exp.Cast) and not value.to.is_type(*_INSTANT_TYPES):
        return cast
    kind = exp.Anonymous(this="typeof", expressions=[value.copy()])
    with_offset = exp.Concat(expressions=[cast.copy(), exp.Literal.string("+00")])
    return (
        exp.case()
        .when(exp.EQ(this=kind, expression=exp.Literal.string("timestamp")), with_offset)
        .else_(cast)
    )


# Expressions whose value is never an instant, so their text needs no offset.
_NEVER_INSTANTS = (
    exp.Literal,
    exp.Null,
    exp.Concat,
    exp.Count,
    exp.Sum,
    exp.Predicate,
    exp.Connector,
    exp.Length,
    exp.Lower,
    exp.Upper,
    exp.Trim,
    exp.RegexpReplace,
    exp.Round,
    exp.Abs,
    exp.MD5,
    exp.Translate,
    exp.Levenshtein,
)
_INSTANT_TYPES = (exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIMESTAMPLTZ)


def _session_class() -> Any:
    """pyspark's SparkSession, or a ConfigError saying how to install it."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConfigError(
            f"the Spark backend needs pyspark, which is not installed; run {INSTALL_HINT} "
            "(and have a Java runtime, 17 or newer), or use --backend duckdb."
        ) from exc
    return SparkSession


def _active_session() -> Any:
    return _session_class().getActiveSession()


def _is_null_cast(value: exp.Expression) -> bool:
    return isinstance(value, exp.Null) or (
        isinstance(value, exp.Cast) and isinstance(value.this, exp.Null)
    )


def _has_null_columns(table: pa.Table) -> bool:
    return any(pa.types.is_null(field.type) for field in table.schema)


def _sparkable(table: pa.Table) -> pa.Table:
    """Columns of no type (every value NULL) as text: Spark reads no Parquet NULL type."""
    schema = pa.schema(
        [
            field.with_type(pa.string()) if pa.types.is_null(field.type) else field
            for field in table.schema
        ]
    )
    return table.cast(schema)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
