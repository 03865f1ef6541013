"""X12 tokens and envelopes on small inline interchanges: delimiters, layout, broken envelopes."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.x12 import read_x12
from tallyclerk.errors import SourceError

ISA = (
    "ISA*00*          *00*          *ZZ*CARRIER        *ZZ*SHIPPER        *261103*1200*U*00401"
    "*000000101*0*P*>~"
)


def _interchange(*body: str, ge: str = "GE*1*7", iea: str = "IEA*1*000000101") -> str:
    return "\n".join(
        [ISA, "GS*QM*CARRIER*SHIPPER*20261103*1200*7*X*004010~", *body, ge + "~", iea + "~"]
    )


STATUS_214 = [
    "ST*214*0001~",
    "B10*PRO778*SHP-1*ABCD~",
    "LX*1~",
    "AT7*X3***~",  # no status, no date: read as an event without time
    "AT7*AF****20261102*0800*ET~",
    "MS1*CHICAGO*IL*US~",
    "LX*2~",
    "AT7*D1****20261103*1430*CT~",
    "MS1*DALLAS*TX*US~",
    "SE*10*0001~",
]


def _read(tmp_path: Path, text: str, *, code="214", entity="shipment_event", name="in.edi"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return read_x12([path], transaction=code, entity=entity, root=tmp_path, where="system 'tms'")


def _rows(extract) -> list[dict]:
    return [
        {k: v for k, v in r.items() if not k.startswith("__")} for r in extract.table.to_pylist()
    ]


def test_214_events_with_time_zones_and_places(tmp_path):
    extract = _read(tmp_path, _interchange(*STATUS_214))
    assert extract.issues == []
    assert _rows(extract) == [
        {
            "shipment_id": "SHP-1",
            "event_seq": "1",
            "status": "X3",
            "event_time": None,
            "recorded_at": "2026-11-03T12:00:00",
            "location": None,
        },
        {
            "shipment_id": "SHP-1",
            "event_seq": "2",
            "status": "AF",
            "event_time": "2026-11-02T08:00:00-05:00",
            "recorded_at": "2026-11-03T12:00:00",
            "location": "CHICAGO, IL, US",
        },
        {
            "shipment_id": "SHP-1",
            "event_seq": "3",
            "status": "D1",
            "event_time": "2026-11-03T14:30:00-06:00",
            "recorded_at": "2026-11-03T12:00:00",
            "location": "DALLAS, TX, US",
        },
    ]
    assert extract.table.column("__line").to_pylist() == [6, 7, 10]


def test_bom_crlf_and_indentation_are_layout_only(tmp_path):
    text = "\ufeff" + _interchange(*STATUS_214).replace("\n", "\r\n  ")
    assert _rows(_read(tmp_path, text))[2]["status"] == "D1"


def test_truncated_interchange_names_where_it_stops(tmp_path):
    text = "\n".join([ISA, "GS*QM*CARRIER*SHIPPER*20261103*1200*7*X*004010~", *STATUS_214[:4]])
    with pytest.raises(SourceError) as caught:
        _read(tmp_path, text)
    assert str(caught.value) == (
        "system 'tms': in.edi: the file ends after segment 6 without an IEA: the interchange "
        "that starts at segment 1 is truncated. Ask the sender to transmit it again."
    )


def test_transaction_set_without_se_is_a_malformed_envelope(tmp_path):
    text = _interchange(*STATUS_214[:-1])
    with pytest.raises(SourceError) as caught:
        _read(tmp_path, text)
    assert str(caught.value) == (
        "system 'tms': in.edi: segment 12 (line 12): GE comes before the transaction set "
        "opened by ST at segment 3 was closed; the envelope is malformed or the file was cut. "
        "Ask the sender to transmit it again."
    )


def test_segment_outside_a_transaction_set(tmp_path):
    text = _interchange("B10*PRO778*SHP-1*ABCD~", ge="GE*0*7")
    with pytest.raises(SourceError) as caught:
        _read(tmp_path, text)
    assert str(caught.value) == (
        "system 'tms': in.edi: segment 3 (line 3): B10 is outside any transaction set "
        "(no ST before it); the envelope is malformed. Ask the sender to check the ISA/GS/ST "
        "structure of the interchange."
    )


def test_isa_with_clashing_delimiters(tmp_path):
    with pytest.raises(SourceError) as caught:
        _read(tmp_path, ISA[:-2] + "**" + "\nGS*QM~")
    assert str(caught.value) == (
        "system 'tms': in.edi: segment 1: the ISA declares element separator '*', component "
        "separator '*' and segment terminator '*'; they must be three different characters."
    )


def test_garbage_after_the_last_interchange(tmp_path):
    with pytest.raises(SourceError) as caught:
        _read(tmp_path, _interchange(*STATUS_214) + "\nhello")
    assert str(caught.value) == (
        "system 'tms': in.edi: segment 15 (line 15): expected ISA after the IEA of the "
        "previous interchange, found 'hello'."
    )


def test_empty_file(tmp_path):
    with pytest.raises(SourceError, match=r"^system 'tms': in.edi: the file is empty; "):
        _read(tmp_path, "\n\n")


def test_envelope_mismatches_are_findings_and_the_records_are_kept(tmp_path):
    text = _interchange(*STATUS_214, ge="GE*2*8", iea="IEA*1*101")
    extract = _read(tmp_path, text)
    assert [(i.problem, i.field) for i in extract.issues] == [
        ("count_mismatch", "GE01"),
        ("control_number_mismatch", "GE02"),
    ]
    assert extract.table.num_rows == 3
