"""The OpenAPI document, finished after FastAPI builds it: every error is described as
`application/problem+json` with the Problem schema, since that is what the server answers."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .problems import PROBLEM_JSON, TITLES
from .schemas import FINDING_EXAMPLE, Batch, Problem, RunState

_RUN = RunState.model_config["json_schema_extra"]["examples"][0]
_BATCH = Batch.model_config["json_schema_extra"]["examples"][0]
# Success examples of the documents whose models carry none of their own.
_EXAMPLES = {
    "Validated": {
        "entity": "item",
        "system": "wms",
        "records": 2,
        "quarantined": 0,
        "rules": ["item-weight-matches"],
        "skipped": {},
        "findings": [FINDING_EXAMPLE],
    },
    "EventsChecked": {
        "entity": "shipment",
        "system": "tms",
        "events": 1,
        "rules": ["shipment-status-order"],
        "states": {"shipment_id=SH-0000042": "delivered"},
        "findings": [],
    },
    "RunStarted": {
        "id": "9f2c41d07a3e5b18",
        "state": "queued",
        "href": "/v1/runs/9f2c41d07a3e5b18",
    },
    "RunList": {"runs": [_RUN]},
    "FindingPage": {
        "run_id": "2026-11.001",
        "total": 1,
        "offset": 0,
        "limit": 100,
        "next_offset": None,
        "findings": [FINDING_EXAMPLE],
    },
    "BatchList": {"batches": [_BATCH]},
}

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
# The body limit and an unparsable JSON body hold for every POST, whatever its route declares.
_EVERY_POST = (400, 413)
_DETAILS = {
    400: "the body is not valid JSON.",
    401: "no API key was given; send Authorization: Bearer tck_...",
    403: "a viewer key may not approve batches.",
    404: "run '2026-11.009' does not exist, or is not this key's tenant's.",
    406: "this answer comes as application/json or text/csv.",
    409: "the batch changed since revision 0; read it again and decide on what it is now.",
    410: "run 2026-08.001's files were removed, as retention removes old runs' folders.",
    413: "the body is larger than the server's limit of 16777216 bytes.",
    415: "the body must be application/json.",
    422: "period: String should match pattern '^\\d{4}-(0[1-9]|1[0-2])$'",
    429: "more than 600 requests in a minute; try again in a few seconds.",
    503: "the catalog is busy; try again in a few seconds.",
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
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            if method == "post":
                for status in _EVERY_POST:
                    responses.setdefault(str(status), {})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    _as_problem(int(status), response)
                else:
                    _with_example(response, components)
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def _as_problem(status: int, response: dict[str, Any]) -> None:
    title = TITLES.get(status, "Error")
    response["description"] = title
    example = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": _DETAILS.get(status, title),
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
            content["example"] = "finding_id,rule_id,severity\n6f1c2b0e,item-weight,high\n"
        elif media.startswith("text/"):
            content["example"] = "# TYPE tallyclerk_runs_total counter\n"
        elif content.get("schema", {}).get("format") == "binary":
            continue
        elif media == "application/json" and not ref:
            content["example"] = {"status": "ok"}
