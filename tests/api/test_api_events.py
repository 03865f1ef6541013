"""`POST /v1/events`: milestones judged as they arrive against each key's history (the last
run's events and those posted since), and reported again by the next run of their period."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pyarrow.compute as pc
import pyarrow.parquet as pq

from engine.run import run_workspace

EVENTS = "/v1/events?entity=shipment_event&system=tms"


def _event(shipment: str, seq: int, status: str, at: str) -> dict:
    return {
        "shipment_ref": shipment,
        "seq": str(seq),
        "status": status,
        "event_time": at,
        "recorded_at": at,
        "location": "Reno NV",
    }


def _delivered_shipment(served) -> str:
    """A shipment whose events the last run read, ending DELIVERED in order."""
    path = served.root / "acme/.tallyclerk/runs/2026-11.001/snapshots/tms__shipment_event.parquet"
    events = pq.read_table(path)
    delivered = events.filter(pc.equal(events["status"], "DELIVERED"))
    return sorted(delivered["shipment_id"].to_pylist())[0]


def test_an_event_moving_a_status_back_is_a_finding_at_once(served):
    shipment = _delivered_shipment(served)
    headers = served.as_("acme", "preparer")
    late = [_event(shipment, 99, "IN_TRANSIT", "2026-11-28T10:00:00Z")]
    response = served.client.post(EVENTS, headers=headers, json=late)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["rules"] == ["shipment-status-sequence"]
    assert answer["states"] == {f"shipment_id={shipment}": "IN_TRANSIT"}
    (finding,) = answer["findings"]
    assert finding["rule_id"] == "shipment-status-sequence"
    assert (finding["problem"], finding["key"]) == ("status_regression", f"shipment_id={shipment}")
    assert (finding["owner_value"], finding["other_value"]) == ("DELIVERED", "IN_TRANSIT")

    # The same event again raises nothing new: the finding is known.
    again = served.client.post(EVENTS, headers=headers, json=late).json()
    assert again["findings"] == []


def test_events_in_lifecycle_order_raise_nothing_and_the_state_is_kept(served):
    headers = served.as_("acme", "preparer")
    first = [_event("SH-NEW-1", 1, "TENDERED", "2026-11-10T08:00:00Z")]
    assert served.client.post(EVENTS, headers=headers, json=first).json()["findings"] == []
    second = [_event("SH-NEW-1", 2, "PICKED_UP", "2026-11-10T12:00:00Z")]
    answer = served.client.post(EVENTS, headers=headers, json=second).json()
    assert answer["findings"] == []
    assert answer["states"] == {"shipment_id=SH-NEW-1": "PICKED_UP"}
    # Only now, against the two events kept before it, is a step back a regression.
    back = [_event("SH-NEW-1", 3, "TENDERED", "2026-11-10T13:00:00Z")]
    (finding,) = served.client.post(EVENTS, headers=headers, json=back).json()["findings"]
    assert finding["owner_value"] == "PICKED_UP"


def test_the_next_run_of_the_period_reports_what_events_found(served):
    shipment = _delivered_shipment(served)
    headers = served.as_("acme", "preparer")
    late = [_event(shipment, 99, "IN_TRANSIT", "2026-11-28T10:00:00Z")]
    (raised,) = served.client.post(EVENTS, headers=headers, json=late).json()["findings"]

    result = run_workspace(
        served.root / "acme", "2026-11", user="pat", now=datetime(2026, 12, 3, 9, tzinfo=UTC)
    )
    found = {row["finding_id"]: row for row in result.findings.to_pylist()}
    assert raised["finding_id"] in found
    assert found[raised["finding_id"]]["status"] == "new"
    # The run's own findings are all still there, the event's one besides them.
    assert result.findings.num_rows == 21
    # Another tenant's catalog holds none of this.
    other = sqlite3.connect(served.root / "globex/.tallyclerk/catalog.sqlite")
    tables = {row[0] for row in other.execute("SELECT name FROM sqlite_master")}
    assert "event_log" not in tables


def test_events_of_an_entity_without_a_lifecycle_are_refused(served):
    response = served.client.post(
        "/v1/events?entity=item&system=erp",
        headers=served.as_("acme", "preparer"),
        json=[{"ItemNumber": "1"}],
    )
    assert response.status_code == 422
    assert "no sequence rule of this workspace reads erp.item" in response.json()["detail"]


def test_a_repeated_system_or_a_client_refusing_json_keeps_no_event(served):
    headers = served.as_("acme", "preparer")
    events = [_event("SH-1", 1, "TENDERED", "2026-11-10T08:00:00Z")]
    twice = served.client.post(EVENTS + "&system=erp", headers=headers, json=events)
    assert twice.status_code == 422
    assert twice.json()["detail"] == "system is given 2 times (tms, erp); it takes one value."
    xml = served.client.post(EVENTS, headers=headers | {"accept": "application/xml"}, json=events)
    assert xml.status_code == 406
    assert xml.json()["detail"] == "this answer is available as application/json; ask for one."
    with sqlite3.connect(served.root / "acme/.tallyclerk/catalog.sqlite") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if "event_log" in tables:
            kept = db.execute("SELECT count(*) FROM event_log WHERE group_key LIKE '%SH-1'")
            assert kept.fetchone()[0] == 0


def test_too_many_events_in_one_call_are_refused(make_served):
    served = make_served(max_events=1)
    events = [_event("SH-1", n, "TENDERED", "2026-11-10T08:00:00Z") for n in (1, 2)]
    response = served.client.post(EVENTS, headers=served.as_("acme", "preparer"), json=events)
    assert response.status_code == 413 and "at most 1 per call" in response.json()["detail"]


def test_events_without_a_usable_time_are_refused_naming_the_record(served):
    headers = served.as_("acme", "preparer")
    shipment = "SH-0000042"
    at = "2026-11-04T16:00:00Z"
    first = _event(shipment, 1, "TENDERED", at)
    for bad, detail in (
        ({"recorded_at": None}, "record 2: recorded_at is missing or not a valid timestamp"),
        ({"recorded_at": ""}, "record 2: recorded_at is missing or not a valid timestamp"),
        ({"recorded_at": "yesterday"}, "record 2: recorded_at is missing or not a valid"),
        ({"recorded_at": "2099-01-01T00:00:00Z"}, "record 2: recorded_at 2099-01-01"),
    ):
        events = [first, _event(shipment, 2, "PICKED_UP", at) | bad]
        response = served.client.post(EVENTS, headers=headers, json=events)
        assert response.status_code == 422, response.text
        assert detail in response.json()["detail"]
    with sqlite3.connect(served.root / "acme/.tallyclerk/catalog.sqlite") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if "event_log" in tables:
            kept = db.execute("SELECT count(*) FROM event_log WHERE group_key LIKE '%42'")
            assert kept.fetchone()[0] == 0


def test_retention_forgets_events_past_their_age_and_the_purge_is_audited(served, monkeypatch):
    import yaml
    from typer.testing import CliRunner

    import api.ops_cli
    from api.cli import app
    from engine import audit
    from engine.catalog import Catalog

    headers = served.as_("acme", "preparer")
    posted = [_event("SH-OLD-1", 1, "TENDERED", "2026-11-10T08:00:00Z")]
    assert served.client.post(EVENTS, headers=headers, json=posted).status_code == 200
    folder = served.root / "acme"
    config = yaml.safe_load((folder / "tallyclerk.yaml").read_text())
    config["retention"] = {"events": "30d"}
    (folder / "tallyclerk.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    class Later(datetime):
        @classmethod
        def now(cls, tz=None) -> datetime:
            return datetime.now(UTC).replace(microsecond=0) + timedelta(days=45)

    monkeypatch.setattr(api.ops_cli, "datetime", Later)
    cli = CliRunner()
    dry = cli.invoke(app, ["purge", str(folder), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    before = (Later.now() - timedelta(days=30)).date()
    assert f"and 1 event received before {before}" in " ".join(dry.output.split())

    done = cli.invoke(app, ["purge", str(folder), "--as", "ada"])
    assert done.exit_code == 0, done.output
    with Catalog(folder) as catalog:
        with catalog.read() as con:
            assert con.execute("SELECT count(*) FROM event_log").fetchone()[0] == 0
        (entry,) = audit.entries(catalog, subject="retention")
        assert entry.detail["events"] == 1
