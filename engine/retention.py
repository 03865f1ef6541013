"""Retention: how long a workspace keeps its run folders and their snapshots.

Snapshots are the bulk of a run folder and are only needed to read a run again, so
they may go earlier (`snapshots`) than the run's findings, actions and reports (`runs`).
The catalog keeps everything else for good: the findings history, batches, decisions
and the audit trail, so lifecycle, SLA figures and the trail outlive the folders.
The newest `keep_last` runs are never purged, since the next run reads its snapshots
for incremental sources and compares its findings with them.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from datetime import date, datetime
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
    keep_last: int = Field(default=3, ge=1)

    @field_validator("runs", "snapshots")
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


def plan(catalog: Catalog, policy: RetentionConfig, runs_dir: Path, today: date) -> list[Removal]:
    """What the policy deletes today, oldest run first."""
    with catalog.read() as con:
        recorded = con.execute("SELECT run_id, run_date FROM runs ORDER BY seq").fetchall()
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
    return removals


def purge(
    catalog: Catalog,
    policy: RetentionConfig,
    runs_dir: Path,
    *,
    user: str,
    now: datetime,
) -> list[Removal]:
    """Delete what the policy says may go, and record it in the audit trail."""
    today = now.date()
    removals = plan(catalog, policy, runs_dir, today)
    with catalog.write() as con:
        # The entry is written before anything is deleted: a crash leaves folders that the
        # trail says were purged, never purged folders the trail does not mention.
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
                "policy": policy.model_dump(),
                "as_of": today.isoformat(),
            },
            at=now,
        )
    for removal in removals:
        shutil.rmtree(removal.path, ignore_errors=True)
        log.info("purged %s of run %s (%d bytes)", removal.what, removal.run_id, removal.bytes)
    return removals


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
