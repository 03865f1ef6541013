"""`POST /v1/events`: status changes and milestones checked as they arrive, against the entity's
lifecycle and each key's history, kept in the tenant's catalog (see `engine.events`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from engine.events import check_events, sequence_rules
from engine.findings import quarantine_findings
from engine.records import map_records, source_of

from .auth import Caller, caller
from .formats import CSV, JSON, checked_query, chosen_type, posted_table, run_rows
from .schemas import EventsChecked, problems

router = APIRouter(tags=["events"])

_EVENTS_EXAMPLE = [
    {
        "shipment_ref": "SH-0000042",
        "seq": "5",
        "status": "IN_TRANSIT",
        "event_time": "2026-11-08T16:00:00Z",
        "recorded_at": "2026-11-08T16:02:00Z",
        "location": "Reno NV",
    }
]
_BODY = {
    "required": True,
    "description": (
        "The events, in the field names the system's source mapping reads: a JSON array of "
        "objects, or CSV with a header row."
    ),
    "content": {
        JSON: {
            "schema": {"type": "array", "items": {"type": "object"}},
            "example": _EVENTS_EXAMPLE,
        },
        CSV: {"schema": {"type": "string"}},
    },
}


@router.post(
    "/v1/events",
    response_model=EventsChecked,
    summary="Check shipment milestones and status changes as they arrive",
    openapi_extra={"requestBody": _BODY},
    responses=problems(400, 401, 403, 404, 406, 413, 415, 422, 429, 503),
)
async def post_events(
    request: Request,
    who: Annotated[Caller, Depends(caller("post events"))],
    entity: Annotated[
        str, Query(min_length=1, description="The entity of the events, e.g. shipment_event.")
    ],
    system: Annotated[
        str | None,
        Query(
            min_length=1,
            description=(
                "The system sending them; when left out, the one system mapping the entity, "
                "or else its owner in the ownership policy."
            ),
        ),
    ] = None,
) -> JSONResponse:
    """Each event joins the history of its key; the workspace's sequence rules on the entity
    judge that history as a run would, and the answer lists the findings that are new. The
    next run of the events' period reports them with its own."""
    checked_query(request, ("entity", "system"))
    chosen_type(request, (JSON,))  # the answer is JSON, or 406
    tenants = request.app.state.tenants
    body = await request.body()

    def check() -> dict:
        # The query is checked before the body is parsed, so a wrong entity is said as such.
        workspace = tenants.workspace(who.tenant)
        found_system, index = source_of(workspace, system, entity)
        ref = f"{found_system}.{entity}"
        rules = sequence_rules(workspace, ref)
        limit = request.app.state.settings.max_events
        raw = posted_table(request, body, limit=limit, noun="events")

        snapshot = map_records(
            workspace,
            raw,
            system=found_system,
            index=index,
            con=request.app.state.duckdb.connection(),
        )
        latest = who.tenant.latest_run()
        with who.tenant.catalog() as catalog:
            checked = check_events(
                workspace,
                catalog,
                snapshot.table,
                ref=ref,
                rules=rules,
                baseline=None if latest is None else tenants.snapshot(latest, ref),
                con=request.app.state.duckdb.connection(),
            )
        quarantined = quarantine_findings([snapshot])
        metrics = request.app.state.metrics
        metrics.count_findings(who.tenant.tenant_id, "events", checked.findings)
        return {
            "entity": entity,
            "system": found_system,
            "events": raw.num_rows,
            "rules": list(checked.rules),
            "states": checked.states,
            "findings": run_rows(quarantined) + run_rows(checked.findings),
        }

    return JSONResponse(await run_in_threadpool(check))
