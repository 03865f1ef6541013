"""Runs started through the API: each a job on a small pool of threads, one run at a time per
tenant, the tenant's others waiting their turn off the pool.

A job is written to its tenant's catalog when it is queued, starts and ends, so its state
outlives the server: after a restart a job that had not ended says it was interrupted
(a run stopped halfway leaves nothing behind, as on the command line) instead of being
forgotten. Progress within a run is kept in memory only, while the run goes on. One server
serves a workspaces folder: a job another process left unfinished reads as interrupted.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from engine.config import load_workspace
from engine.run import STAGES, run_workspace
from reports.pages import run_renderer
from tallyclerk.errors import TallyclerkError

from .metrics import Metrics
from .tenants import Tenant

log = logging.getLogger(__name__)
_STAGE_NAMES = [name for name, _ in STAGES]
_ENDED = ("finished", "failed")
INTERRUPTED = (
    "the server stopped before this run finished, so nothing of it was kept; start it again."
)

_SCHEMA = """CREATE TABLE IF NOT EXISTS api_jobs (
    job_id TEXT PRIMARY KEY,
    period TEXT NOT NULL,
    full INTEGER NOT NULL,
    started_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    state TEXT NOT NULL,
    run_id TEXT,
    error TEXT,
    findings INTEGER,
    lifecycle TEXT,
    batches TEXT NOT NULL
)"""
_HAS_JOBS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'api_jobs'"
_COLUMNS = (
    "job_id, period, full, started_by, created_at, state, run_id, error, findings, lifecycle, "
    "batches"
)


@dataclass
class Job:
    job_id: str
    tenant_id: str
    period: str
    full: bool
    started_by: str
    created_at: str
    state: str = "queued"
    stage: str | None = None
    done: int = 0
    total: int = 0
    run_id: str | None = None
    error: str | None = None
    findings: int | None = None
    lifecycle: dict[str, int] | None = None
    batches: list[str] = field(default_factory=list)

    def progress(self) -> dict:
        finished = _STAGE_NAMES.index(self.stage) if self.stage in _STAGE_NAMES else 0
        if self.state == "finished":
            finished = len(_STAGE_NAMES)
        return {
            "stage": self.stage,
            "done": self.done,
            "total": self.total,
            "stages_done": finished,
            "stages": len(_STAGE_NAMES),
        }


class Jobs:
    """The jobs of every tenant: those not ended in memory, all of them in the catalogs."""

    def __init__(
        self, metrics: Metrics, *, workers: int, scrub: Callable[[str], str] = str
    ) -> None:
        self._metrics = metrics
        self._scrub = scrub
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="run")
        self._live: dict[str, Job] = {}
        # A tenant's runs go one at a time: the others wait here, not on a worker, so one
        # tenant's queue never holds up another's.
        self._waiting: dict[str, deque[tuple[Job, Tenant]]] = {}
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        # Held while a new job is checked against the jobs before it and queued, so two
        # requests cannot both pass the check.
        self.admission = threading.Lock()

    def start(self, tenant: Tenant, *, period: str, full: bool, user: str) -> Job:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        job = Job(secrets.token_hex(8), tenant.tenant_id, period, full, user, now)
        with self._lock:
            self._live[job.job_id] = job
        try:
            save_job(tenant, job)
        except TallyclerkError:
            with self._lock:
                self._live.pop(job.job_id, None)
            raise
        with self._lock:
            self._waiting.setdefault(tenant.tenant_id, deque()).append((job, tenant))
        self._next(tenant.tenant_id)
        return job

    def get(self, tenant: Tenant, job_id: str) -> Job | None:
        """A job of this tenant only: another tenant's job id finds nothing."""
        with self._lock:
            job = self._live.get(job_id)
        if job is not None:
            return job if job.tenant_id == tenant.tenant_id else None
        found = self._saved(tenant, "WHERE job_id = ?", (job_id,))
        return found[0] if found else None

    def of_tenant(self, tenant: Tenant) -> list[Job]:
        """The tenant's jobs, newest first."""
        return self._saved(tenant, "ORDER BY created_at DESC, rowid DESC", ())

    def by_run(self, tenant: Tenant, run_id: str) -> Job | None:
        found = self._saved(tenant, "WHERE run_id = ?", (run_id,))
        return found[0] if found else None

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _saved(self, tenant: Tenant, where: str, values: tuple) -> list[Job]:
        """Jobs as the catalog holds them, with live progress, or interrupted when a job
        that had not ended is no longer live."""
        # A job is live from before it is first saved until after it is last saved, so one
        # that ends or starts while the catalog is read is live in one of the two copies.
        with self._lock:
            before = dict(self._live)
        with tenant.catalog() as catalog, catalog.read() as con:
            if con.execute(_HAS_JOBS).fetchone() is None:
                return []
            rows = con.execute(f"SELECT {_COLUMNS} FROM api_jobs {where}", values).fetchall()
        with self._lock:
            after = dict(self._live)
        jobs = []
        for row in rows:
            live = after.get(row["job_id"]) or before.get(row["job_id"])
            job = live or _job(tenant, row)
            if live is None and job.state not in _ENDED:
                job.state, job.error = "failed", INTERRUPTED
            jobs.append(job)
        return jobs

    def _next(self, tenant_id: str) -> None:
        """Hand the tenant's next waiting job to a worker, unless one of its jobs runs."""
        with self._lock:
            waiting = self._waiting.get(tenant_id)
            if tenant_id in self._busy or not waiting:
                return
            job, tenant = waiting.popleft()
            self._busy.add(tenant_id)
        try:
            self._pool.submit(self._run, job, tenant)
        except RuntimeError:
            # The server is stopping: the job stays queued, and reads as interrupted.
            with self._lock:
                self._busy.discard(tenant_id)

    def _run(self, job: Job, tenant: Tenant) -> None:
        job.state = "running"
        try:
            save_job(tenant, job)
            self._run_now(job, tenant)
        except TallyclerkError as exc:
            # The catalog could not record the start: the run did not begin.
            job.state, job.error = "failed", self._scrub(str(exc))
        try:
            save_job(tenant, job)
        except TallyclerkError:
            log.exception("job %s of tenant %s could not be recorded", job.job_id, job.tenant_id)
        finally:
            with self._lock:
                self._live.pop(job.job_id, None)
                self._busy.discard(job.tenant_id)
        self._metrics.runs.labels(job.tenant_id, job.state).inc()
        self._next(job.tenant_id)

    def _run_now(self, job: Job, tenant: Tenant) -> None:
        def progress(stage: str, done: int, total: int) -> None:
            job.stage, job.done, job.total = stage, done, total

        try:
            render = run_renderer(load_workspace(tenant.folder))
            result = run_workspace(
                tenant.folder,
                job.period,
                progress=progress,
                render=render,
                full=job.full,
                user=job.started_by,
                authorized=True,
            )
        except TallyclerkError as exc:
            job.state, job.error = "failed", self._scrub(str(exc))
        except Exception:
            log.exception("run of tenant %s for %s failed", job.tenant_id, job.period)
            job.state = "failed"
            job.error = "the run failed unexpectedly; the server's log has the cause."
        else:
            job.state, job.run_id = "finished", result.run_id
            job.findings = result.findings.num_rows
            job.lifecycle = result.manifest.get("lifecycle")
            job.batches = list(result.batches.batches)
            self._metrics.count_findings(job.tenant_id, "run", result.findings)


def save_job(tenant: Tenant, job: Job) -> None:
    """Record `job` as it stands in its tenant's catalog."""
    with tenant.catalog() as catalog, catalog.write() as con:
        con.execute(_SCHEMA)
        con.execute(
            f"INSERT INTO api_jobs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (job_id) DO UPDATE SET state = excluded.state, run_id = "
            "excluded.run_id, error = excluded.error, findings = excluded.findings, "
            "lifecycle = excluded.lifecycle, batches = excluded.batches",
            (
                job.job_id,
                job.period,
                int(job.full),
                job.started_by,
                job.created_at,
                job.state,
                job.run_id,
                job.error,
                job.findings,
                None if job.lifecycle is None else json.dumps(job.lifecycle),
                json.dumps(job.batches),
            ),
        )


def _job(tenant: Tenant, row: sqlite3.Row) -> Job:
    return Job(
        job_id=row["job_id"],
        tenant_id=tenant.tenant_id,
        period=row["period"],
        full=bool(row["full"]),
        started_by=row["started_by"],
        created_at=row["created_at"],
        state=row["state"],
        run_id=row["run_id"],
        error=row["error"],
        findings=row["findings"],
        lifecycle=None if row["lifecycle"] is None else json.loads(row["lifecycle"]),
        batches=json.loads(row["batches"]),
    )
