"""The documents the API answers with, as pydantic models: they make the OpenAPI schema and
its examples. Findings have the columns of a run's `findings.parquet`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

FINDING_EXAMPLE = {
    "finding_id": "6f1c2b0e9d8a7f6e5d4c3b2a19081726",
    "rule_id": "shipment-carrier-known",
    "kind": "validate",
    "severity": "high",
    "entity": "shipment",
    "problem": "reference",
    "key": "shipment_id=SH-0000042",
    "field": "carrier_scac",
    "systems": "tms",
    "owner_system": "erp",
    "owner_value": None,
    "other_value": "XXXX",
    "amount_at_risk": None,
    "message": "carrier_scac XXXX is not in erp.carrier",
    "owner_team": None,
    "rule_version": 1,
    "status": None,
    "first_seen_run": None,
    "first_seen": None,
    "age_days": None,
    "waived_until": None,
    "waiver_reason": None,
}


class Finding(BaseModel):
    """One discrepancy; the lifecycle fields (status to waiver_reason) only in a run's."""

    model_config = ConfigDict(json_schema_extra={"examples": [FINDING_EXAMPLE]})

    finding_id: str
    rule_id: str
    kind: str
    severity: str | None
    entity: str
    problem: str
    key: str
    field: str | None
    systems: str | None
    owner_system: str | None
    owner_value: str | None
    other_value: str | None
    amount_at_risk: str | None = Field(description="Money at risk, exact, as text.")
    message: str | None
    owner_team: str | None
    rule_version: int | None
    status: str | None = None
    first_seen_run: str | None = None
    first_seen: str | None = None
    age_days: int | None = None
    waived_until: str | None = None
    waiver_reason: str | None = None


class Validated(BaseModel):
    entity: str
    system: str
    records: int = Field(description="Records received.")
    quarantined: int = Field(description="Values that did not fit the canonical schema.")
    rules: list[str] = Field(description="The rules that checked the records.")
    skipped: dict[str, str] = Field(description="Rules that could not run, and why.")
    findings: list[Finding]


class EventsChecked(BaseModel):
    entity: str
    system: str
    events: int
    rules: list[str] = Field(description="The sequence rules the events were checked against.")
    states: dict[str, str] = Field(description="The status each key has reached now, by key.")
    findings: list[Finding] = Field(description="Findings these events raised, new ones only.")


class RunStarted(BaseModel):
    id: str
    state: str
    href: str


class Progress(BaseModel):
    stage: str | None
    done: int
    total: int
    stages_done: int
    stages: int


class RunState(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "9f2c41d07a3e5b18",
                    "run_id": None,
                    "period": "2026-11",
                    "state": "running",
                    "progress": {
                        "stage": "evaluate",
                        "done": 7,
                        "total": 14,
                        "stages_done": 2,
                        "stages": 6,
                    },
                    "error": None,
                    "findings": None,
                    "lifecycle": None,
                    "batches": [],
                    "started_by": "key:3a9d0c2e51f4",
                }
            ]
        }
    )

    id: str = Field(description="The job id of a run started through the API, else the run id.")
    run_id: str | None = Field(description="The run's id once it has one (2026-11.001).")
    period: str | None
    state: str = Field(description="queued, running, finished or failed.")
    progress: Progress | None = None
    error: str | None = None
    findings: int | None = None
    lifecycle: dict[str, int] | None = None
    batches: list[str] | None = None
    started_by: str | None = None
    files: str | None = Field(
        None,
        description="A finished run's files: kept, or removed (by retention), missing or "
        "unreadable, with why; then its findings and report cannot be read.",
    )


class RunList(BaseModel):
    runs: list[RunState]


class FindingPage(BaseModel):
    run_id: str
    total: int = Field(description="Findings matching the filters, on every page.")
    offset: int
    limit: int
    next_offset: int | None
    findings: list[Finding]


class Action(BaseModel):
    action_id: str
    kind: str
    key: str
    field: str
    risk: str
    status: str
    payload: dict
    decided_by: str | None
    decided_at: str | None
    comment: str | None
    reason: str | None


class Batch(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "batch_id": "2026-11.001/wms:item",
                    "run_id": "2026-11.001",
                    "target_system": "wms",
                    "entity": "item",
                    "state": "pending",
                    "revision": 0,
                    "prepared_by": "ada",
                    "submitted_by": None,
                    "counts": {"pending": 3},
                    "fixes_causes_of": 4,
                }
            ]
        }
    )

    batch_id: str
    run_id: str
    target_system: str
    entity: str
    state: str
    revision: int
    prepared_by: str | None
    submitted_by: str | None
    counts: dict[str, int]
    fixes_causes_of: int | None = Field(
        None, description="Findings explained by the root causes this batch's actions fix."
    )


class BatchDetail(Batch):
    actions: list[Action]


class BatchList(BaseModel):
    batches: list[Batch]


class Decided(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "batch_id": "2026-11.001/wms:item",
                    "decision": "approve",
                    "decided_by": "alex",
                    "actions": ["5d0e9a4c1b7f2e63a8c4d19e0b7f5a21"],
                    "still_pending": 2,
                    "revision": 1,
                }
            ]
        }
    )

    batch_id: str
    decision: str
    decided_by: str
    actions: list[str]
    still_pending: int
    revision: int


class Problem(BaseModel):
    """An error, as application/problem+json."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Not found",
                    "status": 404,
                    "detail": "run '2026-11.009' does not exist, or is not this key's tenant's.",
                }
            ]
        }
    )

    type: str
    title: str
    status: int
    detail: str


def problems(*statuses: int) -> dict[int | str, dict]:
    """The error answers of an endpoint, for its OpenAPI description; `api.openapi` gives
    each its problem+json content."""
    return {status: {"description": "A problem document."} for status in statuses}
