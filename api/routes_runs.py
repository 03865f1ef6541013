"""Runs: start one in the background, follow it, read its findings and its reports."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, get_args

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from engine import lifecycle
from engine.causes import causes_first
from engine.lifecycle import StatusFilter
from engine.run import RESOLVED_FILE
from engine.run_folder import recorded_runs
from reports.history import FINDINGS, find_run
from reports.pages import EXECUTIVE_REPORT, RUN_REPORT, Kind, render_kind, setup_for_run
from rules.model import RULE_KINDS, Severity
from tallyclerk.errors import ConfigError

from .auth import Caller, caller
from .formats import CSV, JSON, PARQUET, chosen_type, rows, table_response
from .jobs import Job, Jobs
from .problems import ApiProblem, not_found
from .schemas import FindingPage, RunList, RunStarted, RunState, problems

log = logging.getLogger(__name__)
router = APIRouter(tags=["runs"])


class StartRun(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"period": "2026-11", "full": False}]}
    )

    period: str = Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", description="The month, YYYY-MM.")
    # Strict, so "yes" or 1 is refused rather than read as true.
    full: StrictBool = Field(
        False, description="Read every source in full, ignoring watermarks; true or false."
    )


SeverityName = StrEnum("SeverityName", {name: name for name in get_args(Severity)})
RuleKind = StrEnum("RuleKind", {name: name for name in RULE_KINDS})


class ReportKind(StrEnum):
    run = "run"
    executive = "executive"


@router.post(
    "/v1/runs",
    status_code=202,
    response_model=RunStarted,
    summary="Start a run in the background",
    responses=problems(401, 403, 404, 409, 422, 429),
)
def start_run(
    start: StartRun, request: Request, who: Annotated[Caller, Depends(caller("run"))]
) -> JSONResponse:
    """The run is prepared by the key's identity (its user, or `key:<id>`), so four eyes keeps
    that identity from approving the run's batches. A period before the latest run's, or
    before that of a run still queued or running, is refused (409), as the run would be."""
    request.app.state.tenants.workspace(who.tenant)
    jobs = request.app.state.jobs
    with jobs.admission:
        _refuse_earlier_period(jobs, who, start.period)
        job = jobs.start(who.tenant, period=start.period, full=start.full, user=who.user)
    href = f"/v1/runs/{job.job_id}"
    return JSONResponse(
        {"id": job.job_id, "state": job.state, "href": href},
        status_code=202,
        headers={"Location": href},
    )


@router.get(
    "/v1/runs",
    response_model=RunList,
    summary="Runs of the tenant, newest first",
    responses=problems(401, 403, 404, 429),
)
def list_runs(request: Request, who: Annotated[Caller, Depends(caller("view"))]) -> dict:
    jobs = request.app.state.jobs.of_tenant(who.tenant)
    by_run = {job.run_id: job for job in jobs if job.run_id}
    # A run is placed by when it finished (then by its number), a job without a run by when
    # it was started.
    dated = [((job.created_at, 0), _job_state(job)) for job in jobs if job.run_id is None]
    for seq, row in enumerate(_catalog_runs(who), start=1):
        job = by_run.get(row["run_id"])
        state = _job_state(job) if job else _finished_state(row)
        dated.append(((row["finished_at"], seq), _with_files(who, state)))
    dated.sort(key=lambda pair: pair[0], reverse=True)
    return {"runs": [state for _, state in dated]}


@router.get(
    "/v1/runs/{run_id}",
    response_model=RunState,
    summary="A run's state and progress",
    responses=problems(401, 403, 404, 429),
)
def get_run(run_id: str, request: Request, who: Annotated[Caller, Depends(caller("view"))]) -> dict:
    """`run_id` is the id `POST /v1/runs` answered, or a run id such as 2026-11.001."""
    job = request.app.state.jobs.get(who.tenant, run_id)
    if job is not None:
        return _with_files(who, _job_state(job))
    for row in _catalog_runs(who):
        if row["run_id"] == run_id:
            found = request.app.state.jobs.by_run(who.tenant, run_id)
            return _with_files(who, _job_state(found) if found else _finished_state(row))
    raise not_found(f"run {run_id!r}")


@router.get(
    "/v1/runs/{run_id}/findings",
    response_model=FindingPage,
    summary="A run's findings, filtered and paged",
    responses={
        200: {
            "content": {
                CSV: {"schema": {"type": "string"}},
                PARQUET: {"schema": {"type": "string", "format": "binary"}},
            }
        },
        **problems(401, 403, 404, 406, 409, 410, 422, 429),
    },
)
async def run_findings(
    run_id: str,
    request: Request,
    who: Annotated[Caller, Depends(caller("view"))],
    status: Annotated[
        StatusFilter | None, Query(description="Lifecycle status, or waived/open.")
    ] = None,
    rule: Annotated[
        list[str] | None, Query(description="Only these rules' findings; repeatable.")
    ] = None,
    severity: Annotated[
        list[SeverityName] | None, Query(description="Only these severities; repeatable.")
    ] = None,
    entity: Annotated[
        list[str] | None, Query(description="Only findings about these entities; repeatable.")
    ] = None,
    kind: Annotated[list[RuleKind] | None, Query(description="Only these rule kinds.")] = None,
    causes: Annotated[
        bool,
        Query(
            description="Root causes first (most findings explained first), then the findings "
            "no cause explains; each explained finding follows its cause."
        ),
    ] = False,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Findings per page.")] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Findings to skip.")] = 0,
) -> Response:
    """JSON by default; `Accept: text/csv` or `application/vnd.apache.parquet` answer the same
    page as a file. The findings resolved since the run before are listed too."""
    media = chosen_type(request, (JSON, CSV, PARQUET))
    folder = _run_folder(request, who, run_id)

    def page() -> tuple[pa.Table, int]:
        tables = [_read_table(folder, FINDINGS)]
        if (folder / RESOLVED_FILE).is_file():
            tables.append(_read_table(folder, RESOLVED_FILE))
        found = pa.concat_tables(tables)
        with who.tenant.catalog() as catalog, catalog.read() as con:
            found = lifecycle.with_current_waivers(con, found, datetime.now(UTC).date())
        found = lifecycle.select(found, status=status.value if status else None)
        filters = (("rule_id", rule), ("severity", severity), ("entity", entity), ("kind", kind))
        for column, wanted in filters:
            if wanted:
                values = pa.array([str(value) for value in wanted], pa.string())
                found = found.filter(pc.is_in(found[column], value_set=values))
        if causes:
            if "cause_id" not in found.column_names:
                raise ApiProblem(
                    409,
                    f"run {folder.name} was written before findings named their root causes; "
                    "a newer run of the period names them.",
                )
            found = causes_first(found)
        return found.slice(offset, limit), found.num_rows

    selected, total = await run_in_threadpool(page)
    following = offset + limit if offset + limit < total else None
    headers = {"X-Total-Count": str(total)}
    if media != JSON:
        return table_response(selected, media, headers=headers)
    body = {
        "run_id": folder.name,
        "total": total,
        "offset": offset,
        "limit": limit,
        "next_offset": following,
        "findings": rows(selected),
    }
    return JSONResponse(body, headers=headers)


@router.get(
    "/v1/runs/{run_id}/report",
    response_class=HTMLResponse,
    summary="A run's report as self-contained HTML",
    responses={
        200: {"content": {"text/html": {"schema": {"type": "string"}}}},
        **problems(401, 403, 404, 409, 410, 422, 429),
    },
)
def run_report(
    run_id: str,
    request: Request,
    who: Annotated[Caller, Depends(caller("view"))],
    kind: Annotated[ReportKind, Query(description="The run report or the executive report.")] = (
        ReportKind.run
    ),
) -> HTMLResponse:
    folder = _run_folder(request, who, run_id)
    name = RUN_REPORT if kind is ReportKind.run else EXECUTIVE_REPORT
    if (folder / name).is_file():
        return HTMLResponse((folder / name).read_text(encoding="utf-8"))
    _read_table(folder, FINDINGS)
    found = find_run(folder)
    html = render_kind(
        Kind(kind.value), found.manifest, found.findings(), found.actions(), setup_for_run(found)
    )
    return HTMLResponse(html)


def _refuse_earlier_period(jobs: Jobs, who: Caller, period: str) -> None:
    """Refuse at once the period the run would refuse when its turn came."""
    # The run's own check, on the runs the catalog holds: said as a conflict with them.
    with who.tenant.catalog() as catalog:
        try:
            recorded_runs(catalog, period)
        except ConfigError as exc:
            raise ApiProblem(409, str(exc)) from exc
    # Runs waiting their turn are not in the catalog yet, but go before this one.
    for job in jobs.of_tenant(who.tenant):
        if job.state in ("queued", "running") and period < job.period:
            raise ApiProblem(
                409,
                f"period {period} is before {job.period}, the period of run {job.job_id}, "
                f"which is {job.state}: runs are compared with the previous one, so run the "
                "periods in order.",
            )


def _run_folder(request: Request, who: Caller, run_id: str) -> Path:
    """The folder of a finished run of the caller's tenant, by job id or run id."""
    job = request.app.state.jobs.get(who.tenant, run_id)
    if job is not None and job.run_id is None:
        raise ApiProblem(
            409, f"run {run_id} is {job.state}; its findings and report exist once it finished."
        )
    wanted = job.run_id if job else run_id
    folder = who.tenant.run_folder(wanted)
    if folder is None:
        if _in_catalog(who, wanted):
            raise ApiProblem(410, _REMOVED.format(run_id=wanted), title="Gone")
        raise not_found(f"run {run_id!r}")
    return folder


_REMOVED = (
    "run {run_id}'s files were removed, as retention removes old runs' folders; its findings "
    "history, batches and audit trail stay in the catalog."
)


def _in_catalog(who: Caller, run_id: str) -> bool:
    with who.tenant.catalog() as catalog, catalog.read() as con:
        row = con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone()
    return row is not None


def _read_table(folder: Path, name: str) -> pa.Table:
    """A table of a run folder; a missing or unreadable file is the caller's 404, not a 500."""
    path = folder / name
    if not path.is_file():
        raise not_found(f"run {folder.name}'s {name} (its folder holds no such file)")
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        log.warning("run %s: %s is unreadable: %s", folder.name, name, exc)
        raise ApiProblem(
            404, f"run {folder.name}'s {name} is unreadable; the run's findings cannot be read."
        ) from exc


def _with_files(who: Caller, state: dict) -> dict:
    """A run's state, with its files' once it has a run id (it has finished)."""
    if state["run_id"] is None:
        return state
    return state | {"files": _files_state(who, state["run_id"])}


def _files_state(who: Caller, run_id: str) -> str:
    """Whether a finished run's files can be read, and if not, why."""
    folder = who.tenant.run_folder(run_id)
    if folder is None:
        return "removed: " + _REMOVED.format(run_id=run_id)
    path = folder / FINDINGS
    if not path.is_file():
        return f"missing: the run folder holds no {FINDINGS}"
    try:
        pq.read_metadata(path)
    except (OSError, pa.ArrowException):
        return f"unreadable: {FINDINGS} cannot be read"
    return "kept"


def _catalog_runs(who: Caller) -> list[dict]:
    with who.tenant.catalog() as catalog, catalog.read() as con:
        found = con.execute(
            "SELECT run_id, period, prepared_by, findings, counts, finished_at FROM runs "
            "ORDER BY seq"
        ).fetchall()
        batches = con.execute("SELECT run_id, batch_id FROM batches ORDER BY batch_id").fetchall()
    by_run: dict[str, list[str]] = {}
    for row in batches:
        by_run.setdefault(row["run_id"], []).append(row["batch_id"])
    return [dict(row) | {"batches": by_run.get(row["run_id"], [])} for row in found]


def _finished_state(row: dict) -> dict:
    return {
        "id": row["run_id"],
        "run_id": row["run_id"],
        "period": row["period"],
        "state": "finished",
        "progress": None,
        "error": None,
        "findings": row["findings"],
        "lifecycle": json.loads(row["counts"]),
        "batches": row["batches"],
        "started_by": row["prepared_by"],
    }


def _job_state(job: Job) -> dict:
    return {
        "id": job.job_id,
        "run_id": job.run_id,
        "period": job.period,
        "state": job.state,
        "progress": job.progress(),
        "error": job.error,
        "findings": job.findings,
        "lifecycle": job.lifecycle,
        "batches": job.batches,
        "started_by": job.started_by,
    }
