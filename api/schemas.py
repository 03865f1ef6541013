"""The documents the API answers with, as pydantic models: they make the OpenAPI schema and
its examples. Findings have the columns of a run's `findings.parquet`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from engine.lifecycle import RUN_FINDINGS_SCHEMA


def finding_example(**values: object) -> dict:
    """A finding as the server answers it: every column of a run's, those not given empty."""
    return dict.fromkeys(RUN_FINDINGS_SCHEMA.names) | values


# A finding of the sample's first run: an item the WMS lacks, the root cause of four others.
RUN_FINDING = finding_example(
    finding_id="244143004186d88c5dd92f2e3167c89f",
    rule_id="item-master-sync",
    kind="match",
    severity="high",
    entity="item",
    problem="missing_in_wms",
    key="item_id=4001",
    field="",
    systems="erp+wms",
    owner_system="erp",
    owner_value="item_id=4001",
    message="this item is in erp but missing in wms",
    rule_version=1,
    status="new",
    first_seen_run="2026-11.001",
    first_seen="2026-11-30",
    age_days=0,
    explains=4,
)


class Finding(BaseModel):
    """One discrepancy. The fields from `status` on are filled in a run's findings only: the
    findings of validate and events have not been compared with an earlier run."""

    model_config = ConfigDict(json_schema_extra={"examples": [RUN_FINDING]})

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
    cause_id: str | None = Field(
        None,
        description="The finding_id of the root cause that explains this finding: a master "
        "record missing from a system, which this finding's record refers to.",
    )
    explains: int | None = Field(
        None, description="How many of the run's findings this one is the root cause of."
    )
    sla_due: str | None = Field(
        None,
        description="The day (YYYY-MM-DD) the finding is due to be resolved by its resolution "
        "target; empty when no target covers it.",
    )
    sla_breached: bool | None = Field(
        None,
        description="Whether a run on a later day than sla_due still found it open; a waived "
        "finding is never breached.",
    )


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
                        "stages": 8,
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
                    "counts": {"pending": 4},
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
