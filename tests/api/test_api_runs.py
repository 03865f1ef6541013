"""Runs through the API: started in the background, followed, their findings in three formats
with filters and pages, their reports; and the batches they make, under four eyes."""

from __future__ import annotations

import io
import time

import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from api.app import Settings, create_app
from api.jobs import INTERRUPTED, Job, save_job
from api.tenants import Tenant

ITEMS = "/v1/batches/2026-11.001/wms:item"


def _wait(served, job_id: str, headers: dict) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = served.client.get(f"/v1/runs/{job_id}", headers=headers).json()
        if state["state"] in ("finished", "failed"):
            return state
        time.sleep(0.2)
    raise AssertionError(f"run {job_id} did not finish: {state}")


def test_a_run_starts_in_the_background_and_reports_its_progress(served):
    headers = served.as_("acme", "preparer")
    started = served.client.post("/v1/runs", headers=headers, json={"period": "2026-11"})
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["state"] in ("queued", "running") and started.headers["location"] == job["href"]

    state = _wait(served, job["id"], headers)
    assert state["state"] == "finished", state
    assert state["run_id"] == "2026-11.002"
    assert state["progress"]["stages_done"] == state["progress"]["stages"] == 8
    assert state["lifecycle"]["persisting"] == 20 and state["findings"] == 20
    assert state["started_by"] == f"key:{headers['Authorization'].split('_')[1]}"

    listed = served.client.get("/v1/runs", headers=headers).json()["runs"]
    assert [run["run_id"] for run in listed] == ["2026-11.002", "2026-11.001"]
    assert listed[0]["id"] == job["id"]
    by_run_id = served.client.get("/v1/runs/2026-11.002", headers=headers).json()
    assert by_run_id["state"] == "finished" and by_run_id["id"] == job["id"]


def test_a_failed_run_says_why_without_server_paths(served):
    (served.root / "acme/erp/items.csv").unlink()
    headers = served.as_("acme", "admin")
    job = served.client.post("/v1/runs", headers=headers, json={"period": "2026-11"}).json()
    state = _wait(served, job["id"], headers)
    assert state["state"] == "failed"
    assert "items.csv" in state["error"]
    assert str(served.root) not in state["error"] and "/tmp" not in state["error"]


def test_bad_run_requests_are_refused(served):
    headers = served.as_("acme", "preparer")
    for body in ({"period": "2026-13"}, {"period": "Nov"}, {}, {"period": "2026-11", "x": 1}):
        response = served.client.post("/v1/runs", headers=headers, json=body)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"
    missing = served.client.get("/v1/runs/2026-11.777", headers=headers)
    assert missing.status_code == 404
    assert "does not exist" in missing.json()["detail"]


def test_findings_are_filtered_and_paged(served):
    headers = served.as_("acme", "viewer")
    path = "/v1/runs/2026-11.001/findings"
    everything = served.client.get(path, headers=headers).json()
    assert everything["total"] == 20 and len(everything["findings"]) == 20
    assert everything["next_offset"] is None

    first = served.client.get(f"{path}?limit=4", headers=headers).json()
    second = served.client.get(f"{path}?limit=4&offset=4", headers=headers).json()
    assert first["next_offset"] == 4 and second["next_offset"] == 8
    assert first["findings"] + second["findings"] == everything["findings"][:8]

    critical = served.client.get(f"{path}?severity=critical", headers=headers).json()
    assert critical["total"] == 3
    assert {f["severity"] for f in critical["findings"]} == {"critical"}
    items = served.client.get(f"{path}?rule=item-master-sync&status=new", headers=headers).json()
    assert items["total"] == 5
    assert {f["rule_id"] for f in items["findings"]} == {"item-master-sync"}
    assert served.client.get(f"{path}?status=resolved", headers=headers).json()["total"] == 0
    assert served.client.get(f"{path}?status=nonsense", headers=headers).status_code == 422
    assert served.client.get(f"{path}?limit=0", headers=headers).status_code == 422


def test_repeated_filters_all_count_and_unknown_values_name_the_allowed(served):
    headers = served.as_("acme", "viewer")
    path = "/v1/runs/2026-11.001/findings"

    def total(query: str) -> int:
        return served.client.get(f"{path}?{query}", headers=headers).json()["total"]

    everything = served.client.get(path, headers=headers).json()["findings"]
    rules = sorted({f["rule_id"] for f in everything})[:2]
    both = sum(1 for f in everything if f["rule_id"] in rules)
    assert total(f"rule={rules[0]}&rule={rules[1]}") == both > total(f"rule={rules[0]}")
    assert total("severity=critical&severity=high") == sum(
        1 for f in everything if f["severity"] in ("critical", "high")
    )
    assert total("kind=match&kind=validate") == sum(
        1 for f in everything if f["kind"] in ("match", "validate")
    )
    entities = sorted({f["entity"] for f in everything})[:2]
    assert total(f"entity={entities[0]}&entity={entities[1]}") == sum(
        1 for f in everything if f["entity"] in entities
    )
    for query, allowed in (("severity=urgent", "'critical'"), ("kind=nope", "'sequence'")):
        refused = served.client.get(f"{path}?{query}", headers=headers)
        assert refused.status_code == 422 and allowed in refused.json()["detail"], refused.text


def test_findings_come_as_csv_or_parquet_by_accept(served):
    path = "/v1/runs/2026-11.001/findings?rule=item-master-sync"
    headers = served.as_("acme", "viewer")
    as_json = served.client.get(path, headers=headers).json()["findings"]

    as_csv = served.client.get(path, headers=headers | {"accept": "text/csv"})
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    table = pa_csv.read_csv(io.BytesIO(as_csv.content))
    assert table["finding_id"].to_pylist() == [f["finding_id"] for f in as_json]

    parquet = "application/vnd.apache.parquet"
    as_parquet = served.client.get(path, headers=headers | {"accept": parquet})
    assert as_parquet.headers["content-type"] == parquet
    table = pq.read_table(io.BytesIO(as_parquet.content))
    assert table["finding_id"].to_pylist() == [f["finding_id"] for f in as_json]
    assert as_parquet.headers["x-total-count"] == "5"

    refused = served.client.get(path, headers=headers | {"accept": "image/png"})
    assert refused.status_code == 406


def test_the_report_is_the_runs_html(served):
    headers = served.as_("acme", "viewer")
    report = served.client.get("/v1/runs/2026-11.001/report", headers=headers)
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "item-master-sync" in report.text
    executive = served.client.get("/v1/runs/2026-11.001/report?kind=executive", headers=headers)
    assert executive.status_code == 200 and "<html" in executive.text.lower()
    assert executive.text != report.text


def test_batches_are_listed_and_shown(served):
    headers = served.as_("acme", "viewer")
    listed = served.client.get("/v1/batches", headers=headers).json()["batches"]
    assert "2026-11.001/wms:item" in [b["batch_id"] for b in listed]
    batch = served.client.get(ITEMS, headers=headers).json()
    assert batch["state"] == "pending" and batch["prepared_by"] == "ada"
    assert len(batch["actions"]) == 4 and batch["counts"] == {"pending": 4}
    assert sorted(a["kind"] for a in batch["actions"]) == ["create", "create", "update", "update"]
    assert all(set(a["payload"]["record"]) == {"SKU"} for a in batch["actions"])
    assert (
        served.client.get("/v1/batches/2026-11.001/wms:nothing", headers=headers).status_code == 404
    )


def test_four_eyes_holds_for_keys_made_for_workspace_users(served):
    # ada prepared the first run on the command line; her key may not approve its batches.
    refused = served.client.post(
        ITEMS + "/approve", headers=served.as_("acme", "admin", user="ada"), json={}
    )
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "four eyes: ada prepared batch 2026-11.001/wms:item, so another approver must approve it."
    )
    approved = served.client.post(
        ITEMS + "/approve",
        headers=served.as_("acme", "approver", user="alex"),
        json={"comment": "weights checked", "revision": 0},
    )
    assert approved.status_code == 200, approved.text
    assert approved.json() | {"actions": 3} == {
        "batch_id": "2026-11.001/wms:item",
        "decision": "approve",
        "decided_by": "alex",
        "actions": 3,
        "still_pending": 0,
        "revision": 1,
    }
    batch = served.client.get(ITEMS, headers=served.as_("acme", "viewer")).json()
    assert {a["decided_by"] for a in batch["actions"]} == {"alex"}
    # A second decision on the same actions is a conflict.
    again = served.client.post(ITEMS + "/approve", headers=served.as_("acme", "approver"), json={})
    assert again.status_code == 409


def test_four_eyes_holds_for_the_key_that_started_the_run(served):
    admin = served.as_("acme", "admin")
    job = served.client.post("/v1/runs", headers=admin, json={"period": "2026-12"}).json()
    state = _wait(served, job["id"], admin)
    assert state["state"] == "finished", state
    batch = state["batches"][0]
    refused = served.client.post(f"/v1/batches/{batch}/approve", headers=admin, json={})
    assert refused.status_code == 403 and "four eyes" in refused.json()["detail"]
    other = served.client.post(
        f"/v1/batches/{batch}/approve", headers=served.as_("acme", "approver"), json={}
    )
    assert other.status_code == 200, other.text


def test_a_rejection_needs_a_comment_and_is_recorded(served):
    headers = served.as_("acme", "approver")
    for body in ({}, {"comment": ""}, {"comment": "   "}):
        response = served.client.post(ITEMS + "/reject", headers=headers, json=body)
        assert response.status_code == 422, body
    rejected = served.client.post(
        ITEMS + "/reject", headers=headers, json={"comment": "the WMS is right"}
    )
    assert rejected.status_code == 200 and rejected.json()["decision"] == "reject"
    batch = served.client.get(ITEMS, headers=headers).json()
    assert batch["state"] == "rejected"
    assert {a["comment"] for a in batch["actions"]} == {"the WMS is right"}


def test_an_approved_batch_exports_as_json_lines_or_csv(served):
    approver = served.as_("acme", "approver")
    early = served.client.post(ITEMS + "/export", headers=approver)
    assert early.status_code == 422 and "no approved actions" in early.json()["detail"]
    served.client.post(ITEMS + "/approve", headers=approver, json={})
    lines = served.client.post(ITEMS + "/export", headers=approver)
    assert lines.status_code == 200 and lines.headers["content-type"] == "application/x-ndjson"
    assert len(lines.text.strip().splitlines()) == 4
    as_csv = served.client.post(ITEMS + "/export", headers=approver | {"accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert len(as_csv.text.strip().splitlines()) == 5


def test_submitting_hands_the_batch_over_and_bars_the_submitter(served):
    preparer = served.as_("acme", "admin")
    submitted = served.client.post(ITEMS + "/submit", headers=preparer, json={"comment": "ready"})
    assert submitted.status_code == 200 and submitted.json()["submitted_by"].startswith("key:")
    refused = served.client.post(ITEMS + "/approve", headers=preparer, json={})
    assert refused.status_code == 403 and "submitted batch" in refused.json()["detail"]
    twice = served.client.post(ITEMS + "/submit", headers=preparer, json={})
    assert twice.status_code == 409


def test_a_run_whose_folder_was_purged_is_gone_not_a_failure(served):
    import shutil

    shutil.rmtree(served.root / "acme/.tallyclerk/runs/2026-11.001")
    headers = served.as_("acme", "viewer")
    for path in ("findings", "report?kind=executive"):
        response = served.client.get(f"/v1/runs/2026-11.001/{path}", headers=headers)
        assert response.status_code == 410, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "removed" in response.json()["detail"] and "retention" in response.json()["detail"]
    state = served.client.get("/v1/runs/2026-11.001", headers=headers).json()
    assert state["files"].startswith("removed")


def test_a_missing_or_unreadable_findings_file_is_named(served):
    findings = served.root / "acme/.tallyclerk/runs/2026-11.001/findings.parquet"
    headers = served.as_("acme", "viewer")
    findings.write_bytes(b"not parquet")
    for path in ("findings", "report?kind=executive"):
        response = served.client.get(f"/v1/runs/2026-11.001/{path}", headers=headers)
        assert response.status_code == 404, response.text
        assert "findings.parquet is unreadable" in response.json()["detail"]
    assert served.client.get("/v1/runs/2026-11.001", headers=headers).json()["files"] == (
        "unreadable: findings.parquet cannot be read"
    )

    findings.unlink()
    response = served.client.get("/v1/runs/2026-11.001/findings", headers=headers)
    assert response.status_code == 404 and "findings.parquet" in response.json()["detail"]
    assert "missing" in served.client.get("/v1/runs/2026-11.001", headers=headers).json()["files"]


def test_root_causes_come_first_in_findings_and_batches(served):
    headers = served.as_("acme", "viewer")
    plain = served.client.get("/v1/runs/2026-11.001/findings", headers=headers).json()
    first = served.client.get("/v1/runs/2026-11.001/findings?causes=true", headers=headers).json()
    assert first["total"] == plain["total"]
    findings = first["findings"]
    causes = [f for f in findings if f["explains"]]
    assert causes and findings[0] == causes[0]
    explained = [f["finding_id"] for f in findings if f["cause_id"] == causes[0]["finding_id"]]
    assert [f["finding_id"] for f in findings[1 : 1 + len(explained)]] == explained
    assert [f["finding_id"] for f in plain["findings"]] != [f["finding_id"] for f in findings]

    listed = served.client.get("/v1/batches", headers=headers).json()["batches"]
    ranked = [b["fixes_causes_of"] for b in listed if b["run_id"] == "2026-11.001"]
    assert ranked[0] > 0 and ranked == sorted(ranked, reverse=True)


def test_a_body_that_is_not_json_is_a_bad_request(served):
    headers = served.as_("acme", "preparer") | {"content-type": "application/json"}
    for path in ("/v1/runs", ITEMS + "/approve"):
        response = served.client.post(path, headers=headers, content=b'{"period": ')
        assert response.status_code == 400, response.text
        assert response.json()["detail"] == "the body is not valid JSON."


def test_a_job_outlives_the_server_and_one_cut_off_says_it_was_interrupted(served):
    headers = served.as_("acme", "preparer")
    done = served.client.post("/v1/runs", headers=headers, json={"period": "2026-11"}).json()
    assert _wait(served, done["id"], headers)["state"] == "finished"
    # A job the server had queued when it stopped is in the catalog, and in no server's memory.
    cut_off = Job(
        "0123456789abcdef", "acme", "2026-12", False, "key:x", "2026-12-04T10:00:00+00:00"
    )
    save_job(Tenant("acme", served.root / "acme"), cut_off)

    restarted = TestClient(create_app(Settings(workspaces=served.root)))
    finished = restarted.get(f"/v1/runs/{done['id']}", headers=headers).json()
    assert (finished["state"], finished["run_id"], finished["findings"]) == (
        "finished",
        "2026-11.002",
        20,
    )
    interrupted = restarted.get("/v1/runs/0123456789abcdef", headers=headers).json()
    assert (interrupted["state"], interrupted["error"]) == ("failed", INTERRUPTED)
    listed = restarted.get("/v1/runs", headers=headers).json()["runs"]
    assert [(run["id"], run["run_id"]) for run in listed] == [
        ("0123456789abcdef", None),
        (done["id"], "2026-11.002"),
        ("2026-11.001", "2026-11.001"),
    ]
    other = restarted.get("/v1/runs/0123456789abcdef", headers=served.as_("globex", "viewer"))
    assert other.status_code == 404
