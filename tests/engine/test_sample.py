"""The sample tenant: same bytes for the same seed, and exactly the planted discrepancies."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from engine.sample.generate import generate
from tallyclerk.errors import ConfigError

ORDERS = 300
NOVEMBER = ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")
LIFECYCLE = ["TENDERED", "PICKED_UP", "IN_TRANSIT", "DELIVERED"]


@pytest.fixture(scope="module")
def tenant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("harborline")
    generate(out, orders=ORDERS)
    return out


def read(tenant: Path, path: str) -> pl.DataFrame:
    """A generated file as text columns, the way an adapter first sees it."""
    return pl.read_csv(tenant / path, infer_schema=False)


def expected(tenant: Path) -> pl.DataFrame:
    return read(tenant, "expected_findings.csv").fill_null("")


def expected_keys(tenant: Path, rule_id: str) -> list[str]:
    rows = expected(tenant).filter(pl.col("rule_id") == rule_id)
    return sorted(rows["key"].to_list())


def key_value(key: str, name: str) -> str:
    parts = dict(part.split("=", 1) for part in key.split(", "))
    return parts[name]


def cents(column: str) -> pl.Expr:
    """Fixed two-decimal text as integer cents, so sums compare exactly."""
    return pl.col(column).str.replace(".", "", literal=True).cast(pl.Int64)


def instant(column: str) -> pl.Expr:
    return pl.col(column).str.to_datetime(time_zone="UTC")


def digests(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


# --- determinism --------------------------------------------------------------------


def test_same_seed_and_orders_write_identical_bytes(tenant: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(again, orders=ORDERS)

    assert digests(again) == digests(tenant)
    assert len(digests(tenant)) == 20  # 18 data files, expected findings, tallyclerk.yaml
    contract = Path(__file__).parents[2] / "engine" / "sample" / "tallyclerk.yaml"
    assert (tenant / "tallyclerk.yaml").read_bytes() == contract.read_bytes()


def test_another_seed_writes_other_data(tenant: Path, tmp_path: Path) -> None:
    generate(tmp_path, orders=ORDERS, seed=8)

    assert digests(tmp_path)["erp/sales_orders.csv"] != digests(tenant)["erp/sales_orders.csv"]


def test_summary_counts_rows_and_injections(tmp_path: Path) -> None:
    messages: list[str] = []
    summary = generate(tmp_path, orders=ORDERS, progress=messages.append)

    assert summary.rows("erp/sales_orders.csv") == ORDERS
    assert summary.rows("tms/shipments.csv") == ORDERS
    assert summary.rows("erp/shipments.csv") == ORDERS - 1
    assert summary.rows("tms/shipment_events.csv") == 4 * ORDERS + 1
    assert summary.injected == 15
    assert summary.expected_findings == 19
    assert any("erp/items.csv" in message for message in messages)


@pytest.mark.parametrize("orders", [10, 10_000_000])
def test_orders_out_of_range_are_refused(tmp_path: Path, orders: int) -> None:
    with pytest.raises(ConfigError, match="out of range"):
        generate(tmp_path, orders=orders)

    assert not any(tmp_path.iterdir())


def test_an_existing_workspace_file_is_kept(tmp_path: Path) -> None:
    (tmp_path / "tallyclerk.yaml").write_text("name: mine\n")
    generate(tmp_path, orders=ORDERS)

    assert (tmp_path / "tallyclerk.yaml").read_text() == "name: mine\n"


# --- the ground truth ---------------------------------------------------------------


def test_expected_findings_list_every_injection_once(tenant: Path) -> None:
    rows = expected(tenant)

    assert rows.columns == ["kind", "rule_id", "entity", "key", "field", "systems", "period"]
    assert rows.rows() == sorted(rows.rows())
    assert set(rows["period"]) == {"2026-11"}
    assert b"\r" not in (tenant / "expected_findings.csv").read_bytes()
    assert Counter(zip(rows["kind"], rows["rule_id"], strict=True)) == {
        ("match", "item-master-sync"): 5,
        ("match", "shipment-posted-to-erp"): 1,
        ("duplicates", "customer-duplicates"): 2,
        ("sequence", "shipment-status-sequence"): 1,
        ("validate", "shipment-delivered-after-pickup"): 1,
        ("aggregate", "short-shipment-without-backorder"): 1,
        ("aggregate", "shipped-not-invoiced"): 1,
        ("aggregate", "carrier-invoice-vs-rated-cost"): 2,
        ("duplicates", "carrier-invoice-billed-twice"): 1,
        ("aggregate", "inventory-value-vs-ledger"): 1,
        # The item the WMS lost: its shipment line and its stock in two warehouses.
        ("validate", "shipment-line-item-known"): 1,
        ("validate", "stock-item-known"): 2,
    }
    assert sorted(rows.filter(pl.col("rule_id") == "item-master-sync")["field"]) == [
        "",
        "",
        "",
        "description",
        "weight_kg",
    ]


# --- each injection is really in the data -------------------------------------------


def test_item_drift_orphan_and_missing(tenant: Path) -> None:
    erp = read(tenant, "erp/items.csv").with_columns(
        SKU=pl.col("ItemNumber").str.strip_chars_start("0")
    )
    wms = read(tenant, "wms/sku_master.csv")
    both = erp.join(wms, on="SKU")
    rows = expected(tenant).filter(pl.col("rule_id") == "item-master-sync")
    by_field = {f: key_value(k, "item_id") for k, f in zip(rows["key"], rows["field"], strict=True)}

    drifted = both.filter(pl.col("SKU") == by_field["weight_kg"]).row(0, named=True)
    ratio = float(drifted["WEIGHT_LB"]) * 0.45359237 / float(drifted["WeightKg"])
    assert ratio == pytest.approx(1.2, abs=0.002)
    described = both.filter(pl.col("SKU") == by_field["description"]).row(0, named=True)
    assert described["DESCRIPTION"].lower() != described["Description"].lower()

    only_one_side = set(erp["SKU"]).symmetric_difference(wms["SKU"])
    assert only_one_side == {
        key_value(k, "item_id") for k in rows.filter(pl.col("field") == "")["key"]
    }
    stocked = set(read(tenant, "wms/inventory.csv")["SKU"])
    quiet = stocked | {
        s.lstrip("0") for s in read(tenant, "erp/sales_order_lines.csv")["ItemNumber"]
    }
    # One of them the WMS lost although it stocks and ships it: a root cause.
    stock_keys = expected(tenant).filter(pl.col("rule_id") == "stock-item-known")["key"]
    lost = {key_value(k, "item_id") for k in stock_keys}
    shipped = set(read(tenant, "wms/shipment_lines.csv")["SKU"])
    assert len(lost) == 1 and lost <= stocked & shipped & only_one_side
    assert not (only_one_side - lost) & quiet


def test_customer_repeated_and_near_duplicate(tenant: Path) -> None:
    customers = read(tenant, "erp/customers.csv")
    exact, near = (
        expected(tenant)
        .filter(pl.col("rule_id") == "customer-duplicates")
        .sort("field")
        .get_column("key")
    )

    repeated = customers.filter(pl.col("CustomerId") == key_value(exact, "customer_id"))
    assert repeated.height == 2 and repeated.unique().height == 1
    low, high = key_value(near, "customer_id").split("|")
    pair = customers.filter(pl.col("CustomerId").is_in([low, high])).sort("CustomerId")
    assert pair["PostalCode"].n_unique() == 1 and pair["TaxId"].n_unique() == 1
    assert similarity(*pair["CustomerName"]) >= 0.85


def test_shipment_missing_from_erp_only(tenant: Path) -> None:
    (key,) = expected_keys(tenant, "shipment-posted-to-erp")
    shipment = key_value(key, "shipment_id")

    assert shipment not in set(read(tenant, "erp/shipments.csv")["ShipmentNumber"])
    assert shipment in set(read(tenant, "wms/shipments.csv")["SHIPMENT_NO"])
    assert shipment in set(read(tenant, "tms/shipments.csv")["shipment_ref"])


def test_status_goes_back_after_delivered(tenant: Path) -> None:
    (key,) = expected_keys(tenant, "shipment-status-sequence")
    events = read(tenant, "tms/shipment_events.csv").filter(
        pl.col("shipment_ref") == key_value(key, "shipment_id")
    )

    assert events.sort(instant("recorded_at"))["status"].to_list() == [*LIFECYCLE, "IN_TRANSIT"]
    assert events["seq"].to_list() == ["1", "2", "3", "4", "5"]


def test_delivery_before_pickup_with_forward_events(tenant: Path) -> None:
    (key,) = expected_keys(tenant, "shipment-delivered-after-pickup")
    shipment = key_value(key, "shipment_id")
    row = read(tenant, "tms/shipments.csv").filter(pl.col("shipment_ref") == shipment)
    events = read(tenant, "tms/shipment_events.csv").filter(pl.col("shipment_ref") == shipment)

    assert row.select(instant("delivered_at") < instant("pickup_at")).item()
    assert events.sort(instant("recorded_at"))["status"].to_list() == LIFECYCLE


def test_short_shipment_and_uninvoiced_line(tenant: Path) -> None:
    (short,) = expected_keys(tenant, "short-shipment-without-backorder")
    (uninvoiced,) = expected_keys(tenant, "shipped-not-invoiced")
    order, line = key_value(short, "order_id"), key_value(short, "line_no")
    ordered = read(tenant, "erp/sales_order_lines.csv").filter(
        (pl.col("OrderNumber") == order) & (pl.col("LineNumber") == line)
    )
    shipped = read(tenant, "wms/shipment_lines.csv").filter(
        (pl.col("ORDER_NO") == order) & (pl.col("ORDER_LINE") == line)
    )
    invoiced = read(tenant, "finance/ar_invoices.csv")

    assert ordered["BackorderQuantity"].item() == "0"
    assert int(shipped["QTY_SHIPPED"].item()) == int(ordered["Quantity"].item()) - 1
    on_invoice = invoiced.filter((pl.col("order_no") == order) & (pl.col("order_line_no") == line))
    assert on_invoice["qty"].item() == shipped["QTY_SHIPPED"].item()
    missing = (pl.col("order_no") == key_value(uninvoiced, "order_id")) & (
        pl.col("order_line_no") == key_value(uninvoiced, "order_line_no")
    )
    assert invoiced.filter(missing).height == 0


def test_carrier_invoices_over_rated_cost_and_billed_twice(tenant: Path) -> None:
    bills = read(tenant, "finance/freight_invoices.csv")
    (twice,) = expected_keys(tenant, "carrier-invoice-billed-twice")
    over = set(expected_keys(tenant, "carrier-invoice-vs-rated-cost")) - {twice}

    twice_no = key_value(twice, "carrier_invoice_no")
    copies = bills.filter(pl.col("carrier_invoice_no") == twice_no)
    assert copies.height == 2 and copies["ap_document"].n_unique() == 2
    assert copies["amount"].n_unique() == 1
    (over_no,) = (key_value(key, "carrier_invoice_no") for key in over)
    rated = (
        read(tenant, "tms/shipments.csv")
        .filter(pl.col("carrier_invoice_no") == over_no)
        .select(cents("freight_cost").sum())
        .item()
    )
    billed = bills.filter(pl.col("carrier_invoice_no") == over_no).select(cents("amount")).item()
    assert billed == pytest.approx(rated * 1.15, abs=1)


def test_ledger_differs_from_stock_value_in_one_location_by_1250(tenant: Path) -> None:
    (key,) = expected_keys(tenant, "inventory-value-vs-ledger")
    difference = dict(ledger_minus_stock_value(tenant).iter_rows())

    assert difference.pop(key_value(key, "location_id")) == 125_000
    assert set(difference.values()) == {0}
    assert len(difference) == 3
    journal = (
        read(tenant, "finance/gl_journal.csv").group_by("journal_no").agg(cents("amount").sum())
    )
    assert set(journal["amount"]) == {0}, "every journal balances, the misposted one too"


# --- harmless differences are there, and nothing else is wrong ----------------------


def test_harmless_differences_are_present(tenant: Path) -> None:
    wms = read(tenant, "wms/shipments.csv")
    tms = read(tenant, "tms/shipments.csv")
    items = read(tenant, "erp/items.csv")

    carriers = wms["CARRIER"]
    assert (carriers != carriers.str.strip_chars().str.to_uppercase()).sum() > 10
    assert not wms["SHIP_TS"].str.ends_with("Z").any()
    assert wms["SHIP_TS"].str.contains(r"[+-]\d\d:\d\d$").all()
    assert tms["pickup_at"].str.ends_with("Z").all()
    assert items["ItemNumber"].str.starts_with("0").all()
    assert (items["ItemNumber"].str.len_chars() == 6).all()


def test_nothing_but_the_injections_breaks_a_rule(tenant: Path) -> None:
    found = {row[:2] for row in reference_findings(tenant)}
    planted = set(expected(tenant).select("rule_id", "key").iter_rows())

    assert found == planted


def test_every_business_date_is_in_november(tenant: Path) -> None:
    stamped = {
        "erp/sales_orders.csv": ["OrderDate"],
        "erp/shipments.csv": ["PostedAt"],
        "wms/shipments.csv": ["SHIP_TS"],
        "tms/shipments.csv": ["pickup_at", "delivered_at"],
        "tms/shipment_events.csv": ["event_time", "recorded_at"],
        "finance/ar_invoices.csv": ["invoice_date"],
        "finance/freight_invoices.csv": ["invoice_date"],
        "finance/payments.csv": ["paid_at"],
        "finance/gl_journal.csv": ["posting_date"],
    }
    for path, columns in stamped.items():
        for column in columns:
            values = read(tenant, path)[column]
            assert values.min() >= NOVEMBER[0][:10], (path, column)
            as_instant = values.str.to_datetime(time_zone="UTC") if "T" in values[0] else None
            if as_instant is not None:
                assert as_instant.min() >= pl.Series([NOVEMBER[0]]).str.to_datetime()[0]
                assert as_instant.max() < pl.Series([NOVEMBER[1]]).str.to_datetime()[0]
            else:
                assert values.max() <= "2026-11-30", (path, column)


# --- a small reference reading of the rules in tallyclerk.yaml ----------------------


def similarity(a: str, b: str) -> float:
    """1 - Levenshtein distance / longer length, on lowercased names without punctuation."""

    def clean(text: str) -> str:
        return "".join(c for c in text.lower() if c.isalnum() or c == " ")

    a, b = clean(a), clean(b)
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return 1 - previous[-1] / max(len(a), len(b), 1)


def ledger_minus_stock_value(tenant: Path) -> pl.DataFrame:
    cost = read(tenant, "erp/items.csv").select(
        SKU=pl.col("ItemNumber").str.strip_chars_start("0"), cost=cents("UnitCost")
    )
    value = (
        read(tenant, "wms/inventory.csv")
        .join(cost, on="SKU")
        .group_by(location="WAREHOUSE")
        .agg(value=(pl.col("ON_HAND_QTY").cast(pl.Int64) * pl.col("cost")).sum())
    )
    ledger = (
        read(tenant, "finance/gl_journal.csv")
        .filter(pl.col("account") == "1300")
        .group_by("location")
        .agg(booked=cents("amount").sum())
    )
    joined = value.join(ledger, on="location", how="full", coalesce=True).fill_null(0)
    return joined.select("location", difference=pl.col("booked") - pl.col("value"))


def totals_differ(
    left: pl.DataFrame, right: pl.DataFrame, by: list[str], key: list[str]
) -> list[tuple[str, str]]:
    """Groups whose measures differ at all, or exist on one side only, keyed like a finding."""
    joined = left.join(right, on=by, how="full", coalesce=True).fill_null(0)
    differ = joined.filter(pl.col("l") != pl.col("r"))
    return [
        (", ".join(f"{name}={value}" for name, value in zip(key, row, strict=True)), "")
        for row in differ.select(by).iter_rows()
    ]


def reference_findings(tenant: Path) -> set[tuple[str, str, str]]:
    """Every (rule_id, key, note) a strict reading of the yaml's rules finds in the tenant.

    Stricter than the rules where that is simpler: totals must agree to the cent.
    """
    found: set[tuple[str, str, str]] = set()

    def add(rule_id: str, keys: list[tuple[str, str]]) -> None:
        found.update((rule_id, key, note) for key, note in keys)

    erp_items = read(tenant, "erp/items.csv").with_columns(
        SKU=pl.col("ItemNumber").str.strip_chars_start("0")
    )
    wms_items = read(tenant, "wms/sku_master.csv")
    both = erp_items.join(wms_items, on="SKU", how="full", coalesce=True)
    one_side = both.filter(pl.col("ItemNumber").is_null() | pl.col("DESCRIPTION").is_null())
    add("item-master-sync", [(f"item_id={s}", "missing") for s in one_side["SKU"]])
    both = both.drop_nulls(["ItemNumber", "DESCRIPTION"])
    text = both.filter(
        pl.col("Description").str.strip_chars().str.to_lowercase()
        != pl.col("DESCRIPTION").str.strip_chars().str.to_lowercase()
    )
    add("item-master-sync", [(f"item_id={s}", "description") for s in text["SKU"]])
    kg = pl.col("WeightKg").cast(pl.Float64)
    lb_as_kg = pl.col("WEIGHT_LB").cast(pl.Float64) * 0.45359237
    weight = both.filter((kg - lb_as_kg).abs() > 0.005 * kg)
    add("item-master-sync", [(f"item_id={s}", "weight_kg") for s in weight["SKU"]])

    erp_shipments = set(read(tenant, "erp/shipments.csv")["ShipmentNumber"])
    wms = read(tenant, "wms/shipments.csv")
    tms = read(tenant, "tms/shipments.csv")
    add(
        "shipment-posted-to-erp",
        [(f"shipment_id={s}", "") for s in erp_shipments ^ set(wms["SHIPMENT_NO"])],
    )
    wms_vs_tms = wms.join(tms, left_on="SHIPMENT_NO", right_on="shipment_ref", how="full")
    broken = wms_vs_tms.filter(
        pl.col("SHIPMENT_NO").is_null()
        | pl.col("shipment_ref").is_null()
        | (pl.col("CARRIER").str.strip_chars().str.to_uppercase() != pl.col("scac"))
        | ((instant("SHIP_TS") - instant("pickup_at")).dt.total_seconds().abs() > 60)
    )
    add("shipment-wms-vs-tms", [(f"shipment_id={s}", "") for s in broken["SHIPMENT_NO"]])
    known = set(read(tenant, "erp/carriers.csv")["Scac"])
    add("shipment-carrier-known", [(s, "") for s in set(tms["scac"]) - known])
    late = tms.filter(instant("delivered_at") < instant("pickup_at"))
    add("shipment-delivered-after-pickup", [(f"shipment_id={s}", "") for s in late["shipment_ref"]])
    wms_skus = set(wms_items["SKU"])
    lines = read(tenant, "wms/shipment_lines.csv").filter(~pl.col("SKU").is_in(wms_skus))
    add(
        "shipment-line-item-known",
        [
            (f"shipment_id={r[0]}, line_no={r[1]}", "")
            for r in lines.select("SHIPMENT_NO", "LINE_NO").rows()
        ],
    )
    stock = read(tenant, "wms/inventory.csv").filter(~pl.col("SKU").is_in(wms_skus))
    add(
        "stock-item-known",
        [
            (f"location_id={r[0]}, item_id={r[1]}", "")
            for r in stock.select("WAREHOUSE", "SKU").rows()
        ],
    )
    bad_items = erp_items.filter(
        (pl.col("WeightKg").cast(pl.Float64) <= 0) | ~pl.col("Uom").is_in(["EA", "CS", "PL", "KG"])
    )
    add("item-weight-positive", [(s, "") for s in bad_items["SKU"]])

    customers = read(tenant, "erp/customers.csv")
    repeated = customers.group_by("CustomerId").len().filter(pl.col("len") > 1)
    add("customer-duplicates", [(f"customer_id={c}", "") for c in repeated["CustomerId"]])
    for block in customers.unique("CustomerId").partition_by("PostalCode"):
        rows = sorted(block.select("CustomerId", "CustomerName").rows())
        for i, (low, low_name) in enumerate(rows):
            for high, high_name in rows[i + 1 :]:
                if similarity(low_name, high_name) >= 0.85:
                    add("customer-duplicates", [(f"customer_id={low}|{high}", "near")])

    bills = read(tenant, "finance/freight_invoices.csv")
    twice = bills.group_by("vendor_scac", "carrier_invoice_no").len().filter(pl.col("len") > 1)
    add(
        "carrier-invoice-billed-twice",
        [(f"carrier_scac={s}, carrier_invoice_no={n}", "") for s, n, _ in twice.iter_rows()],
    )

    rank = {status: position for position, status in enumerate(LIFECYCLE)}
    events = read(tenant, "tms/shipment_events.csv").with_columns(
        rank=pl.col("status").replace_strict(rank, return_dtype=pl.Int64)
    )
    backwards = (
        events.sort("shipment_ref", instant("recorded_at"))
        .with_columns(step=pl.col("rank").diff().over("shipment_ref"))
        .filter(pl.col("step") < 0)
    )
    add("shipment-status-sequence", [(f"shipment_id={s}", "") for s in backwards["shipment_ref"]])

    by = ["carrier_scac", "carrier_invoice_no"]
    billed = bills.group_by(carrier_scac="vendor_scac", carrier_invoice_no="carrier_invoice_no")
    rated = tms.group_by(carrier_scac="scac", carrier_invoice_no="carrier_invoice_no")
    add(
        "carrier-invoice-vs-rated-cost",
        totals_differ(
            billed.agg(l=cents("amount").sum()), rated.agg(r=cents("freight_cost").sum()), by, by
        ),
    )

    integer = pl.Int64
    ordered = read(tenant, "erp/sales_order_lines.csv").group_by(o="OrderNumber", n="LineNumber")
    shipped = read(tenant, "wms/shipment_lines.csv").group_by(o="ORDER_NO", n="ORDER_LINE")
    invoiced = read(tenant, "finance/ar_invoices.csv").group_by(o="order_no", n="order_line_no")
    open_qty = (pl.col("Quantity").cast(integer) - pl.col("BackorderQuantity").cast(integer)).sum()
    add(
        "short-shipment-without-backorder",
        totals_differ(
            ordered.agg(l=open_qty),
            shipped.agg(r=pl.col("QTY_SHIPPED").cast(integer).sum()),
            ["o", "n"],
            ["order_id", "line_no"],
        ),
    )
    add(
        "shipped-not-invoiced",
        totals_differ(
            shipped.agg(l=pl.col("QTY_SHIPPED").cast(integer).sum()),
            invoiced.agg(r=pl.col("qty").cast(integer).sum()),
            ["o", "n"],
            ["order_id", "order_line_no"],
        ),
    )

    off = ledger_minus_stock_value(tenant).filter(pl.col("difference") != 0)
    add("inventory-value-vs-ledger", [(f"location_id={s}", "") for s in off["location"]])
    return found
