"""What each transaction set says about canonical entities, one reader per (set, entity).

Each reader turns one transaction set into records named by canonical columns,
every value as text; `__line` says where in the file the record's segment is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import billing, transport, warehouse
from .envelope import TransactionSet
from .records import Record


@dataclass(frozen=True)
class SetReader:
    columns: tuple[str, ...]
    read: Callable[[TransactionSet], list[Record]]


READERS: dict[tuple[str, str], SetReader] = {
    ("214", "shipment_event"): SetReader(
        ("shipment_id", "event_seq", "status", "event_time", "recorded_at", "location"),
        transport.events_214,
    ),
    ("322", "shipment_event"): SetReader(
        ("shipment_id", "event_seq", "status", "event_time", "recorded_at", "location"),
        transport.events_322,
    ),
    ("210", "freight_invoice"): SetReader(
        ("invoice_id", "carrier_scac", "carrier_invoice_no", "amount", "invoice_date", "currency"),
        billing.freight_invoice_210,
    ),
    ("210", "freight_invoice_line"): SetReader(
        ("invoice_id", "line_no", "charge_code", "description", "rate", "amount"),
        billing.freight_invoice_lines_210,
    ),
    ("940", "sales_order_line"): SetReader(
        ("order_id", "line_no", "item_id", "quantity"), warehouse.order_lines_940
    ),
    ("945", "shipment"): SetReader(
        ("shipment_id", "order_id", "carrier_scac", "shipped_at", "status"), warehouse.shipment_945
    ),
    ("945", "shipment_line"): SetReader(
        ("shipment_id", "line_no", "order_id", "item_id", "quantity"), warehouse.shipment_lines_945
    ),
    ("943", "shipment_line"): SetReader(
        ("shipment_id", "line_no", "order_id", "item_id", "quantity"), warehouse.shipment_lines_943
    ),
    ("944", "receipt"): SetReader(
        ("receipt_id", "line_no", "order_id", "item_id", "quantity", "location_id", "received_at"),
        warehouse.receipts_944,
    ),
    ("204", "shipment"): SetReader(
        ("shipment_id", "carrier_scac", "status", "weight_kg"), transport.shipment_204
    ),
    ("204", "shipment_line"): SetReader(
        ("shipment_id", "line_no", "order_id", "quantity"), transport.shipment_lines_204
    ),
    ("856", "shipment"): SetReader(
        ("shipment_id", "shipped_at", "carrier_scac", "weight_kg"), warehouse.shipment_856
    ),
    ("856", "shipment_line"): SetReader(
        ("shipment_id", "line_no", "order_id", "order_line_no", "item_id", "quantity"),
        warehouse.shipment_lines_856,
    ),
    ("810", "ar_invoice"): SetReader(
        (
            "invoice_id",
            "line_no",
            "order_id",
            "customer_id",
            "item_id",
            "quantity",
            "amount",
            "invoice_date",
        ),
        billing.invoice_lines_810,
    ),
}
