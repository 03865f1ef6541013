"""Bad input on the command line: one clear message, the right exit code, nothing lost."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

TALLYCLERK = str(Path(sys.executable).parent / "tallyclerk")

ITEMS_ERP = "ItemNumber,Description,WeightKg\n000001,Pallet jack,12.500\n000002,Shrink wrap,3.000\n"
ITEMS_WMS = "SKU,DESCRIPTION,WEIGHT_LB\n1,Pallet jack,27.56\n2,Shrink wrap,6.61\n"


def _workspace(tmp_path: Path, **changes) -> Path:
    """A two-system workspace with one match rule; `changes` replace top-level keys."""
    (tmp_path / "erp").mkdir()
    (tmp_path / "wms").mkdir()
    (tmp_path / "erp" / "items.csv").write_text(ITEMS_ERP)
    (tmp_path / "wms" / "items.csv").write_text(ITEMS_WMS)
    config = {
        "name": "Tiny",
        "systems": {
            "erp": {
                "kind": "erp",
                "sources": [
                    {
                        "entity": "item",
                        "file": "erp/items.csv",
                        "columns": {
                            "item_id": "ltrim(ItemNumber, '0')",
                            "description": "Description",
                            "weight_kg": "WeightKg",
                        },
                    }
                ],
            },
            "wms": {
                "kind": "wms",
                "sources": [
                    {
                        "entity": "item",
                        "file": "wms/items.csv",
                        "types": {"WEIGHT_LB": "decimal"},
                        "columns": {
                            "item_id": "SKU",
                            "description": "DESCRIPTION",
                            "weight_kg": "WEIGHT_LB * 0.45359237",
                        },
                    }
                ],
            },
        },
        "ownership": {"item": {"owner": "erp"}},
        "rules": [
            {
                "id": "item-sync",
                "kind": "match",
                "entity": "item",
                "systems": ["erp", "wms"],
                "key": ["item_id"],
                "fields": [{"name": "weight_kg", "compare": "numeric", "rel_tol": 0.005}],
            }
        ],
    }
    config.update(changes)
    (tmp_path / "tallyclerk.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return tmp_path


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [TALLYCLERK, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )


def _runs(folder: Path) -> list[str]:
    runs = folder / ".tallyclerk" / "runs"
    return sorted(p.name for p in runs.iterdir()) if runs.exists() else []


def test_clean_tiny_workspace_runs(tmp_path):
    folder = _workspace(tmp_path)
    result = _run("run", str(folder), "--period", "2026-11")
    assert result.returncode == 0, result.stderr
    assert "Findings: 0" in result.stdout
    assert _runs(folder) == ["2026-11.001"]


def test_invalid_period_is_a_usage_error(tmp_path):
    result = _run("run", str(_workspace(tmp_path)), "--period", "2026-13")
    assert result.returncode == 2
    assert "invalid period '2026-13': write a month as YYYY-MM" in result.stderr


def test_a_period_before_the_latest_run_is_refused_and_changes_nothing(tmp_path):
    folder = _workspace(tmp_path)
    assert _run("run", str(folder), "--period", "2026-11").returncode == 0
    catalog = (folder / ".tallyclerk" / "catalog.sqlite").read_bytes()
    result = _run("run", str(folder), "--period", "2026-10")
    assert result.returncode == 2
    assert (
        "error: --period 2026-10 is before 2026-11, the period of the latest run 2026-11.001"
        in result.stderr
    )
    assert _runs(folder) == ["2026-11.001"]
    assert (folder / ".tallyclerk" / "catalog.sqlite").read_bytes() == catalog


def test_a_deleted_run_folder_keeps_its_run_id_taken(tmp_path):
    folder = _workspace(tmp_path)
    assert _run("run", str(folder), "--period", "2026-11").returncode == 0
    shutil.rmtree(folder / ".tallyclerk" / "runs" / "2026-11.001")
    result = _run("run", str(folder), "--period", "2026-11")
    assert result.returncode == 0, result.stderr
    assert _runs(folder) == ["2026-11.002"]


def test_unknown_rule_kind_names_the_rule(tmp_path):
    folder = _workspace(tmp_path, rules=[{"id": "odd", "kind": "telepathy"}])
    result = _run("run", str(folder), "--period", "2026-11")
    assert result.returncode == 2
    assert "rules[0] (id 'odd')" in result.stderr
    assert "unknown rule kind 'telepathy'; use one of: validate, match" in result.stderr


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("SKU +", "cannot parse SQL expression 'SKU +'"),
        ("(SELECT 1)", "'(SELECT 1)' is not allowed: it contains a subquery"),
        ("read_csv('/etc/passwd')", "is not allowed: it contains a function reading files, URLs"),
        ("getenv('HOME')", "calls the unknown function getenv()"),
        (
            "DESC",
            "cannot parse SQL expression 'DESC': DESC is a reserved word in SQL; to read the "
            "source column DESC, quote its name: '\"DESC\"'.",
        ),
        (
            "'SKU",
            'cannot parse SQL expression "\'SKU": a quoted string or name is never closed.',
        ),
    ],
)
def test_unsafe_or_unparsable_mapping_expression(tmp_path, expression, expected):
    folder = _workspace(tmp_path)
    config = yaml.safe_load((folder / "tallyclerk.yaml").read_text())
    config["systems"]["wms"]["sources"][0]["columns"]["item_id"] = expression
    (folder / "tallyclerk.yaml").write_text(yaml.safe_dump(config))
    result = _run("run", str(folder), "--period", "2026-11")
    assert result.returncode == 2
    assert "systems.wms.sources[0].columns.item_id" in result.stderr
    assert expected in " ".join(result.stderr.split())
    assert "Token" not in result.stderr and "<class" not in result.stderr


def test_a_column_named_like_a_keyword_is_read_when_quoted(tmp_path):
    folder = _workspace(tmp_path)
    (folder / "wms" / "items.csv").write_text(ITEMS_WMS.replace("DESCRIPTION", "DESC"))
    config = yaml.safe_load((folder / "tallyclerk.yaml").read_text())
    config["systems"]["wms"]["sources"][0]["columns"]["description"] = '"DESC"'
    (folder / "tallyclerk.yaml").write_text(yaml.safe_dump(config))
    result = _run("run", str(folder), "--period", "2026-11")
    assert result.returncode == 0, result.stderr
    assert "Findings: 0" in result.stdout


def test_arithmetic_on_a_text_column_names_the_type_to_declare(tmp_path):
    folder = _workspace(tmp_path)
    config = yaml.safe_load((folder / "tallyclerk.yaml").read_text())
    del config["systems"]["wms"]["sources"][0]["types"]
    (folder / "tallyclerk.yaml").write_text(yaml.safe_dump(config))
    result = _run("run", str(folder), "--period", "2026-11")
    assert result.returncode == 2
    assert " ".join(result.stderr.split()) == (
        "error: system 'wms', item from wms/items.csv: columns.weight_kg computes with the "
        "source column 'WEIGHT_LB', which arrives as text; declare its type beside `columns`: "
        "`types: {WEIGHT_LB: decimal}`."
    )


def test_unknown_column_in_mapping_names_system_file_and_header(tmp_path):
    folder = _workspace(tmp_path)
    config = yaml.safe_load((folder / "tallyclerk.yaml").read_text())
    config["systems"]["wms"]["sources"][0]["columns"]["description"] = "DESCR"
    (folder / "tallyclerk.yaml").write_text(yaml.safe_dump(config))
    result = _run("run", str(folder), "--period", "2026-11")
    assert result.returncode == 2
    assert (
        "system 'wms', item from wms/items.csv: columns.description: the file has no column "
        "'DESCR'; its header has: SKU, DESCRIPTION, WEIGHT_LB." in result.stderr.replace("\n", " ")
    )


def test_missing_file_fails_the_run_and_keeps_earlier_runs(tmp_path):
    folder = _workspace(tmp_path)
    assert _run("run", str(folder), "--period", "2026-11").returncode == 0
    (folder / "wms" / "items.csv").unlink()
    result = _run("run", str(folder), "--period", "2026-11")
    assert result.returncode == 1
    assert "system 'wms', item from wms/items.csv: file" in result.stderr
    assert "does not exist" in result.stderr
    assert _runs(folder) == ["2026-11.001"]  # no half run, the earlier one untouched


def test_malformed_csv_row_names_file_and_line(tmp_path):
    folder = _workspace(tmp_path)
    (folder / "wms" / "items.csv").write_text(ITEMS_WMS + "3,Tape,1.2,extra\n")
    result = _run("run", str(folder), "--period", "2026-11")
    assert result.returncode == 1
    assert "has 1 malformed row" in result.stderr
    assert "line 4: Expected Number of Columns: 3 Found: 4" in result.stderr
    assert _runs(folder) == []


# The first record's description spans lines 2 to 4 of the file.
MULTILINE_WMS = 'SKU,DESCRIPTION,WEIGHT_LB\n1,"Pallet\njack,\nheavy",27.56\n'


def test_malformed_row_after_a_quoted_line_break_names_its_line_in_the_file(tmp_path):
    folder = _workspace(tmp_path)
    (folder / "wms" / "items.csv").write_text(MULTILINE_WMS + "2,Shrink wrap,6.61,x,y\n")
    result = _run("run", str(folder), "--period", "2026-11")
    assert result.returncode == 1
    assert "line 5: Expected Number of Columns: 3 Found: 4: '2,Shrink wrap,6.61,x,y'" in (
        result.stderr
    )
    assert "line 3:" not in result.stderr


def test_value_quarantined_after_a_quoted_line_break_names_its_line_in_the_file(tmp_path):
    folder = _workspace(tmp_path)
    (folder / "wms" / "items.csv").write_text(MULTILINE_WMS + "2,Shrink wrap,six\n")
    result = _run("run", str(folder), "--period", "2026-11")
    assert result.returncode == 0, result.stderr
    findings = pq.read_table(folder / ".tallyclerk" / "runs" / "2026-11.001" / "findings.parquet")
    quarantined = [f["message"] for f in findings.to_pylist() if f["problem"] == "quarantined"]
    assert quarantined == [
        "wms/items.csv line 5: weight_kg 'six' is not a valid decimal; "
        "the value is quarantined and read as NULL."
    ]


def test_utf8_byte_order_mark_with_a_declared_single_byte_encoding(tmp_path):
    folder = _workspace(tmp_path)
    config = yaml.safe_load((folder / "tallyclerk.yaml").read_text())
    config["systems"]["erp"]["sources"][0]["encoding"] = "latin-1"
    (folder / "tallyclerk.yaml").write_text(yaml.safe_dump(config))
    (folder / "erp" / "items.csv").write_bytes(b"\xef\xbb\xbf" + ITEMS_ERP.encode())
    result = _run("run", str(folder), "--period", "2026-11")
    assert result.returncode == 1
    assert " ".join(result.stderr.split()) == (
        f"error: system 'erp', item from erp/items.csv: {folder / 'erp' / 'items.csv'} starts "
        "with a UTF-8 byte-order mark but latin-1 is declared: remove `encoding` (the file is "
        "UTF-8) or re-export it in latin-1."
    )


def test_value_of_wrong_type_is_quarantined_and_reported(tmp_path):
    folder = _workspace(tmp_path)
    (folder / "wms" / "items.csv").write_text(ITEMS_WMS.replace("6.61", "six"))
    result = _run("run", str(folder), "--period", "2026-11")
    assert result.returncode == 0, result.stderr
    findings = pq.read_table(folder / ".tallyclerk" / "runs" / "2026-11.001" / "findings.parquet")
    rows = findings.select(["rule_id", "problem", "key", "field", "other_value", "message"])
    # The record stays in the snapshot with no weight: the match sees a drift, not a
    # missing record, and its action goes to a person instead of copying anything.
    assert [(r["rule_id"], r["problem"], r["key"]) for r in rows.to_pylist()] == [
        ("item-sync", "drift", "item_id=2"),
        ("schema.wms__item", "quarantined", "item_id=2"),
    ]
    actions = pq.read_table(folder / ".tallyclerk" / "runs" / "2026-11.001" / "actions.parquet")
    assert sorted(actions.column("action").to_pylist()) == ["route", "route"]
    assert rows.to_pylist()[1] == {
        "rule_id": "schema.wms__item",
        "problem": "quarantined",
        "key": "item_id=2",
        "field": "weight_kg",
        "other_value": "six",
        "message": "wms/items.csv line 3: weight_kg 'six' is not a valid decimal; "
        "the value is quarantined and read as NULL.",
    }
    assert (
        folder / ".tallyclerk" / "runs" / "2026-11.001" / "quarantine" / "wms__item.parquet"
    ).exists()


def test_bad_values_of_one_column_under_one_key_make_one_finding_that_counts_them(tmp_path):
    # Two records of item 2 with weights that do not cast once failed the close outright: both
    # findings had one id, which a run's finding history holds once.
    folder = _workspace(tmp_path)
    (folder / "wms" / "items.csv").write_text(ITEMS_WMS.replace("6.61", "six") + "2,Wrap,seven\n")
    result = _run("run", str(folder), "--period", "2026-11")
    assert result.returncode == 0, result.stderr
    findings = pq.read_table(folder / ".tallyclerk" / "runs" / "2026-11.001" / "findings.parquet")
    quarantined = [
        (f["key"], f["field"], f["message"])
        for f in findings.to_pylist()
        if f["problem"] == "quarantined"
    ]
    assert quarantined == [
        (
            "item_id=2",
            "weight_kg",
            "wms/items.csv line 3: weight_kg 'six' is not a valid decimal; the value is "
            "quarantined and read as NULL (2 rows with this key).",
        )
    ]


def test_missing_workspace_file_is_a_usage_error(tmp_path):
    result = _run("run", str(tmp_path), "--period", "2026-11")
    assert result.returncode == 2
    assert f"no tallyclerk.yaml in {tmp_path}" in result.stderr


def test_rows_without_a_key_are_quarantined_each_with_its_own_finding(tmp_path):
    folder = _workspace(tmp_path)
    (folder / "wms" / "items.csv").write_text(ITEMS_WMS + ",Tape,1.2\n,Glue,0.5\n")
    result = _run("run", str(folder), "--period", "2026-11")
    assert result.returncode == 0, result.stderr
    findings = pq.read_table(folder / ".tallyclerk" / "runs" / "2026-11.001" / "findings.parquet")
    quarantined = [f for f in findings.to_pylist() if f["problem"] == "quarantined"]
    assert [(f["key"], f["field"]) for f in quarantined] == [
        ("row=3", "item_id"),
        ("row=4", "item_id"),
    ]
    assert len({f["finding_id"] for f in quarantined}) == 2
    assert quarantined[0]["message"] == (
        "wms/items.csv line 4: item_id NULL is missing (part of the key); the record is "
        "quarantined and left out of the snapshot."
    )


def test_a_password_in_a_postgres_connection_string_is_refused_and_never_printed(tmp_path):
    folder = _workspace(tmp_path)
    config = yaml.safe_load((folder / "tallyclerk.yaml").read_text())
    config["systems"]["wms"]["sources"][0] = {
        "kind": "postgres",
        "entity": "item",
        "url": "host=127.0.0.1 port=55439 dbname=wms user=tally password=Sup3rS3cretXYZ",
        "query": "SELECT sku FROM items",
        "columns": {"item_id": "sku"},
    }
    (folder / "tallyclerk.yaml").write_text(yaml.safe_dump(config))
    result = _run("run", str(folder), "--period", "2026-11")
    assert result.returncode == 2
    assert " ".join(result.stderr.split()) == (
        f"error: {folder / 'tallyclerk.yaml'}: systems.wms.sources[0].url: the connection "
        "string holds password=...; remove it and give the password as `password: env:NAME` "
        "(the name of an environment variable)."
    )
    assert "Sup3rS3cretXYZ" not in result.stdout + result.stderr


def test_sigterm_stops_a_run_saying_so_and_keeps_nothing_of_it(tmp_path):
    from engine.sample.generate import generate

    folder = tmp_path / "harborline"
    generate(folder, orders=20_000, seed=3)
    runs = folder / ".tallyclerk" / "runs"
    process = subprocess.Popen(
        [TALLYCLERK, "run", str(folder), "--period", "2026-11"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    deadline = time.monotonic() + 120
    while not (runs.is_dir() and any(p.name.startswith(".tmp-") for p in runs.iterdir())):
        assert process.poll() is None and time.monotonic() < deadline, "the run never started"
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143
    assert "error: stopped by SIGTERM; nothing half-done was kept." in stderr
    assert sorted(p.name for p in runs.iterdir()) == []


def test_each_skipped_pack_rule_is_warned_about_once(tmp_path):
    folder = _workspace(tmp_path, packs=["master-data"])
    result = _run("run", str(folder), "--period", "2026-11")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "skipped rule" in line]
    assert len(warnings) == len(set(warnings))
    assert (
        "WARNING engine.rule_set: skipped rule master-data.customer-complete of pack "
        "master-data: table: no snapshot 'erp.customer' in this workspace"
    ) in warnings


def test_findings_of_a_workspace_without_runs_say_to_run_one_first(tmp_path):
    folder = _workspace(tmp_path)
    result = _run("findings", "list", str(folder), "latest")
    assert result.returncode == 2
    assert " ".join(result.stderr.split()) == (
        f"error: no run in {folder} yet: run one first (tallyclerk run {folder} --period YYYY-MM)."
    )
