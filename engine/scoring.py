"""Precision and recall of a run's findings against a workspace's known discrepancies."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from tallyclerk.errors import ConfigError

EXPECTED_FILE = "expected_findings.csv"
# What makes two findings the same discrepancy.
IDENTITY = ("kind", "rule_id", "entity", "key", "field", "systems")


@dataclass(frozen=True)
class Score:
    expected: int
    found: int
    true_positives: int
    missed: tuple[tuple[str, ...], ...]
    unexpected: tuple[tuple[str, ...], ...]

    @property
    def precision(self) -> float:
        return self.true_positives / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.expected if self.expected else 1.0


def check_expected_file(folder: Path) -> None:
    """Refuse a malformed expected_findings.csv before a run starts, not after."""
    path = folder / EXPECTED_FILE
    if path.is_file():
        with path.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
        missing = [name for name in IDENTITY if name not in header]
        if missing:
            raise ConfigError(
                f"{path}: missing column(s) {', '.join(missing)}; the header must name "
                f"{', '.join(IDENTITY)}. Fix or remove the file."
            )


def score_findings(folder: Path, findings: pa.Table, *, period: str) -> Score | None:
    """Compare with `expected_findings.csv` in `folder`.

    Rows with a `period` column count only for that period; None when no row applies.
    """
    check_expected_file(folder)
    path = folder / EXPECTED_FILE
    if not path.is_file():
        return None
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("period") in (None, "", period)]
    if not rows:
        return None
    expected = {tuple(row[name] or "" for name in IDENTITY) for row in rows}
    found = {
        tuple(row[name] or "" for name in IDENTITY)
        for row in findings.select(list(IDENTITY)).to_pylist()
    }
    hits = expected & found
    return Score(
        expected=len(expected),
        found=len(found),
        true_positives=len(hits),
        missed=tuple(sorted(expected - found)),
        unexpected=tuple(sorted(found - expected)),
    )
