"""What carriers report about shipments: load tenders (204), status (214, 322)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from .envelope import TransactionSet
from .records import Record, at, recorded_at
from .values import (
    element,
    first,
    loops,
    timestamp_text,
    weight_kg,
)


def events_214(ts: TransactionSet) -> list[Record]:
    """One event per AT7 status: shipment from B10, time from AT7-05..07, place from MS1."""
    b10 = first(ts.segments, "B10")
    shipment = element(b10, 2) or element(b10, 1)
    records = []
    for loop in loops(ts.segments, ("AT7", "LX", "SE")):
        at7 = loop[0]
        if at7.tag != "AT7":
            continue
        ms1 = first(loop, "MS1")
        place = ", ".join(filter(None, (element(ms1, 1), element(ms1, 2), element(ms1, 3))))
        records.append(
            at(
                at7,
                shipment_id=shipment,
                status=at7.get(1) or at7.get(3) or None,
                event_time=timestamp_text(at7.get(5), at7.get(6), at7.get(7)),
                recorded_at=recorded_at(ts),
                location=place or None,
            )
        )
    return records


def events_322(ts: TransactionSet) -> list[Record]:
    """One event per Q5 status; the shipment is the bill of lading (N9 BM) or the railcar (N7)."""
    bill = element(first(ts.segments, "N9", "BM"), 2)
    n7 = first(ts.segments, "N7")
    equipment = f"{n7.get(1)}{n7.get(2)}" if n7 is not None else None
    records = []
    for q5 in (s for s in ts.segments if s.tag == "Q5"):
        place = ", ".join(filter(None, (q5.get(6), q5.get(7))))
        records.append(
            at(
                q5,
                shipment_id=bill or equipment,
                status=q5.get(1) or None,
                event_time=timestamp_text(q5.get(2), q5.get(3), q5.get(4)),
                recorded_at=recorded_at(ts),
                location=place or None,
            )
        )
    return records


def shipment_204(ts: TransactionSet) -> list[Record]:
    """The tendered shipment (B2), its purpose (B2A) and the weight picked up at its stops (S5)."""
    b2 = first(ts.segments, "B2")
    if b2 is None:
        return []
    pickups = [s for s in ts.segments if s.tag == "S5" and s.get(2) in ("LD", "CL", "PL")]
    weights = [weight_kg(s.get(3), s.get(4)) for s in pickups if s.get(3)]
    total = _sum(weights)
    return [
        at(
            b2,
            shipment_id=b2.get(4) or None,
            carrier_scac=b2.get(2) or None,
            status=element(first(ts.segments, "B2A"), 1),
            weight_kg=total,
        )
    ]


def shipment_lines_204(ts: TransactionSet) -> list[Record]:
    """One line per order (OID) on the tender."""
    shipment = element(first(ts.segments, "B2"), 4)
    orders = [s for s in ts.segments if s.tag == "OID"]
    return [
        at(
            oid,
            shipment_id=shipment,
            line_no=number,
            order_id=oid.get(2) or oid.get(1) or None,
            quantity=oid.get(5) or None,
        )
        for number, oid in enumerate(orders, start=1)
    ]


def _sum(values: list[str | None]) -> str | None:
    """The sum of decimal texts, or None when there are none or one does not parse."""
    try:
        numbers = [Decimal(v) for v in values if v is not None]
    except InvalidOperation:
        return None
    return str(sum(numbers, Decimal(0))) if numbers else None
