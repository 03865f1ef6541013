"""Runs through the API: started in the background, followed, remembered across restarts;
their findings in three formats with filters and pages, and their reports."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from api.app import Settings, create_app
from api.jobs import INTERRUPTED, Job, save_job
from api.tenants import Tenant

ITEMS = "/v1/batches/2026-11.001/wms:item"
PROBLEM = "application/problem+json"


def test_a_run_starts_in_the_background_and_reports_its_progress(served):
    headers = served.as_("acme", "preparer")
    started = served.client.post("/v1/runs", headers=headers, json={"period": "2026-11"})
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["state"] in ("queued", "running") and started.headers["location"] == job["href"]

    state = served.wait(job["id"], headers)
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
    # Every answer showing a finished run shows its files, whichever id names it.
    assert state["files"] == by_run_id["files"] == "kept"
    assert [run["files"] for run in listed] == ["kept", "kept"]
    # The second run of a period makes no batches: a run that exists lists none.
    for run in ("2026-11.002", job["id"]):
        answer = served.client.get(f"/v1/batches?run={run}", headers=headers)
        assert (answer.status_code, answer.json()) == (200, {"batches": []})


def test_a_failed_run_says_why_without_server_paths(served):
    (served.root / "acme/erp/items.csv").unlink()
    headers = served.as_("acme", "admin")
    job = served.client.post("/v1/runs", headers=headers, json={"period": "2026-11"}).json()
    state = served.wait(job["id"], headers)
    assert state["state"] == "failed"
    assert "items.csv" in state["error"]
    assert str(served.root) not in state["error"] and "/tmp" not in state["error"]
    # It will never have batches: listing them says why, where waiting would list none.
    listed = served.client.get(f"/v1/batches?run={job['id']}", headers=headers)
    assert listed.status_code == 409
    assert listed.json()["detail"] == (
        f"run {job['id']!r} failed, so it has no batches: {state['error']}"
    )


def test_bad_run_requests_are_refused(served):
    headers = served.as_("acme", "preparer")
    bad = ({"period": "2026-13"}, {"period": "Nov"}, {}, {"period": "2026-11", "x": 1})
    # Digits of another script are digits to a regular expression, not to a period.
    for body in (*bad, {"period": "\uff12\uff10\uff12\uff17-03"}):
        response = served.client.post("/v1/runs", headers=headers, json=body)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == PROBLEM
    for full in ("yes", "true", 1, None):
        response = served.client.post(
            "/v1/runs", headers=headers, json={"period": "2026-11", "full": full}
        )
        assert response.status_code == 422, full
        assert response.json()["detail"] == "body.full: Input should be a valid boolean"
    missing = served.client.get("/v1/runs/2026-11.777", headers=headers)
    assert missing.status_code == 404
    assert "does not exist" in missing.json()["detail"]


def test_a_period_before_the_latest_or_a_waiting_runs_is_refused_at_once(served):
    headers = served.as_("acme", "preparer")
    refused = served.client.post("/v1/runs", headers=headers, json={"period": "2026-10"})
    assert refused.status_code == 409 and refused.headers["content-type"] == PROBLEM
    assert refused.json()["detail"] == (
        "period 2026-10 is before 2026-11, the period of the latest run 2026-11.001: runs are "
        "compared with the previous one, so an earlier period run now would resolve the later "
        "period's findings. Run the periods in order, or restate the earlier period in a copy "
        "of the workspace without its .tallyclerk folder."
    )
    assert len(served.client.get("/v1/runs", headers=headers).json()["runs"]) == 1

    # A later period still queued or running is refused against too (or, once it finished,
    # the run it made).
    later = served.client.post("/v1/runs", headers=headers, json={"period": "2026-12"}).json()
    behind = served.client.post("/v1/runs", headers=headers, json={"period": "2026-11"})
    assert behind.status_code == 409
    assert behind.json()["detail"].startswith("period 2026-11 is before 2026-12, the period of ")
    assert served.wait(later["id"], headers)["state"] == "finished"


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


def test_a_media_range_chooses_the_first_type_offered_in_it(served):
    path = "/v1/runs/2026-11.001/findings?rule=item-master-sync"
    as_text = served.client.get(path, headers=served.as_("acme", "viewer") | {"accept": "text/*"})
    assert as_text.status_code == 200, as_text.text
    assert as_text.headers["content-type"].startswith("text/csv")


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (["application/json;q=0, */*"], "text/csv"),
        (["text/csv, application/json"], "text/csv"),
        (["application/json, text/csv"], "application/json"),
        (
            ["text/csv;q=0.5, application/vnd.apache.parquet;q=0.9"],
            "application/vnd.apache.parquet",
        ),
        (["text/csv", "application/json;q=0.1"], "text/csv"),
        (["image/png", "text/csv"], "text/csv"),
    ],
)
def test_the_most_specific_accept_range_decides_and_every_accept_line_counts(
    served, accept, chosen
):
    path = "/v1/runs/2026-11.001/findings?rule=item-master-sync"
    headers = [(k, v) for k, v in served.as_("acme", "viewer").items()]
    headers += [("accept", value) for value in accept]
    answer = served.client.get(path, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].split(";")[0] == chosen


def test_the_report_is_the_runs_html(served):
    headers = served.as_("acme", "viewer")
    report = served.client.get("/v1/runs/2026-11.001/report", headers=headers)
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "item-master-sync" in report.text
    executive = served.client.get("/v1/runs/2026-11.001/report?kind=executive", headers=headers)
    assert executive.status_code == 200 and "<html" in executive.text.lower()
    assert executive.text != report.text


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
    assert state["files"].startswith("removed: run 2026-11.001's files were removed")
    listed = served.client.get("/v1/runs", headers=headers).json()["runs"]
    assert [run["files"] for run in listed] == [state["files"]]


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
    # The batch shows what the list says of it.
    items = next(b for b in listed if b["batch_id"] == "2026-11.001/wms:item")
    shown = served.client.get(ITEMS, headers=headers).json()
    assert shown["fixes_causes_of"] == items["fixes_causes_of"] == 4


def test_a_body_that_is_not_json_is_a_bad_request(served):
    headers = served.as_("acme", "preparer") | {"content-type": "application/json"}
    for path in ("/v1/runs", ITEMS + "/approve"):
        response = served.client.post(path, headers=headers, content=b'{"period": ')
        assert response.status_code == 400, response.text
        assert response.json()["detail"] == "the body is not valid JSON."


def test_a_job_outlives_the_server_and_one_cut_off_says_it_was_interrupted(served):
    headers = served.as_("acme", "preparer")
    done = served.client.post("/v1/runs", headers=headers, json={"period": "2026-11"}).json()
    assert served.wait(done["id"], headers)["state"] == "finished"
    # A job the server had queued when it stopped is in the catalog, and in no server's memory.
    # Started after the other run finished, so it is listed first.
    started = (datetime.now(UTC) + timedelta(seconds=1)).isoformat(timespec="seconds")
    cut_off = Job("0123456789abcdef", "acme", "2026-12", False, "key:x", started)
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


def test_one_tenants_queue_does_not_hold_up_another_tenants_run(served, monkeypatch):
    import threading

    import api.jobs
    from tallyclerk.errors import RunError

    release = threading.Event()

    def run_workspace(folder, period, **_):
        # acme's runs take until the test lets them go; globex's fail at once.
        if folder.name == "acme":
            release.wait(60)
        raise RunError(f"{folder.name} {period} stopped by the test")

    monkeypatch.setattr(api.jobs, "run_workspace", run_workspace)
    acme, globex = served.as_("acme", "preparer"), served.as_("globex", "preparer")
    first = served.client.post("/v1/runs", headers=acme, json={"period": "2026-12"}).json()
    second = served.client.post("/v1/runs", headers=acme, json={"period": "2027-01"}).json()
    other = served.client.post("/v1/runs", headers=globex, json={"period": "2026-12"}).json()
    try:
        # Two workers: acme's waiting run must not take the one globex's run needs.
        assert served.wait(other["id"], globex)["error"] == "globex 2026-12 stopped by the test"
        assert served.client.get(f"/v1/runs/{second['id']}", headers=acme).json()["state"] == (
            "queued"
        )
    finally:
        release.set()
    assert served.wait(first["id"], acme)["state"] == "failed"
    assert served.wait(second["id"], acme)["error"] == "acme 2027-01 stopped by the test"
