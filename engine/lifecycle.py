"""Findings across runs: new, persisting, reopened or resolved, their age, and waivers.

Each run is compared with the workspace's previous run, whatever its period. A
finding is new the first time its id is seen, persisting when the previous run
had it open, reopened when it was seen before but not in the previous run, and
resolved when the previous run had it open and this run does not find it. It is
first seen on the as-of day of the run that first found it, and aged to the as-of
day of each later run. A waiver suppresses a finding (or every finding of a rule
for one key) until a date, inclusive: the finding stays listed, marked waived, and
is open again in the first run after that date.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

import pyarrow as pa
import pyarrow.compute as pc

from .causes import CAUSE_FIELDS
from .findings import FINDINGS_SCHEMA
from .sla import SLA_FIELDS

STATUSES = ("new", "persisting", "reopened", "resolved")


class StatusFilter(StrEnum):
    """What `select` filters findings by: a lifecycle status, waived, or open (not waived)."""

    new = "new"
    persisting = "persisting"
    reopened = "reopened"
    resolved = "resolved"
    waived = "waived"
    open = "open"


LIFECYCLE_FIELDS = (
    pa.field("status", pa.string()),
    pa.field("first_seen_run", pa.string()),
    pa.field("first_seen", pa.date32()),
    pa.field("age_days", pa.int32()),
    pa.field("waived_until", pa.date32()),
    pa.field("waiver_reason", pa.string()),
)
# Root causes are linked before the lifecycle, SLA targets after it (see `engine.run`).
RUN_FINDINGS_SCHEMA = pa.schema([*FINDINGS_SCHEMA, *LIFECYCLE_FIELDS, *CAUSE_FIELDS, *SLA_FIELDS])


@dataclass(frozen=True)
class Waiver:
    waiver_id: int
    finding_id: str | None
    rule_id: str | None
    key: str | None
    until: date
    reason: str

    def covers(self, finding: dict) -> bool:
        if self.finding_id is not None:
            return finding["finding_id"] == self.finding_id
        return finding["rule_id"] == self.rule_id and finding["key"] == self.key


@dataclass(frozen=True)
class Lifecycle:
    """One run's findings classified against the previous run."""

    baseline: str | None
    findings: pa.Table
    resolved: pa.Table
    waived: dict[str, int] = field(default_factory=dict)

    def reopened(self) -> set[str]:
        """Ids of the findings that were resolved before and are found again."""
        statuses = self.findings.select(["finding_id", "status"]).to_pylist()
        return {row["finding_id"] for row in statuses if row["status"] == "reopened"}

    def counts(self) -> dict[str, int]:
        counts = {status: 0 for status in STATUSES}
        for status in self.findings["status"].to_pylist():
            counts[status] += 1
        counts["resolved"] = self.resolved.num_rows
        counts["waived"] = len(self.waived)
        return counts


def latest_run(con: sqlite3.Connection) -> str | None:
    row = con.execute("SELECT run_id FROM runs ORDER BY seq DESC LIMIT 1").fetchone()
    return row["run_id"] if row else None


def active_waivers(con: sqlite3.Connection, on: date) -> list[Waiver]:
    rows = con.execute(
        "SELECT * FROM waivers WHERE revoked_at IS NULL AND until >= ? ORDER BY waiver_id",
        (on.isoformat(),),
    )
    return [
        Waiver(
            r["waiver_id"],
            r["finding_id"],
            r["rule_id"],
            r["key"],
            date.fromisoformat(r["until"]),
            r["reason"],
        )
        for r in rows
    ]


def classify(
    con: sqlite3.Connection | None,
    findings: pa.Table,
    *,
    run_id: str,
    as_of: date,
    today: date,
) -> Lifecycle:
    """Status, first seen, age and waiver of each finding; and those resolved since.

    Findings are dated `as_of` (see `run.RunContext.as_of`); waivers hold until a day
    of the calendar, so they are checked against `today`.
    """
    baseline, still_open, known, waivers = None, set(), {}, []
    if con is not None:
        baseline = latest_run(con)
        if baseline is not None:
            still_open = {
                row["finding_id"]
                for row in con.execute(
                    "SELECT finding_id FROM finding_history WHERE run_id = ? "
                    "AND status != 'resolved'",
                    (baseline,),
                )
            }
        known = {row["finding_id"]: row for row in con.execute("SELECT * FROM findings")}
        waivers = active_waivers(con, today)

    rows, waived = [], {}
    for finding in findings.to_pylist():
        seen = known.get(finding["finding_id"])
        if finding["finding_id"] in still_open:
            status = "persisting"
        elif seen is not None:
            status = "reopened"
        else:
            status = "new"
        waiver = _waiver_for(finding, waivers)
        if waiver is not None:
            waived[finding["finding_id"]] = waiver.waiver_id
        rows.append(_with_lifecycle(finding, status, seen, run_id, as_of, waiver))

    current = set(findings["finding_id"].to_pylist())
    resolved = [
        _with_lifecycle(
            _last_row(known[finding_id]), "resolved", known[finding_id], run_id, as_of, None
        )
        for finding_id in sorted(still_open - current)
    ]
    return Lifecycle(
        baseline=baseline,
        findings=pa.Table.from_pylist(rows, schema=RUN_FINDINGS_SCHEMA),
        resolved=pa.Table.from_pylist(resolved, schema=RUN_FINDINGS_SCHEMA),
        waived=waived,
    )


def record(con: sqlite3.Connection, lifecycle: Lifecycle, run_id: str) -> None:
    """Write the run's findings history inside the caller's write transaction."""
    for finding in lifecycle.findings.to_pylist():
        last_row = {name: finding[name] for name in FINDINGS_SCHEMA.names}
        con.execute(
            "INSERT INTO findings (finding_id, rule_id, entity, key, field, problem, "
            "first_seen_run, first_seen, last_seen_run, last_row) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (finding_id) DO UPDATE SET last_seen_run = excluded.last_seen_run, "
            "last_row = excluded.last_row",
            (
                finding["finding_id"],
                finding["rule_id"],
                finding["entity"],
                finding["key"],
                finding["field"] or "",
                finding["problem"],
                finding["first_seen_run"],
                finding["first_seen"].isoformat(),
                run_id,
                json.dumps(last_row, default=str),
            ),
        )
    for table in (lifecycle.findings, lifecycle.resolved):
        for finding in table.select(["finding_id", "status", "age_days"]).to_pylist():
            con.execute(
                "INSERT INTO finding_history (run_id, finding_id, status, age_days, waiver_id) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    run_id,
                    finding["finding_id"],
                    finding["status"],
                    finding["age_days"],
                    lifecycle.waived.get(finding["finding_id"]),
                ),
            )


def with_current_waivers(con: sqlite3.Connection, findings: pa.Table, today: date) -> pa.Table:
    """A run's findings with the waivers active today, including those made after the run."""
    waivers = active_waivers(con, today)
    if not waivers or findings.num_rows == 0:
        return findings
    until, reason = [], []
    for finding in findings.select(["finding_id", "rule_id", "key", "status"]).to_pylist():
        waiver = None if finding["status"] == "resolved" else _waiver_for(finding, waivers)
        until.append(waiver.until if waiver else None)
        reason.append(waiver.reason if waiver else None)
    findings = findings.set_column(
        findings.schema.get_field_index("waived_until"),
        "waived_until",
        pa.array(until, pa.date32()),
    )
    return findings.set_column(
        findings.schema.get_field_index("waiver_reason"),
        "waiver_reason",
        pa.array(reason, pa.string()),
    )


def select(findings: pa.Table, *, status: str | None = None, rule: str | None = None) -> pa.Table:
    """Filter by lifecycle status (or `waived`, or `open`: neither waived nor resolved)."""
    if rule is not None:
        findings = findings.filter(pc.equal(findings["rule_id"], rule))
    if status == "waived":
        return findings.filter(pc.is_valid(findings["waived_until"]))
    if status == "open":
        open_ = pc.and_(
            pc.is_null(findings["waived_until"]), pc.not_equal(findings["status"], "resolved")
        )
        return findings.filter(open_)
    if status is not None:
        return findings.filter(pc.equal(findings["status"], status))
    return findings


def _last_row(seen: sqlite3.Row) -> dict:
    """The finding as the last run that saw it wrote it."""
    row = json.loads(seen["last_row"])
    if row["amount_at_risk"] is not None:
        row["amount_at_risk"] = Decimal(row["amount_at_risk"])
    return row


def _waiver_for(finding: dict, waivers: list[Waiver]) -> Waiver | None:
    covering = [waiver for waiver in waivers if waiver.covers(finding)]
    return max(covering, key=lambda waiver: waiver.until) if covering else None


def _with_lifecycle(
    finding: dict,
    status: str,
    seen: sqlite3.Row | None,
    run_id: str,
    as_of: date,
    waiver: Waiver | None,
) -> dict:
    first_seen = date.fromisoformat(seen["first_seen"]) if seen is not None else as_of
    return {
        **finding,
        "status": status,
        "first_seen_run": seen["first_seen_run"] if seen is not None else run_id,
        "first_seen": first_seen,
        "age_days": max(0, (as_of - first_seen).days),
        "waived_until": waiver.until if waiver else None,
        "waiver_reason": waiver.reason if waiver else None,
    }
