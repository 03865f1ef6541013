"""Canonical entities: the columns, types and keys every source is mapped onto."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

# Canonical type names and the Arrow type a snapshot column has.
TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "decimal": pa.decimal128(18, 4),
    "money": pa.decimal128(18, 2),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "boolean": pa.bool_(),
}

# The same types as DuckDB spells them, for casting mapped columns.
SQL_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "decimal": "DECIMAL(18, 4)",
    "money": "DECIMAL(18, 2)",
    "date": "DATE",
    "timestamp": "TIMESTAMPTZ",
    "boolean": "BOOLEAN",
}


@dataclass(frozen=True)
class Entity:
    """One canonical record type: its key and its typed columns, key first."""

    name: str
    key: tuple[str, ...]
    columns: dict[str, str]

    def arrow_type(self, column: str) -> pa.DataType:
        return TYPES[self.columns[column]]


def _entity(name: str, key: tuple[str, ...], /, **columns: str) -> Entity:
    return Entity(name=name, key=key, columns=columns)


ENTITIES: dict[str, Entity] = {
    entity.name: entity
    for entity in (
        _entity(
            "item",
            ("item_id",),
            item_id="string",
            description="string",
            weight_kg="decimal",
            unit_cost="money",
            unit_price="money",
            uom="string",
            updated_at="timestamp",
        ),
        _entity(
            "customer",
            ("customer_id",),
            customer_id="string",
            name="string",
            tax_id="string",
            city="string",
            postal_code="string",
            country="string",
        ),
        _entity(
            "supplier",
            ("supplier_id",),
            supplier_id="string",
            name="string",
            tax_id="string",
            country="string",
        ),
        _entity(
            "location", ("location_id",), location_id="string", name="string", gl_account="string"
        ),
        _entity("carrier", ("carrier_scac",), carrier_scac="string", name="string"),
        _entity("gl_account", ("account",), account="string", name="string", account_type="string"),
        _entity("tax_code", ("tax_code",), tax_code="string", rate="decimal", country="string"),
        _entity(
            "sales_order",
            ("order_id",),
            order_id="string",
            customer_id="string",
            order_date="date",
            currency="string",
            total_amount="money",
            status="string",
        ),
        _entity(
            "sales_order_line",
            ("order_id", "line_no"),
            order_id="string",
            line_no="integer",
            item_id="string",
            quantity="decimal",
            backorder_quantity="decimal",
            unit_price="money",
            amount="money",
        ),
        _entity(
            "shipment",
            ("shipment_id",),
            shipment_id="string",
            order_id="string",
            location_id="string",
            carrier_scac="string",
            shipped_at="timestamp",
            delivered_at="timestamp",
            status="string",
            freight_cost="money",
            carrier_invoice_no="string",
            weight_kg="decimal",
        ),
        _entity(
            "shipment_line",
            ("shipment_id", "line_no"),
            shipment_id="string",
            line_no="integer",
            order_id="string",
            order_line_no="integer",
            item_id="string",
            quantity="decimal",
        ),
        _entity(
            "shipment_event",
            ("shipment_id", "event_seq"),
            shipment_id="string",
            event_seq="integer",
            status="string",
            event_time="timestamp",
            recorded_at="timestamp",
            location="string",
        ),
        _entity(
            "receipt",
            ("receipt_id", "line_no"),
            receipt_id="string",
            line_no="integer",
            order_id="string",
            item_id="string",
            quantity="decimal",
            location_id="string",
            received_at="timestamp",
        ),
        _entity(
            "inventory_balance",
            ("location_id", "item_id"),
            location_id="string",
            item_id="string",
            on_hand_qty="decimal",
            as_of="timestamp",
        ),
        _entity(
            "inventory_adjustment",
            ("adjustment_id",),
            adjustment_id="string",
            location_id="string",
            item_id="string",
            quantity="decimal",
            reason="string",
            adjusted_at="timestamp",
        ),
        _entity(
            "freight_invoice",
            ("invoice_id",),
            invoice_id="string",
            carrier_scac="string",
            carrier_invoice_no="string",
            amount="money",
            invoice_date="date",
            currency="string",
        ),
        _entity(
            "freight_invoice_line",
            ("invoice_id", "line_no"),
            invoice_id="string",
            line_no="integer",
            charge_code="string",
            description="string",
            rate="decimal",
            amount="money",
        ),
        _entity(
            "ar_invoice",
            ("invoice_id", "line_no"),
            invoice_id="string",
            line_no="integer",
            order_id="string",
            order_line_no="integer",
            customer_id="string",
            item_id="string",
            quantity="decimal",
            amount="money",
            invoice_date="date",
        ),
        _entity(
            "credit_memo",
            ("memo_id",),
            memo_id="string",
            invoice_id="string",
            amount="money",
            memo_date="date",
        ),
        _entity(
            "payment",
            ("payment_id",),
            payment_id="string",
            invoice_id="string",
            amount="money",
            paid_at="timestamp",
        ),
        _entity(
            "journal_line",
            ("journal_id", "line_no"),
            journal_id="string",
            line_no="integer",
            account="string",
            location_id="string",
            amount="money",
            posting_date="date",
            description="string",
        ),
    )
}
