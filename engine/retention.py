"""Retention: how long a workspace keeps its run folders, their snapshots, and the history
of events posted to it.

Snapshots are the bulk of a run folder and are only needed to read a run again, so
they may go earlier (`snapshots`) than the run's findings, actions and reports (`runs`).
Events posted through the API are kept per key to judge the next one (`events`).
The catalog keeps everything else for good: the findings history, batches, decisions
and the audit trail, so lifecycle, SLA figures and the trail outlive the folders.
The newest `keep_last` runs are never purged, since the next run reads its snapshots
for incremental sources and compares its findings with them.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from . import audit
from .catalog import Catalog
from .sla import parse_target

log = logging.getLogger(__name__)

# Folders of a run that hold snapshots of the sources.
SNAPSHOT_FOLDERS = ("snapshots", "quarantine")
_AGE_HELP = "write a retention age in days, for example 400d"


class RetentionConfig(BaseModel):
    """`retention` in tallyclerk.yaml: ages as `90d` or `400 days`; none keeps everything."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    runs: str | int | None = None
    snapshots: str | int | None = None
    events: str | int | None = None
    keep_last: int = Field(default=3, ge=1)

    @field_validator("runs", "snapshots", "events")
    @classmethod
    def _age(cls, value: str | int | None) -> str | int | None:
        if value is not None and parse_target(value, what="retention age", hint=_AGE_HELP).business:
            raise ValueError(f"{value!r}: {_AGE_HELP}")
        return value

    def days(self, which: str) -> int | None:
        value = getattr(self, which)
        return None if value is None else parse_target(value).days


@dataclass(frozen=True)
class Removal:
    """One thing a purge deletes: a whole run folder, or a run's snapshots."""

    run_id: str
    what: str  # "run" or "snapshots"
    path: Path
    bytes: int
    run_date: date


@dataclass(frozen=True)
class Purge:
    """What a purge deletes: folders, and the events received before a day."""

    removals: list[Removal]
    events: int = 0
    events_before: date | None = None


def plan(catalog: Catalog, policy: RetentionConfig, runs_dir: Path, today: date) -> Purge:
    """What the policy deletes today, oldest run first."""
    with catalog.read() as con:
        recorded = con.execute("SELECT run_id, run_date FROM runs ORDER BY seq").fetchall()
        before = _events_before(policy, today)
        events = 0 if before is None else old_events(con, _midnight(before))
    dated = [(row["run_id"], date.fromisoformat(row["run_date"])) for row in recorded]
    candidates = dated[: max(0, len(dated) - policy.keep_last)]
    run_days, snapshot_days = policy.days("runs"), policy.days("snapshots")
    removals = []
    for run_id, run_date in candidates:
        folder = runs_dir / run_id
        if not folder.is_dir():
            continue
        age = (today - run_date).days
        if run_days is not None and age > run_days:
            removals.append(Removal(run_id, "run", folder, _size(folder), run_date))
            continue
        if snapshot_days is not None and age > snapshot_days:
            for name in SNAPSHOT_FOLDERS:
                if (folder / name).is_dir():
                    path = folder / name
                    removals.append(Removal(run_id, "snapshots", path, _size(path), run_date))
    return Purge(removals, events, before)


def purge(
    catalog: Catalog,
    policy: RetentionConfig,
    runs_dir: Path,
    *,
    user: str,
    now: datetime,
) -> Purge:
    """Delete what the policy says may go, and record it in the audit trail."""
    today = now.date()
    planned = plan(catalog, policy, runs_dir, today)
    removals = planned.removals
    with catalog.write() as con:
        # The entry is written before anything is deleted: a crash leaves folders that the
        # trail says were purged, never purged folders the trail does not mention. Events
        # go in the same transaction as the entry.
        events = 0
        if planned.events_before is not None:
            events = old_events(con, _midnight(planned.events_before), forget=True)
        audit.append(
            catalog,
            con,
            actor=user,
            verb="purge",
            subject="retention",
            detail={
                "runs": sorted({r.run_id for r in removals if r.what == "run"}),
                "snapshots": sorted({r.run_id for r in removals if r.what == "snapshots"}),
                "bytes": sum(r.bytes for r in removals),
                "events": events,
                "policy": policy.model_dump(),
                "as_of": today.isoformat(),
            },
            at=now,
        )
    for removal in removals:
        shutil.rmtree(removal.path, ignore_errors=True)
        log.info("purged %s of run %s (%d bytes)", removal.what, removal.run_id, removal.bytes)
    if events:
        log.info("forgot %d events received before %s", events, planned.events_before)
    return Purge(removals, events, planned.events_before)


def _events_before(policy: RetentionConfig, today: date) -> date | None:
    """The first day whose events are kept: those older than the `events` age go."""
    days = policy.days("events")
    return None if days is None else today - timedelta(days=days)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def old_events(con: sqlite3.Connection, before: datetime, *, forget: bool = False) -> int:
    """How many events of the history were received before `before`; with `forget`, they are
    deleted. A key whose events are all forgotten is judged again from the latest run's
    snapshot; the findings events raised stay, as every finding's history does."""
    exists = con.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'event_log'"
    ).fetchone()
    if exists is None:
        return 0
    # Times are written in UTC to the second, so their text sorts as the times do.
    cutoff = (before.astimezone(UTC).isoformat(timespec="seconds"),)
    if forget:
        return con.execute("DELETE FROM event_log WHERE received_at < ?", cutoff).rowcount
    return con.execute("SELECT count(*) FROM event_log WHERE received_at < ?", cutoff).fetchone()[0]


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
