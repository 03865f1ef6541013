"""The discrepancies planted in the sample tenant, and the finding each one must produce.
All other generated data is clean, so the rows these return are the run's ground truth."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from tallyclerk.errors import TallyclerkError

from .master import DAY, HOUR, INVENTORY_ACCOUNT, LOCATIONS, MINUTE, PERIOD_START

Tables = dict[str, pl.DataFrame]


@dataclass(frozen=True, order=True)
class Expected:
    """One row of expected_findings.csv: a finding the rules must report."""

    kind: str
    rule_id: str
    entity: str
    key: str
    field: str
    systems: str


@dataclass
class Picker:
    """Draws injection targets at random, never the same record of a kind twice."""

    rng: np.random.Generator
    taken: dict[str, set] = field(default_factory=dict)

    def row(self, frame: pl.DataFrame, column: str, *, kind: str) -> dict:
        taken = self.taken.setdefault(kind, set())
        free = frame.filter(~pl.col(column).is_in(list(taken)))
        if free.height == 0:
            raise TallyclerkError(
                f"sample generator: no {kind} left to inject a discrepancy into; "
                "generate more orders."
            )
        row = free.row(int(self.rng.integers(free.height)), named=True)
        taken.add(row[column])
        return row


Injection = Callable[[Tables, Picker], list[Expected]]

# Kind, entity and systems of each rule an injection trips, as tallyclerk.yaml declares them.
_RULES = {
    "item-master-sync": ("match", "item", "erp+wms"),
    "shipment-posted-to-erp": ("match", "shipment", "erp+wms"),
    "customer-duplicates": ("duplicates", "customer", "erp"),
    "shipment-status-sequence": ("sequence", "shipment_event", "tms"),
    "shipment-delivered-after-pickup": ("validate", "shipment", "tms"),
    "short-shipment-without-backorder": ("aggregate", "sales_order_line", "erp+wms"),
    "shipped-not-invoiced": ("aggregate", "sales_order_line", "finance+wms"),
    "carrier-invoice-vs-rated-cost": ("aggregate", "freight_invoice", "finance+tms"),
    "carrier-invoice-billed-twice": ("duplicates", "freight_invoice", "finance"),
    "inventory-value-vs-ledger": ("aggregate", "inventory_balance", "finance+wms"),
    "shipment-line-item-known": ("validate", "shipment_line", "wms"),
    "stock-item-known": ("validate", "inventory_balance", "wms"),
}


def _finding(rule_id: str, key: str, field_name: str = "") -> Expected:
    kind, entity, systems = _RULES[rule_id]
    return Expected(kind, rule_id, entity, key, field_name, systems)


def _stocked_skus(t: Tables) -> pl.DataFrame:
    stocked = t["wms/inventory.csv"].select("SKU").unique()
    return t["wms/sku_master.csv"].join(stocked, on="SKU", how="semi").sort("SKU")


def _where(**equal: object) -> pl.Expr:
    return pl.all_horizontal(pl.col(name) == value for name, value in equal.items())


# --- master data ------------------------------------------------------------------


def wms_weight_drift(t: Tables, pick: Picker) -> list[Expected]:
    """The WMS weighs one item 20 % heavier than the ERP."""
    sku = pick.row(_stocked_skus(t), "SKU", kind="item")["SKU"]
    heavier = (pl.col("WEIGHT_LB") * 1.2).round(0).cast(pl.Int64)
    t["wms/sku_master.csv"] = t["wms/sku_master.csv"].with_columns(
        WEIGHT_LB=pl.when(pl.col("SKU") == sku).then(heavier).otherwise("WEIGHT_LB")
    )
    return [_finding("item-master-sync", f"item_id={sku}", "weight_kg")]


def wms_description_drift(t: Tables, pick: Picker) -> list[Expected]:
    """The WMS describes one item with other words."""
    row = pick.row(_stocked_skus(t), "SKU", kind="item")
    words = row["DESCRIPTION"].split(" ")
    words[-1] = "Rack" if words[-1] != "Rack" else "Cart"
    t["wms/sku_master.csv"] = t["wms/sku_master.csv"].with_columns(
        DESCRIPTION=pl.when(pl.col("SKU") == row["SKU"])
        .then(pl.lit(" ".join(words)))
        .otherwise("DESCRIPTION")
    )
    key = f"item_id={row['SKU']}"
    return [_finding("item-master-sync", key, "description")]


def wms_orphan_sku(t: Tables, pick: Picker) -> list[Expected]:
    """The WMS has a SKU the ERP never created; nothing stocks or orders it."""
    unused = np.setdiff1d(np.arange(1, 100_000), t["erp/items.csv"]["ItemNumber"].to_numpy())
    sku = int(unused[pick.rng.integers(len(unused))])
    orphan = pl.DataFrame(
        {"SKU": [sku], "DESCRIPTION": ["Display Stand Sample"], "WEIGHT_LB": [1250], "UOM": ["EA"]},
        schema=t["wms/sku_master.csv"].schema,
    )
    t["wms/sku_master.csv"] = pl.concat([t["wms/sku_master.csv"], orphan]).sort("SKU")
    return [_finding("item-master-sync", f"item_id={sku}")]


def wms_missing_item(t: Tables, pick: Picker) -> list[Expected]:
    """An ERP item never reached the WMS; it has no orders and no stock."""
    idle = (
        t["erp/items.csv"]
        .join(t["erp/sales_order_lines.csv"], on="ItemNumber", how="anti")
        .join(t["wms/inventory.csv"], left_on="ItemNumber", right_on="SKU", how="anti")
        .sort("ItemNumber")
    )
    item = pick.row(idle, "ItemNumber", kind="item")["ItemNumber"]
    t["wms/sku_master.csv"] = t["wms/sku_master.csv"].filter(pl.col("SKU") != item)
    return [_finding("item-master-sync", f"item_id={item}")]


def wms_item_lost(t: Tables, pick: Picker) -> list[Expected]:
    """The WMS loses an item it stocks and has shipped: one root cause, and a finding for each
    of its shipment lines and stock rows, which now name an item the WMS does not know."""
    lines = t["wms/shipment_lines.csv"]
    # Orders other discrepancies were planted in keep their one finding each.
    planted = list(pick.taken.get("order", set()))
    per_sku = lines.group_by("SKU").agg(
        lines=pl.len(), planted=pl.col("ORDER_NO").is_in(planted).any()
    )
    # Of the stocked items shipped least, so the demo's findings stay readable.
    clear = _stocked_skus(t).join(per_sku.filter(~pl.col("planted")), on="SKU")
    candidates = clear.filter(
        (pl.col("lines") == pl.col("lines").min())
        & ~pl.col("SKU").is_in(list(pick.taken.get("item", set())))
    )
    # The first of them, not a random one: the draws of the injections after this one (the
    # ledger's) stay what they were before it was planted.
    sku = candidates.sort("SKU")["SKU"][0]
    pick.taken.setdefault("item", set()).add(sku)
    t["wms/sku_master.csv"] = t["wms/sku_master.csv"].filter(pl.col("SKU") != sku)
    expected = [_finding("item-master-sync", f"item_id={sku}")]
    for row in lines.filter(pl.col("SKU") == sku).iter_rows(named=True):
        key = f"shipment_id={row['SHIPMENT_NO']}, line_no={row['LINE_NO']}"
        expected.append(_finding("shipment-line-item-known", key, "item_id"))
    stock = t["wms/inventory.csv"].filter(pl.col("SKU") == sku)
    for row in stock.iter_rows(named=True):
        key = f"location_id={row['WAREHOUSE']}, item_id={sku}"
        expected.append(_finding("stock-item-known", key, "item_id"))
    return expected


def erp_customer_repeated(t: Tables, pick: Picker) -> list[Expected]:
    """One ERP customer row appears twice with the same id."""
    row = pick.row(t["erp/customers.csv"], "CustomerId", kind="customer")
    repeated = pl.DataFrame([row], schema=t["erp/customers.csv"].schema)
    t["erp/customers.csv"] = pl.concat([t["erp/customers.csv"], repeated])
    key = f"customer_id={row['CustomerId']}"
    return [_finding("customer-duplicates", key, "customer_id")]


def erp_customer_near_duplicate(t: Tables, pick: Picker) -> list[Expected]:
    """A second customer record for one company: same tax id and postal code, name retyped."""
    customers = t["erp/customers.csv"]
    row = pick.row(customers, "CustomerId", kind="customer")
    width = len(row["CustomerId"]) - 1
    newest = max(int(cid[1:]) for cid in customers["CustomerId"].to_list())
    twin = {
        **row,
        "CustomerId": f"C{newest + 1:0{width}d}",
        "CustomerName": "Baltic Marine Supply Ltd.",
    }
    # Normalised, the names are 3 edits apart: similarity 0.88 with spaces, 0.87 without.
    customers = customers.with_columns(
        CustomerName=pl.when(pl.col("CustomerId") == row["CustomerId"])
        .then(pl.lit("Baltic Marine Supplies Ltd"))
        .otherwise("CustomerName")
    )
    t["erp/customers.csv"] = pl.concat([customers, pl.DataFrame([twin], schema=customers.schema)])
    pair = "|".join(sorted([row["CustomerId"], twin["CustomerId"]]))
    key = f"customer_id={pair}"
    return [_finding("customer-duplicates", key, "name")]


# --- shipments ----------------------------------------------------------------------


def erp_shipment_not_posted(t: Tables, pick: Picker) -> list[Expected]:
    """The WMS shipped an order but the goods issue never reached the ERP."""
    shipment = pick.row(t["erp/shipments.csv"], "ShipmentNumber", kind="shipment")
    number = shipment["ShipmentNumber"]
    t["erp/shipments.csv"] = t["erp/shipments.csv"].filter(pl.col("ShipmentNumber") != number)
    key = f"shipment_id={number}"
    return [_finding("shipment-posted-to-erp", key)]


def tms_status_regression(t: Tables, pick: Picker) -> list[Expected]:
    """After DELIVERED, the TMS records the shipment IN_TRANSIT again."""
    early = t["tms/shipments.csv"].filter(pl.col("delivered_at") < PERIOD_START + 29 * DAY)
    ref = pick.row(early, "shipment_ref", kind="shipment")["shipment_ref"]
    events = t["tms/shipment_events.csv"].with_row_index("at")
    last = events.filter(pl.col("shipment_ref") == ref).tail(1)
    at = int(last["at"][0])
    late = last.drop("at").with_columns(
        seq=pl.col("seq") + 1,
        status=pl.lit("IN_TRANSIT"),
        event_time=pl.col("event_time") + 2 * HOUR,
        recorded_at=pl.col("recorded_at") + 2 * HOUR + 7 * MINUTE,
    )
    events = events.drop("at")
    t["tms/shipment_events.csv"] = pl.concat([events.slice(0, at + 1), late, events.slice(at + 1)])
    key = f"shipment_id={ref}"
    return [_finding("shipment-status-sequence", key, "status")]


def tms_delivered_before_pickup(t: Tables, pick: Picker) -> list[Expected]:
    """The TMS shipment says delivered three hours before pickup; its events stay right."""
    ref = pick.row(t["tms/shipments.csv"], "shipment_ref", kind="shipment")["shipment_ref"]
    t["tms/shipments.csv"] = t["tms/shipments.csv"].with_columns(
        delivered_at=pl.when(pl.col("shipment_ref") == ref)
        .then(pl.col("pickup_at") - 3 * HOUR)
        .otherwise("delivered_at")
    )
    key = f"shipment_id={ref}"
    return [_finding("shipment-delivered-after-pickup", key, "delivered_at")]


# --- order to cash ------------------------------------------------------------------


def wms_short_shipment(t: Tables, pick: Picker) -> list[Expected]:
    """The WMS ships one unit less than ordered, with no backorder; the invoice follows it."""
    full = t["erp/sales_order_lines.csv"].filter(
        (pl.col("Quantity") >= 2) & (pl.col("BackorderQuantity") == 0)
    )
    line = pick.row(full, "OrderNumber", kind="order")
    order, no = line["OrderNumber"], line["LineNumber"]
    t["wms/shipment_lines.csv"] = t["wms/shipment_lines.csv"].with_columns(
        QTY_SHIPPED=pl.when(_where(ORDER_NO=order, ORDER_LINE=no))
        .then(pl.col("QTY_SHIPPED") - 1)
        .otherwise("QTY_SHIPPED")
    )
    invoiced = _where(order_no=order, order_line_no=no)
    t["finance/ar_invoices.csv"] = t["finance/ar_invoices.csv"].with_columns(
        qty=pl.when(invoiced).then(pl.col("qty") - 1).otherwise("qty"),
        amount=pl.when(invoiced).then(pl.col("amount") - line["UnitPrice"]).otherwise("amount"),
    )
    key = f"order_id={order}, line_no={no}"
    return [_finding("short-shipment-without-backorder", key, "quantity")]


def finance_line_not_invoiced(t: Tables, pick: Picker) -> list[Expected]:
    """One shipped order line is missing from its AR invoice."""
    line = pick.row(t["finance/ar_invoices.csv"], "order_no", kind="order")
    order, no = line["order_no"], line["order_line_no"]
    t["finance/ar_invoices.csv"] = t["finance/ar_invoices.csv"].filter(
        ~_where(order_no=order, order_line_no=no)
    )
    key = f"order_id={order}, order_line_no={no}"
    return [_finding("shipped-not-invoiced", key, "quantity")]


# --- freight ------------------------------------------------------------------------


def _freight_key(row: dict) -> str:
    return f"carrier_scac={row['vendor_scac']}, carrier_invoice_no={row['carrier_invoice_no']}"


def finance_carrier_overbilled(t: Tables, pick: Picker) -> list[Expected]:
    """A carrier bills 15 % more than the rated cost of the shipments on its invoice."""
    bills = t["finance/freight_invoices.csv"]
    row = pick.row(bills, "carrier_invoice_no", kind="carrier_invoice")
    t["finance/freight_invoices.csv"] = bills.with_columns(
        amount=pl.when(pl.col("ap_document") == row["ap_document"])
        .then((pl.col("amount") * 1.15).round(0).cast(pl.Int64))
        .otherwise("amount")
    )
    return [_finding("carrier-invoice-vs-rated-cost", _freight_key(row), "amount")]


def finance_carrier_invoice_twice(t: Tables, pick: Picker) -> list[Expected]:
    """One carrier invoice is entered twice under two AP documents, doubling what is billed."""
    bills = t["finance/freight_invoices.csv"]
    row = pick.row(bills, "carrier_invoice_no", kind="carrier_invoice")
    width = len(row["ap_document"]) - 3
    newest = max(int(doc[3:]) for doc in bills["ap_document"].to_list())
    again = {**row, "ap_document": f"AP-{newest + 1:0{width}d}"}
    t["finance/freight_invoices.csv"] = pl.concat(
        [bills, pl.DataFrame([again], schema=bills.schema)]
    )
    key = _freight_key(row)
    return [
        _finding("carrier-invoice-billed-twice", key, "carrier_scac+carrier_invoice_no"),
        _finding("carrier-invoice-vs-rated-cost", key, "amount"),
    ]


# --- ledger -------------------------------------------------------------------------


def gl_inventory_misposted(t: Tables, pick: Picker) -> list[Expected]:
    """1,250.00 too much inventory in one warehouse's closing entry, against cost of goods sold."""
    codes = pl.DataFrame({"location": [loc.code for loc in LOCATIONS]})
    location = pick.row(codes, "location", kind="location")["location"]
    journal = t["finance/gl_journal.csv"]
    inventory_lines = journal.filter(_where(account=INVENTORY_ACCOUNT, location=location))
    closing = inventory_lines.tail(1)["journal_no"][0]
    # Both lines of the closing entry move, so the journal itself still balances.
    moved = (pl.col("journal_no") == closing) & (pl.col("location") == location)
    delta = pl.when(pl.col("account") == INVENTORY_ACCOUNT).then(125_000).otherwise(-125_000)
    t["finance/gl_journal.csv"] = journal.with_columns(
        amount=pl.when(moved).then(pl.col("amount") + delta).otherwise("amount")
    )
    return [_finding("inventory-value-vs-ledger", f"location_id={location}", "amount")]


# Every planted discrepancy, with the rule and field of the finding it must produce.
# The operational ones run before payments and the GL are derived, the ledger one after.
OPERATIONAL: tuple[Injection, ...] = (
    wms_weight_drift,  # item-master-sync, weight_kg
    wms_description_drift,  # item-master-sync, description
    wms_orphan_sku,  # item-master-sync, whole record (only in the WMS)
    wms_missing_item,  # item-master-sync, whole record (only in the ERP)
    erp_customer_repeated,  # customer-duplicates, customer_id (exact key)
    erp_customer_near_duplicate,  # customer-duplicates, name (near: customer_id=lo|hi)
    erp_shipment_not_posted,  # shipment-posted-to-erp, whole record
    tms_status_regression,  # shipment-status-sequence, status
    tms_delivered_before_pickup,  # shipment-delivered-after-pickup, delivered_at
    wms_short_shipment,  # short-shipment-without-backorder, quantity
    finance_line_not_invoiced,  # shipped-not-invoiced, quantity
    finance_carrier_overbilled,  # carrier-invoice-vs-rated-cost, amount
    finance_carrier_invoice_twice,  # carrier-invoice-billed-twice and carrier-invoice-vs-rated-cost
    # Last, so it can keep clear of the orders planted above.
    wms_item_lost,  # item-master-sync (the root cause) and the item's shipment lines and stock
)
LEDGER: tuple[Injection, ...] = (
    gl_inventory_misposted,  # inventory-value-vs-ledger, amount
)
