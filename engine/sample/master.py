"""Master data of the Harborline sample tenant: locations, carriers, items, customers, stock.
Every builder is vectorised over rows and draws from the one generator it is given."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

PERIOD_START = int(dt.datetime(2026, 11, 1, tzinfo=dt.UTC).timestamp())
DAY = 86_400
HOUR = 3_600
MINUTE = 60
# The WMS counts stock at this instant; each warehouse writes it in its own time zone.
SNAPSHOT_AT = PERIOD_START + 29 * DAY + 23 * HOUR
INVENTORY_ACCOUNT = "1300"
KG_PER_LB = 0.45359237


@dataclass(frozen=True)
class Location:
    code: str
    name: str
    city: str
    utc_offset_hours: int


LOCATIONS = (
    Location("WH01", "Newark Cross-Dock", "Newark NJ", -5),
    Location("WH02", "Joliet Distribution Center", "Joliet IL", -6),
    Location("WH03", "Denver Regional Warehouse", "Denver CO", -7),
    Location("WH04", "Ontario Fulfillment Center", "Ontario CA", -8),
)

# Fictional carriers; the codes follow the four-letter SCAC shape.
CARRIERS = (
    ("NRTH", "North Ridge Transport"),
    ("PCFX", "Pacific Crest Express"),
    ("GLKF", "Great Lakes Freightways"),
    ("SBLT", "Southern Belt Logistics"),
    ("ATLX", "Atlantic Express Lines"),
    ("PRXL", "Prairie Express Lines"),
)

HUBS = np.array(["Columbus OH", "Memphis TN", "Kansas City MO", "Salt Lake City UT", "Dallas TX"])
CITIES = np.array(
    [
        "Baltimore MD", "Boston MA", "Charlotte NC", "Cleveland OH", "Detroit MI",
        "Houston TX", "Indianapolis IN", "Jacksonville FL", "Louisville KY", "Milwaukee WI",
        "Minneapolis MN", "Nashville TN", "Omaha NE", "Phoenix AZ", "Pittsburgh PA",
        "Portland OR", "Richmond VA", "Sacramento CA", "Savannah GA", "Seattle WA",
        "Spokane WA", "St Louis MO", "Tacoma WA", "Tampa FL", "Tulsa OK",
    ]
)  # fmt: skip

_NAME_FIRST = np.array(
    ["Cedar", "Granite", "Summit", "Riverside", "Lakeshore", "Ironwood", "Silver", "Redstone",
     "Bluegrass", "Pinecrest", "Copper", "Highland", "Maple", "Seaboard", "Prairie", "Keystone"]
)  # fmt: skip
_NAME_SECOND = np.array(
    ["Valley", "Harbor", "Ridge", "Point", "Bay", "Creek", "Field", "Gate", "Hill", "Mill"]
)
_NAME_TRADE = np.array(
    ["Foods", "Hardware", "Marine", "Industrial", "Medical", "Auto Parts", "Building Supply",
     "Electric", "Farm Supply", "Office Products", "Packaging", "Restaurant Supply"]
)  # fmt: skip
_NAME_FORM = np.array(["Inc", "LLC", "Co", "Corp", "Group", "Partners"])

_ITEM_GRADE = np.array(
    ["Heavy-Duty", "Standard", "Compact", "Industrial", "Premium", "Economy", "Marine-Grade"]
)
_ITEM_MATERIAL = np.array(
    ["Steel", "Aluminum", "Polymer", "Oak", "Galvanized", "Stainless", "Rubber", "Nylon"]
)
_ITEM_PRODUCT = np.array(
    ["Shelf Bracket", "Pallet Jack", "Hand Truck", "Storage Bin", "Tie-Down Strap",
     "Dock Plate", "Drum Dolly", "Wire Deck", "Ladder", "Tool Cabinet", "Caster Set",
     "Strapping Kit", "Bumper Guard", "Safety Cone", "Hose Reel", "Work Bench"]
)  # fmt: skip
_UOMS = np.array(["EA", "CS", "PL", "KG"])


@dataclass(frozen=True)
class Sizes:
    """How many of each master record a tenant with `orders` orders has."""

    orders: int

    @property
    def customers(self) -> int:
        return max(50, self.orders // 5)

    @property
    def items(self) -> int:
        return min(50_000, max(200, self.orders // 20))

    @property
    def customer_id_width(self) -> int:
        # Room for the customers an injection appends, so every id has the same width.
        return max(5, len(str(self.customers + 10)))


def _pick(rng: np.random.Generator, words: np.ndarray, n: int) -> pl.Series:
    return pl.Series(words[rng.integers(0, len(words), n)], dtype=pl.String)


def _phrase(*parts: pl.Series) -> pl.Series:
    return pl.select(pl.concat_str(parts, separator=" ")).to_series()


def _hyphenated(column: str, at: int) -> pl.Expr:
    """Digits with a hyphen after the first `at`: 123456789 -> '12345-6789' for at=5."""
    digits = pl.col(column).cast(pl.String)
    return pl.concat_str([digits.str.slice(0, at), digits.str.slice(at)], separator="-")


def items(rng: np.random.Generator, sizes: Sizes) -> pl.DataFrame:
    """One row per item: id, description, grams, cents, uom, whether it is stocked and sold.

    A few items are inactive (no stock, no orders), so an injection can take one away
    from a system without causing any other finding.
    """
    n = sizes.items
    # Ids below 100000 are always zero-padded in the ERP's six digits.
    item_id = np.sort(rng.choice(np.arange(1, 100_000), size=n, replace=False))
    description = _phrase(
        _pick(rng, _ITEM_GRADE, n), _pick(rng, _ITEM_MATERIAL, n), _pick(rng, _ITEM_PRODUCT, n)
    )
    # Two kilograms and more keep pounds rounded to cents within 0.12 % of the kilograms.
    grams = np.rint(np.exp(rng.uniform(np.log(2.0), np.log(400.0), n)) * 1000).astype(np.int64)
    cost = np.rint(np.exp(rng.uniform(np.log(1.5), np.log(450.0), n)) * 100).astype(np.int64)
    price = np.rint(cost * rng.uniform(1.25, 1.9, n)).astype(np.int64)
    inactive = np.zeros(n, dtype=bool)
    inactive[rng.choice(n, size=max(2, n // 20), replace=False)] = True
    updated = PERIOD_START + rng.integers(0, 2 * DAY // MINUTE, n) * MINUTE
    return pl.DataFrame(
        {
            "item_id": item_id,
            "description": description,
            "grams": grams,
            "unit_cost": cost,
            "unit_price": price,
            "uom": rng.choice(_UOMS, size=n, p=[0.55, 0.25, 0.1, 0.1]).astype(object),
            "updated_at": updated,
            "active": ~inactive,
        }
    )


def customers(rng: np.random.Generator, sizes: Sizes) -> pl.DataFrame:
    """Customers with unique tax ids and postal codes, and names made unique by a number."""
    n = sizes.customers
    number = np.arange(1, n + 1)
    name = _phrase(
        _pick(rng, _NAME_FIRST, n),
        _pick(rng, _NAME_SECOND, n),
        _pick(rng, _NAME_TRADE, n),
        pl.Series(number).cast(pl.String),
        _pick(rng, _NAME_FORM, n),
    )
    # ZIP+4 codes and tax ids drawn without repetition: one customer per postal code.
    postal = rng.choice(900_000_000, size=n, replace=False) + 100_000_000
    tax = rng.choice(900_000_000, size=n, replace=False) + 100_000_000
    city = _pick(rng, CITIES, n)
    frame = pl.DataFrame({"number": number, "name": name, "tax": tax, "city": city})
    return frame.with_columns(postal=postal).select(
        CustomerId=pl.lit("C")
        + pl.col("number").cast(pl.String).str.zfill(sizes.customer_id_width),
        CustomerName="name",
        TaxId=_hyphenated("tax", 2),
        City="city",
        PostalCode=_hyphenated("postal", 5),
        Country=pl.lit("US"),
    )


def inventory(rng: np.random.Generator, item_frame: pl.DataFrame) -> pl.DataFrame:
    """On-hand quantity per (warehouse, active item); every active item is stocked somewhere."""
    active = item_frame.filter("active")["item_id"].to_numpy()
    stocked = rng.random((len(active), len(LOCATIONS))) < 0.6
    stocked[np.arange(len(active)), rng.integers(0, len(LOCATIONS), len(active))] = True
    item_index, location_index = np.nonzero(stocked)
    codes = np.array([loc.code for loc in LOCATIONS], dtype=object)
    frame = pl.DataFrame(
        {
            "WAREHOUSE": codes[location_index],
            "SKU": active[item_index],
            "ON_HAND_QTY": rng.integers(1, 600, len(item_index)),
        }
    )
    return frame.sort("WAREHOUSE", "SKU").with_columns(SNAPSHOT_TS=pl.lit(SNAPSHOT_AT))


def master_tables(
    rng: np.random.Generator, sizes: Sizes
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """The master-data files of every system, and the item frame the flows draw from."""
    item_frame = items(rng, sizes)
    erp_items = item_frame.select(
        ItemNumber="item_id",
        Description="description",
        WeightKg="grams",
        UnitCost="unit_cost",
        UnitPrice="unit_price",
        Uom="uom",
        UpdatedAt="updated_at",
    )
    centi_lb = (pl.col("grams") / 1000 / KG_PER_LB * 100).round(0).cast(pl.Int64)
    sku_master = item_frame.select(
        SKU="item_id", DESCRIPTION="description", WEIGHT_LB=centi_lb, UOM="uom"
    )
    carriers = pl.DataFrame(
        {"Scac": [c[0] for c in CARRIERS], "CarrierName": [c[1] for c in CARRIERS]}
    )
    tables = {
        "erp/items.csv": erp_items,
        "erp/customers.csv": customers(rng, sizes),
        "erp/locations.csv": pl.DataFrame(
            {
                "LocationCode": [loc.code for loc in LOCATIONS],
                "LocationName": [loc.name for loc in LOCATIONS],
                "GlAccount": [INVENTORY_ACCOUNT] * len(LOCATIONS),
            }
        ),
        "erp/carriers.csv": carriers,
        "wms/sku_master.csv": sku_master,
        "wms/inventory.csv": inventory(rng, item_frame),
        "tms/carriers.csv": carriers.rename({"Scac": "scac", "CarrierName": "carrier_name"}),
    }
    return tables, item_frame
