"""Findings ordered by what matters most, and money at risk totalled by a dimension.

Every report orders findings the same way, so an exception at the top of the
executive report is also among the first rows of its rule in the run report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

SEVERITIES = ("critical", "high", "medium", "low")
_SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}

# Ageing buckets: label, first day, last day (None: no upper bound).
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-7 days", 0, 7),
    ("8-30 days", 8, 30),
    ("31-90 days", 31, 90),
    ("over 90 days", 91, None),
)


def at_risk(rows: Iterable[dict]) -> Decimal:
    """The money at risk of findings (or actions); a row without money adds nothing."""
    return sum((row["amount_at_risk"] or Decimal(0) for row in rows), Decimal(0))


def exception_order(finding: dict) -> tuple:
    """Most money first, then the most severe, then by rule and business key."""
    amount = finding["amount_at_risk"] or Decimal(0)
    severity = _SEVERITY_RANK.get(finding["severity"], len(SEVERITIES))
    return (-amount, severity, finding["rule_id"], finding["key"] or "", finding["finding_id"])


@dataclass(frozen=True)
class Rank:
    """One row of a ranking: a name, its findings and their money at risk."""

    name: str
    findings: int
    amount: Decimal
    share: float  # percent of the largest amount in the ranking, for its bar


def rank_by(findings: Iterable[dict], name_of: Callable[[dict], str]) -> list[Rank]:
    """Totals per name, the most money at risk first, then the most findings."""
    totals: dict[str, list] = {}
    for finding in findings:
        entry = totals.setdefault(name_of(finding), [0, Decimal(0)])
        entry[0] += 1
        entry[1] += finding["amount_at_risk"] or Decimal(0)
    largest = max((amount for _, amount in totals.values()), default=Decimal(0))
    ranks = [
        Rank(name, number, amount, round(float(amount / largest) * 100, 1) if largest else 0.0)
        for name, (number, amount) in totals.items()
    ]
    return sorted(ranks, key=lambda rank: (-rank.amount, -rank.findings, rank.name))


def age_bucket(age_days: int) -> str:
    for label, _, last in AGE_BUCKETS:
        if last is None or age_days <= last:
            return label
    return AGE_BUCKETS[-1][0]


def system_pair(finding: dict) -> str:
    """`erp ↔ wms` from `erp+wms`; `erp only` for findings within one system."""
    systems = (finding["systems"] or "unknown").split("+")
    return " \N{LEFT RIGHT ARROW} ".join(systems) if len(systems) > 1 else f"{systems[0]} only"


def owner_of(finding: dict) -> str:
    return finding["owner_system"] or "no single owner"
