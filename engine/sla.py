"""Resolution targets: how long a finding may stay open, per severity and per rule.

A target is written as `1 business day`, `5d`, `3 days` or `2 business days`; a
rule's target wins over its severity's. A finding is due on the day it was first
seen plus its target (business days skip Saturdays and Sundays), and breached when a
run on a later day still finds it open. Waived findings are never breached: the
waiver is the decision to let them wait.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Annotated, TypeVar

import pyarrow as pa
from pydantic import AfterValidator, BaseModel, ConfigDict

SLA_FIELDS = (pa.field("sla_due", pa.date32()), pa.field("sla_breached", pa.bool_()))

T = TypeVar("T")

_TARGET = re.compile(r"^\s*(\d+)\s*(?:(business|b)\s*)?(?:d|days?)\s*$", re.IGNORECASE)
_TARGET_HELP = "write a target as `1 business day`, `5d`, `3 days` or `2 business days`"
# Ten years: a longer target is a typo, and dates past 9999 would overflow.
MAX_DAYS = 3650


@dataclass(frozen=True)
class Target:
    days: int
    business: bool

    def due(self, opened: date) -> date:
        if not self.business:
            return opened + timedelta(days=self.days)
        day, left = opened, self.days
        while left > 0:
            day += timedelta(days=1)
            if day.weekday() < 5:
                left -= 1
        return day

    def __str__(self) -> str:
        unit = "business day" if self.business else "day"
        return f"{self.days} {unit}{'' if self.days == 1 else 's'}"


def parse_target(
    text: str | int, *, what: str = "resolution target", hint: str = _TARGET_HELP
) -> Target:
    """`1 business day` to Target(1, business=True); a bare number counts calendar days."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"{text!r} is negative; {hint}")
        target = Target(text, business=False)
    else:
        match = _TARGET.match(str(text))
        if match is None:
            raise ValueError(f"{text!r} is not a {what}; {hint}")
        target = Target(int(match[1]), business=match[2] is not None)
    if target.days > MAX_DAYS:
        raise ValueError(f"{text!r} is too long; write at most {MAX_DAYS} days")
    return target


def _checked(value: str | int) -> str | int:
    parse_target(value)
    return value


# A target as written; checked when the workspace loads so a run never meets a bad one.
TargetText = Annotated[str | int, AfterValidator(_checked)]


class SlaConfig(BaseModel):
    """`sla` in tallyclerk.yaml: targets by severity, and by rule id under `rules`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    critical: TargetText | None = None
    high: TargetText | None = None
    medium: TargetText | None = None
    low: TargetText | None = None
    rules: dict[str, TargetText] = {}

    def target(self, rule_id: str, severity: str) -> Target | None:
        """The target of a rule's findings, None when neither rule nor severity has one."""
        text = self.rules.get(rule_id, getattr(self, severity, None))
        return None if text is None else parse_target(text)


def with_targets(
    findings: pa.Table, sla: SlaConfig, *, opened: dict[str, date], today: date
) -> pa.Table:
    """`sla_due` and `sla_breached` of each finding; `opened` is the day each was first seen
    by a run (the run's calendar day, not its as-of day), `today` the run's day."""
    due, breached = [], []
    columns = ["finding_id", "rule_id", "severity", "status", "waived_until"]
    for row in findings.select(columns).to_pylist():
        target = sla.target(row["rule_id"], row["severity"])
        if target is None:
            due.append(None)
            breached.append(None)
            continue
        day = target.due(opened.get(row["finding_id"], today))
        due.append(day)
        still_open = row["status"] != "resolved" and row["waived_until"] is None
        breached.append(still_open and today > day)
    for column, values in zip(SLA_FIELDS, (due, breached), strict=True):
        if column.name in findings.column_names:
            findings = findings.drop_columns([column.name])
        findings = findings.append_column(column, pa.array(values, column.type))
    return findings


def apply_targets(con: sqlite3.Connection, found: T, sla: SlaConfig, today: date) -> T:
    """A run's lifecycle (findings and resolved) with the target columns filled in."""
    opened = opened_days(con, found.findings, today)
    return replace(
        found,
        findings=with_targets(found.findings, sla, opened=opened, today=today),
        resolved=with_targets(found.resolved, sla, opened=opened, today=today),
    )


def opened_days(con: sqlite3.Connection, findings: pa.Table, run_day: date) -> dict[str, date]:
    """The calendar day each finding's current stretch opened: the day of the last run that
    found it new or reopened (this run's for those it finds so)."""
    opened = {
        row["finding_id"]: date.fromisoformat(row["run_date"])
        for row in con.execute(
            "SELECT h.finding_id, r.run_date FROM finding_history h "
            "JOIN runs r ON r.run_id = h.run_id "
            "WHERE h.status IN ('new', 'reopened') ORDER BY r.seq"
        )
    }
    rows = findings.select(["finding_id", "status"]).to_pylist()
    return {
        row["finding_id"]: run_day
        if row["status"] in ("new", "reopened")
        else opened.get(row["finding_id"], run_day)
        for row in rows
    }
