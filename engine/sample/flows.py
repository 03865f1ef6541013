"""Order-to-cash and freight flows of the sample tenant: one shipment per order, every line
shipped but its backorder, every shipped line invoiced, every shipment billed by its carrier."""

from __future__ import annotations

import numpy as np
import polars as pl

from .master import CARRIERS, CITIES, DAY, HOUR, HUBS, LOCATIONS, MINUTE, PERIOD_START

# Shipments are billed by their carrier in runs of this many, in pickup order.
SHIPMENTS_PER_CARRIER_INVOICE = 8
# Share of WMS rows whose carrier code may be retyped: lowercase, padded, or both.
MESSY_CARRIER_SHARE = 0.3


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pl.Series:
    """'SO-0000042' from 42: a prefix and a zero-padded number."""
    digits = pl.Series(numbers).cast(pl.String).str.zfill(width)
    return pl.select(pl.lit(prefix) + digits).to_series()


def flow_tables(
    rng: np.random.Generator,
    n_orders: int,
    item_frame: pl.DataFrame,
    customer_ids: pl.Series,
) -> dict[str, pl.DataFrame]:
    """The transactional files of the ERP, WMS, TMS and the finance sub-ledgers."""
    lines = _order_lines(rng, n_orders, item_frame)
    orders = _orders(rng, n_orders, customer_ids, lines)
    of_order = orders.select("order_no", "shipment_no", "customer_id", "invoice_day")
    lines = pl.concat(
        [of_order.select(pl.all().gather(lines["order_index"])), lines], how="horizontal"
    )

    tables = _erp(orders, lines)
    tables |= _wms(orders, lines)
    tables |= _tms(rng, orders)
    tables |= _finance(orders, lines)
    return tables


def _order_lines(rng: np.random.Generator, n: int, item_frame: pl.DataFrame) -> pl.DataFrame:
    """1-4 lines per order of active items; a few lines are partly backordered."""
    per_order = rng.choice(np.arange(1, 5), size=n, p=[0.35, 0.3, 0.2, 0.15])
    order_index = np.repeat(np.arange(n), per_order)
    first_line = np.cumsum(per_order) - per_order
    size = len(order_index)
    active = np.flatnonzero(item_frame["active"].to_numpy())
    item = active[rng.integers(0, len(active), size)]
    quantity = rng.integers(1, 41, size)
    # Never the whole line, so every line ships something and has a shipment line.
    backordered = (rng.random(size) < 0.04) & (quantity >= 2)
    partial = 1 + (rng.random(size) * (quantity - 1)).astype(np.int64)
    backorder = np.where(backordered, partial, 0)
    return pl.DataFrame(
        {
            "order_index": order_index,
            "line_no": np.arange(size) - np.repeat(first_line, per_order) + 1,
            "item_id": item_frame["item_id"].to_numpy()[item],
            "quantity": quantity,
            "backorder": backorder,
            "shipped": quantity - backorder,
            "unit_price": item_frame["unit_price"].to_numpy()[item],
            "grams": item_frame["grams"].to_numpy()[item],
        }
    )


def _orders(
    rng: np.random.Generator, n: int, customer_ids: pl.Series, lines: pl.DataFrame
) -> pl.DataFrame:
    """One row per order with its shipment: warehouse, carrier, times, freight, carrier invoice."""
    customer_id = customer_ids.to_numpy()[rng.integers(0, len(customer_ids), n)]
    order_day = rng.integers(0, 25, n)
    order_index = lines["order_index"].to_numpy()
    line_amount = (lines["quantity"] * lines["unit_price"]).to_numpy()
    total = np.bincount(order_index, weights=line_amount, minlength=n)

    # One shipment per order, a day or two later, in the warehouse's business hours.
    warehouse = rng.integers(0, len(LOCATIONS), n)
    offsets = np.array([loc.utc_offset_hours * HOUR for loc in LOCATIONS])
    ship_day = order_day + 1 + rng.integers(0, 2, n)
    wall_clock = rng.integers(7 * 60, 19 * 60, n) * MINUTE
    pickup = PERIOD_START + ship_day * DAY + wall_clock - offsets[warehouse]
    shipment_no = np.empty(n, dtype=np.int64)
    shipment_no[np.argsort(pickup, kind="stable")] = np.arange(1, n + 1)
    delivered = pickup + rng.integers(18 * 60, 60 * 60, n) * MINUTE
    carrier = rng.integers(0, len(CARRIERS), n)

    # Freight cost grows with the shipped weight; carriers price differently.
    shipped_grams = (lines["shipped"] * lines["grams"]).to_numpy()
    kg = np.bincount(order_index, weights=shipped_grams, minlength=n) / 1000
    carrier_rate = rng.uniform(0.85, 1.2, len(CARRIERS))[carrier]
    freight = np.rint((45 + 0.18 * kg) * carrier_rate * rng.uniform(0.9, 1.1, n) * 100)

    # Carrier invoices: runs of shipments per carrier in pickup order.
    by_carrier = np.lexsort((pickup, carrier))
    first_of_carrier = np.searchsorted(carrier[by_carrier], np.arange(len(CARRIERS)))
    rank = np.arange(n) - first_of_carrier[carrier[by_carrier]]
    invoice_seq = np.empty(n, dtype=np.int64)
    invoice_seq[by_carrier] = rank // SHIPMENTS_PER_CARRIER_INVOICE + 1

    return pl.DataFrame(
        {
            "order_no": _ids("SO-", np.arange(1, n + 1), 7),
            "customer_id": customer_id,
            "order_day": order_day,
            "total": np.rint(total).astype(np.int64),
            "shipment_no": _ids("SH-", shipment_no, 7),
            "warehouse": np.array([loc.code for loc in LOCATIONS], dtype=object)[warehouse],
            "scac": np.array([c[0] for c in CARRIERS], dtype=object)[carrier],
            "invoice_seq": invoice_seq,
            "pickup": pickup,
            "delivered": delivered,
            "posted": pickup + rng.integers(5, 91, n) * MINUTE,
            "freight": freight.astype(np.int64),
            "invoice_day": (pickup - PERIOD_START) // DAY + rng.integers(0, 2, n),
            "loaded_only": rng.random(n) < 0.03,
            "messy": rng.integers(0, 4, n) * (rng.random(n) < MESSY_CARRIER_SHARE),
        }
    )


def _erp(orders: pl.DataFrame, lines: pl.DataFrame) -> dict[str, pl.DataFrame]:
    order_date = pl.from_epoch(PERIOD_START + pl.col("order_day") * DAY, time_unit="s").dt.date()
    return {
        "erp/sales_orders.csv": orders.select(
            OrderNumber="order_no",
            CustomerId="customer_id",
            OrderDate=order_date,
            Currency=pl.lit("USD"),
            OrderTotal="total",
        ),
        "erp/sales_order_lines.csv": lines.select(
            OrderNumber="order_no",
            LineNumber="line_no",
            ItemNumber="item_id",
            Quantity="quantity",
            BackorderQuantity="backorder",
            UnitPrice="unit_price",
            LineAmount=pl.col("quantity") * pl.col("unit_price"),
        ),
        "erp/shipments.csv": orders.sort("shipment_no").select(
            ShipmentNumber="shipment_no", OrderNumber="order_no", PostedAt="posted"
        ),
    }


def _messy_scac() -> pl.Expr:
    """The carrier code as WMS operators typed it: sometimes lowercase, sometimes padded."""
    scac = pl.col("scac")
    return (
        pl.when(pl.col("messy") == 1)
        .then(scac.str.to_lowercase())
        .when(pl.col("messy") == 2)
        .then(pl.lit(" ") + scac.str.to_lowercase() + pl.lit(" "))
        .when(pl.col("messy") == 3)
        .then(scac + pl.lit("  "))
        .otherwise(scac)
    )


def _wms(orders: pl.DataFrame, lines: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {
        "wms/shipments.csv": orders.sort("shipment_no").select(
            SHIPMENT_NO="shipment_no",
            ORDER_NO="order_no",
            WAREHOUSE="warehouse",
            CARRIER=_messy_scac(),
            SHIP_TS="pickup",
            STATUS=pl.when("loaded_only").then(pl.lit("LD")).otherwise(pl.lit("SH")),
        ),
        "wms/shipment_lines.csv": lines.sort("shipment_no", "line_no").select(
            SHIPMENT_NO="shipment_no",
            LINE_NO="line_no",
            ORDER_NO="order_no",
            ORDER_LINE="line_no",
            SKU="item_id",
            QTY_SHIPPED="shipped",
        ),
    }


def _tms(rng: np.random.Generator, orders: pl.DataFrame) -> dict[str, pl.DataFrame]:
    shipments = orders.sort("shipment_no")
    n = shipments.height
    pickup = shipments["pickup"].to_numpy()
    delivered = shipments["delivered"].to_numpy()

    # Milestones: tendered hours before pickup, in transit part way, delivered.
    tendered = pickup - rng.integers(2 * 60, 20 * 60, n) * MINUTE
    in_transit = pickup + (
        (delivered - pickup) * rng.uniform(0.3, 0.6, n) // MINUTE * MINUTE
    ).astype(np.int64)
    event_time = np.column_stack([tendered, pickup, in_transit, delivered])
    # Milestones are hours apart and recorded at most half an hour late, so recorded_at
    # increases with seq.
    recorded = event_time + rng.integers(1, 31, (n, 4)) * MINUTE
    city = {loc.code: loc.city for loc in LOCATIONS}
    origin = shipments["warehouse"].replace_strict(city).to_numpy()
    hub = HUBS[rng.integers(0, len(HUBS), n)].astype(object)
    destination = CITIES[rng.integers(0, len(CITIES), n)].astype(object)
    where = np.column_stack([origin, origin, hub, destination])
    statuses = np.array(["TENDERED", "PICKED_UP", "IN_TRANSIT", "DELIVERED"], dtype=object)

    events = pl.DataFrame(
        {
            "shipment_ref": np.repeat(shipments["shipment_no"].to_numpy(), 4),
            "seq": np.tile(np.arange(1, 5), n),
            "status": np.tile(statuses, n),
            "event_time": event_time.ravel(),
            "recorded_at": recorded.ravel(),
            "location": where.ravel(),
        }
    )
    invoice_no = (
        pl.lit("INV-")
        + pl.col("scac")
        + pl.lit("-")
        + pl.col("invoice_seq").cast(pl.String).str.zfill(5)
    )
    return {
        "tms/shipments.csv": shipments.select(
            shipment_ref="shipment_no",
            scac="scac",
            pickup_at="pickup",
            delivered_at="delivered",
            status=pl.lit("DELIVERED"),
            freight_cost="freight",
            carrier_invoice_no=invoice_no,
        ),
        "tms/shipment_events.csv": events,
    }


def _finance(orders: pl.DataFrame, lines: pl.DataFrame) -> dict[str, pl.DataFrame]:
    day = pl.from_epoch(PERIOD_START + pl.col("invoice_day") * DAY, time_unit="s").dt.date()
    ar_invoices = lines.sort("shipment_no", "line_no").select(
        invoice_no=pl.lit("AR-") + pl.col("shipment_no").str.slice(3),
        line_no="line_no",
        order_no="order_no",
        order_line_no="line_no",
        customer_no="customer_id",
        item_no="item_id",
        qty="shipped",
        amount=pl.col("shipped") * pl.col("unit_price"),
        invoice_date=day,
    )

    # One AP document per carrier invoice, dated the day its last shipment was delivered.
    billed = (
        orders.group_by("scac", "invoice_seq")
        .agg(amount=pl.col("freight").sum(), delivered=pl.col("delivered").max())
        .with_columns(
            invoice_date=pl.from_epoch("delivered", time_unit="s").dt.date(),
            carrier_invoice_no=pl.lit("INV-")
            + pl.col("scac")
            + pl.lit("-")
            + pl.col("invoice_seq").cast(pl.String).str.zfill(5),
        )
        .sort("invoice_date", "scac", "invoice_seq")
    )
    width = max(6, len(str(billed.height + 10)))
    freight_invoices = billed.with_row_index("n", offset=1).select(
        ap_document=pl.lit("AP-") + pl.col("n").cast(pl.String).str.zfill(width),
        vendor_scac="scac",
        carrier_invoice_no="carrier_invoice_no",
        amount="amount",
        invoice_date="invoice_date",
        currency=pl.lit("USD"),
    )
    return {
        "finance/ar_invoices.csv": ar_invoices,
        "finance/freight_invoices.csv": freight_invoices,
    }
