"""Sources declared in tallyclerk.yaml: kinds, secrets, manifests, incremental reads, drift."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from decimal import Decimal
from pathlib import Path

import adbc_driver_postgresql.dbapi as postgres
import pyarrow.parquet as pq
import pytest
import yaml

from adapters.secrets import Secrets
from engine.config import load_workspace
from engine.findings import source_findings
from engine.snapshot import Previous, take_snapshot
from tallyclerk.errors import ConfigError, SourceError

REAL_X12 = Path(__file__).resolve().parents[1] / "data" / "realdata" / "edi" / "x12"


def _workspace(folder: Path, system: str, *sources: dict):
    document = {"name": "Test", "systems": {system: {"kind": "wms", "sources": list(sources)}}}
    (folder / "tallyclerk.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    return load_workspace(folder)


def _config_error(folder: Path, source: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        _workspace(folder, "wms", source)
    return str(caught.value).removeprefix(f"{folder / 'tallyclerk.yaml'}: ")


def _keep(snapshot, folder: Path, run_id: str) -> Previous:
    """What a finished run keeps of a snapshot, for the next run to read."""
    path = folder / f"{run_id}.parquet"
    pq.write_table(snapshot.table, path)
    manifest = json.loads(json.dumps(snapshot.manifest(), default=str))
    return Previous(run_id=run_id, manifest=manifest, path=path)


# --- configuration ------------------------------------------------------------------


def test_unknown_source_kind(tmp_path):
    message = _config_error(
        tmp_path, {"kind": "ftp", "entity": "item", "columns": {"item_id": "a"}}
    )
    assert message == (
        "the workspace configuration is not valid:\n"
        "  systems.wms.sources[0]: unknown source kind 'ftp'; use one of: file, postgres, "
        "sqlite, odata, suiteql, rest, x12"
    )


def test_a_secret_written_into_the_workspace_is_refused(tmp_path):
    source = {
        "kind": "postgres",
        "entity": "item",
        "url": "postgresql://reader@db.internal:5432/wms",
        "password": "hunter2",
        "query": "SELECT 1 AS id",
        "columns": {"item_id": "id"},
    }
    assert _config_error(tmp_path, source) == (
        "systems.wms.sources[0].password: secrets are written as env:NAME (the name of an "
        "environment variable holding the value), never as the value itself."
    )
    source.update(url="postgresql://reader:hunter2@db.internal/wms", password="env:PW")
    message = _config_error(tmp_path, source)
    assert message == (
        "systems.wms.sources[0].url: the URL holds a password; remove it and give it as "
        "`password: env:NAME` (the name of an environment variable)."
    )
    assert "hunter2" not in message


def test_a_password_in_a_key_value_connection_string_is_refused(tmp_path):
    source = {
        "kind": "postgres",
        "entity": "item",
        "url": "host=127.0.0.1 port=55439 dbname=wms user=tally password=Sup3rS3cretXYZ",
        "query": "SELECT 1 AS id",
        "columns": {"item_id": "id"},
    }
    message = _config_error(tmp_path, source)
    assert message == (
        "systems.wms.sources[0].url: the connection string holds password=...; remove it "
        "and give the password as `password: env:NAME` (the name of an environment variable)."
    )
    assert "Sup3rS3cretXYZ" not in message
    source["url"] = "host=db dbname=wms password='unclosed"
    assert _config_error(tmp_path, source) == (
        "systems.wms.sources[0].url: a quoted value of the PostgreSQL connection string is "
        "never closed; close it with '."
    )


def test_every_adapter_error_leaves_with_its_passwords_masked(tmp_path, monkeypatch):
    import engine.extract

    def leaky(*args, **kwargs):
        raise SourceError(
            "cannot open host=db user=u password=Sup3rS3cretXYZ via postgresql://u:hunter2@db/x"
        )

    monkeypatch.setattr(engine.extract, "read_sqlite", leaky)
    source = {
        "kind": "sqlite",
        "entity": "item",
        "file": "wms.db",
        "query": "SELECT 1 AS id",
        "columns": {"item_id": "id"},
    }
    with pytest.raises(SourceError) as caught:
        take_snapshot(_workspace(tmp_path, "wms", source), "wms", 0)
    assert str(caught.value) == (
        "cannot open host=db user=u password=*** via postgresql://u:***@db/x"
    )
    assert caught.value.__cause__ is None


def test_api_key_in_a_url_is_refused(tmp_path):
    source = {
        "kind": "rest",
        "entity": "item",
        "url": "https://api.example.com/items?api_key=abc123",
        "columns": {"item_id": "id"},
    }
    assert _config_error(tmp_path, source) == (
        "systems.wms.sources[0].url: the URL holds the credential parameter 'api_key'; remove "
        "it and give the secret as `auth` with an env:NAME reference."
    )


def test_x12_pairs_that_no_reader_knows(tmp_path):
    source = {"kind": "x12", "entity": "payment", "file": "edi", "transaction": "820"}
    message = _config_error(tmp_path, source)
    assert message.startswith(
        "systems.wms.sources[0]: X12 820 cannot be read as payment; supported are: "
        "204 as shipment, 204 as shipment_line, 210 as freight_invoice, "
    )


# --- files and X12 ----------------------------------------------------------------


def test_file_snapshot_manifest(tmp_path):
    (tmp_path / "stock.csv").write_text("Lager;Artikel;Bestand\nW1;000123;1.234,5\n", "utf-8")
    workspace = _workspace(
        tmp_path,
        "wms",
        {
            "entity": "inventory_balance",
            "file": "stock.csv",
            "delimiter": ";",
            "number_format": {"decimal": ",", "thousands": "."},
            "columns": {"location_id": "Lager", "item_id": "Artikel", "on_hand_qty": "Bestand"},
        },
    )
    snapshot = take_snapshot(workspace, "wms", 0)
    assert snapshot.table.column("on_hand_qty").to_pylist() == [Decimal("1234.5000")]
    manifest = snapshot.manifest()
    digest = hashlib.sha256((tmp_path / "stock.csv").read_bytes()).hexdigest()
    assert manifest["source"] == {
        "kind": "file",
        "pattern": "stock.csv",
        "files": [{"path": "stock.csv", "bytes": 40, "sha256": digest}],
    }
    assert manifest["rows"] == 1 and manifest["mode"] == "full" and manifest["watermark"] is None
    assert manifest["source_schema"] == {
        "Lager": "string",
        "Artikel": "string",
        "Bestand": "string",
    }
    assert manifest["schema"] == {
        "location_id": "string",
        "item_id": "string",
        "on_hand_qty": "decimal128(18, 4)",
    }
    assert len(manifest["sha256"]) == 64


def test_x12_source_maps_codes_and_reports_envelope_findings(tmp_path):
    (tmp_path / "edi").mkdir()
    for name in ("940_Failed_SE01.edi", "940.OK.edi"):
        shutil.copy(REAL_X12 / "ediengine" / name, tmp_path / "edi" / name)
    workspace = _workspace(
        tmp_path,
        "wms",
        {"kind": "x12", "entity": "sales_order_line", "file": "edi/*.edi", "transaction": "940"},
    )
    snapshot = take_snapshot(workspace, "wms", 0)
    assert snapshot.table.to_pylist() == [
        {"order_id": "538686", "line_no": n, "item_id": item, "quantity": Decimal(qty)}
        for n, item, qty in [(1, "000100", "12"), (2, "000200", "32"), (3, "000300", "12")]
    ] + [{"order_id": "35131", "line_no": 1, "item_id": "110220", "quantity": None}]
    findings = source_findings([snapshot]).to_pylist()
    assert [(f["rule_id"], f["problem"], f["field"], f["message"]) for f in findings] == [
        (
            "source.wms__sales_order_line",
            "segment_count_mismatch",
            "SE01",
            "edi/940_Failed_SE01.edi, segment 11: SE01 says 12 segments but transaction set "
            "20066 (ST at segment 3) has 9.",
        )
    ]


def test_x12_values_that_do_not_cast_are_quarantined_with_file_and_line(tmp_path):
    (tmp_path / "edi").mkdir()
    text = (REAL_X12 / "ediengine" / "940.2.OK.edi").read_text()
    (tmp_path / "edi" / "bad.edi").write_text(text.replace("W01*1*EA", "W01*one*EA"))
    workspace = _workspace(
        tmp_path,
        "wms",
        {"kind": "x12", "entity": "sales_order_line", "file": "edi", "transaction": "940"},
    )
    snapshot = take_snapshot(workspace, "wms", 0)
    # The line stays, without the quantity that did not cast; the finding says where it was.
    assert snapshot.table.column("quantity").to_pylist() == [None]
    assert [(q.where, q.key, q.column, q.value) for q in snapshot.quarantined] == [
        ("edi/bad.edi line 7", "order_id=35131, line_no=1", "quantity", "one")
    ]


# --- incremental reads, drift and secrets against PostgreSQL ---------------------


@pytest.fixture
def stock_db(postgres_server):
    with postgres.connect(postgres_server.url(with_password=True)) as connection:
        cursor = connection.cursor()
        cursor.execute("DROP TABLE IF EXISTS public.stock")
        cursor.execute(
            "CREATE TABLE public.stock (wh text, sku text, qty numeric(18, 4), changed timestamptz)"
        )
        cursor.execute(
            "INSERT INTO public.stock VALUES ('W1', 'A', 1, '2026-11-01 08:00+00'), "
            "('W1', 'B', 2, '2026-11-02 08:00+00'), ('W2', 'A', 3, '2026-11-03 08:00+00')"
        )
        connection.commit()
    return postgres_server


def _execute(server, *statements: str) -> None:
    with postgres.connect(server.url(with_password=True)) as connection:
        cursor = connection.cursor()
        for statement in statements:
            cursor.execute(statement)
        connection.commit()


def _stock_workspace(folder: Path, server, query="SELECT wh, sku, qty, changed FROM stock"):
    return _workspace(
        folder,
        "wms",
        {
            "kind": "postgres",
            "entity": "inventory_balance",
            "url": server.url(),
            "password": "env:WMS_PASSWORD",
            "query": query,
            "watermark": {"column": "changed"},
            "columns": {"location_id": "wh", "item_id": "sku", "on_hand_qty": "qty"},
        },
    )


def _balances(snapshot) -> list[tuple]:
    rows = snapshot.table.select(["location_id", "item_id", "on_hand_qty"]).to_pylist()
    return sorted((r["location_id"], r["item_id"], int(r["on_hand_qty"])) for r in rows)


def test_incremental_read_merges_by_key_and_full_reads_everything(tmp_path, stock_db):
    secrets = Secrets({"WMS_PASSWORD": stock_db.password})
    workspace = _stock_workspace(tmp_path, stock_db)
    first = take_snapshot(workspace, "wms", 0, secrets=secrets)
    assert first.watermark == {
        "column": "changed",
        "value": "2026-11-03T08:00:00+00:00",
        "since": None,
    }
    previous = _keep(first, tmp_path, "2026-11.001")

    _execute(
        stock_db,
        "UPDATE stock SET qty = 20, changed = '2026-11-05 09:00+00' WHERE wh = 'W1' AND sku = 'B'",
        "INSERT INTO stock VALUES ('W3', 'C', 7, '2026-11-05 09:00+00')",
        "DELETE FROM stock WHERE wh = 'W1' AND sku = 'A'",
    )
    second = take_snapshot(workspace, "wms", 0, previous=previous, secrets=secrets)
    assert second.mode == "incremental"
    assert second.read_rows == 3  # W2/A again (changed at the mark), W1/B and W3/C
    # The deleted W1/A stays until a full read: incremental reads cannot see deletes.
    assert _balances(second) == [("W1", "A", 1), ("W1", "B", 20), ("W2", "A", 3), ("W3", "C", 7)]
    assert second.watermark == {
        "column": "changed",
        "value": "2026-11-05T09:00:00+00:00",
        "since": "2026-11-03T08:00:00+00:00",
    }

    full = take_snapshot(workspace, "wms", 0, previous=previous, full=True, secrets=secrets)
    assert full.mode == "full"
    assert _balances(full) == [("W1", "B", 20), ("W2", "A", 3), ("W3", "C", 7)]


def test_schema_drift_is_reported_and_a_lost_mapped_column_stops_the_read(tmp_path, stock_db):
    secrets = Secrets({"WMS_PASSWORD": stock_db.password})
    workspace = _stock_workspace(tmp_path, stock_db, "SELECT * FROM stock")
    previous = _keep(take_snapshot(workspace, "wms", 0, secrets=secrets), tmp_path, "2026-11.001")

    _execute(
        stock_db,
        "ALTER TABLE stock ADD COLUMN lot text",
        "ALTER TABLE stock ALTER COLUMN qty TYPE integer",
    )
    drifted = take_snapshot(workspace, "wms", 0, previous=previous, full=True, secrets=secrets)
    where = "system 'wms', inventory_balance from postgres query"
    assert [(i.problem, i.field, i.message) for i in drifted.issues] == [
        ("schema_drift", "lot", f"{where}: column 'lot' (string) was added since run 2026-11.001."),
        (
            "schema_drift",
            "qty",
            f"{where}: column 'qty' changed type from string to int32 since run 2026-11.001.",
        ),
    ]
    _execute(stock_db, "ALTER TABLE stock RENAME COLUMN sku TO sku_code")
    with pytest.raises(SourceError) as caught:
        take_snapshot(workspace, "wms", 0, previous=previous, full=True, secrets=secrets)
    assert str(caught.value) == (
        f"{where}: column renamed from 'sku' to 'sku_code' since run 2026-11.001, but "
        "columns.item_id reads it; update the mapping in tallyclerk.yaml."
    )


def test_arithmetic_on_postgres_numeric_names_the_type_to_declare(tmp_path, stock_db):
    secrets = Secrets({"WMS_PASSWORD": stock_db.password})
    source = {
        "kind": "postgres",
        "entity": "inventory_balance",
        "url": stock_db.url(),
        "password": "env:WMS_PASSWORD",
        "query": "SELECT wh, sku, qty FROM stock",
        "columns": {"location_id": "wh", "item_id": "sku", "on_hand_qty": "qty * 0.5"},
    }
    with pytest.raises(ConfigError) as caught:
        take_snapshot(_workspace(tmp_path, "wms", source), "wms", 0, secrets=secrets)
    assert str(caught.value) == (
        "system 'wms', inventory_balance from postgres query: columns.on_hand_qty computes "
        "with the source column 'qty', which arrives as text; declare its type beside "
        "`columns`: `types: {qty: decimal}`."
    )
    source["types"] = {"qty": "decimal"}
    snapshot = take_snapshot(_workspace(tmp_path, "wms", source), "wms", 0, secrets=secrets)
    assert sorted(snapshot.table.column("on_hand_qty").to_pylist()) == [
        Decimal("0.5"),
        Decimal("1.0"),
        Decimal("1.5"),
    ]


def test_the_password_reaches_no_manifest_log_or_error(tmp_path, stock_db, caplog):
    secrets = Secrets({"WMS_PASSWORD": stock_db.password})
    caplog.set_level(logging.DEBUG)
    workspace = _stock_workspace(tmp_path, stock_db)
    snapshot = take_snapshot(workspace, "wms", 0, secrets=secrets)
    (tmp_path / "broken").mkdir()
    broken = _stock_workspace(tmp_path / "broken", stock_db, "SELECT nope FROM stock")
    with pytest.raises(SourceError) as caught:
        take_snapshot(broken, "wms", 0, secrets=secrets)
    seen = json.dumps(snapshot.manifest(), default=str) + caplog.text + str(caught.value)
    assert stock_db.password not in seen
    assert (
        snapshot.manifest()["source"]["url"] == f"postgresql://127.0.0.1:{stock_db.port}/postgres"
    )


def test_schema_changes_name_each_kind_of_drift():
    from engine.drift import schema_changes

    before = {"ItemNo": "string", "Qty": "string", "Weight": "double", "Colour": "string"}
    after = {"item_no": "string", "Qty": "int64", "Weight": "double", "Lot": "int64"}
    assert [(c.kind, c.detail) for c in schema_changes(before, after)] == [
        ("renamed", "renamed from 'ItemNo' to 'item_no'"),
        ("dropped", "'Colour' (string) was dropped"),
        ("added", "'Lot' (int64) was added"),
        ("retyped", "'Qty' changed type from string to int64"),
    ]


def test_a_source_declared_differently_since_the_last_run_is_read_in_full(tmp_path):
    import sqlite3

    with sqlite3.connect(tmp_path / "wms.db") as connection:
        connection.execute("CREATE TABLE stock (wh TEXT, sku TEXT, qty TEXT, changed TEXT)")
        connection.execute("INSERT INTO stock VALUES ('W1', 'A', '1', '2026-11-01')")
    source = {
        "kind": "sqlite",
        "entity": "inventory_balance",
        "file": "wms.db",
        "query": "SELECT * FROM stock",
        "watermark": {"column": "changed"},
        "columns": {"location_id": "wh", "item_id": "sku", "on_hand_qty": "qty"},
    }
    first = take_snapshot(_workspace(tmp_path, "wms", source), "wms", 0)
    previous = _keep(first, tmp_path, "2026-11.001")
    same = take_snapshot(_workspace(tmp_path, "wms", source), "wms", 0, previous=previous)
    assert same.mode == "incremental"
    source["query"] = "SELECT * FROM stock WHERE wh = 'W1'"
    changed = take_snapshot(_workspace(tmp_path, "wms", source), "wms", 0, previous=previous)
    assert changed.mode == "full"
