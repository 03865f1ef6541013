"""Every real X12 file under tests/data/realdata either loads with the counts it holds,
or gives the exact finding or error its defect calls for."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.x12 import read_x12
from tallyclerk.errors import SourceError

REAL = Path(__file__).resolve().parents[1] / "data" / "realdata"
X12 = REAL / "edi" / "x12"


def _read(name: str, transaction: str, entity: str):
    return read_x12([X12 / name], transaction=transaction, entity=entity, root=REAL, where="edi")


def _rows(extract) -> list[dict]:
    return [
        {k: v for k, v in row.items() if not k.startswith("__")}
        for row in extract.table.to_pylist()
    ]


def _issues(extract) -> list[tuple[str, str]]:
    return [(issue.problem, issue.message) for issue in extract.issues]


# file, transaction, entity, rows, (interchanges, groups, sets), issue codes
LOADS = [
    ("ediengine/940.OK.edi", "940", "sales_order_line", 3, (1, 1, 1), []),
    ("ediengine/940.2.OK.edi", "940", "sales_order_line", 1, (1, 1, 1), []),
    ("ediengine/940.W05.Only.edi", "940", "sales_order_line", 0, (1, 1, 1), []),
    ("ediengine/AckTest.edi", "940", "sales_order_line", 3, (1, 2, 3), []),
    ("ediengine/MultipleInterchangesAndGroups.edi", "940", "sales_order_line", 6, (2, 4, 6), []),
    ("ediengine/856.Crossdock.OK.edi", "856", "shipment_line", 5, (1, 1, 1), []),
    ("ediengine/856.Crossdock.OK.edi", "856", "shipment", 1, (1, 1, 1), []),
    ("oopfactory/ORD_856_Example1.txt", "856", "shipment_line", 3, (1, 1, 1), []),
    ("oopfactory/ORD_810_Example5_Walmart.txt", "810", "ar_invoice", 1, (1, 1, 1), []),
    ("oopfactory/TAM_210_CN_FreightInvoiceSample1.txt", "210", "freight_invoice", 1, (1, 1, 1), []),
    (
        "oopfactory/TAM_210_CN_FreightInvoiceSample2.txt",
        "210",
        "freight_invoice_line",
        3,
        (1, 1, 1),
        [],
    ),
    ("oopfactory/TOS_322_322Status.txt", "322", "shipment_event", 17, (1, 1, 17), []),
    (
        "oopfactory/Acknowledgments_TechnicalAcknowledgment_Sample1.txt",
        "940",
        "sales_order_line",
        0,
        (1, 0, 0),
        [],
    ),
    ("stupidedi/004010_AR943_pass_1.edi", "943", "shipment_line", 1, (1, 1, 1), []),
    ("stupidedi/004010_RE944_pass_1.edi", "944", "receipt", 1, (1, 1, 1), []),
    ("stupidedi/004010_IN810_pass_1.edi", "810", "ar_invoice", 2, (1, 1, 1), []),
    ("stupidedi/004010_SM204_case_1.edi", "204", "shipment", 1, (1, 1, 1), []),
    ("stupidedi/004010_SM204_case_1.edi", "204", "shipment_line", 4, (1, 1, 1), []),
    ("stupidedi/004010_FA997_pass_1.edi", "940", "sales_order_line", 0, (1, 1, 0), ["isa_layout"]),
    (
        "stupidedi/004010_SH856_pass_2.x12",
        "856",
        "shipment_line",
        1,
        (1, 1, 1),
        ["isa_layout", "mixed_segment_terminators"],
    ),
    (
        "stupidedi/004010_SH856_fail_2.edi",
        "856",
        "shipment_line",
        1,
        (1, 1, 1),
        ["mixed_segment_terminators"],
    ),
    (
        "stupidedi/004010_QM214_pass_gh-189.edi",
        "214",
        "shipment_event",
        0,
        (1, 1, 0),
        ["count_mismatch"],
    ),
    (
        "ediengine/940_Failed_SE01.edi",
        "940",
        "sales_order_line",
        1,
        (1, 1, 1),
        ["segment_count_mismatch"],
    ),
    (
        "ediengine/ControlNumbersMismatch.edi",
        "940",
        "sales_order_line",
        1,
        (1, 1, 1),
        ["control_number_mismatch"] * 3,
    ),
    (
        "ediengine/WrongGroupsAndTranCount.edi",
        "940",
        "sales_order_line",
        1,
        (1, 1, 1),
        ["count_mismatch", "count_mismatch"],
    ),
    (
        "oopfactory/TAM_210_DBSchenker_SampleMotorFreightDetailsAndInvoice.txt",
        "210",
        "freight_invoice",
        1,
        (1, 1, 1),
        ["control_number_mismatch"],
    ),
    (
        "oopfactory/WAR_945_inter-americanproducts.txt",
        "945",
        "shipment_line",
        3,
        (1, 1, 1),
        ["malformed_segment", "control_number_mismatch"],
    ),
]


@pytest.mark.parametrize(("name", "code", "entity", "rows", "envelopes", "problems"), LOADS)
def test_real_file_loads_with_its_counts(name, code, entity, rows, envelopes, problems):
    extract = _read(name, code, entity)
    assert extract.table.num_rows == rows
    source = extract.source
    assert (source["interchanges"], source["groups"], source["sets"]) == envelopes
    assert [issue.problem for issue in extract.issues] == problems


def test_every_real_x12_file_is_covered():
    covered = {name for name, *_ in LOADS} | {"ediengine/NonEdi.edi"}
    on_disk = {p.relative_to(X12).as_posix() for p in X12.rglob("*") if p.is_file()}
    assert on_disk == covered


def test_not_edi_at_all_is_refused_by_name():
    with pytest.raises(SourceError) as caught:
        _read("ediengine/NonEdi.edi", "940", "sales_order_line")
    assert str(caught.value) == (
        "edi: edi/x12/ediengine/NonEdi.edi: not an X12 interchange: the file starts with "
        "'Tk9OIEVESSBG' where ISA is expected. Check that the file is EDI X12 "
        "(EDIFACT starts with UNA or UNB)."
    )


def test_control_number_mismatches_name_segment_and_both_numbers():
    extract = _read("ediengine/ControlNumbersMismatch.edi", "940", "sales_order_line")
    name = "edi/x12/ediengine/ControlNumbersMismatch.edi"
    assert [i.message for i in extract.issues] == [
        f"{name}, segment 7: SE02 '0002' does not match ST02 '0001' of the transaction set "
        "at segment 3.",
        f"{name}, segment 8: GE02 '3315' does not match GS06 '3314' of the GS at segment 2.",
        f"{name}, segment 9: IEA02 '000003439' does not match ISA13 '000003438' of the ISA "
        "at segment 1.",
    ]


def test_counts_that_disagree_are_findings_and_the_data_is_still_read():
    extract = _read("ediengine/WrongGroupsAndTranCount.edi", "940", "sales_order_line")
    name = "edi/x12/ediengine/WrongGroupsAndTranCount.edi"
    assert [i.message for i in extract.issues] == [
        f"{name}, segment 8: GE01 says 2 transaction sets but the GS at segment 2 encloses 1.",
        f"{name}, segment 9: IEA01 says 2 functional groups but the ISA at segment 1 encloses 1.",
    ]
    assert _rows(extract) == [
        {"order_id": "538686", "line_no": "1", "item_id": "000100", "quantity": "12"}
    ]


def test_se01_count_mismatch_and_shifted_elements():
    extract = _read("ediengine/940_Failed_SE01.edi", "940", "sales_order_line")
    assert [i.message for i in extract.issues] == [
        "edi/x12/ediengine/940_Failed_SE01.edi, segment 11: SE01 says 12 segments but "
        "transaction set 20066 (ST at segment 3) has 9."
    ]
    # W01 is shifted one element to the right: the quantity is missing, not invented.
    assert _rows(extract) == [
        {"order_id": "35131", "line_no": "1", "item_id": "110220", "quantity": None}
    ]


def test_940_lines_keep_leading_zeros_and_their_lines_in_a_newline_terminated_file():
    extract = _read("ediengine/940.OK.edi", "940", "sales_order_line")
    assert extract.table.column("__line").to_pylist() == [19, 23, 27]
    assert _rows(extract) == [
        {"order_id": "538686", "line_no": "1", "item_id": "000100", "quantity": "12"},
        {"order_id": "538686", "line_no": "2", "item_id": "000200", "quantity": "32"},
        {"order_id": "538686", "line_no": "3", "item_id": "000300", "quantity": "12"},
    ]


def test_210_invoices_with_implied_decimals_and_charge_lines():
    invoice = _read("oopfactory/TAM_210_CN_FreightInvoiceSample2.txt", "210", "freight_invoice")
    assert _rows(invoice) == [
        {
            "invoice_id": "28061234",
            "carrier_scac": "CNRU",
            "carrier_invoice_no": "28061234",
            "amount": "2083.60",
            "invoice_date": "2006-06-28",
            "currency": "CAD",
        }
    ]
    lines = _read("oopfactory/TAM_210_CN_FreightInvoiceSample2.txt", "210", "freight_invoice_line")
    assert [(r["charge_code"], r["amount"]) for r in _rows(lines)] == [
        (None, "1705.00"),
        ("ENS", "244.33"),
        ("GST", "134.27"),
    ]


def test_210_with_full_stop_terminator_and_six_digit_dates():
    name = "oopfactory/TAM_210_DBSchenker_SampleMotorFreightDetailsAndInvoice.txt"
    assert _rows(_read(name, "210", "freight_invoice")) == [
        {
            "invoice_id": "210028835",
            "carrier_scac": "SIFF",
            "carrier_invoice_no": "210028835",
            "amount": "46.40",
            "invoice_date": "2003-09-03",
            "currency": None,
        }
    ]
    lines = _rows(_read(name, "210", "freight_invoice_line"))
    assert [(r["charge_code"], r["description"], r["amount"]) for r in lines] == [
        ("490", None, "45.00"),
        ("405", "FUEL SURCHARGE", "1.40"),
    ]


def test_322_events_from_a_bom_less_crlf_file():
    extract = _read("oopfactory/TOS_322_322Status.txt", "322", "shipment_event")
    rows = _rows(extract)
    assert rows[0] == {
        "shipment_id": "008487DR",
        "event_seq": "1",
        "status": "RL",
        "event_time": "2011-12-15T15:53:00-06:00",
        "recorded_at": "2011-12-15T16:07:00",
        "location": "LINCOLN, NE",
    }
    assert len({r["shipment_id"] for r in rows}) == 17
    assert extract.table.column("__line").to_pylist()[:3] == [4, 18, 32]


def test_945_shipped_lines_add_up_to_the_w03_total():
    rows = _rows(_read("oopfactory/WAR_945_inter-americanproducts.txt", "945", "shipment_line"))
    assert [(r["item_id"], r["quantity"]) for r in rows] == [
        ("339408", "120"),
        ("100021", "400"),
        ("133848", "400"),
    ]
    assert sum(int(r["quantity"]) for r in rows) == 920


def test_943_transfer_and_944_receipt_name_the_same_order():
    shipped = _rows(_read("stupidedi/004010_AR943_pass_1.edi", "943", "shipment_line"))
    received = _rows(_read("stupidedi/004010_RE944_pass_1.edi", "944", "receipt"))
    assert shipped == [
        {
            "shipment_id": "DO12345",
            "line_no": "1",
            "order_id": "DO12345",
            "item_id": "ITEM123",
            "quantity": "100",
        }
    ]
    assert received == [
        {
            "receipt_id": "WR12345",
            "line_no": "1",
            "order_id": "DO12345",
            "item_id": "ITEM123",
            "quantity": "100",
            "location_id": "1234567890001",
            "received_at": "2026-07-14T00:00:00",
        }
    ]


def test_810_lines_from_pipe_separated_and_walmart_files():
    small = _rows(_read("stupidedi/004010_IN810_pass_1.edi", "810", "ar_invoice"))
    assert [(r["item_id"], r["quantity"], r["amount"]) for r in small] == [
        ("9781501331978", "4", "280.00"),
        ("9780316154680", "1", "5.66"),
    ]
    walmart = _rows(_read("oopfactory/ORD_810_Example5_Walmart.txt", "810", "ar_invoice"))
    assert [(r["invoice_id"], r["customer_id"], r["amount"]) for r in walmart] == [
        ("6463367", "0078742000992", "3898.80")
    ]


def test_856_with_swapped_delimiters_follows_the_hl_tree():
    rows = _rows(_read("oopfactory/ORD_856_Example1.txt", "856", "shipment_line"))
    assert [(r["order_id"], r["order_line_no"], r["item_id"], r["quantity"]) for r in rows] == [
        ("123456", "1", "1234-123456", "16"),
        ("123456", "2", "1234-654321", "23"),
        ("123456", "4", "1234-223456", "16"),
    ]
    crossdock = _rows(_read("ediengine/856.Crossdock.OK.edi", "856", "shipment_line"))
    assert [r["order_id"] for r in crossdock] == ["POREF00"] * 4 + ["POREF01"]


def test_856_with_mixed_terminators_reads_25_segments_as_se01_says():
    extract = _read("stupidedi/004010_SH856_pass_2.x12", "856", "shipment")
    assert _rows(extract) == [
        {
            "shipment_id": "861554",
            "shipped_at": "2018-03-13T21:30:00",
            "carrier_scac": "MATL",
            "weight_kg": "1542.6677",
        }
    ]
    assert [i.message for i in extract.issues] == [
        "edi/x12/stupidedi/004010_SH856_pass_2.x12, segment 1: ISA06 is 16 characters, "
        "not 15 (read anyway).",
        "edi/x12/stupidedi/004010_SH856_pass_2.x12: the interchange at segment 1 declares "
        "'$' as segment terminator but also ends segments with a line break; they were read "
        "as separate segments.",
    ]


def test_204_load_tender_weight_in_kilograms():
    assert _rows(_read("stupidedi/004010_SM204_case_1.edi", "204", "shipment")) == [
        {"shipment_id": "12345678", "carrier_scac": None, "status": "00", "weight_kg": "9629.8204"}
    ]


def test_several_files_are_read_in_one_extract():
    paths = [X12 / "ediengine/940.OK.edi", X12 / "ediengine/AckTest.edi"]
    extract = read_x12(paths, transaction="940", entity="sales_order_line", root=REAL, where="edi")
    assert (
        extract.table.column("__file").to_pylist()
        == ["edi/x12/ediengine/940.OK.edi"] * 3 + ["edi/x12/ediengine/AckTest.edi"] * 3
    )
    assert [f["bytes"] for f in extract.source["files"]] == [816, 694]
