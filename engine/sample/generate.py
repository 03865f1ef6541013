"""Generate the Harborline Distribution sample tenant: four systems' files for November 2026,
with a known set of discrepancies and the findings they must produce."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import astuple, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from tallyclerk.errors import ConfigError

from .flows import flow_tables
from .formats import render
from .injections import LEDGER, OPERATIONAL, Expected, Picker
from .ledger import ledger_tables
from .master import Sizes, master_tables

logger = logging.getLogger(__name__)

CONFIG = Path(__file__).with_name("tallyclerk.yaml")
EXPECTED_FINDINGS = "expected_findings.csv"
SAMPLE_PERIOD = "2026-11"
MIN_ORDERS = 50
# Order and shipment numbers have seven digits.
MAX_ORDERS = 9_999_999


@dataclass(frozen=True)
class GenerationSummary:
    """What `generate` wrote: data files with their row counts, and the injected discrepancies."""

    out_dir: Path
    files: tuple[tuple[str, int], ...]
    injected: int
    expected_findings: int

    def rows(self, path: str) -> int:
        return dict(self.files)[path]


def generate(
    out_dir: Path,
    *,
    orders: int = 2000,
    seed: int = 7,
    progress: Callable[[str], None] | None = None,
) -> GenerationSummary:
    """Write the sample tenant under `out_dir`; the same seed and orders give the same bytes."""
    if not MIN_ORDERS <= orders <= MAX_ORDERS:
        raise ConfigError(
            f"sample generator: orders={orders} is out of range; use {MIN_ORDERS} (enough to "
            f"plant every discrepancy) to {MAX_ORDERS:,} (seven-digit order numbers)."
        )
    say = progress or (lambda message: None)
    rng = np.random.default_rng(seed)
    sizes = Sizes(orders)

    say(f"building master data and {orders:,} orders")
    tables, item_frame = master_tables(rng, sizes)
    customer_ids = tables["erp/customers.csv"]["CustomerId"]
    tables |= flow_tables(rng, orders, item_frame, customer_ids)

    say("planting discrepancies")
    pick = Picker(rng)
    expected = [row for inject in OPERATIONAL for row in inject(tables, pick)]
    tables |= ledger_tables(rng, tables)
    expected += [row for inject in LEDGER for row in inject(tables, pick)]

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(tables):
        table = tables.pop(path)
        _write(render(path, table), out_dir / path)
        written.append((path, table.height))
        say(f"wrote {path}: {table.height:,} rows")
    _write(_expected_frame(expected), out_dir / EXPECTED_FINDINGS)
    written.append((EXPECTED_FINDINGS, len(expected)))
    if not (out_dir / "tallyclerk.yaml").exists():
        shutil.copyfile(CONFIG, out_dir / "tallyclerk.yaml")

    logger.info("sample tenant: %d files, %d expected findings", len(written), len(expected))
    return GenerationSummary(
        out_dir=out_dir,
        files=tuple(written),
        injected=len(OPERATIONAL) + len(LEDGER),
        expected_findings=len(expected),
    )


def _expected_frame(expected: list[Expected]) -> pl.DataFrame:
    columns = list(Expected.__dataclass_fields__)
    frame = pl.DataFrame([astuple(row) for row in sorted(expected)], schema=columns, orient="row")
    # An empty field is written as nothing at all, not as "". The planted discrepancies
    # belong to the sample's one period.
    return frame.with_columns(pl.col("field").replace("", None), period=pl.lit(SAMPLE_PERIOD))


def _write(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(path, line_terminator="\n")
