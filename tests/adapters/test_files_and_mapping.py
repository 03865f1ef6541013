"""Reading exported files and mapping them onto canonical entities."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from adapters.canonical import ENTITIES
from adapters.files import read_file
from adapters.mapping import apply_mapping
from rules.sql import parse_expression
from tallyclerk.errors import ConfigError, SourceError


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _mapping(**columns: str) -> dict:
    return {name: parse_expression(text, where=f"columns.{name}") for name, text in columns.items()}


def test_csv_fields_stay_text_so_leading_zeros_survive(tmp_path):
    path = _write(tmp_path, "items.csv", "ItemNumber,WeightKg\n000123,1.5\n000124,2\n")
    table = read_file(path, where="erp").table
    assert table.column("ItemNumber").to_pylist() == ["000123", "000124"]
    assert table.column("__row").to_pylist() == [1, 2]


def test_malformed_rows_are_named_by_line(tmp_path):
    path = _write(tmp_path, "items.csv", "a,b,c\n1,2,3\n4,5\n6,7,8,9\n")
    with pytest.raises(SourceError) as caught:
        read_file(path, where="system 'erp', item from items.csv")
    message = str(caught.value)
    assert "system 'erp', item from items.csv" in message
    assert "has 2 malformed rows" in message
    assert "line 3: Expected Number of Columns: 3 Found: 2: '4,5'" in message
    assert "line 4: Expected Number of Columns: 3 Found: 4: '6,7,8,9'" in message


def test_missing_file_says_where_and_how_to_fix(tmp_path):
    with pytest.raises(
        SourceError, match=r"erp: file .*nope\.csv does not exist\. Check the `file:`"
    ):
        read_file(tmp_path / "nope.csv", where="erp")


def test_mapping_types_converts_units_and_maps_values(tmp_path):
    raw = pa.table(
        {
            "__row": [1, 2, 3],
            "SHIPMENT_NO": ["S1", "S2", "S3"],
            "STATUS": ["LD", "SH", "XX"],
            "SHIP_TS": ["2026-11-03T10:00:00-05:00", "2026-11-03T15:00:00Z", None],
        }
    )
    mapped = apply_mapping(
        raw,
        ENTITIES["shipment"],
        _mapping(shipment_id="SHIPMENT_NO", status="STATUS", shipped_at="SHIP_TS"),
        value_maps={"status": {"LD": "LOADED", "SH": "SHIPPED"}},
        where="wms",
    )
    assert mapped.rejected.num_rows == 0
    rows = mapped.table.to_pylist()
    assert [r["status"] for r in rows] == ["LOADED", "SHIPPED", "XX"]
    assert rows[0]["shipped_at"] == rows[1]["shipped_at"]  # one instant, two zones
    assert rows[2]["shipped_at"] is None


def test_declared_source_types_allow_unit_conversion_and_catch_bad_values():
    raw = pa.table({"__row": [1, 2], "SKU": ["1", "2"], "WEIGHT_LB": ["10", "ten"]})
    mapped = apply_mapping(
        raw,
        ENTITIES["item"],
        _mapping(item_id="SKU", weight_kg="WEIGHT_LB * 0.45359237"),
        types={"WEIGHT_LB": "decimal"},
        where="wms",
    )
    assert mapped.table.column("weight_kg").to_pylist() == [Decimal("4.5359"), None]
    assert mapped.rejected.to_pylist() == [
        {"__row": 2, "SKU": "2", "WEIGHT_LB": "ten", "__bad_columns": "weight_kg,"}
    ]


def test_unknown_source_column_names_the_mapping_key():
    raw = pa.table({"__row": [1], "SKU": ["1"]})
    with pytest.raises(ConfigError) as caught:
        apply_mapping(raw, ENTITIES["item"], _mapping(item_id="SKUU"), where="wms sku_master.csv")
    assert str(caught.value) == (
        "wms sku_master.csv: columns.item_id: the file has no column 'SKUU'; its header has: SKU."
    )


def test_unknown_canonical_column_and_unmapped_key_are_refused():
    raw = pa.table({"__row": [1], "SKU": ["1"]})
    with pytest.raises(ConfigError, match="item has no canonical column 'colour'"):
        apply_mapping(raw, ENTITIES["item"], _mapping(item_id="SKU", colour="SKU"), where="wms")
    with pytest.raises(ConfigError, match="the key of item is item_id, but item_id is not mapped"):
        apply_mapping(raw, ENTITIES["item"], _mapping(description="SKU"), where="wms")


def test_arithmetic_on_a_column_that_arrives_as_text_names_the_type_to_declare():
    # PostgreSQL NUMERIC arrives as exact text, as every CSV field does.
    raw = pa.table({"__row": [1], "wh": ["W1"], "sku": ["A"], "qty": ["12.5000"]})
    entity = ENTITIES["inventory_balance"]
    where = "system 'wms', inventory_balance from postgres query"
    for expression in ("qty * 0.45359237", "(qty) / 2", "-qty"):
        mapping = _mapping(location_id="wh", item_id="sku", on_hand_qty=expression)
        with pytest.raises(ConfigError) as caught:
            apply_mapping(raw, entity, mapping, where=where)
        assert str(caught.value) == (
            f"{where}: columns.on_hand_qty computes with the source column 'qty', which arrives "
            "as text; declare its type beside `columns`: `types: {qty: decimal}`."
        )
    mapping = _mapping(location_id="wh", item_id="sku", on_hand_qty="qty * 2")
    mapped = apply_mapping(raw, entity, mapping, types={"qty": "decimal"}, where=where)
    assert mapped.table.column("on_hand_qty").to_pylist() == [Decimal("25.0000")]


@pytest.mark.parametrize("rows", [1, 30_000])  # a snapshot-sized table takes the other path
def test_a_mapping_function_failing_on_one_value_names_the_column_and_the_try_form(rows):
    dates = ["2026-11-03"] * (rows - 1) + ["nope"]
    raw = pa.table(
        {
            "__row": list(range(1, rows + 1)),
            "ref": [f"S{n}" for n in range(rows)],
            "shipped": dates,
        }
    )
    mapping = _mapping(shipment_id="ref", shipped_at="strptime(shipped, '%Y-%m-%d')")
    with pytest.raises(ConfigError) as caught:
        apply_mapping(raw, ENTITIES["shipment"], mapping, where="tms shipments.csv")
    message = str(caught.value)
    assert message.startswith("tms shipments.csv: columns.shipped_at cannot be computed from a ")
    assert '"nope"' in message
    assert message.endswith(
        "A function that fails on a bad value stops the read; its TRY form (try_strptime, "
        "TRY_CAST) gives NULL instead, and the value is quarantined."
    )


def test_a_mapping_duckdb_refuses_names_the_column_it_computes():
    raw = pa.table({"__row": [1], "wh": ["W1"], "sku": ["A"], "qty": ["12"]})
    mapping = _mapping(location_id="wh", item_id="sku", on_hand_qty="ltrim(qty) * 2")
    with pytest.raises(ConfigError) as caught:
        apply_mapping(raw, ENTITIES["inventory_balance"], mapping, where="wms")
    message = str(caught.value)
    assert message.startswith("wms: columns.on_hand_qty cannot be computed (Binder Error: ")
    assert message.endswith(
        "It reads 'qty' as text; if it computes with that, declare the type: "
        "`types: {qty: decimal}`."
    )
