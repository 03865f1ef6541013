"""`POST /v1/validate`: records as a system exports them, checked as the month-end run would
check them, in any of the three body formats; and every kind of bad input as a clear 4xx."""

from __future__ import annotations

import csv
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from api.formats import records_table
from api.problems import ApiProblem
from engine.lifecycle import RUN_FINDINGS_SCHEMA

PROBLEM = "application/problem+json"
SHIPMENTS = "/v1/validate?entity=shipment&system=tms&period=2026-11"


def _shipment(ref: str, **changes: str | None) -> dict:
    row = {
        "shipment_ref": ref,
        "scac": "NRTH",
        "pickup_at": "2026-11-03T08:00:00Z",
        "delivered_at": "2026-11-04T15:30:00Z",
        "status": "DELIVERED",
        "freight_cost": "412.50",
        "carrier_invoice_no": "INV-NRTH-90001",
    }
    return row | changes


RECORDS = [
    _shipment("SH-9000001"),
    _shipment("SH-9000002", scac="ZZZZ"),
    _shipment("SH-9000003", delivered_at="2026-11-01T08:00:00Z"),
]


def _csv(records: list[dict]) -> bytes:
    sink = io.StringIO()
    writer = csv.DictWriter(sink, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return sink.getvalue().encode()


def _arrow(records: list[dict]) -> bytes:
    table = pa.Table.from_pylist(records)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _post(served, body: bytes, content_type: str, path: str = SHIPMENTS, role: str = "viewer"):
    headers = served.as_("acme", role) | {"content-type": content_type}
    return served.client.post(path, headers=headers, content=body)


def _found(answer: dict) -> list[tuple[str, str, str, str]]:
    return sorted((f["rule_id"], f["problem"], f["key"], f["field"]) for f in answer["findings"])


def test_records_are_checked_by_the_rules_reading_them_against_the_last_runs_master_data(served):
    response = served.client.post(SHIPMENTS, headers=served.as_("acme", "viewer"), json=RECORDS)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["entity"] == "shipment" and answer["system"] == "tms"
    assert answer["records"] == 3 and answer["quarantined"] == 0
    # Rules comparing whole systems (match, aggregate) run only when named.
    assert answer["rules"] == ["shipment-carrier-known", "shipment-delivered-after-pickup"]
    # ZZZZ is no carrier in the ERP's carrier master of the last run; NRTH is.
    assert _found(answer) == [
        ("shipment-carrier-known", "reference", "shipment_id=SH-9000002", "carrier_scac"),
        ("shipment-delivered-after-pickup", "expression", "shipment_id=SH-9000003", "delivered_at"),
    ]


def test_json_csv_and_arrow_bodies_give_the_same_findings(served):
    # NA is a carrier code the ERP does not know, in every format; CSV once read it as NULL.
    records = [*RECORDS, _shipment("SH-9000005", scac="NA")]
    answers = [
        _post(served, body, media).json()
        for body, media in (
            (json.dumps(records).encode(), "application/json"),
            (_csv(records), "text/csv"),
            (_arrow(records), "application/vnd.apache.arrow.stream"),
        )
    ]
    assert answers[0]["findings"] == answers[1]["findings"] == answers[2]["findings"]
    assert _found(answers[0])[:2] == [
        ("shipment-carrier-known", "reference", "shipment_id=SH-9000002", "carrier_scac"),
        ("shipment-carrier-known", "reference", "shipment_id=SH-9000005", "carrier_scac"),
    ]


def test_a_csv_field_is_missing_only_when_empty_as_in_a_file_a_run_reads():
    body = b'a,b,c,d,e\nNA,,NULL,"",n/a\n'
    assert records_table(body, "text/csv").to_pylist() == [
        {"a": "NA", "b": None, "c": "NULL", "d": None, "e": "n/a"}
    ]


LATE = (
    "delivered_at 2026-11-01 08:00:00+00 fails the check: "
    "delivered_at IS NULL OR delivered_at >= shipped_at"
)


@pytest.mark.parametrize(
    ("refs", "message"),
    [
        # Every record its own key: each failing record is a finding of its own.
        (["SH-9000003", "SH-9000004"], LATE),
        # Two records under one key make one finding that counts them.
        (["SH-9000003", "SH-9000003"], f"{LATE} (2 rows with this key)"),
    ],
)
def test_records_sharing_a_key_make_one_finding_and_unique_ones_one_each(served, refs, message):
    late = {"delivered_at": "2026-11-01T08:00:00Z"}
    records = [_shipment(ref, **late) for ref in refs]
    answer = served.client.post(SHIPMENTS, headers=served.as_("acme", "viewer"), json=records)
    findings = answer.json()["findings"]
    assert sorted(f["key"] for f in findings) == sorted({f"shipment_id={r}" for r in refs})
    assert {f["message"] for f in findings} == {message}


def test_findings_have_the_columns_of_a_runs_findings_in_the_same_order(served):
    answer = served.client.post(
        SHIPMENTS, headers=served.as_("acme", "viewer"), json=RECORDS
    ).json()
    run_file = served.root / "acme/.tallyclerk/runs/2026-11.001/findings.parquet"
    run_columns = pq.read_schema(run_file).names
    assert run_columns == RUN_FINDINGS_SCHEMA.names
    finding = answer["findings"][0]
    assert list(finding) == run_columns
    # No earlier run compared these findings: their lifecycle, cause and SLA are empty.
    added = run_columns[run_columns.index("status") :]
    assert len(added) == 10 and {finding[name] for name in added} == {None}


def test_a_value_that_does_not_cast_is_quarantined_as_in_a_run(served):
    records = [_shipment("SH-9000004", freight_cost="twelve")]
    answer = served.client.post(SHIPMENTS, headers=served.as_("acme", "viewer"), json=records)
    body = answer.json()
    assert body["quarantined"] == 1
    assert ("schema.tms__shipment", "quarantined", "shipment_id=SH-9000004", "freight_cost") in (
        _found(body)
    )


def test_a_named_match_rule_compares_the_records_without_calling_the_rest_missing(served):
    path = SHIPMENTS + "&rule=shipment-wms-vs-tms"
    answer = served.client.post(path, headers=served.as_("acme", "viewer"), json=RECORDS).json()
    assert answer["rules"] == ["shipment-wms-vs-tms"]
    # The WMS has none of these shipments; that the TMS lacks the WMS's others is no finding.
    assert {f["problem"] for f in answer["findings"]} == {"missing_in_wms"}
    keys = {f"shipment_id={record['shipment_ref']}" for record in RECORDS}
    assert {f["key"] for f in answer["findings"]} == keys


def test_a_pack_the_workspace_does_not_enable_can_be_applied(served):
    path = SHIPMENTS + "&pack=order-to-ship"
    answer = served.client.post(path, headers=served.as_("acme", "viewer"), json=RECORDS).json()
    assert answer["rules"] == ["order-to-ship.shipment-carried"]


def test_a_pack_rule_the_workspace_cannot_run_is_said_skipped_and_why(served):
    # A second TMS makes the pack's tms.shipment rule ambiguous: it names a system kind.
    path = served.root / "acme" / "tallyclerk.yaml"
    document = yaml.safe_load(path.read_text())
    document["systems"]["tms_eu"] = document["systems"]["tms"]
    path.write_text(yaml.safe_dump(document, sort_keys=False))

    answer = served.client.post(
        SHIPMENTS + "&pack=order-to-ship", headers=served.as_("acme", "viewer"), json=RECORDS
    ).json()
    assert answer["rules"] == []
    assert answer["skipped"] == {
        "order-to-ship.shipment-carried": "the order-to-ship pack's rule cannot run here: the "
        "workspace has several tms systems (tms, tms_eu); copy the rule into rules: naming the "
        "one to check"
    }


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status", "detail"),
    [
        ("/v1/validate?entity=spaceship", None, "application/json", 422, "unknown entity"),
        ("/v1/validate?entity=spaceship", b"", "application/json", 422, "unknown entity"),
        ("/v1/validate?entity=spaceship", b"[{", "application/json", 422, "unknown entity"),
        (SHIPMENTS + "&rule=nope", b"[]", "application/json", 422, "unknown rule 'nope'"),
        ("/v1/validate?entity=", None, "application/json", 422, "query.entity: String should"),
        (SHIPMENTS.replace("tms", "crm"), None, "application/json", 422, "unknown system"),
        ("/v1/validate?entity=shipment", None, "application/json", 422, "mapping of wms.shipment"),
        (SHIPMENTS + "&rule=nope", None, "application/json", 422, "unknown rule 'nope'"),
        (SHIPMENTS + "&rule=item-master-sync", None, "application/json", 422, "does not read"),
        (
            SHIPMENTS + "&pack=freight-audit",
            None,
            "application/json",
            422,
            "the freight-audit pack has no rule checking shipment records of a tms system; its "
            "rules check finance.freight_invoice, finance.freight_invoice_line.",
        ),
        (SHIPMENTS + "&pack=nope", None, "application/json", 422, "unknown pack 'nope'"),
        (SHIPMENTS, None, "application/xml", 415, "cannot be sent as application/xml"),
        (SHIPMENTS, b"", "", 415, "without Content-Type"),
        (SHIPMENTS, b"[{", "application/json", 400, "not valid JSON"),
        (SHIPMENTS, b'{"a": 1}', "application/json", 422, "JSON array of objects"),
        (SHIPMENTS, b"[]", "application/json", 422, "holds no records"),
        (SHIPMENTS, b"[{}, {}]", "application/json", 422, "the records lack"),
        (SHIPMENTS, b'[{"shipment_ref": {"x": 1}}]', "application/json", 422, "nested value"),
        (
            SHIPMENTS,
            b"shipment_ref,scac\nSH-1,NRTH\n",
            "text/csv",
            422,
            "the records lack 'pickup_at'",
        ),
        (SHIPMENTS, b"a,b\n1,2,3\n", "text/csv", 422, "CSV body is malformed"),
        (SHIPMENTS, b"", "text/csv", 422, "no header row"),
        (SHIPMENTS, b"not arrow", "application/vnd.apache.arrow.stream", 422, "not an Arrow"),
        ("/v1/validate?entity=shipment&period=11-2026", b"[]", "application/json", 422, "period"),
        (
            SHIPMENTS + "&period=2026-10",
            None,
            "application/json",
            422,
            "period is given 2 times (2026-11, 2026-10); it takes one value.",
        ),
        (
            SHIPMENTS,
            None,
            "application/json; charset=latin-1",
            415,
            "the body is application/json in charset 'latin-1'; this server reads "
            "application/json as UTF-8 only: send it as UTF-8 (charset=utf-8, or no charset).",
        ),
        (
            SHIPMENTS.replace("period", "perod"),
            None,
            "application/json",
            422,
            "unknown query parameter 'perod'; this endpoint takes entity, system, period, rule, "
            "pack.",
        ),
        (SHIPMENTS, b"x", "text/csv; charset=windows-1252", 415, "in charset 'windows-1252'"),
        (SHIPMENTS, b"x", "text/csv; charset=", 415, "in charset ''"),
        (
            SHIPMENTS,
            json.dumps(RECORDS).encode("utf-16"),
            "application/json",
            400,
            "the JSON body is not UTF-8 text.",
        ),
    ],
)
def test_bad_input_is_a_clear_problem(served, path, body, content_type, status, detail):
    if body is None:
        body = json.dumps(RECORDS).encode() if content_type == "application/json" else b"x"
    response = _post(served, body, content_type, path)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert detail in response.json()["detail"]


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", '"utf-8"', "utf8", "utf_8", "utf-8-sig"])
def test_a_body_declared_utf8_is_read(served, charset):
    response = _post(served, json.dumps(RECORDS).encode(), f"application/json; charset={charset}")
    assert response.status_code == 200, response.text
    assert response.json()["records"] == 3


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        ("application/xml", 406),
        ("text/csv, application/json;q=0", 406),
        ("application/json;q=0, */*", 406),
        ("*/*, application/json;Q=0", 406),
        ("application/json;q=0, application/*", 406),
        ("application/json;q=2", 406),
        ("application/json;q=nan", 406),
        ("application/json", 200),
        ("application/*", 200),
        ("text/html, */*;q=0.1", 200),
        ("application/*;q=0, application/json", 200),
    ],
)
def test_the_answer_is_json_and_a_client_refusing_json_is_told_so(served, accept, status):
    headers = served.as_("acme", "viewer") | {"content-type": "application/json", "accept": accept}
    response = served.client.post(SHIPMENTS, headers=headers, content=json.dumps(RECORDS).encode())
    assert response.status_code == status, response.text
    if status == 406:
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["detail"] == (
            "this answer is available as application/json; ask for one."
        )


def test_an_unknown_column_is_named(served):
    records = [_shipment("SH-9000005") | {"colour": "red"}]
    response = served.client.post(SHIPMENTS, headers=served.as_("acme", "viewer"), json=records)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("unknown column 'colour'")


def test_json_numbers_and_booleans_are_read_as_the_text_a_file_would_hold(served):
    records = [_shipment("SH-9000006") | {"freight_cost": 412.5}, _shipment("SH-9000007")]
    records[1]["freight_cost"] = -1
    answer = served.client.post(SHIPMENTS, headers=served.as_("acme", "viewer"), json=records)
    assert answer.status_code == 200, answer.text
    assert answer.json()["quarantined"] == 0
    flag = [_shipment("SH-9000008", status=True)]
    answer = served.client.post(SHIPMENTS, headers=served.as_("acme", "viewer"), json=flag)
    assert answer.status_code == 200 and answer.json()["records"] == 1


def test_json_records_missing_a_field_hold_null_there_and_numbers_keep_their_text():
    table = records_table(b'[{"a": "1"}, {"b": "x", "a": null}, {"b": "y"}]', "application/json")
    assert table.to_pydict() == {"a": ["1", None, None], "b": [None, "x", "y"]}
    body = b'[{"a": NaN, "b": 123456789012345678901234567890, "c": 412.50, "d": true}]'
    assert records_table(body, "application/json").to_pydict() == {
        "a": ["NaN"],
        "b": ["123456789012345678901234567890"],
        "c": ["412.50"],
        "d": ["true"],
    }
    # A body without NaN parses in the fast parser first, which makes such integers floats.
    body = b'[{"a": "x", "b": 123456789012345678901234567890}, {"a": "y", "b": 1.50}]'
    assert records_table(body, "application/json").to_pydict() == {
        "a": ["x", "y"],
        "b": ["123456789012345678901234567890", "1.50"],
    }


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b'[{"a": "\\ud800"}]', 422, "record 1: a holds a lone surrogate escape"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "nested too deeply"),
    ],
)
def test_json_that_python_reads_but_arrow_cannot_hold_is_refused(body, status, detail):
    with pytest.raises(ApiProblem) as raised:
        records_table(body, "application/json")
    assert (raised.value.status, detail in raised.value.detail) == (status, True)


def test_master_data_posted_alone_is_not_the_master_every_stored_row_refers_to(served):
    item = {"SKU": "373", "DESCRIPTION": "Industrial Oak Tool Cabinet", "WEIGHT_LB": "49.03"}
    item["UOM"] = "EA"
    path = "/v1/validate?entity=item&system=wms&period=2026-11"
    answer = _post(served, json.dumps([item]).encode(), "application/json", path=path)
    assert answer.status_code == 200, answer.text
    # The sample's rules on WMS items compare them with the ERP (named only) or refer to them
    # from shipment lines and stock: none judges items on their own.
    assert (answer.json()["rules"], answer.json()["findings"]) == ([], [])

    named = _post(
        served,
        json.dumps([item]).encode(),
        "application/json",
        path=path + "&rule=stock-item-known",
    )
    assert named.status_code == 422
    assert named.json()["detail"] == (
        "rule 'stock-item-known' checks wms.inventory_balance and reads wms.item only as the "
        "data it refers to; post records of wms.inventory_balance to check them with it."
    )


def _arrow_of(table: pa.Table, *, compression: str | None = None) -> bytes:
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


@pytest.mark.parametrize(
    ("column", "detail"),
    [
        (pa.array(["NRTH"]), "the Arrow body names the column 'scac' twice."),
        (pa.array([["NRTH"]]), "scac holds nested values (list<item: string>); send plain values."),
        (
            pa.array([1.5], pa.float16()),
            "scac is halffloat, which cannot be read; send it as text, a 32- or 64-bit float, "
            "or a decimal of at most 38 digits.",
        ),
        (
            pa.DictionaryArray.from_arrays(pa.array([0], pa.int32()), pa.array([["NRTH"]])),
            "scac holds nested values (dictionary<values=list<item: string>, indices=int32, "
            "ordered=0>); send plain values.",
        ),
        (
            pa.DictionaryArray.from_arrays(
                pa.array([0], pa.int32()), pa.array([1.5], pa.float16())
            ),
            "scac is dictionary<values=halffloat, indices=int32, ordered=0>, which cannot be "
            "read; send it as text, a 32- or 64-bit float, or a decimal of at most 38 digits.",
        ),
    ],
)
def test_arrow_columns_the_checks_cannot_read_are_refused(served, column, detail):
    table = pa.Table.from_pylist([_shipment("SH-9000001")])
    table = table.drop_columns(["scac"]) if column.type != pa.string() else table
    table = table.append_column("scac", column)
    response = _post(served, _arrow_of(table), "application/vnd.apache.arrow.stream")
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == detail


def test_a_compressed_arrow_body_is_held_to_the_body_limit_once_decompressed(make_served):
    served = make_served(max_body_bytes=100_000)
    table = pa.Table.from_pylist([_shipment("SH-9000001", scac="N" * 1_000_000)])
    body = _arrow_of(table, compression="zstd")
    assert len(body) < 100_000
    response = _post(served, body, "application/vnd.apache.arrow.stream")
    assert response.status_code == 413, response.text
    assert response.json()["detail"] == (
        "the Arrow stream holds 1,000,135 bytes of values once decompressed, over this "
        "server's limit of 100,000; send fewer records per request."
    )


def test_the_decompressed_size_of_an_arrow_body_is_read_without_decompressing_it():
    from adapters.arrow_ipc import decompressed_bytes

    table = pa.Table.from_pylist([_shipment(f"SH-{n}") for n in range(100)])
    table = table.append_column("kind", pa.array(["a", "b"] * 50).dictionary_encode())
    sizes = {
        compression: decompressed_bytes(pa.py_buffer(_arrow_of(table, compression=compression)))
        for compression in (None, "zstd", "lz4")
    }
    assert sizes == dict.fromkeys((None, "zstd", "lz4"), sizes[None])
    # Every buffer of the batch and of the dictionary counts, each padded to 8 bytes.
    assert table.nbytes <= sizes[None] <= table.nbytes + 8 * 2 * (table.num_columns + 1)
