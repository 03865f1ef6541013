"""PostgreSQL (a real server the tests start on loopback) and SQLite, read through ADBC."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import adbc_driver_postgresql.dbapi as postgres
import pytest

from adapters.database import checked_query, read_postgres, read_sqlite
from adapters.secrets import Secrets
from tallyclerk.errors import ConfigError, SourceError

WHERE = "system 'wms', inventory_balance from postgres query"


@pytest.fixture(scope="module")
def wms(postgres_server):
    """A `wms` schema with an inventory table, created once for this module."""
    with postgres.connect(postgres_server.url(with_password=True)) as connection:
        cursor = connection.cursor()
        cursor.execute("DROP SCHEMA IF EXISTS wms CASCADE")
        cursor.execute("CREATE SCHEMA wms")
        cursor.execute(
            "CREATE TABLE wms.inventory (warehouse text, sku text, on_hand numeric(18, 4), "
            "updated_at timestamptz)"
        )
        cursor.execute("CREATE SEQUENCE wms.counter")
        cursor.execute(
            "INSERT INTO wms.inventory VALUES "
            "('W1', '000123', 12.5, '2026-11-01 10:00+00'), "
            "('W1', '000124', 0.0001, '2026-11-02 11:30+00'), "
            "('W2', '000123', 1000000, '2026-11-02 11:30+00')"
        )
        connection.commit()
    return postgres_server


def _secrets(server) -> Secrets:
    return Secrets({"WMS_DB_PASSWORD": server.password})


def _read(server, query: str, **options):
    return read_postgres(
        url=server.url(),
        password="env:WMS_DB_PASSWORD",
        query=query,
        watermark=options.get("watermark"),
        since=options.get("since"),
        where=WHERE,
        secrets=options.get("secrets") or _secrets(server),
    )


def test_query_rows_arrive_as_arrow_with_exact_numbers(wms):
    extract = _read(wms, "SELECT warehouse, sku, on_hand FROM wms.inventory ORDER BY 1, 2")
    assert extract.table.select(["warehouse", "sku", "on_hand"]).to_pylist() == [
        {"warehouse": "W1", "sku": "000123", "on_hand": "12.5000"},
        {"warehouse": "W1", "sku": "000124", "on_hand": "0.0001"},
        {"warehouse": "W2", "sku": "000123", "on_hand": "1000000.0000"},
    ]
    assert extract.source == {
        "kind": "postgres",
        "url": f"postgresql://127.0.0.1:{wms.port}/postgres",
        "query": "SELECT warehouse, sku, on_hand FROM wms.inventory ORDER BY 1, 2",
    }


def test_watermark_reads_rows_changed_since_and_reports_the_highest(wms):
    extract = _read(
        wms,
        "SELECT * FROM wms.inventory",
        watermark="updated_at",
        since="2026-11-02T11:30:00+00:00",
    )
    assert sorted(extract.table.column("sku").to_pylist()) == ["000123", "000124"]
    assert extract.watermark == "2026-11-02T11:30:00+00:00"
    assert extract.source["query"] == (
        "SELECT * FROM (SELECT * FROM wms.inventory) AS source "
        'WHERE "source"."updated_at" >= \'2026-11-02T11:30:00+00:00\''
    )


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("DELETE FROM wms.inventory", "DELETE"),
        ("SELECT 1; DROP TABLE wms.inventory", None),
        ("WITH gone AS (DELETE FROM wms.inventory RETURNING *) SELECT * FROM gone", "DELETE"),
        ("SELECT * FROM wms.inventory FOR UPDATE", "LOCK"),
        ("SELECT * INTO wms.copy FROM wms.inventory", "INTO"),
        ("CREATE TABLE wms.x AS SELECT 1", "CREATE"),
    ],
)
def test_anything_but_one_select_is_refused_before_connecting(query, found):
    with pytest.raises(ConfigError) as caught:
        checked_query(query, "postgres", where=WHERE)
    if found is None:
        assert str(caught.value) == (
            f"{WHERE}: query: expected one SELECT statement, found 2; write one query per entity."
        )
    else:
        assert str(caught.value) == (
            f"{WHERE}: query: only a read-only SELECT is allowed, but the query contains "
            f"{found}; tallyclerk never writes to a source system."
        )


def test_a_select_that_writes_through_a_function_is_stopped_by_the_read_only_session(wms):
    with pytest.raises(SourceError) as caught:
        _read(wms, "SELECT nextval('wms.counter')")
    message = str(caught.value)
    # The driver's own words sit between our prefix and our advice; they vary by version.
    assert message.startswith(
        f"{WHERE}: PostgreSQL at postgresql://127.0.0.1:{wms.port}/postgres refused the query: "
    )
    assert "ERROR:  cannot execute nextval() in a read-only transaction" in message
    assert message.endswith("Fix `query:` in tallyclerk.yaml.")


def test_a_failing_query_names_the_server_and_the_fix(wms):
    with pytest.raises(SourceError) as caught:
        _read(wms, "SELECT * FROM wms.missing")
    message = str(caught.value)
    assert message.startswith(
        f"{WHERE}: PostgreSQL at postgresql://127.0.0.1:{wms.port}/postgres refused the query: "
    )
    assert 'relation "wms.missing" does not exist' in message
    assert message.endswith("Fix `query:` in tallyclerk.yaml.")


def test_wrong_password_never_shows_the_password(wms):
    secrets = Secrets({"WMS_DB_PASSWORD": "not-the-right-one"})
    with pytest.raises(SourceError) as caught:
        _read(wms, "SELECT 1", secrets=secrets)
    message = str(caught.value)
    assert message.startswith(
        f"{WHERE}: cannot connect to postgresql://127.0.0.1:{wms.port}/postgres: "
    )
    assert 'password authentication failed for user "tally"' in message
    assert "not-the-right-one" not in message and caught.value.__cause__ is None


def _keyword_dsn(server, **extra: str) -> str:
    pairs = {"host": server.host, "port": str(server.port), "dbname": server.database}
    pairs |= {"user": server.user, **extra}
    return " ".join(f"{key}={value}" for key, value in pairs.items())


def test_keyword_value_connection_string_takes_the_password_from_the_environment(wms):
    extract = read_postgres(
        url=_keyword_dsn(wms),
        password="env:WMS_DB_PASSWORD",
        query="SELECT count(*) AS n FROM wms.inventory",
        watermark=None,
        since=None,
        where=WHERE,
        secrets=_secrets(wms),
    )
    assert extract.table.column("n").to_pylist() == [3]
    assert extract.source["url"] == f"host=127.0.0.1 port={wms.port} dbname=postgres"


def test_keyword_value_connection_string_with_a_password_is_never_shown(wms):
    # A password inside a connection string that comes from the environment is allowed,
    # but neither the string nor the password may appear in the error.
    dsn = _keyword_dsn(wms, password="Sup3rS3cretXYZ")
    with pytest.raises(SourceError) as caught:
        read_postgres(
            url="env:WMS_DSN",
            password=None,
            query="SELECT 1",
            watermark=None,
            since=None,
            where=WHERE,
            secrets=Secrets({"WMS_DSN": dsn}),
        )
    message = str(caught.value)
    assert message.startswith(
        f"{WHERE}: cannot connect to host=127.0.0.1 port={wms.port} dbname=postgres: "
    )
    assert 'password authentication failed for user "tally"' in message
    assert "Sup3rS3cretXYZ" not in message and "user=tally" not in message


def test_missing_environment_variable_is_named():
    with pytest.raises(ConfigError) as caught:
        read_postgres(
            url="postgresql://tally@127.0.0.1:1/postgres",
            password="env:WMS_DB_PASSWORD",
            query="SELECT 1",
            watermark=None,
            since=None,
            where=WHERE,
            secrets=Secrets({}),
        )
    assert str(caught.value) == (
        f"{WHERE}: password: the environment variable WMS_DB_PASSWORD is not set "
        "(referenced as env:WMS_DB_PASSWORD); export it before the run."
    )


def test_sqlite_file_is_opened_read_only(tmp_path):
    path = tmp_path / "wms.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE stock (sku TEXT, qty TEXT, changed TEXT)")
        connection.execute(
            "INSERT INTO stock VALUES ('000123', '1.50', '2026-11-01'), ('9', '2', '2026-11-03')"
        )
    extract = read_sqlite(
        path, query="SELECT * FROM stock", watermark="changed", since="2026-11-02", where="wms"
    )
    assert extract.table.select(["sku", "qty"]).to_pylist() == [{"sku": "9", "qty": "2"}]
    assert extract.watermark == "2026-11-03"
    with pytest.raises(SourceError) as caught:
        read_sqlite(
            Path(path), query="SELECT * FROM nowhere", watermark=None, since=None, where="wms"
        )
    assert str(caught.value).startswith(f"wms: SQLite refused the query on {path}: ")
    assert "no such table: nowhere" in str(caught.value)
