"""What warehouses and their depositors exchange: orders (940), transfers (943),
receipts (944), shipping advice (945) and advance ship notices (856)."""

from __future__ import annotations

from .envelope import TransactionSet
from .records import Record, at
from .values import (
    element,
    first,
    line_number,
    loops,
    product,
    timestamp_text,
    weight_kg,
)


def order_lines_940(ts: TransactionSet) -> list[Record]:
    """One line per W01 of the shipping order (W05), numbered by its LX."""
    order = element(first(ts.segments, "W05"), 2)
    lines = [s for s in ts.segments if s.tag in ("LX", "W01")]
    records, lx = [], ""
    for segment in lines:
        if segment.tag == "LX":
            lx = segment.get(1)
            continue
        records.append(
            at(
                segment,
                order_id=order,
                line_no=line_number(lx, len(records) + 1),
                item_id=product(segment, (5, 3, 7)),
                quantity=segment.get(1) or None,
            )
        )
    return records


def shipment_lines_945(ts: TransactionSet) -> list[Record]:
    """One line per W12 shipped, with the quantity shipped (W12-03)."""
    w06 = first(ts.segments, "W06")
    shipment, order = element(w06, 4) or element(w06, 2), element(w06, 2)
    records, lx = [], ""
    for segment in (s for s in ts.segments if s.tag in ("LX", "W12")):
        if segment.tag == "LX":
            lx = segment.get(1)
            continue
        records.append(
            at(
                segment,
                shipment_id=shipment,
                line_no=line_number(lx, len(records) + 1),
                order_id=order,
                item_id=product(segment, (8, 6)),
                quantity=segment.get(3) or None,
            )
        )
    return records


def shipment_945(ts: TransactionSet) -> list[Record]:
    """The shipment the warehouse reports (W06) and its carrier (W27)."""
    w06 = first(ts.segments, "W06")
    if w06 is None:
        return []
    return [
        at(
            w06,
            shipment_id=w06.get(4) or w06.get(2) or None,
            order_id=w06.get(2) or None,
            carrier_scac=element(first(ts.segments, "W27"), 2),
            shipped_at=timestamp_text(w06.get(3)),
            status="SHIPPED",
        )
    ]


def shipment_lines_943(ts: TransactionSet) -> list[Record]:
    """One line per W04 of the stock transfer (W06)."""
    transfer = element(first(ts.segments, "W06"), 2)
    items = [s for s in ts.segments if s.tag == "W04"]
    return [
        at(
            w04,
            shipment_id=transfer,
            line_no=number,
            order_id=transfer,
            item_id=product(w04, (5, 3, 7)),
            quantity=w04.get(1) or None,
        )
        for number, w04 in enumerate(items, start=1)
    ]


def receipts_944(ts: TransactionSet) -> list[Record]:
    """One line per W07 received on the warehouse receipt (W17)."""
    w17 = first(ts.segments, "W17")
    warehouse = element(first(ts.segments, "N1", "WH"), 4)
    items = [s for s in ts.segments if s.tag == "W07"]
    return [
        at(
            w07,
            receipt_id=element(w17, 3),
            line_no=number,
            order_id=element(w17, 4),
            item_id=product(w07, (5, 3, 7)),
            quantity=w07.get(1) or None,
            location_id=warehouse,
            received_at=timestamp_text(w17.get(2)) if w17 is not None else None,
        )
        for number, w07 in enumerate(items, start=1)
    ]


def shipment_856(ts: TransactionSet) -> list[Record]:
    """The shipment of an ASN (BSN), its carrier (TD5) and weight (TD1 or MEA)."""
    bsn = first(ts.segments, "BSN")
    if bsn is None:
        return []
    td5 = first(ts.segments, "TD5")
    td1 = first(ts.segments, "TD1")
    gross = first(ts.segments, "MEA")
    if td1 is not None and td1.get(7):
        weight = weight_kg(td1.get(7), td1.get(8))
    elif gross is not None and gross.get(2) == "G":
        weight = weight_kg(gross.get(3), gross.get(4))
    else:
        weight = None
    return [
        at(
            bsn,
            shipment_id=bsn.get(2) or None,
            shipped_at=timestamp_text(bsn.get(3), bsn.get(4)),
            carrier_scac=td5.get(3) if td5 is not None and td5.get(2) == "2" else None,
            weight_kg=weight,
        )
    ]


def shipment_lines_856(ts: TransactionSet) -> list[Record]:
    """One line per item level (HL I), with the order of the order level above it."""
    shipment = element(first(ts.segments, "BSN"), 2)
    parents: dict[str, tuple[str, str]] = {}
    orders: dict[str, str | None] = {}
    records: list[Record] = []
    for loop in loops(ts.segments, "HL"):
        hl = loop[0]
        level, parent = hl.get(3), hl.get(2)
        parents[hl.get(1)] = (level, parent)
        orders[hl.get(1)] = element(first(loop, "PRF"), 1) if level == "O" else None
        if level != "I":
            continue
        lin, sn1 = first(loop, "LIN"), first(loop, "SN1")
        line_id = lin.get(1) if lin is not None else ""
        records.append(
            at(
                lin or hl,
                shipment_id=shipment,
                line_no=len(records) + 1,
                order_id=_order_above(parent, parents, orders),
                order_line_no=int(line_id) if line_id.isdigit() else None,
                item_id=product(lin, (3, 5, 7)) if lin is not None else None,
                quantity=element(sn1, 2),
            )
        )
    return records


def _order_above(hl_id: str, parents: dict, orders: dict) -> str | None:
    """The purchase order of the nearest order level (HL O) above an HL."""
    seen: set[str] = set()
    while hl_id in parents and hl_id not in seen:
        seen.add(hl_id)
        level, parent = parents[hl_id]
        if level == "O":
            return orders.get(hl_id)
        hl_id = parent
    return None
