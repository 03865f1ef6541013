"""Two versions of one table as Parquet: 10 columns, 1 % of rows missing on each side, and
1 % of the rows both sides hold with one drifted value. Written by DuckDB, never via Python rows.

    python -m bench.generate OUT_DIR --rows 10000000
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)

# The columns both versions have, besides the key `id`, by how each is made from the row number.
_COLUMNS = {
    "sku": "'SKU-' || lpad(CAST(i % 250000 AS VARCHAR), 7, '0')",
    "description": "'Pallet item ' || CAST(i % 9973 AS VARCHAR)",
    "warehouse": "'WH' || CAST(i % 17 AS VARCHAR)",
    "status": "['OPEN', 'PICKED', 'SHIPPED', 'INVOICED'][1 + i % 4]",
    "quantity": "CAST(i % 1000 AS BIGINT)",
    "unit_cost": "CAST((i % 100000) / 100.0 AS DECIMAL(18, 2))",
    "weight_kg": "CAST((i % 5000) / 10.0 AS DOUBLE)",
    "ship_date": "DATE '2026-01-01' + CAST(i % 365 AS INTEGER)",
    "updated_at": "TIMESTAMP '2026-01-01 00:00:00' + to_seconds(i % 31536000)",
}
# Which column a drifted row changes, and how: the row number picks one of these.
_DRIFTS = {
    "sku": "sku || '-X'",
    "description": "upper(description)",
    "warehouse": "'WH99'",
    "status": "'CANCELLED'",
    "quantity": "quantity + 1",
    "unit_cost": "CAST(unit_cost + 0.01 AS DECIMAL(18, 2))",
    "weight_kg": "weight_kg * 1.5",
    "ship_date": "ship_date + 1",
    "updated_at": "updated_at + INTERVAL 1 HOUR",
}


def generate(folder: Path, rows: int) -> tuple[Path, Path]:
    """`left.parquet` and `right.parquet` in `folder`, of about `rows` rows each."""
    folder.mkdir(parents=True, exist_ok=True)
    left, right = folder / "left.parquet", folder / "right.parquet"
    con = duckdb.connect()
    base = ", ".join(f"{sql} AS {name}" for name, sql in _COLUMNS.items())
    con.execute(
        f"CREATE VIEW base AS SELECT 'ID' || CAST(i AS VARCHAR) AS id, i, {base} "
        f"FROM range({int(rows)}) r(i)"
    )
    # Row numbers ending in 00 are missing on the right, in 50 missing on the left; the
    # drifted rows (ending in 25) change the column their hundreds pick.
    columns = list(_COLUMNS)
    drifted = ", ".join(
        f"CASE WHEN i % 100 = 25 AND (i // 100) % {len(columns)} = {position} "
        f"THEN {_DRIFTS[name]} ELSE {name} END AS {name}"
        for position, name in enumerate(columns)
    )
    con.execute(
        f"COPY (SELECT id, {', '.join(columns)} FROM base WHERE i % 100 <> 50) "
        f"TO '{left}' (FORMAT parquet)"
    )
    con.execute(
        f"COPY (SELECT id, {drifted} FROM base WHERE i % 100 <> 0) TO '{right}' (FORMAT parquet)"
    )
    con.close()
    log.info("wrote %s and %s with %d rows each, less 1 %%", left, right, rows)
    return left, right


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--rows", type=int, default=1_000_000)
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    generate(options.folder, options.rows)


if __name__ == "__main__":
    main()
