"""Runs started through the API: each a job on a small pool of threads, one run at a time per
tenant, with its state and progress kept in memory while the server runs.

A job knows its run id once the run has published; the catalog remembers finished
runs for good, while jobs (queued, running, and how they ended) are forgotten when the
server stops. A run stopped by a shutdown leaves nothing behind, as on the command line.
"""

from __future__ import annotations

import logging
import secrets
import threading
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
    def __init__(
        self, metrics: Metrics, *, workers: int, scrub: Callable[[str], str] = str
    ) -> None:
        self._metrics = metrics
        self._scrub = scrub
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="run")
        self._jobs: dict[str, Job] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def start(self, tenant: Tenant, *, period: str, full: bool, user: str) -> Job:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        job = Job(secrets.token_hex(8), tenant.tenant_id, period, full, user, now)
        with self._lock:
            self._jobs[job.job_id] = job
            lock = self._locks.setdefault(tenant.tenant_id, threading.Lock())
        self._pool.submit(self._run, job, tenant, lock)
        return job

    def get(self, tenant_id: str, job_id: str) -> Job | None:
        """A job of this tenant only: another tenant's job id finds nothing."""
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None and job.tenant_id == tenant_id else None

    def of_tenant(self, tenant_id: str) -> list[Job]:
        with self._lock:
            return [job for job in self._jobs.values() if job.tenant_id == tenant_id]

    def by_run(self, tenant_id: str, run_id: str) -> Job | None:
        return next((j for j in self.of_tenant(tenant_id) if j.run_id == run_id), None)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, job: Job, tenant: Tenant, lock: threading.Lock) -> None:
        with lock:
            job.state = "running"

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
            self._metrics.runs.labels(job.tenant_id, job.state).inc()
