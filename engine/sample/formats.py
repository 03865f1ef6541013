"""Each system's text dialect for the sample files. Tables hold integers (cents, grams, epoch
seconds) so injections do exact arithmetic; `render` writes them as text only at the end."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from .master import LOCATIONS

# Seconds to add to UTC to get each warehouse's local time; November 2026 is past the
# end of daylight saving time (1 November, 02:00 local), so one offset holds all month.
_OFFSET_SECONDS = {loc.code: loc.utc_offset_hours * 3600 for loc in LOCATIONS}
_OFFSET_TEXT = {
    loc.code: f"{'-' if loc.utc_offset_hours < 0 else '+'}{abs(loc.utc_offset_hours):02d}:00"
    for loc in LOCATIONS
}


def fixed(column: str, decimals: int) -> pl.Expr:
    """An integer count of 10**-decimals units as exact fixed-point text: 1234 -> '12.34'."""
    scale = 10**decimals
    value = pl.col(column)
    magnitude = value.abs()
    sign = pl.when(value < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    whole = (magnitude // scale).cast(pl.String)
    fraction = (magnitude % scale).cast(pl.String).str.zfill(decimals)
    return pl.concat_str([sign, whole, pl.lit("."), fraction]).alias(column)


def utc(column: str) -> pl.Expr:
    """Epoch seconds as an ISO 8601 UTC timestamp: 2026-11-03T14:05:00Z."""
    stamp = pl.from_epoch(pl.col(column), time_unit="s")
    return stamp.dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias(column)


def local(column: str, warehouse: str) -> pl.Expr:
    """Epoch seconds as the warehouse's wall-clock time with its offset: ...T09:05:00-05:00."""
    offset = pl.col(warehouse).replace_strict(_OFFSET_SECONDS, return_dtype=pl.Int64)
    wall = pl.from_epoch(pl.col(column) + offset, time_unit="s")
    suffix = pl.col(warehouse).replace_strict(_OFFSET_TEXT, return_dtype=pl.String)
    return pl.concat_str([wall.dt.strftime("%Y-%m-%dT%H:%M:%S"), suffix]).alias(column)


def item_number(column: str) -> pl.Expr:
    """ERP item numbers are zero-padded to six digits: 123 -> '000123'."""
    return pl.col(column).cast(pl.String).str.zfill(6).alias(column)


def money(column: str) -> pl.Expr:
    return fixed(column, 2)


# Columns that are not written as polars would write them by default, per file.
LAYOUTS: Mapping[str, tuple[pl.Expr, ...]] = {
    "erp/items.csv": (
        item_number("ItemNumber"),
        fixed("WeightKg", 3),
        money("UnitCost"),
        money("UnitPrice"),
        utc("UpdatedAt"),
    ),
    "erp/sales_orders.csv": (money("OrderTotal"),),
    "erp/sales_order_lines.csv": (
        item_number("ItemNumber"),
        money("UnitPrice"),
        money("LineAmount"),
    ),
    "erp/shipments.csv": (utc("PostedAt"),),
    "wms/sku_master.csv": (fixed("WEIGHT_LB", 2),),
    "wms/inventory.csv": (local("SNAPSHOT_TS", "WAREHOUSE"),),
    "wms/shipments.csv": (local("SHIP_TS", "WAREHOUSE"),),
    "tms/shipments.csv": (utc("pickup_at"), utc("delivered_at"), money("freight_cost")),
    "tms/shipment_events.csv": (utc("event_time"), utc("recorded_at")),
    "finance/ar_invoices.csv": (money("amount"),),
    "finance/freight_invoices.csv": (money("amount"),),
    "finance/payments.csv": (money("amount"), utc("paid_at")),
    "finance/gl_journal.csv": (money("amount"),),
}


def render(path: str, table: pl.DataFrame) -> pl.DataFrame:
    """The table as the text its system writes; dates and plain integers stay as polars writes."""
    return table.with_columns(*LAYOUTS.get(path, ()))
