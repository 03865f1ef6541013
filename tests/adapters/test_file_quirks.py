"""Files as systems export them: encodings, delimiters, quoted line breaks, JSON, Excel, globs."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from pathlib import Path

import openpyxl
import pyarrow as pa
import pytest

from adapters.canonical import ENTITIES
from adapters.files import FileOptions, read_file, read_files
from adapters.mapping import NumberFormat, apply_mapping
from rules.sql import parse_expression
from tallyclerk.errors import SourceError

WHERE = "system 'erp', item"


def _data(table: pa.Table) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith("__")} for r in table.to_pylist()]


def _read(path: Path, **options) -> pa.Table:
    return read_file(path, where=WHERE, options=FileOptions(**options)).table


def test_bom_semicolons_crlf_quoted_line_breaks_and_blank_trailing_lines(tmp_path):
    path = tmp_path / "items.csv"
    path.write_bytes(
        b"\xef\xbb\xbfItemNumber;Description;Weight\r\n"
        b'000123;"Pallet\r\nwrap";1,5\r\n'
        b'000124;"Say ""hi""";2\r\n'
        b"\r\n\r\n"
    )
    table = _read(path, delimiter=";")
    assert _data(table) == [
        {"ItemNumber": "000123", "Description": "Pallet\r\nwrap", "Weight": "1,5"},
        {"ItemNumber": "000124", "Description": 'Say "hi"', "Weight": "2"},
    ]
    # The second record starts on line 4: the first one spans lines 2 and 3.
    assert table.column("__line").to_pylist() == [2, 4]


def test_tab_separated_file(tmp_path):
    path = tmp_path / "items.tsv"
    path.write_text("SKU\tQty\nA-1\t3\n", encoding="utf-8")
    assert _data(_read(path)) == [{"SKU": "A-1", "Qty": "3"}]


@pytest.mark.parametrize("encoding", ["windows-1252", "latin-1"])
def test_declared_single_byte_encodings(tmp_path, encoding):
    path = tmp_path / "customers.csv"
    text = "Name;City\nMüller GmbH;Köln\nSaint-Étienne SA;Lyon\n"
    path.write_bytes(text.encode(encoding))
    assert _data(_read(path, delimiter=";", encoding=encoding)) == [
        {"Name": "Müller GmbH", "City": "Köln"},
        {"Name": "Saint-Étienne SA", "City": "Lyon"},
    ]


def test_windows_1252_euro_sign(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_bytes("Item,Note\nA,\u20ac 5\n".encode("windows-1252"))
    assert _data(_read(path, encoding="windows-1252")) == [{"Item": "A", "Note": "€ 5"}]


def test_undeclared_encoding_names_the_line_and_the_fix(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_bytes("Name,City\nA,Paris\nMüller,Köln\n".encode("windows-1252"))
    with pytest.raises(SourceError) as caught:
        _read(path)
    assert str(caught.value) == (
        f"{WHERE}: {path} line 3: byte 0xfc is not valid utf-8; the file is in another "
        "encoding: declare `encoding: windows-1252` (or latin-1) for this source."
    )


def test_truncated_file_with_an_open_quote(tmp_path):
    path = tmp_path / "items.csv"
    path.write_text('ItemNumber,Description\n1,"ok"\n2,"cut off here\n', encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        _read(path)
    assert str(caught.value) == (
        f"{WHERE}: {path} line 3: a quoted field is never closed, so the rest of the file "
        "cannot be split into rows. Close the quote, or double quotes inside fields."
    )


def test_row_with_too_many_columns(tmp_path):
    path = tmp_path / "items.csv"
    path.write_text("a;b\n1;2\n3;4;5\n", encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        _read(path, delimiter=";")
    assert str(caught.value) == (
        f"{WHERE}: {path} has 1 malformed row:\n"
        "  line 3: Expected Number of Columns: 2 Found: 3: '3;4;5'\n"
        "Fix the export so every row has as many fields as the header, "
        "or quote fields that contain the delimiter."
    )


def test_malformed_row_after_quoted_line_breaks_names_its_physical_line(tmp_path):
    # The first record spans lines 2 to 4 and a blank line follows it; DuckDB counts
    # neither the line breaks inside quotes nor, consistently, the records around them.
    path = tmp_path / "items.csv"
    path.write_text('a,b,c\n1,"x\ny\nz",3\n\n4,5,6,7,8\n9,"p\nq",9,9\n', encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        _read(path)
    assert str(caught.value) == (
        f"{WHERE}: {path} has 2 malformed rows:\n"
        "  line 6: Expected Number of Columns: 3 Found: 4: '4,5,6,7,8'\n"
        "  line 7: Expected Number of Columns: 3 Found: 4: '9,\"p\\nq\",9,9'\n"
        "Fix the export so every row has as many fields as the header, "
        "or quote fields that contain the delimiter."
    )


def test_utf8_byte_order_mark_in_a_file_declared_latin_1(tmp_path):
    path = tmp_path / "items.csv"
    path.write_bytes(b"\xef\xbb\xbfItemNumber;Description\n000123;Pallet\n")
    with pytest.raises(SourceError) as caught:
        _read(path, delimiter=";", encoding="latin-1")
    assert str(caught.value) == (
        f"{WHERE}: {path} starts with a UTF-8 byte-order mark but latin-1 is declared: "
        "remove `encoding` (the file is UTF-8) or re-export it in latin-1."
    )


def test_decimal_commas_and_thousands_separators_become_canonical_decimals():
    raw = pa.table(
        {
            "__row": [1, 2, 3],
            "SKU": ["1", "2", "3"],
            "Gewicht": ["1.234,5", "0,25", "12"],
            "Preis": ["1.000,00", "9,99", "abc"],
        }
    )
    columns = {
        "item_id": parse_expression("SKU", where="columns.item_id"),
        "weight_kg": parse_expression("Gewicht", where="columns.weight_kg"),
        "unit_price": parse_expression("Preis * 1", where="columns.unit_price"),
    }
    mapped = apply_mapping(
        raw,
        ENTITIES["item"],
        columns,
        types={"Preis": "money"},
        number_format=NumberFormat(decimal=",", thousands="."),
        where=WHERE,
    )
    assert mapped.table.select(["weight_kg", "unit_price"]).to_pylist() == [
        {"weight_kg": Decimal("1234.5000"), "unit_price": Decimal("1000.00")},
        {"weight_kg": Decimal("0.2500"), "unit_price": Decimal("9.99")},
        {"weight_kg": Decimal("12.0000"), "unit_price": None},
    ]
    assert mapped.rejected.column("__bad_columns").to_pylist() == ["unit_price,"]


def test_json_records_under_a_path_keep_number_text(tmp_path):
    path = tmp_path / "orders.json"
    path.write_text(
        json.dumps(
            {"value": [{"id": "000123", "total": 1.10, "lines": [1, 2]}, {"id": "7"}]}
        ).replace("1.1", "1.10"),
        encoding="utf-8",
    )
    assert _data(_read(path, records="value")) == [
        {"id": "000123", "total": "1.10", "lines": "[1,2]"},
        {"id": "7", "total": None, "lines": None},
    ]


def test_truncated_json_names_line_and_column(tmp_path):
    path = tmp_path / "orders.json"
    path.write_text('[{"id": 1},\n {"id": 2', encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        _read(path)
    assert str(caught.value) == (
        f"{WHERE}: {path} line 2, column 10: not valid JSON (Expecting ',' delimiter); "
        "the file is truncated or is not JSON. Export it again."
    )


def test_ndjson_with_blank_lines_and_a_bad_line(tmp_path):
    path = tmp_path / "events.ndjson"
    path.write_text('{"id": "a", "qty": 1}\n\n{"id": "b", "qty": 2.50}\n', encoding="utf-8")
    table = _read(path)
    assert _data(table) == [{"id": "a", "qty": "1"}, {"id": "b", "qty": "2.50"}]
    assert table.column("__line").to_pylist() == [1, 3]
    path.write_text('{"id": "a"}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        _read(path)
    assert str(caught.value) == (
        f"{WHERE}: {path} line 2: expected a JSON object, found a list; "
        "each line must hold one JSON object."
    )


def test_xlsx_cells_become_text_and_rows_keep_their_sheet_number(tmp_path):
    path = tmp_path / "items.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Items"
    sheet.append(["ItemNumber", "Weight", "Qty", "Updated"])
    sheet.append(["000123", 1.5, 12, datetime.datetime(2026, 11, 3, 10, 0)])
    sheet.append([None, None, None, None])
    sheet.append(["000124", 0.1, 3, datetime.date(2026, 11, 4)])
    workbook.save(path)
    table = _read(path, sheet="Items")
    assert _data(table) == [
        {"ItemNumber": "000123", "Weight": "1.5", "Qty": "12", "Updated": "2026-11-03T10:00:00"},
        {"ItemNumber": "000124", "Weight": "0.1", "Qty": "3", "Updated": "2026-11-04"},
    ]
    assert table.column("__line").to_pylist() == [2, 4]
    with pytest.raises(SourceError, match=r"has no sheet 'Stock'; its sheets are: Items\. Fix"):
        _read(path, sheet="Stock")


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("items.parquet", b"a,b\n1,2\n", "is named .parquet but is text, not a Parquet file"),
        ("items.xlsx", b"a,b\n1,2\n", "is named .xlsx but is text, not an Excel workbook"),
        ("items.csv", b"PK\x03\x04rest", "is named .csv but is a ZIP archive (such as .xlsx), not"),
        ("items.json", b"PAR1\x00\x00", "is named .json but is a Parquet file, not JSON"),
    ],
)
def test_a_file_that_is_not_what_it_claims(tmp_path, name, content, said):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SourceError) as caught:
        _read(path)
    assert str(caught.value).startswith(f"{WHERE}: {path} {said}")


def test_truncated_parquet(tmp_path):
    path = tmp_path / "items.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 20)
    with pytest.raises(SourceError, match=r"is not a readable Parquet file \(.*\); it may be"):
        _read(path)


def test_glob_and_folder_of_daily_files_are_stacked_in_name_order(tmp_path):
    daily = tmp_path / "daily"
    daily.mkdir()
    (daily / "orders_2026-11-02.csv").write_text("OrderNo,Qty\nB,2\nC,3\n", encoding="utf-8")
    (daily / "orders_2026-11-01.csv").write_text("OrderNo,Qty\nA,1\n", encoding="utf-8")
    (daily / "notes.md").write_text("not data", encoding="utf-8")
    for pattern in ("daily/orders_*.csv", "daily"):
        extract = read_files(pattern, root=tmp_path, where=WHERE, options=FileOptions())
        table = extract.table
        assert _data(table) == [
            {"OrderNo": "A", "Qty": "1"},
            {"OrderNo": "B", "Qty": "2"},
            {"OrderNo": "C", "Qty": "3"},
        ]
        assert table.column("__row").to_pylist() == [1, 2, 3]
        assert table.column("__line").to_pylist() == [2, 2, 3]
        assert table.column("__file").to_pylist() == [
            "daily/orders_2026-11-01.csv",
            "daily/orders_2026-11-02.csv",
            "daily/orders_2026-11-02.csv",
        ]
        assert [(f["path"], f["bytes"]) for f in extract.source["files"]] == [
            ("daily/orders_2026-11-01.csv", 16),
            ("daily/orders_2026-11-02.csv", 20),
        ]


def test_empty_file(tmp_path):
    path = tmp_path / "items.csv"
    path.write_bytes(b"")
    with pytest.raises(SourceError) as caught:
        _read(path)
    assert str(caught.value) == (
        f"{WHERE}: {path} is empty: not even a header line. Export the file again."
    )


def test_glob_that_matches_nothing(tmp_path):
    with pytest.raises(SourceError) as caught:
        read_files("daily/*.csv", root=tmp_path, where=WHERE, options=FileOptions())
    assert str(caught.value) == (
        f"{WHERE}: no files match 'daily/*.csv' in {tmp_path}; check the `file:` entry, "
        "or wait for the first export to arrive."
    )
