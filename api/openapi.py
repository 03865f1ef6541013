"""The OpenAPI document, finished after FastAPI builds it: every error is described as
`application/problem+json` with the Problem schema, since that is what the server answers."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .problems import PROBLEM_JSON, TITLES
from .schemas import RUN_FINDING, Batch, Problem, RunState, finding_example

_RUN = RunState.model_config["json_schema_extra"]["examples"][0]
_BATCH = Batch.model_config["json_schema_extra"]["examples"][0]
# Success examples of the documents whose models carry none of their own, each what the
# server answers on the sample tenant after its first run. Validate: the shipment of the
# README's example, of a carrier the ERP lacks.
_EXAMPLES = {
    "Validated": {
        "entity": "shipment",
        "system": "tms",
        "records": 1,
        "quarantined": 0,
        "rules": ["shipment-carrier-known", "shipment-delivered-after-pickup"],
        "skipped": {},
        "findings": [
            finding_example(
                finding_id="e6f7ea29542411027db7640e9a28cd31",
                rule_id="shipment-carrier-known",
                kind="validate",
                severity="high",
                entity="shipment",
                problem="reference",
                key="shipment_id=SH-9000002",
                field="carrier_scac",
                systems="tms",
                owner_system="wms",
                other_value="ZZZZ",
                message="carrier_scac ZZZZ is not a known erp.carrier carrier_scac",
                rule_version=1,
            )
        ],
    },
    # Events: SH-0000042, delivered on 7 November, reported in transit the day after.
    "EventsChecked": {
        "entity": "shipment_event",
        "system": "tms",
        "events": 1,
        "rules": ["shipment-status-sequence"],
        "states": {"shipment_id=SH-0000042": "IN_TRANSIT"},
        "findings": [
            finding_example(
                finding_id="3572607c1a6e11e3c061463d09461f0e",
                rule_id="shipment-status-sequence",
                kind="sequence",
                severity="high",
                entity="shipment_event",
                problem="status_regression",
                key="shipment_id=SH-0000042",
                field="status",
                systems="tms",
                owner_system="tms",
                owner_value="DELIVERED",
                other_value="IN_TRANSIT",
                message="status went back from DELIVERED to IN_TRANSIT at recorded_at "
                "2026-11-08 16:02:00+00",
                rule_version=1,
            )
        ],
    },
    "RunStarted": {
        "id": "9f2c41d07a3e5b18",
        "state": "queued",
        "href": "/v1/runs/9f2c41d07a3e5b18",
    },
    "RunList": {"runs": [_RUN]},
    "FindingPage": {
        "run_id": "2026-11.001",
        "total": 20,
        "offset": 0,
        "limit": 1,
        "next_offset": 1,
        "findings": [RUN_FINDING],
    },
    "BatchList": {"batches": [_BATCH]},
}

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
# The body limit, an unparsable JSON or gzip body and a content coding other than gzip hold
# for every POST, whatever its route declares.
_EVERY_POST = (400, 413, 415)
_RECORDS_TYPE = (
    "records cannot be sent as text/plain; send application/json, text/csv, "
    "application/vnd.apache.arrow.stream, application/vnd.apache.arrow.file."
)
_DETAILS = {
    400: "the body is not valid JSON.",
    401: "no API key: send one as `Authorization: Bearer tck_...`; the server's operator's "
    "tallyclerk keys create makes one.",
    403: "this key has the role viewer; to decide needs admin or approver.",
    404: "run '2026-11.009' does not exist, or is not this key's tenant's.",
    406: "this answer is available as application/json, text/csv, "
    "application/vnd.apache.parquet; ask for one.",
    409: "batch 2026-11.001/wms:item is at revision 1, not 0: it changed since you looked; read "
    "the batch again (GET /v1/batches/{run}/{pair}). Last decision: alex approved 4 actions at "
    "2026-12-02T10:15:00+00:00.",
    410: "run 2026-08.001's files were removed, as retention removes old runs' folders; its "
    "findings history, batches and audit trail stay in the catalog.",
    413: (
        "the body is over 16,777,216 bytes, this server's limit; send a smaller body, or fewer "
        "records per request."
    ),
    415: "the body is encoded as br, which this server does not read; send it compressed with "
    "gzip (Content-Encoding: gzip or x-gzip), or not compressed.",
    422: "body.period: String should match pattern '^[0-9]{4}-(0[1-9]|1[0-2])$'",
    429: "this key made 600 requests in the last minute, its limit; try again in 12 s.",
    503: "the catalog acme/.tallyclerk/catalog.sqlite is busy: another tallyclerk process held "
    "it for more than 10 s while this one tried to write; try again in a moment.",
}
_NOT_RUNNING_YET = (
    "run 9f2c41d07a3e5b18 is running; its findings and report exist once it finished."
)
# Where the detail above would speak of what an operation does not take, its own.
_OPERATION_DETAILS = {
    ("post", "/v1/validate"): {
        406: "this answer is available as application/json; ask for one.",
        415: _RECORDS_TYPE,
        422: "invalid period '2026-13': write a month as YYYY-MM, for example 2026-11.",
    },
    ("post", "/v1/events"): {
        406: "this answer is available as application/json; ask for one.",
        415: _RECORDS_TYPE,
        422: "system 'erp' maps no source onto shipment_event; the systems that do: tms.",
    },
    ("post", "/v1/runs"): {
        409: "period 2026-10 is before 2026-11, the period of the latest run 2026-11.001: runs "
        "are compared with the previous one, so an earlier period run now would resolve the "
        "later period's findings. Run the periods in order, or restate the earlier period in a "
        "copy of the workspace without its .tallyclerk folder.",
    },
    ("get", "/v1/runs/{run_id}/findings"): {
        409: _NOT_RUNNING_YET,
        422: "query.status: Input should be 'new', 'persisting', 'reopened', 'resolved', "
        "'waived' or 'open'",
    },
    ("get", "/v1/runs/{run_id}/report"): {
        409: _NOT_RUNNING_YET,
        422: "query.kind: Input should be 'run' or 'executive'",
    },
    ("get", "/v1/batches"): {
        409: "run '9f2c41d07a3e5b18' failed, so it has no batches: erp.item: file "
        "harborline/erp/items.csv does not exist. Check the `file:` path in tallyclerk.yaml (it "
        "is relative to the workspace folder), or export the file again.",
    },
    ("get", "/v1/batches/{run_id}/{pair}"): {
        404: "batch '2026-11.001/wms:nothing' does not exist, or is not this key's tenant's.",
    },
    ("post", "/v1/batches/{run_id}/{pair}/submit"): {
        404: "batch '2026-11.001/wms:nothing' does not exist, or is not this key's tenant's.",
        409: "batch 2026-11.001/wms:item was already submitted by ada at "
        "2026-12-01T09:30:00+00:00.",
        422: "body.comment: String should have at most 2000 characters",
    },
    ("post", "/v1/batches/{run_id}/{pair}/approve"): {
        404: "batch '2026-11.001/wms:nothing' does not exist, or is not this key's tenant's.",
        422: "body.revision: Input should be greater than or equal to 0",
    },
    ("post", "/v1/batches/{run_id}/{pair}/reject"): {
        404: "batch '2026-11.001/wms:nothing' does not exist, or is not this key's tenant's.",
        422: "a rejection needs a reason: give a comment saying why.",
    },
    ("post", "/v1/batches/{run_id}/{pair}/export"): {
        404: "batch '2026-11.001/wms:nothing' does not exist, or is not this key's tenant's.",
        406: "this answer is available as application/x-ndjson, text/csv; ask for one.",
        422: "batch 2026-11.001/wms:item has no approved actions waiting to be applied; approve "
        "some first (POST .../approve).",
    },
}


def install(app: FastAPI) -> None:
    """Build `app`'s document once, on first request of /openapi.json, finished as above."""

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = finish(schema)
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


def finish(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema()
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            details = _DETAILS | _OPERATION_DETAILS.get((method, path), {})
            responses = operation.setdefault("responses", {})
            if method == "post":
                for status in _EVERY_POST:
                    responses.setdefault(str(status), {})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    _as_problem(int(status), response, details)
                else:
                    _with_example(response, components)
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def _as_problem(status: int, response: dict[str, Any], details: dict[int, str]) -> None:
    title = TITLES.get(status, "Error")
    response["description"] = title
    example = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": details.get(status, title),
    }
    response["content"] = {PROBLEM_JSON: {"schema": _PROBLEM_REF, "example": example}}


def _with_example(response: dict[str, Any], components: dict[str, Any]) -> None:
    """A success answer's example: its model's first example, or a plain one by media type."""
    for media, content in response.get("content", {}).items():
        if "example" in content or "examples" in content:
            continue
        ref = content.get("schema", {}).get("$ref", "")
        model = components.get(ref.rsplit("/", 1)[-1], {}) if ref else {}
        name = ref.rsplit("/", 1)[-1]
        if name in _EXAMPLES:
            content["example"] = _EXAMPLES[name]
        elif model.get("examples"):
            content["example"] = model["examples"][0]
        elif media == "application/x-ndjson":
            content["example"] = '{"action_id": "5d0e9a4c", "kind": "update", "key": "SKU=A1"}\n'
        elif media == "text/html":
            content["example"] = "<!doctype html><html>...</html>"
        elif media == "text/csv":
            content["example"] = (
                "finding_id,rule_id,severity\n"
                "244143004186d88c5dd92f2e3167c89f,item-master-sync,high\n"
            )
        elif media.startswith("text/"):
            content["example"] = "# TYPE tallyclerk_runs_total counter\n"
        elif content.get("schema", {}).get("format") == "binary":
            continue
        elif media == "application/json" and not ref:
            content["example"] = {"status": "ok"}
