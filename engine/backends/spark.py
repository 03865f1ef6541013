"""The Spark backend: snapshots read as Parquet, the same compiled rules run as Spark SQL.

The query is written by `rules.spark_sql`, which gives it DuckDB's meaning where the two
engines differ, so both return the same findings.
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

from rules.spark_sql import spark_sql
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
        self._written: list[Path] = []

    def register(self, ref: str, table: pa.Table, *, path: Path | None = None) -> None:
        """Make the snapshot `system.entity` a view named as the rules name it.

        `path` is the snapshot's Parquet file when the run has written it already.
        """
        name = table_name(ref)
        if path is None or _has_null_columns(table):
            self._staging.mkdir(parents=True, exist_ok=True)
            path = self._staging / f"{name}-{uuid.uuid4().hex[:8]}.parquet"
            pq.write_table(_sparkable(table), path)
            self._written.append(path)
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
        # Copies made for Spark are no part of the run; its own snapshots stay.
        for path in self._written:
            path.unlink(missing_ok=True)
        if self._written and not any(self._staging.iterdir()):
            self._staging.rmdir()
        self._written.clear()
        if self._owned:
            self._session.stop()


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
