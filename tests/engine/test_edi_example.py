"""The EDI carriers example on real X12 files, and runs that read incrementally or in full."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import yaml
from typer.testing import CliRunner

from api.cli import app
from engine.run import run_workspace

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "edi-carriers"


def _findings(result) -> list[tuple[str, str, str]]:
    return sorted((f["rule_id"], f["problem"], f["key"]) for f in result.findings.to_pylist())


def test_edi_carriers_example_finds_what_the_real_files_hold(tmp_path):
    folder = tmp_path / "edi-carriers"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns(".tallyclerk"))
    result = run_workspace(folder, "2026-11")
    dbschenker = "edi/carrier/invoices/TAM_210_DBSchenker_SampleMotorFreightDetailsAndInvoice.txt"
    war945 = "edi/wms/shipped/WAR_945_inter-americanproducts.txt"
    assert _findings(result) == [
        ("freight-invoice-has-currency", "not_null", "invoice_id=210028835"),
        ("shipped-vs-ordered", "missing_in_wms", "order_id=35131"),
        ("shipped-vs-ordered", "missing_in_wms", "order_id=538686"),
        ("shipping-order-line-has-quantity", "not_null", "order_id=35131, line_no=1"),
        ("shipping-order-sent-twice", "duplicate_key", "order_id=35131, line_no=1"),
        ("shipping-order-sent-twice", "duplicate_key", "order_id=538686, line_no=1"),
        ("source.carrier__freight_invoice", "control_number_mismatch", f"{dbschenker}, segment 25"),
        (
            "source.carrier__freight_invoice_line",
            "control_number_mismatch",
            f"{dbschenker}, segment 25",
        ),
        (
            "source.carrier__shipment_event",
            "count_mismatch",
            "edi/carrier/status/004010_QM214_pass_gh-189.edi, segment 3",
        ),
        (
            "source.erp__sales_order_line",
            "segment_count_mismatch",
            "edi/erp/orders/940_Failed_SE01.edi, segment 11",
        ),
        ("source.wms__shipment_line", "control_number_mismatch", f"{war945}, segment 20"),
        ("source.wms__shipment_line", "malformed_segment", f"{war945}, segment 2"),
    ]
    snapshots = {f"{s['system']}.{s['entity']}": s for s in result.manifest["snapshots"]}
    assert {ref: s["rows"] for ref, s in snapshots.items()} == {
        "rail.shipment_event": 17,
        "carrier.shipment_event": 0,
        "carrier.freight_invoice": 3,
        "carrier.freight_invoice_line": 7,
        "erp.sales_order_line": 14,
        "erp.shipment_line": 1,
        "wms.shipment_line": 3,
        "wms.receipt": 1,
    }
    assert snapshots["rail.shipment_event"]["source"]["sets"] == 17


def test_the_readme_shows_what_the_example_run_prints(tmp_path):
    shutil.copytree(
        EXAMPLE,
        tmp_path / "examples" / "edi-carriers",
        ignore=shutil.ignore_patterns(".tallyclerk"),
    )
    command = "tallyclerk run examples/edi-carriers --period 2026-11"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "tallyclerk"), *command.split()[1:]],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    readme = (EXAMPLE.parents[1] / "README.md").read_text(encoding="utf-8")
    shown = readme.split(f"$ {command}\n", 1)[1].split("```", 1)[0]
    # Standard error holds the warnings, and a blank line where the progress bars were.
    printed = [line.rstrip() for line in (result.stderr + result.stdout).splitlines()]
    assert shown.splitlines() == [line for line in printed if line]


def _sqlite_workspace(folder: Path) -> Path:
    folder.mkdir()
    with sqlite3.connect(folder / "wms.db") as connection:
        connection.execute("CREATE TABLE stock (wh TEXT, sku TEXT, qty TEXT, changed TEXT)")
        connection.executemany(
            "INSERT INTO stock VALUES (?, ?, ?, ?)",
            [("W1", "A", "1", "2026-11-01"), ("W1", "B", "2", "2026-11-02")],
        )
    document = {
        "name": "Incremental",
        "systems": {
            "wms": {
                "kind": "wms",
                "sources": [
                    {
                        "kind": "sqlite",
                        "entity": "inventory_balance",
                        "file": "wms.db",
                        "query": "SELECT * FROM stock",
                        "watermark": {"column": "changed"},
                        "columns": {"location_id": "wh", "item_id": "sku", "on_hand_qty": "qty"},
                    }
                ],
            }
        },
    }
    (folder / "tallyclerk.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    return folder


def _manifest(folder: Path, run_id: str) -> dict:
    path = folder / ".tallyclerk" / "runs" / run_id / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8"))["snapshots"][0]


def _rows(folder: Path, run_id: str) -> list[tuple]:
    path = folder / ".tallyclerk" / "runs" / run_id / "snapshots" / "wms__inventory_balance.parquet"
    rows = pq.read_table(path).to_pylist()
    return sorted((r["location_id"], r["item_id"], int(r["on_hand_qty"])) for r in rows)


def test_runs_read_incrementally_from_the_last_run_and_full_on_request(tmp_path):
    folder = _sqlite_workspace(tmp_path / "ws")
    run_workspace(folder, "2026-11")
    with sqlite3.connect(folder / "wms.db") as connection:
        connection.execute("DELETE FROM stock WHERE sku = 'A'")
        connection.execute("ALTER TABLE stock ADD COLUMN lot TEXT")
        connection.execute("INSERT INTO stock VALUES ('W2', 'C', '5', '2026-11-04', 'L-7')")

    second = run_workspace(folder, "2026-11")
    manifest = _manifest(folder, "2026-11.002")
    assert (manifest["mode"], manifest["rows_read"], manifest["rows"]) == ("incremental", 2, 3)
    assert manifest["watermark"] == {
        "column": "changed",
        "value": "2026-11-04",
        "since": "2026-11-02",
    }
    assert _rows(folder, "2026-11.002") == [("W1", "A", 1), ("W1", "B", 2), ("W2", "C", 5)]
    drift = [f for f in second.findings.to_pylist() if f["problem"] == "schema_drift"]
    assert [(f["rule_id"], f["field"], f["message"]) for f in drift] == [
        (
            "source.wms__inventory_balance",
            "lot",
            "system 'wms', inventory_balance from sqlite wms.db: column 'lot' (string) was "
            "added since run 2026-11.001.",
        )
    ]

    result = CliRunner().invoke(app, ["run", str(folder), "--period", "2026-11", "--full"])
    assert result.exit_code == 0, result.output
    assert _manifest(folder, "2026-11.003")["mode"] == "full"
    assert _rows(folder, "2026-11.003") == [("W1", "B", 2), ("W2", "C", 5)]


def test_a_column_added_then_dropped_gives_two_findings_each_new(tmp_path):
    folder = _sqlite_workspace(tmp_path / "ws")
    run_workspace(folder, "2026-11")
    with sqlite3.connect(folder / "wms.db") as connection:
        connection.execute("ALTER TABLE stock ADD COLUMN lot TEXT")
        connection.execute("UPDATE stock SET lot = 'L-1'")
    added = run_workspace(folder, "2026-11", full=True)
    with sqlite3.connect(folder / "wms.db") as connection:
        connection.execute("ALTER TABLE stock DROP COLUMN lot")
    dropped = run_workspace(folder, "2026-11", full=True)

    def drift(table) -> list[tuple[str, str, str]]:
        rows = [f for f in table.to_pylist() if f["problem"] == "schema_drift"]
        return [(f["field"], f["status"], f["message"].split(": ")[-1]) for f in rows]

    assert drift(added.findings) == [
        ("lot", "new", "column 'lot' (string) was added since run 2026-11.001.")
    ]
    assert drift(dropped.findings) == [
        ("lot", "new", "column 'lot' (string) was dropped since run 2026-11.002.")
    ]
    assert drift(dropped.resolved) == [
        ("lot", "resolved", "column 'lot' (string) was added since run 2026-11.001.")
    ]


def _api_workspace(folder: Path, url: str, **source) -> Path:
    folder.mkdir()
    document = {
        "name": "API",
        "systems": {
            "erp": {
                "kind": "erp",
                "sources": [{"entity": "sales_order", "url": url, "retries": 0, **source}],
            }
        },
    }
    (folder / "tallyclerk.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    return folder


def test_odata_source_reads_with_a_bearer_token_from_the_environment(
    tmp_path, api_server, monkeypatch
):
    from tests.api_server import TOKEN

    monkeypatch.setenv("ERP_TOKEN", TOKEN)
    folder = _api_workspace(
        tmp_path / "ws",
        f"{api_server.url}/odata/orders",
        kind="odata",
        auth={"bearer": "env:ERP_TOKEN"},
        page_size=2,
        watermark={"column": "modifiedon"},
        columns={"order_id": "salesorderid", "total_amount": "totalamount"},
    )
    result = run_workspace(folder, "2026-11")
    snapshot = result.manifest["snapshots"][0]
    assert (snapshot["rows"], snapshot["watermark"]["value"]) == (5, "2026-11-04T12:00:00Z")
    assert snapshot["source"] == {
        "kind": "odata",
        "url": f"{api_server.url}/odata/orders",
        "params": {},
        "pages": 3,
    }
    run_folder = folder / ".tallyclerk" / "runs" / "2026-11.001"
    written = "".join(p.read_text(errors="replace") for p in run_folder.rglob("*") if p.is_file())
    assert TOKEN not in written


def test_an_extraction_that_fails_part_way_leaves_no_snapshot(tmp_path, api_server):
    folder = _api_workspace(
        tmp_path / "ws",
        f"{api_server.url}/api/halfway",
        kind="rest",
        records="data",
        paging={"type": "cursor", "next": "meta.next_cursor"},
        columns={"order_id": "id"},
    )
    result = CliRunner().invoke(app, ["run", str(folder), "--period", "2026-11"])
    assert result.exit_code == 1
    assert str(result.exception) == (
        f"system 'erp', sales_order from {api_server.url}/api/halfway: GET "
        f"{api_server.url}/api/halfway?cursor=3 returned HTTP 500 Internal Server Error: the "
        "server failed: try again later, or ask the system's admin. The server said: "
        '\'{"error": "internal"}\''
    )
    assert list((folder / ".tallyclerk" / "runs").iterdir()) == []
