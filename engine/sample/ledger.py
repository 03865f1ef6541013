"""Customer payments and the general ledger, derived from the sub-ledgers after the operational
injections, so a changed AR invoice moves its payment and revenue with it."""

from __future__ import annotations

import numpy as np
import polars as pl

from .master import DAY, HOUR, INVENTORY_ACCOUNT, LOCATIONS, PERIOD_START

Tables = dict[str, pl.DataFrame]

# Invoices dated up to this day of November may be paid within the month.
_LAST_PAYABLE_DAY = 20
_OPEN = "2026-11-01"
_CLOSE = "2026-11-30"


def ledger_tables(rng: np.random.Generator, tables: Tables) -> Tables:
    return {
        "finance/payments.csv": payments(rng, tables["finance/ar_invoices.csv"]),
        "finance/gl_journal.csv": gl_journal(rng, tables),
    }


def payments(rng: np.random.Generator, ar_invoices: pl.DataFrame) -> pl.DataFrame:
    """Full payments of about half the invoices dated early enough to be paid in November."""
    invoices = (
        ar_invoices.group_by("invoice_no")
        .agg(amount=pl.col("amount").sum(), invoice_date=pl.col("invoice_date").first())
        .sort("invoice_no")
    )
    n = invoices.height
    day = (invoices["invoice_date"].dt.day() - 1).to_numpy()
    paid = (rng.random(n) < 0.55) & (day < _LAST_PAYABLE_DAY)
    paid_at = PERIOD_START + (day + rng.integers(3, 11, n)) * DAY + rng.integers(8, 18, n) * HOUR
    paid_invoices = invoices.with_columns(paid_at=pl.Series(paid_at)).filter(pl.Series(paid))
    width = max(7, len(str(paid_invoices.height)))
    return paid_invoices.with_row_index("n", offset=1).select(
        payment_no=pl.lit("PMT-") + pl.col("n").cast(pl.String).str.zfill(width),
        invoice_no="invoice_no",
        amount="amount",
        paid_at="paid_at",
    )


def inventory_value(tables: Tables) -> pl.DataFrame:
    """On-hand value in cents per warehouse: WMS quantity times ERP unit cost."""
    cost = tables["erp/items.csv"].select(SKU="ItemNumber", cost="UnitCost")
    return (
        tables["wms/inventory.csv"]
        .join(cost, on="SKU", how="inner")
        .group_by("WAREHOUSE")
        .agg(value=(pl.col("ON_HAND_QTY") * pl.col("cost")).sum())
        .sort("WAREHOUSE")
    )


def gl_journal(rng: np.random.Generator, tables: Tables) -> pl.DataFrame:
    """Opening inventory, one journal of invoiced sales per day, and the month's movements.

    The inventory account's lines of each warehouse add up to its on-hand value exactly.
    """
    codes = [loc.code for loc in LOCATIONS]
    value = pl.DataFrame({"WAREHOUSE": codes}).join(
        inventory_value(tables), on="WAREHOUSE", how="left"
    )
    value = value["value"].fill_null(0).to_numpy()
    opening = np.rint(value * rng.uniform(0.85, 0.95, len(codes))).astype(np.int64)

    entries = [
        _pairs(
            _OPEN,
            codes,
            opening,
            (INVENTORY_ACCOUNT, "Opening inventory balance"),
            ("3900", "Opening balance equity"),
        ),
        *_daily_sales(tables).partition_by("posting_date", maintain_order=True),
        _pairs(
            _CLOSE,
            codes,
            value - opening,
            (INVENTORY_ACCOUNT, "Inventory movements November 2026"),
            ("5000", "Cost of goods sold November 2026"),
        ),
    ]
    lines = pl.concat(
        entry.with_columns(entry=pl.lit(number, dtype=pl.Int64))
        for number, entry in enumerate(entries, start=1)
    )
    return lines.select(
        journal_no=pl.lit("JE-") + pl.col("entry").cast(pl.String).str.zfill(6),
        line_no=pl.int_range(1, pl.len() + 1).over("entry"),
        account="account",
        location="location",
        amount="amount",
        posting_date="posting_date",
        description="description",
    )


def _daily_sales(tables: Tables) -> pl.DataFrame:
    """Invoiced sales per day and shipping warehouse: receivable against revenue."""
    warehouse = tables["wms/shipments.csv"].select(order_no="ORDER_NO", location="WAREHOUSE")
    daily = (
        tables["finance/ar_invoices.csv"]
        .join(warehouse, on="order_no", how="inner")
        .group_by(posting_date="invoice_date", location="location")
        .agg(amount=pl.col("amount").sum())
    )
    receivable = daily.with_columns(account=pl.lit("1200"), description=pl.lit("Invoiced sales"))
    revenue = daily.with_columns(
        account=pl.lit("4000"), amount=-pl.col("amount"), description=pl.lit("Sales revenue")
    )
    columns = ["posting_date", "location", "account", "amount", "description"]
    lines = pl.concat([receivable.select(columns), revenue.select(columns)])
    return lines.sort("posting_date", "location", "account")


def _pairs(
    date: str,
    codes: list[str],
    amounts: np.ndarray,
    debit: tuple[str, str],
    credit: tuple[str, str],
) -> pl.DataFrame:
    """Two lines per warehouse: the amount on one account and its opposite on the other."""
    n = len(codes)
    return pl.DataFrame(
        {
            "posting_date": [date] * (2 * n),
            "location": [code for code in codes for _ in (0, 1)],
            "account": [debit[0], credit[0]] * n,
            "amount": [int(x) for amount in amounts for x in (amount, -amount)],
            "description": [debit[1], credit[1]] * n,
        }
    ).with_columns(pl.col("posting_date").str.to_date())
