"""Batches through the API: listed and shown, submitted, approved and rejected under four eyes,
and exported."""

from __future__ import annotations

ITEMS = "/v1/batches/2026-11.001/wms:item"
PROBLEM = "application/problem+json"
NO_COMMENT = "a rejection needs a reason: give a comment saying why."


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


def test_the_batches_of_a_run_that_does_not_exist_are_not_found(served):
    headers = served.as_("acme", "viewer")
    # 2026-10.001 is a run of globex, not of acme.
    for run in ("2026-11.009", "../x", "2026-10.001"):
        response = served.client.get("/v1/batches", params={"run": run}, headers=headers)
        assert response.status_code == 404 and response.headers["content-type"] == PROBLEM
        assert response.json()["detail"] == (
            f"run {run!r} does not exist, or is not this key's tenant's."
        )
    listed = served.client.get("/v1/batches?run=2026-11.001", headers=headers).json()["batches"]
    assert len(listed) == 12 and {b["run_id"] for b in listed} == {"2026-11.001"}


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
    state = served.wait(job["id"], admin)
    assert state["state"] == "finished", state
    batch = state["batches"][0]
    by_job = served.client.get(f"/v1/batches?run={job['id']}", headers=admin).json()["batches"]
    assert sorted(b["batch_id"] for b in by_job) == sorted(state["batches"])
    refused = served.client.post(f"/v1/batches/{batch}/approve", headers=admin, json={})
    assert refused.status_code == 403 and "four eyes" in refused.json()["detail"]
    other = served.client.post(
        f"/v1/batches/{batch}/approve", headers=served.as_("acme", "approver"), json={}
    )
    assert other.status_code == 200, other.text


def test_a_rejection_needs_a_comment_and_is_recorded(served):
    headers = served.as_("acme", "approver")
    for body in (None, {}, {"comment": ""}, {"comment": "   "}, {"comment": None}):
        response = served.client.post(ITEMS + "/reject", headers=headers, json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"] == NO_COMMENT
    rejected = served.client.post(
        ITEMS + "/reject", headers=headers, json={"comment": "the WMS is right"}
    )
    assert rejected.status_code == 200 and rejected.json()["decision"] == "reject"
    batch = served.client.get(ITEMS, headers=headers).json()
    assert batch["state"] == "rejected"
    assert {a["comment"] for a in batch["actions"]} == {"the WMS is right"}


def test_no_body_is_an_empty_one_to_submit_and_approve(served):
    submitted = served.client.post(ITEMS + "/submit", headers=served.as_("acme", "preparer"))
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["submitted_by"].startswith("key:")
    approver = served.as_("acme", "approver", user="alex")
    # Declared as JSON but empty is no body too.
    empty = approver | {"content-type": "application/json"}
    approved = served.client.post(ITEMS + "/approve", headers=empty, content=b"")
    assert approved.status_code == 200, approved.text
    assert (approved.json()["decision"], approved.json()["still_pending"]) == ("approve", 0)
    assert len(approved.json()["actions"]) == 4


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
    assert submitted.json()["fixes_causes_of"] == 4
    refused = served.client.post(ITEMS + "/approve", headers=preparer, json={})
    assert refused.status_code == 403 and "submitted batch" in refused.json()["detail"]
    twice = served.client.post(ITEMS + "/submit", headers=preparer, json={})
    assert twice.status_code == 409
