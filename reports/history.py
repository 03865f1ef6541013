"""Earlier runs of a workspace, read from their run folders: what is new, how old, the trend.

Only finished run folders are read (manifest.json and findings.parquet), so the
reports need no catalog. When findings carry lifecycle columns of their own
(`status`, `first_seen`), those win over what is derived here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from engine.findings import FINDINGS_SCHEMA
from engine.run import RUNS_DIR, STATE_DIR
from tallyclerk.errors import ConfigError

MANIFEST = "manifest.json"
FINDINGS = "findings.parquet"
ACTIONS = "actions.parquet"


def run_sort_key(run_id: str) -> tuple[str, int]:
    """`2026-11.010` after `2026-11.009`, and `2026-11.1000` after `2026-11.999`."""
    period, _, number = run_id.rpartition(".")
    return (period, int(number)) if number.isdigit() else (run_id, 0)


@dataclass(frozen=True)
class RunFolder:
    """One finished run as its folder holds it."""

    folder: Path
    manifest: dict

    @property
    def run_id(self) -> str:
        return self.manifest["run_id"]

    @property
    def period_day(self) -> date:
        return period_last_day(self.manifest)

    def findings(self, columns: Sequence[str] | None = None) -> pa.Table:
        path = self.folder / FINDINGS
        if not path.is_file():
            return FINDINGS_SCHEMA.empty_table().select(list(columns or FINDINGS_SCHEMA.names))
        return pq.read_table(path, columns=list(columns) if columns else None)

    def actions(self) -> pa.Table | None:
        path = self.folder / ACTIONS
        return pq.read_table(path) if path.is_file() else None


def period_last_day(manifest: dict) -> date:
    """The last day a run's period covers; ages are counted from one of these to another."""
    return datetime.fromisoformat(manifest["period_end"]).date() - timedelta(days=1)


def runs_folder(workspace: Path) -> Path:
    return workspace / STATE_DIR / RUNS_DIR


def read_run(folder: Path) -> RunFolder:
    """A finished run folder, or a ConfigError saying what the path is instead."""
    path = folder / MANIFEST
    if not path.is_file():
        raise ConfigError(
            f"{folder} is not a finished run folder (it has no {MANIFEST}); "
            f"runs live in <workspace>/{STATE_DIR}/{RUNS_DIR}/<run id>."
        )
    return RunFolder(folder, json.loads(path.read_text(encoding="utf-8")))


def finished_runs(runs_dir: Path) -> list[RunFolder]:
    """Every finished run under `runs_dir`, oldest first; runs still being written are skipped."""
    if not runs_dir.is_dir():
        return []
    runs = [
        read_run(child)
        for child in runs_dir.iterdir()
        if child.is_dir() and not child.name.startswith(".") and (child / MANIFEST).is_file()
    ]
    return sorted(runs, key=lambda run: run_sort_key(run.run_id))


@dataclass(frozen=True)
class Lineage:
    """Where one finding of the current run stands against the earlier runs."""

    new: bool
    first_seen: date
    first_seen_run: str
    age_days: int


@dataclass
class History:
    """The current run's place among the runs before it."""

    run_id: str
    period_day: date
    earlier: list[RunFolder] = field(default_factory=list)

    @property
    def previous(self) -> RunFolder | None:
        return self.earlier[-1] if self.earlier else None

    @cached_property
    def previous_ids(self) -> frozenset[str]:
        if self.previous is None:
            return frozenset()
        return frozenset(self.previous.findings(["finding_id"])["finding_id"].to_pylist())

    @cached_property
    def first_seen(self) -> dict[str, RunFolder]:
        """Finding id to the earliest earlier run that holds it."""
        seen: dict[str, RunFolder] = {}
        for run in self.earlier:
            for finding_id in run.findings(["finding_id"])["finding_id"].to_pylist():
                seen.setdefault(finding_id, run)
        return seen

    def lineage(self, finding: dict) -> Lineage:
        """New or not, first seen and age in days at the end of this run's period."""
        first = self.first_seen.get(finding["finding_id"])
        first_day = first.period_day if first else self.period_day
        first_run = first.run_id if first else self.run_id
        if finding.get("first_seen") is not None:
            first_day = _as_date(finding["first_seen"])
        new = finding["finding_id"] not in self.previous_ids
        if finding.get("status") is not None:
            new = finding["status"] == "new"
        age = max(0, (self.period_day - first_day).days)
        return Lineage(new=new, first_seen=first_day, first_seen_run=first_run, age_days=age)

    def resolved(self, current_ids: Iterable[str]) -> list[dict]:
        """Findings of the previous run that this run no longer has."""
        if self.previous is None:
            return []
        current = set(current_ids)
        rows = self.previous.findings().to_pylist()
        return [row for row in rows if row["finding_id"] not in current]

    def trend_runs(self, count: int) -> list[RunFolder]:
        """The last `count - 1` earlier runs: with the current one, `count` points of a trend."""
        return self.earlier[-(count - 1) :] if count > 1 else []


def load_history(runs_dir: Path, manifest: dict) -> History:
    """The runs of `runs_dir` that come before the run `manifest` describes."""
    current = run_sort_key(manifest["run_id"])
    earlier = [run for run in finished_runs(runs_dir) if run_sort_key(run.run_id) < current]
    return History(manifest["run_id"], period_last_day(manifest), earlier)


def _as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def find_run(path: Path, run_id: str | None = None) -> RunFolder:
    """A run from a run folder, or from a workspace folder and a run id (its latest by default)."""
    if (path / MANIFEST).is_file():
        run = read_run(path)
        if run_id is not None and run_id != run.run_id:
            raise ConfigError(
                f"{path} is run {run.run_id}, not {run_id}; give the workspace folder "
                "with --run-id, or the run folder alone."
            )
        return run
    runs = finished_runs(runs_folder(path))
    if not runs:
        raise ConfigError(
            f"{path} is neither a run folder nor a workspace with finished runs; "
            "give a run folder, or run `tallyclerk run` on the workspace first."
        )
    if run_id is None:
        return runs[-1]
    for run in runs:
        if run.run_id == run_id:
            return run
    known = ", ".join(run.run_id for run in runs[-8:])
    raise ConfigError(f"{path} has no run {run_id!r}; its latest runs are: {known}.")


def workspace_of(run: RunFolder) -> Path | None:
    """The workspace folder a run folder lives in, when it sits where runs are kept."""
    runs_dir = run.folder.resolve().parent
    if runs_dir.name == RUNS_DIR and runs_dir.parent.name == STATE_DIR:
        return runs_dir.parent.parent
    return None
