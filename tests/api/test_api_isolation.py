"""No tenant sees another's data: every route of the application, walked from `app.routes`,
answers a key of acme with 404 for what only globex has, while globex's own key reaches it."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

# What globex has and acme has not (see the workspaces fixture), by path parameter.
GLOBEX_ONLY = {"run_id": "2026-10.001", "pair": "finance:journal_line"}
# A body each route accepts, so a refusal can only come from whose the resource is.
BODIES = {
    "approve": {},
    "reject": {"comment": "checking isolation"},
    "submit": {},
}
# Routes without path parameters, and how the test proves each keeps to its tenant.
UNPARAMETERISED = {
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/v1/runs"),
    ("POST", "/v1/runs"),
    ("GET", "/v1/batches"),
    ("POST", "/v1/validate"),
    ("POST", "/v1/events"),
}


def _api_routes(served) -> list[tuple[str, str]]:
    """Every method and path of the app's routes, those of included routers too."""
    found = []
    pending = list(served.client.app.routes)
    while pending:
        route = pending.pop(0)
        included = getattr(route, "original_router", None)
        if included is not None:
            pending += included.routes
        elif isinstance(route, APIRoute):
            found += [(method, route.path) for method in sorted(route.methods)]
    return found


def _url(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


def test_every_route_is_covered_by_this_walk(served):
    routes = _api_routes(served)
    parameterised = [r for r in routes if "{" in r[1]]
    assert set(routes) - set(parameterised) == UNPARAMETERISED
    assert len(parameterised) == 8


def test_every_route_with_an_id_answers_404_to_another_tenants_key(served):
    acme, globex = served.as_("acme", "admin"), served.as_("globex", "admin")
    job = served.client.post("/v1/runs", headers=globex, json={"period": "2026-12"}).json()
    walked = 0
    for method, path in _api_routes(served):
        if "{" not in path:
            continue
        values = [GLOBEX_ONLY]
        if path.startswith("/v1/runs/"):
            values.append({"run_id": job["id"]})
        for given in values:
            url = _url(path, given)
            body = BODIES.get(path.rsplit("/", 1)[1])
            response = served.client.request(method, url, headers=acme, json=body)
            assert response.status_code == 404, (method, url, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert "globex" not in response.text
            walked += 1
    assert walked == 11

    # The same ids are globex's own: its key reaches every one of them.
    served.wait(job["id"], globex)
    for method, path in _api_routes(served):
        if "{" not in path or method != "GET":
            continue
        response = served.client.get(_url(path, GLOBEX_ONLY), headers=globex)
        assert response.status_code == 200, (path, response.text)


def test_lists_hold_only_the_tenants_own(served):
    acme, globex = served.as_("acme", "viewer"), served.as_("globex", "viewer")
    acme_runs = served.client.get("/v1/runs", headers=acme).json()["runs"]
    globex_runs = served.client.get("/v1/runs", headers=globex).json()["runs"]
    assert [r["run_id"] for r in acme_runs] == ["2026-11.001"]
    assert [r["run_id"] for r in globex_runs] == ["2026-11.001", "2026-10.001"]
    acme_batches = served.client.get("/v1/batches", headers=acme).json()["batches"]
    assert all(b["run_id"] == "2026-11.001" for b in acme_batches)
    filtered = served.client.get("/v1/batches?run=2026-10.001", headers=acme)
    assert filtered.status_code == 404 and "globex" not in filtered.text
    assert filtered.json()["detail"] == (
        "run '2026-10.001' does not exist, or is not this key's tenant's."
    )


@pytest.mark.parametrize("path", ["/v1/validate", "/v1/events"])
def test_posted_records_are_judged_by_the_keys_own_workspace(served, path):
    # Globex renames its sequence rule; acme's key still gets acme's rules.
    yaml_path = served.root / "globex/tallyclerk.yaml"
    text = yaml_path.read_text().replace("shipment-status-sequence", "globex-status-order")
    yaml_path.write_text(text)
    event = {
        "shipment_ref": "SH-ISO-1",
        "seq": "1",
        "status": "TENDERED",
        "event_time": "2026-11-10T08:00:00Z",
        "recorded_at": "2026-11-10T08:00:00Z",
        "location": "Reno NV",
    }
    url = f"{path}?entity=shipment_event&system=tms"
    acme = served.client.post(url, headers=served.as_("acme", "admin"), json=[event]).json()
    globex = served.client.post(url, headers=served.as_("globex", "admin"), json=[event]).json()
    assert acme["rules"] == ["shipment-status-sequence"]
    assert globex["rules"] == ["globex-status-order"]
