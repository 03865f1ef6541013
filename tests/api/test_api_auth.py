"""Keys, roles and limits of the HTTP API: who may call, what each role may do, and the 401,
403, 413 and 429 answers, each a problem document."""

from __future__ import annotations

import json

import pytest

PROBLEM = "application/problem+json"
EVENT = {
    "shipment_ref": "SH-0000001",
    "seq": "9",
    "status": "DELIVERED",
    "event_time": "2026-11-20T10:00:00Z",
    "recorded_at": "2026-11-20T10:01:00Z",
    "location": "Reno NV",
}


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_healthz_needs_no_key(served):
    response = served.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (None, "no API key"),
        ("Bearer nonsense", "not a tallyclerk API key"),
        ("Bearer tck_0123456789ab_" + "x" * 43, "not known"),
        ("Basic dXNlcjpwYXNz", "no API key"),
    ],
)
def test_requests_without_a_valid_key_are_refused(served, header, why):
    headers = {"Authorization": header} if header else {}
    body = _problem(served.client.get("/v1/runs", headers=headers), 401)
    assert why in body["detail"]


def test_a_key_with_a_wrong_secret_is_refused(served):
    key = served.key("acme", "viewer")
    tampered = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    response = served.client.get("/v1/runs", headers={"Authorization": f"Bearer {tampered}"})
    assert "not known" in _problem(response, 401)["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_revoked_key_is_refused_at_its_next_request(served):
    headers = served.as_("acme", "viewer")
    assert served.client.get("/v1/runs", headers=headers).status_code == 200
    key_id = headers["Authorization"].split("_")[1]
    served.store.revoke(key_id)
    body = _problem(served.client.get("/v1/runs", headers=headers), 401)
    assert f"the key {key_id} was revoked" in body["detail"]


def test_keys_are_stored_only_as_hashes(served):
    key = served.key("acme", "admin")
    stored = (served.root / ".tallyclerk-keys.sqlite").read_bytes()
    secret = key.rsplit("_", 1)[1]
    assert secret.encode() not in stored


@pytest.mark.parametrize(
    ("role", "method", "path", "body", "needs"),
    [
        ("viewer", "post", "/v1/runs", {"period": "2026-11"}, "admin or preparer"),
        ("approver", "post", "/v1/runs", {"period": "2026-11"}, "admin or preparer"),
        ("viewer", "post", "/v1/batches/2026-11.001/wms:item/approve", {}, "admin or approver"),
        ("preparer", "post", "/v1/batches/2026-11.001/wms:item/approve", {}, "admin or approver"),
        (
            "preparer",
            "post",
            "/v1/batches/2026-11.001/wms:item/reject",
            {"comment": "no"},
            "admin or approver",
        ),
        ("viewer", "post", "/v1/batches/2026-11.001/wms:item/export", None, "or preparer"),
        ("approver", "post", "/v1/batches/2026-11.001/wms:item/submit", {}, "admin or preparer"),
        ("viewer", "post", "/v1/events?entity=shipment_event", [EVENT], "to post events needs"),
    ],
)
def test_each_role_may_do_only_what_its_role_allows(served, role, method, path, body, needs):
    response = served.client.request(
        method.upper(), path, headers=served.as_("acme", role), json=body
    )
    detail = _problem(response, 403)["detail"]
    assert f"this key has the role {role}" in detail and needs in detail


def test_a_key_made_for_a_user_is_bound_by_the_users_role_in_the_workspace(served):
    # vic is a viewer in tallyclerk.yaml: an approver key made for vic may not decide.
    headers = served.as_("acme", "approver", user="vic")
    response = served.client.post(
        "/v1/batches/2026-11.001/wms:item/approve", headers=headers, json={}
    )
    assert "vic is a viewer" in _problem(response, 403)["detail"]
    # nobody is not declared at all.
    headers = served.as_("acme", "viewer", user="nobody")
    assert (
        "unknown user 'nobody'"
        in _problem(served.client.get("/v1/runs", headers=headers), 403)["detail"]
    )


def test_metrics_keys_and_tenant_keys_do_not_mix(served):
    metrics = {"Authorization": f"Bearer {served.store.create(tenant=None, role='metrics')[0]}"}
    assert (
        "metrics key reads /metrics only"
        in _problem(served.client.get("/v1/runs", headers=metrics), 403)["detail"]
    )
    assert (
        "needs a metrics key"
        in _problem(served.client.get("/metrics", headers=served.as_("acme", "admin")), 403)[
            "detail"
        ]
    )
    assert served.client.get("/metrics", headers=metrics).status_code == 200


def test_requests_per_key_per_minute_are_limited(make_served):
    served = make_served(requests_per_minute=3)
    headers = served.as_("acme", "viewer")
    for _ in range(3):
        assert served.client.get("/v1/runs", headers=headers).status_code == 200
    response = served.client.get("/v1/runs", headers=headers)
    assert "made 3 requests in the last minute" in _problem(response, 429)["detail"]
    assert 1 <= int(response.headers["retry-after"]) <= 60
    # Another key of the same tenant has its own count.
    assert served.client.get("/v1/runs", headers=served.as_("acme", "admin")).status_code == 200


def test_a_body_over_the_limit_is_refused_before_it_is_read(make_served):
    served = make_served(max_body_bytes=2_000)
    records = [EVENT | {"seq": str(n)} for n in range(40)]
    response = served.client.post(
        "/v1/validate?entity=shipment_event",
        headers=served.as_("acme", "viewer") | {"content-type": "application/json"},
        content=json.dumps(records),
    )
    assert "over 2,000 bytes" in _problem(response, 413)["detail"]


def test_records_per_validate_call_are_limited(make_served):
    served = make_served(max_records=2)
    records = [EVENT | {"seq": str(n)} for n in range(3)]
    response = served.client.post(
        "/v1/validate?entity=shipment_event", headers=served.as_("acme", "viewer"), json=records
    )
    assert "at most 2 per call" in _problem(response, 413)["detail"]
