"""What is billed: carriers' freight invoices (210) and sellers' invoices (810)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from .envelope import TransactionSet
from .records import Record, at
from .values import (
    date_text,
    element,
    first,
    implied,
    line_number,
    product,
)


def freight_invoice_210(ts: TransactionSet) -> list[Record]:
    """The carrier invoice (B3) with its net amount in implied decimals."""
    b3 = first(ts.segments, "B3")
    if b3 is None:
        return []
    return [
        at(
            b3,
            invoice_id=b3.get(2) or None,
            carrier_scac=b3.get(11) or None,
            carrier_invoice_no=b3.get(2) or None,
            amount=implied(b3.get(7)),
            invoice_date=date_text(b3.get(6)),
            currency=element(first(ts.segments, "C3"), 1),
        )
    ]


def freight_invoice_lines_210(ts: TransactionSet) -> list[Record]:
    """One charge line per L1, amounts in implied decimals."""
    invoice = element(first(ts.segments, "B3"), 2)
    charges = [s for s in ts.segments if s.tag == "L1"]
    return [
        at(
            l1,
            invoice_id=invoice,
            line_no=number,
            charge_code=l1.get(8) or None,
            description=l1.get(12) or None,
            rate=l1.get(2) or None,
            amount=implied(l1.get(4)),
        )
        for number, l1 in enumerate(charges, start=1)
    ]


def invoice_lines_810(ts: TransactionSet) -> list[Record]:
    """One line per IT1 of the invoice (BIG), priced as quantity times unit price."""
    big = first(ts.segments, "BIG")
    ship_to = first(ts.segments, "N1", "ST") or first(ts.segments, "N1", "BY")
    records: list[Record] = []
    for it1 in (s for s in ts.segments if s.tag == "IT1"):
        records.append(
            at(
                it1,
                invoice_id=element(big, 2),
                line_no=line_number(it1.get(1), len(records) + 1),
                order_id=element(big, 4),
                customer_id=element(ship_to, 4),
                item_id=product(it1, (7, 9, 11, 13)),
                quantity=it1.get(2) or None,
                amount=_product_of(it1.get(2), it1.get(4)),
                invoice_date=date_text(big.get(1)) if big is not None else None,
            )
        )
    return records


def _product_of(quantity: str, price: str) -> str | None:
    """Quantity times price to the cent, or None when either does not parse."""
    try:
        return str((Decimal(quantity) * Decimal(price)).quantize(Decimal("0.01")))
    except InvalidOperation:
        return None
