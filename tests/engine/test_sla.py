"""Resolution targets: findings past theirs are breached; the monthly SLA report counts them."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from engine.catalog import Catalog
from engine.config import load_workspace
from engine.sla import SlaConfig, Target, parse_target
from engine.sla_month import sla_month
from reports.sla_report import sla_csv
from tallyclerk.errors import ConfigError
from tests.engine.harborline import edit_rows, make_tenant, run

SLA = {
    "critical": "1 business day",
    "high": "5d",
    "medium": "2 business days",
    "rules": {"customer-duplicates": "3 days"},
}


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("1 business day", Target(1, business=True)),
        ("5d", Target(5, business=False)),
        ("3 days", Target(3, business=False)),
        ("2 business days", Target(2, business=True)),
        (7, Target(7, business=False)),
    ],
)
def test_targets_are_read_in_days_or_business_days(text: str | int, target: Target) -> None:
    assert parse_target(text) == target


def test_business_days_skip_the_weekend() -> None:
    friday = date(2026, 11, 6)

    assert Target(1, business=True).due(friday) == date(2026, 11, 9)
    assert Target(1, business=False).due(friday) == date(2026, 11, 7)


def test_a_rule_target_wins_over_its_severity() -> None:
    sla = SlaConfig.model_validate(SLA)

    assert sla.target("customer-duplicates", "medium") == Target(3, business=False)
    assert sla.target("other", "medium") == Target(2, business=True)
    assert sla.target("other", "low") is None


def test_a_target_that_is_no_duration_fails_at_load_naming_the_key(tmp_path: Path) -> None:
    folder = make_tenant(tmp_path / "t", sla={"critical": "soon"})

    with pytest.raises(ConfigError) as caught:
        load_workspace(folder)

    assert "sla.critical: 'soon' is not a resolution target; write a target as" in str(caught.value)


@pytest.mark.parametrize("target", ["3000000d", "99999999999d", 99999999999])
def test_a_target_too_long_to_reach_a_date_fails_at_load(tmp_path: Path, target: str | int) -> None:
    folder = make_tenant(tmp_path / "t", sla={"critical": target})

    with pytest.raises(ConfigError) as caught:
        load_workspace(folder)

    assert f"sla.critical: {target!r} is too long; write at most 3650 days" in str(caught.value)


def test_a_rule_target_names_its_key_once(tmp_path: Path) -> None:
    folder = make_tenant(tmp_path / "t", sla={"rules": {"customer-duplicates": "soon"}})

    with pytest.raises(ConfigError) as caught:
        load_workspace(folder)

    assert "  sla.rules.customer-duplicates: 'soon' is not a resolution target" in str(caught.value)


def test_a_target_for_an_unknown_rule_fails_at_load(tmp_path: Path) -> None:
    folder = make_tenant(tmp_path / "t", sla={"rules": {"no-such-rule": "2d"}})

    with pytest.raises(ConfigError, match=r"sla\.rules\.no-such-rule: no rule has the id"):
        load_workspace(folder)


def test_breaches_in_runs_and_in_the_monthly_report(tmp_path: Path) -> None:
    folder = make_tenant(tmp_path / "t", sla=SLA)

    # Monday 2 November: everything is new, nothing is due yet.
    first = run(folder, 2, month=11)
    assert not any(first.findings["sla_breached"].to_pylist())
    severities = Counter(first.findings["severity"].to_pylist())
    assert severities == {"high": 14, "critical": 3, "medium": 3}

    # Friday 6 November: critical findings were due on the 3rd, medium ones on the 4th,
    # customer duplicates (a rule's own target) on the 5th; high ones are due on the 7th.
    second = run(folder, 6, month=11)
    breached = Counter(
        (row["severity"], row["sla_due"])
        for row in second.findings.to_pylist()
        if row["sla_breached"]
    )
    assert breached == {
        ("critical", date(2026, 11, 3)): 3,
        ("medium", date(2026, 11, 5)): 2,
        ("medium", date(2026, 11, 4)): 1,
    }

    # The repeated customer record is removed; Monday 9 November every open finding is late.
    seen: set[str] = set()

    def first_only(row: dict) -> dict | None:
        if row["CustomerId"] in seen:
            return None
        seen.add(row["CustomerId"])
        return row

    assert edit_rows(folder / "erp/customers.csv", first_only) == 1
    third = run(folder, 9, month=11)
    assert third.resolved["rule_id"].to_pylist() == ["customer-duplicates"]
    assert sum(third.findings["sla_breached"].to_pylist()) == 19

    with Catalog(folder) as catalog:
        november = sla_month(
            catalog, load_workspace(folder).config.sla, "2026-11", workspace="H", folder="t"
        )
        december = sla_month(catalog, load_workspace(folder).config.sla, "2026-12", workspace="H")
    total = november.total
    assert (total.opened, total.resolved, total.median_days) == (20, 1, 7)
    # Resolved on the 9th against a target day of the 5th: late, so a breach too.
    assert (total.resolved_in_target, total.breaches) == (0, 20)
    medium = november.by_severity["medium"]
    assert (medium.opened, medium.resolved, medium.breaches) == (3, 1, 3)
    assert (december.total.opened, december.total.breaches) == (0, 0)

    rows = list(csv.DictReader(io.StringIO(sla_csv([november]))))
    assert rows[0] == {
        "workspace": "H",
        "folder": "t",
        "month": "2026-11",
        "severity": "all",
        "opened": "20",
        "resolved": "1",
        "median_days_to_resolve": "7",
        "resolved_in_target": "0",
        "breaches": "20",
    }
    assert [row["severity"] for row in rows] == ["all", "critical", "high", "medium", "low"]
