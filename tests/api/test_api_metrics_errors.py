"""`/metrics` in Prometheus text, the OpenAPI document, and errors that keep the server's
insides (stack traces, paths, secrets) to themselves."""

from __future__ import annotations

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.lifecycle import RUN_FINDINGS_SCHEMA
from tests.api.live import SHIPMENT

ITEMS = "/v1/batches/2026-11.001/wms:item"
# SH-0000042 of the sample was delivered on 7 November; this event says it is in transit.
LATE_EVENT = {
    "shipment_ref": "SH-0000042",
    "seq": "5",
    "status": "IN_TRANSIT",
    "event_time": "2026-11-08T16:00:00Z",
    "recorded_at": "2026-11-08T16:02:00Z",
    "location": "Reno NV",
}


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_runs_findings_and_time_requests(served):
    metrics = {"Authorization": f"Bearer {served.store.create(tenant=None, role='metrics')[0]}"}
    admin = served.as_("acme", "admin")
    validated = served.client.post(
        "/v1/validate?entity=shipment&system=tms", headers=admin, json=[SHIPMENT]
    )
    assert validated.status_code == 200
    job = served.client.post("/v1/runs", headers=admin, json={"period": "2026-11"}).json()
    deadline = time.monotonic() + 120
    while served.client.get(f"/v1/runs/{job['id']}", headers=admin).json()["state"] not in (
        "finished",
        "failed",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)

    response = served.client.get("/metrics", headers=metrics)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    assert samples[("tallyclerk_runs_total", (("outcome", "finished"), ("tenant", "acme")))] == 1
    rule = (
        ("rule", "shipment-carrier-known"),
        ("severity", "high"),
        ("source", "validate"),
        ("tenant", "acme"),
    )
    assert samples[("tallyclerk_findings_total", rule)] == 1
    run_findings = sum(
        value
        for (name, labels), value in samples.items()
        if name == "tallyclerk_findings_total" and ("source", "run") in labels
    )
    assert run_findings == 20
    validate_count = (
        "tallyclerk_request_duration_seconds_count",
        (("method", "POST"), ("route", "/v1/validate"), ("status", "200")),
    )
    assert samples[validate_count] == 1
    templated = [
        labels
        for (name, labels) in samples
        if name == "tallyclerk_request_duration_seconds_count"
        and ("route", "/v1/runs/{run_id}") in labels
    ]
    assert templated, "requests are timed by their route's template, not their URL"


def test_the_openapi_document_describes_every_endpoint_with_examples(served):
    document = served.client.get("/openapi.json").json()
    paths = document["paths"]
    assert {"/v1/validate", "/v1/events", "/v1/runs", "/v1/runs/{run_id}/findings"} <= set(paths)
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert operation.get("summary"), (method, path)
            assert "200" in operation["responses"] or "202" in operation["responses"]
    body = paths["/v1/validate"]["post"]["requestBody"]["content"]
    assert {"application/json", "text/csv", "application/vnd.apache.arrow.stream"} <= set(body)
    assert body["application/json"]["example"][0]["shipment_ref"]
    assert document["components"]["schemas"]["Finding"]["examples"]


def test_the_openapi_document_describes_errors_as_problems(served):
    document = served.client.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            success = responses.get("200") or responses["202"]
            assert all("example" in c for c in success["content"].values() if "$ref" in str(c))
            assert any("example" in c for c in success["content"].values()), (method, path)
            if method == "post":
                assert {"400", "413"} <= set(responses), path
            for status, response in responses.items():
                if int(status) >= 400:
                    assert list(response["content"]) == ["application/problem+json"], path
                    problem = response["content"]["application/problem+json"]
                    assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}
                    assert problem["example"]["status"] == int(status)
    report = document["paths"]["/v1/runs/{run_id}/report"]["get"]
    assert "422" in report["responses"]
    validate = document["paths"]["/v1/validate"]["post"]["parameters"]
    assert next(p for p in validate if p["name"] == "entity")["schema"]["minLength"] == 1


def test_the_finding_schema_has_every_column_of_a_findings_answer(served):
    finding = served.client.get("/openapi.json").json()["components"]["schemas"]["Finding"]
    assert list(finding["properties"]) == RUN_FINDINGS_SCHEMA.names
    added = {name: finding["properties"][name] for name in RUN_FINDINGS_SCHEMA.names[-4:]}
    assert list(added) == ["cause_id", "explains", "sla_due", "sla_breached"]
    assert all(schema["description"] for schema in added.values())
    types = {name: {t["type"] for t in schema["anyOf"]} for name, schema in added.items()}
    assert types == {
        "cause_id": {"string", "null"},
        "explains": {"integer", "null"},
        "sla_due": {"string", "null"},
        "sla_breached": {"boolean", "null"},
    }
    headers = served.as_("acme", "viewer")
    (answered,) = served.client.get(
        "/v1/runs/2026-11.001/findings?limit=1", headers=headers
    ).json()["findings"]
    assert list(answered) == list(finding["properties"])


def test_the_success_examples_are_what_the_server_answers(served):
    paths = served.client.get("/openapi.json").json()["paths"]
    headers = served.as_("acme", "admin")

    def example(path: str, method: str = "post") -> dict:
        return paths[path][method]["responses"]["200"]["content"]["application/json"]["example"]

    def posted(path: str) -> list:
        return paths[path]["post"]["requestBody"]["content"]["application/json"]["example"]

    # The README's validate example: a shipment of a carrier the ERP lacks.
    assert posted("/v1/validate") == [SHIPMENT]
    validated = served.client.post(
        "/v1/validate?entity=shipment&system=tms&period=2026-11", headers=headers, json=[SHIPMENT]
    )
    assert validated.json() == example("/v1/validate")
    assert posted("/v1/events") == [LATE_EVENT]
    events = served.client.post(
        "/v1/events?entity=shipment_event&system=tms", headers=headers, json=[LATE_EVENT]
    )
    assert events.json() == example("/v1/events")
    page = served.client.get(
        "/v1/runs/2026-11.001/findings?causes=true&limit=1", headers=headers
    ).json()
    assert page == example("/v1/runs/{run_id}/findings", "get")
    batches = served.client.get("/v1/batches?run=2026-11.001", headers=headers).json()
    assert batches["batches"][0] == example("/v1/batches", "get")["batches"][0]


# Each documented problem, and a request the server answers with it: (method, path, status,
# url, JSON body, headers over an admin key's).
PROBLEMS = [
    ("get", "/v1/runs", 401, "/v1/runs", None, {"Authorization": "Basic dXNlcjpwYXNz"}),
    ("post", "/v1/events", 422, "/v1/events?entity=shipment_event&system=erp", [LATE_EVENT], {}),
    (
        "post",
        "/v1/validate",
        422,
        "/v1/validate?entity=shipment&system=tms&period=2026-13",
        [SHIPMENT],
        {},
    ),
    ("post", "/v1/runs", 409, "/v1/runs", {"period": "2026-10"}, {}),
    ("post", "/v1/runs", 422, "/v1/runs", {"period": "2026-13"}, {}),
    ("get", "/v1/runs/{run_id}", 404, "/v1/runs/2026-11.009", None, {}),
    (
        "get",
        "/v1/runs/{run_id}/findings",
        406,
        "/v1/runs/2026-11.001/findings",
        None,
        {"accept": "image/png"},
    ),
    ("get", "/v1/runs/{run_id}/findings", 422, "/v1/runs/2026-11.001/findings?status=x", None, {}),
    ("get", "/v1/runs/{run_id}/report", 422, "/v1/runs/2026-11.001/report?kind=x", None, {}),
    ("get", "/v1/batches", 404, "/v1/batches?run=2026-11.009", None, {}),
    ("get", "/v1/batches/{run_id}/{pair}", 404, "/v1/batches/2026-11.001/wms:nothing", None, {}),
    ("post", "/v1/batches/{run_id}/{pair}/reject", 422, ITEMS + "/reject", None, {}),
    ("post", "/v1/batches/{run_id}/{pair}/approve", 422, ITEMS + "/approve", {"revision": -1}, {}),
    ("post", "/v1/batches/{run_id}/{pair}/export", 422, ITEMS + "/export", None, {}),
    (
        "post",
        "/v1/batches/{run_id}/{pair}/export",
        406,
        ITEMS + "/export",
        None,
        {"accept": "image/png"},
    ),
]


@pytest.mark.parametrize(("method", "path", "status", "url", "body", "headers"), PROBLEMS)
def test_the_problem_examples_are_what_the_server_answers(
    served, method, path, status, url, body, headers
):
    document = served.client.get("/openapi.json").json()
    content = document["paths"][path][method]["responses"][str(status)]["content"]
    documented = content["application/problem+json"]["example"]["detail"]
    answered = served.client.request(
        method.upper(), url, headers=served.as_("acme", "admin") | headers, json=body
    )
    assert answered.status_code == status, answered.text
    assert answered.json()["detail"] == documented


def test_errors_show_no_server_paths_or_traces(served):
    (served.root / "acme/tallyclerk.yaml").write_text("name: [unclosed\n")
    response = served.client.get(
        "/v1/batches/2026-11.001/wms:item", headers=served.as_("acme", "approver", user="alex")
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith("acme/tallyclerk.yaml line 2, column 1: not valid YAML")
    assert str(served.root) not in response.text and "Traceback" not in response.text


def test_an_unexpected_failure_is_a_500_without_its_insides(served):
    catalog = served.root / "acme/.tallyclerk/catalog.sqlite"
    catalog.write_bytes(b"this is no database " * 100)
    response = served.client.get("/v1/runs", headers=served.as_("acme", "viewer"))
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert str(served.root) not in response.text and "Traceback" not in response.text
    assert "sqlite" not in response.text.lower() or "catalog" in response.json()["detail"]


def test_an_unknown_path_is_a_problem_too(served):
    response = served.client.get("/v2/everything")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == (
        "there is no /v2/everything; the OpenAPI document is /openapi.json."
    )


def test_engine_advice_is_said_for_http_callers_not_the_command_line(served):
    items = "/v1/batches/2026-11.001/wms:item/approve"
    stale = served.client.post(
        items, headers=served.as_("acme", "approver", user="alex"), json={"revision": 7}
    )
    assert stale.status_code == 409, stale.text
    assert "tallyclerk" not in stale.json()["detail"]
    assert "read the batch again (GET /v1/batches/" in stale.json()["detail"]

    from api.problems import Scrubber

    said = Scrubber([])("write a month as YYYY-MM, for example --period 2026-11.")
    assert said == "write a month as YYYY-MM, for example 2026-11."
    assert "--comment" not in Scrubber([])("a rejection needs a reason: pass --comment saying why.")
