"""Alerts: after a run, tell the people on call what crossed a threshold of the workspace.

A finished run alerts when its money at risk exceeds `money_at_risk_above`, when it
finds critical findings that are new (or back), and when findings passed their
resolution target since the run before; a run that could not read a source alerts
that the source failed. Every delivery is recorded in the catalog's `alerts` table,
delivered or failed after its retries, so nothing is dropped: `tallyclerk alerts list`
shows them and `tallyclerk alerts retry` sends the failed ones again.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .catalog import Catalog
from .delivery import Channel, Message, Outcome, deliver

if TYPE_CHECKING:
    from .config import Workspace

log = logging.getLogger(__name__)

Deliver = Callable[..., Outcome]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AlertWhen(_Strict):
    """The thresholds; a run alerts when any of them is crossed."""

    money_at_risk_above: Decimal | None = Field(default=None, ge=0)
    new_critical: bool = True
    sla_breached: bool = True
    source_failed: bool = True


class AlertsConfig(_Strict):
    """`alerts` in tallyclerk.yaml: when to alert, where, and how hard to try."""

    when: AlertWhen = AlertWhen()
    channels: list[Channel] = []
    retries: int = Field(default=3, ge=0, le=10)
    backoff_seconds: float = Field(default=2.0, ge=0, le=300)
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("channels")
    @classmethod
    def _unique_names(cls, channels: list) -> list:
        names = [channel.name for channel in channels]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"the channel name {twice[0]!r} is used twice; name each once")
        return channels


@dataclass(frozen=True)
class Alert:
    alert_id: int
    created_at: str
    event: str
    subject: str
    channel: str
    kind: str
    status: str
    attempts: int
    error: str | None
    title: str


def run_message(
    config: AlertsConfig, workspace: str, manifest: dict, findings: pa.Table, previous: Path | None
) -> Message | None:
    """The alert a finished run raises, or None when it crosses no threshold."""
    every = findings.to_pylist()
    rows = [r for r in every if r["waived_until"] is None and r["status"] != "resolved"]
    when, lines, triggers = config.when, [], []
    money = sum((row["amount_at_risk"] or Decimal(0) for row in rows), Decimal(0))
    if when.money_at_risk_above is not None and money > when.money_at_risk_above:
        triggers.append("money_at_risk")
        lines.append(f"Money at risk {money:,.2f} is above {when.money_at_risk_above:,.2f}.")
    critical = [
        row
        for row in rows
        if row["severity"] == "critical" and row["status"] in ("new", "reopened")
    ]
    if when.new_critical and critical:
        triggers.append("new_critical")
        lines.append(f"{len(critical)} new critical finding(s):")
        lines += [f"- {row['rule_id']} {row['key']}: {row['message']}" for row in critical[:10]]
    breached = _newly_breached(rows, previous)
    if when.sla_breached and breached:
        triggers.append("sla_breached")
        lines.append(f"{len(breached)} finding(s) passed their resolution target:")
        lines += [
            f"- {row['rule_id']} {row['key']} (due {row['sla_due']})" for row in breached[:10]
        ]
    if not triggers:
        return None
    run_id = manifest["run_id"]
    title = f"{workspace}: run {run_id} needs attention ({', '.join(triggers)})"
    data = {
        "event": "run_finished",
        "workspace": workspace,
        "run_id": run_id,
        "period": manifest["period"],
        "triggers": triggers,
        "money_at_risk": f"{money:.2f}",
        "open_findings": len(rows),
        "new_critical": len(critical),
        "newly_breached": len(breached),
        "findings": [
            {key: row[key] for key in ("finding_id", "rule_id", "severity", "key", "message")}
            for row in (critical + breached)[:50]
        ],
    }
    return Message(title, tuple(lines), data)


def failure_message(workspace: str, period: str, error: Exception) -> Message:
    title = f"{workspace}: the run of {period} failed to read a source"
    data = {
        "event": "source_failed",
        "workspace": workspace,
        "period": period,
        "triggers": ["source_failed"],
        "error": str(error),
    }
    return Message(title, (str(error),), data)


def after_run(
    catalog: Catalog, workspace: Workspace, manifest: dict, findings: pa.Table, runs: Path
) -> list[Alert]:
    """Alert on a finished run when it crosses a threshold; never fails the run."""
    config, name = workspace.alerts, workspace.name
    if not config.channels:
        return []
    baseline = manifest.get("compared_with")
    message = run_message(config, name, manifest, findings, runs / baseline if baseline else None)
    if message is None:
        return []
    return send(catalog, config, message, subject=f"run:{manifest['run_id']}")


def after_failure(
    catalog: Catalog, workspace: Workspace, period: str, error: Exception
) -> list[Alert]:
    """Alert that a run could not read a source, when the workspace asks for it."""
    config = workspace.alerts
    if not config.channels or not config.when.source_failed:
        return []
    message = failure_message(workspace.name, period, error)
    return send(catalog, config, message, subject=f"period:{period}")


def sla_check(
    catalog: Catalog, workspace: Workspace, runs: Path, today: date, *, send_one: Deliver = deliver
) -> tuple[list[dict], list[Alert]]:
    """Between runs: the open findings of the latest run whose target day has passed by
    `today` and that no run or earlier check has alerted on; alerts on them once."""
    with catalog.read() as con:
        latest = con.execute("SELECT run_id FROM runs ORDER BY seq DESC LIMIT 1").fetchone()
        earlier = con.execute("SELECT message FROM alerts WHERE event = 'sla_breached'")
        alerted = {i for row in earlier for i in json.loads(row[0])["data"]["breached_ids"]}
    path = runs / latest[0] / "findings.parquet" if latest else None
    if path is None or not path.is_file():
        return [], []
    table = pq.read_table(path)
    if "sla_due" not in table.column_names:
        return [], []
    late = [
        row
        for row in table.to_pylist()
        if row["waived_until"] is None
        and row["sla_due"] is not None
        and today > row["sla_due"]
        and not row["sla_breached"]
        and row["finding_id"] not in alerted
    ]
    config = workspace.alerts
    if not late or not config.channels or not config.when.sla_breached:
        return late, []
    title = f"{workspace.name}: {len(late)} finding(s) passed their resolution target"
    lines = tuple(f"- {r['rule_id']} {r['key']} (due {r['sla_due']})" for r in late[:20])
    data = {
        "event": "sla_breached",
        "workspace": workspace.name,
        "run_id": latest[0],
        "as_of": today.isoformat(),
        "triggers": ["sla_breached"],
        "breached_ids": [row["finding_id"] for row in late],
        "findings": [
            {key: row[key] for key in ("finding_id", "rule_id", "severity", "key", "message")}
            | {"sla_due": row["sla_due"].isoformat()}
            for row in late[:50]
        ],
    }
    message = Message(title, lines, data)
    return late, send(catalog, config, message, subject=f"sla:{today}", send_one=send_one)


def send(
    catalog: Catalog,
    config: AlertsConfig,
    message: Message,
    *,
    subject: str,
    send_one: Deliver = deliver,
) -> list[Alert]:
    """Deliver to every channel and record each outcome; returns what was recorded."""
    recorded = []
    for channel in config.channels:
        outcome = _try(send_one, config, channel, message)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with catalog.write() as con:
            cursor = con.execute(
                "INSERT INTO alerts (created_at, event, subject, channel, kind, status, "
                "attempts, error, message, delivered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    now,
                    message.data.get("event", "alert"),
                    subject,
                    channel.name,
                    channel.kind,
                    "delivered" if outcome.delivered else "failed",
                    outcome.attempts,
                    outcome.error,
                    json.dumps(asdict(message), default=str),
                    now if outcome.delivered else None,
                ),
            )
            recorded.append(_alert(con, cursor.lastrowid))
        if not outcome.delivered:
            log.warning("alert %s to %s failed: %s", subject, channel.name, outcome.error)
    return recorded


def _try(send_one: Deliver, config: AlertsConfig, channel: Channel, message: Message) -> Outcome:
    """One delivery with the retries, backoff and timeout the workspace sets."""
    return send_one(
        channel,
        message,
        retries=config.retries,
        backoff=config.backoff_seconds,
        timeout=config.timeout_seconds,
    )


def retry_failed(
    catalog: Catalog, config: AlertsConfig, *, send_one: Deliver = deliver
) -> list[Alert]:
    """Send every failed alert again through its channel as configured now."""
    with catalog.read() as con:
        failed = con.execute("SELECT * FROM alerts WHERE status = 'failed' ORDER BY alert_id")
        failed = [dict(row) for row in failed]
    channels = {channel.name: channel for channel in config.channels}
    done = []
    for row in failed:
        channel = channels.get(row["channel"])
        if channel is None:
            outcome = Outcome(False, 0, f"no channel {row['channel']!r} under alerts.channels")
        else:
            stored = json.loads(row["message"])
            message = Message(stored["title"], tuple(stored["lines"]), stored["data"])
            outcome = _try(send_one, config, channel, message)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with catalog.write() as con:
            con.execute(
                "UPDATE alerts SET status = ?, attempts = attempts + ?, error = ?, "
                "delivered_at = ? WHERE alert_id = ?",
                (
                    "delivered" if outcome.delivered else "failed",
                    outcome.attempts,
                    outcome.error,
                    now if outcome.delivered else None,
                    row["alert_id"],
                ),
            )
            done.append(_alert(con, row["alert_id"]))
    return done


def listed(catalog: Catalog, *, status: str | None = None) -> list[Alert]:
    with catalog.read() as con:
        ids = con.execute(
            "SELECT alert_id FROM alerts WHERE ? IS NULL OR status = ? ORDER BY alert_id",
            (status, status),
        ).fetchall()
        return [_alert(con, row[0]) for row in ids]


def _alert(con: sqlite3.Connection, alert_id: int | None) -> Alert:
    row = con.execute("SELECT * FROM alerts WHERE alert_id = ?", (alert_id,)).fetchone()
    title = json.loads(row["message"])["title"]
    return Alert(
        row["alert_id"],
        row["created_at"],
        row["event"],
        row["subject"],
        row["channel"],
        row["kind"],
        row["status"],
        row["attempts"],
        row["error"],
        title,
    )


def _newly_breached(rows: Sequence[dict], previous: Path | None) -> list[dict]:
    """Breached findings the previous run did not already count as breached."""
    before: set[str] = set()
    path = previous / "findings.parquet" if previous is not None else None
    if path is not None and path.is_file():
        table = pq.read_table(path)
        if "sla_breached" in table.column_names:
            old = table.select(["finding_id", "sla_breached"]).to_pylist()
            before = {row["finding_id"] for row in old if row["sla_breached"]}
    return [row for row in rows if row.get("sla_breached") and row["finding_id"] not in before]
