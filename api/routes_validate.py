"""`POST /v1/validate`: records of one entity checked before they are posted, answered at once."""

from __future__ import annotations

from typing import Annotated

import pyarrow as pa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from engine.record_rules import select_rules, skipped_pack_rules
from engine.records import check_records, source_of

from .auth import Caller, caller
from .formats import ARROW_STREAM, CSV, JSON, checked_query, chosen_type, posted_table, run_rows
from .schemas import Validated, problems

router = APIRouter(tags=["validate"])

_RECORDS_EXAMPLE = [
    {
        "shipment_ref": "SH-9000002",
        "scac": "ZZZZ",
        "pickup_at": "2026-11-03T08:00:00Z",
        "delivered_at": "2026-11-04T15:30:00Z",
        "status": "DELIVERED",
        "freight_cost": "412.50",
        "carrier_invoice_no": "INV-NRTH-90001",
    }
]
_BODY = {
    "required": True,
    "description": (
        "The records, in the field names the system's source mapping reads (those of its "
        "export): a JSON array of objects, CSV with a header row, or an Arrow IPC stream."
    ),
    "content": {
        JSON: {
            "schema": {"type": "array", "items": {"type": "object"}},
            "example": _RECORDS_EXAMPLE,
        },
        CSV: {
            "schema": {"type": "string"},
            "example": (
                "shipment_ref,scac,pickup_at,delivered_at,status,freight_cost,"
                "carrier_invoice_no\nSH-9000002,ZZZZ,2026-11-03T08:00:00Z,"
                "2026-11-04T15:30:00Z,DELIVERED,412.50,INV-NRTH-90001\n"
            ),
        },
        ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}},
    },
}


@router.post(
    "/v1/validate",
    response_model=Validated,
    summary="Check records of one entity before posting them",
    openapi_extra={"requestBody": _BODY},
    responses=problems(400, 401, 403, 404, 406, 413, 415, 422, 429),
)
async def validate(
    request: Request,
    who: Annotated[Caller, Depends(caller("view"))],
    entity: Annotated[str, Query(min_length=1, description="The canonical entity, e.g. shipment.")],
    system: Annotated[
        str | None,
        Query(
            min_length=1,
            description=(
                "The system the records are for; when left out, the one system mapping the "
                "entity, or else its owner in the ownership policy."
            ),
        ),
    ] = None,
    rule: Annotated[list[str] | None, Query(description="A rule id to apply; repeatable.")] = None,
    pack: Annotated[
        list[str] | None, Query(description="A built-in pack to apply; repeatable.")
    ] = None,
    period: Annotated[
        str | None,
        Query(
            pattern=r"^[0-9]{4}-[0-9]{2}$",
            description="The month period filters mean (YYYY-MM); the current one by default.",
        ),
    ] = None,
) -> JSONResponse:
    """Map the records as the month-end run would, quarantine values that do not fit, and
    run the rules that read them: those named, the packs' rules, or by default every
    rule of the workspace judging the entity of that system. Other tables a rule reads
    (master data) come from the tenant's latest finished run."""
    checked_query(request, ("entity", "system", "period"), ("rule", "pack"))
    chosen_type(request, (JSON,))  # the answer is JSON, or 406
    tenants = request.app.state.tenants
    body = await request.body()

    def check() -> dict:
        # The query is checked before the body is parsed, so a wrong entity is said as such.
        workspace = tenants.workspace(who.tenant)
        found_system, index = source_of(workspace, system, entity)
        ref = f"{found_system}.{entity}"
        rules = select_rules(workspace, ref, rule or [], pack or [])
        unfit = skipped_pack_rules(workspace, ref, pack or [])
        limit = request.app.state.settings.max_records
        raw = posted_table(request, body, limit=limit, noun="records")

        latest: list = []

        def references(other: str) -> pa.Table | None:
            # The catalog is read only when a rule refers to another table.
            if not latest:
                latest.append(who.tenant.latest_run())
            return None if latest[0] is None else tenants.snapshot(latest[0], other)

        checked = check_records(
            workspace,
            raw,
            system=found_system,
            index=index,
            rules=rules,
            references=references,
            period=period,
            con=request.app.state.duckdb.connection(),
        )
        request.app.state.metrics.count_findings(who.tenant.tenant_id, "validate", checked.findings)
        return {
            "entity": entity,
            "system": found_system,
            "records": checked.records,
            "quarantined": checked.quarantined,
            "rules": list(checked.rules),
            "skipped": unfit | checked.skipped,
            "findings": run_rows(checked.findings),
        }

    return JSONResponse(await run_in_threadpool(check))
