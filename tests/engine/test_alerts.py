"""Alerts after runs: thresholds, webhook and email payloads, retries, and failures kept."""

from __future__ import annotations

import socket
from datetime import date
from email import message_from_bytes
from pathlib import Path

import pytest

from engine import alerts
from engine.catalog import Catalog
from engine.config import load_workspace
from engine.delivery import EmailChannel, Message, WebhookChannel, body_for, deliver
from tallyclerk.errors import ConfigError, SourceError
from tests.engine.harborline import make_tenant, run
from tests.receivers import http_receiver, smtp_server

MESSAGE = Message("Harborline: run 2026-11.001 needs attention", ("3 new critical",), {"a": 1})


def _hook(name: str = "hook", kind: str = "webhook", env: str = "HOOK_URL") -> WebhookChannel:
    return WebhookChannel(name=name, kind=kind, url=f"env:{env}")


def test_a_webhook_is_retried_with_backoff_until_it_answers(monkeypatch) -> None:
    waits: list[float] = []
    with http_receiver(500, 429, 200) as receiver:
        monkeypatch.setenv("HOOK_URL", receiver.url)
        outcome = deliver(_hook(), MESSAGE, retries=3, backoff=0.5, timeout=5, sleep=waits.append)

    assert (outcome.delivered, outcome.attempts, outcome.error) == (True, 3, None)
    assert receiver.statuses == [500, 429, 200]
    assert receiver.bodies == [{"a": 1}] * 3
    assert waits == [0.5, 1.0]


def test_a_refusal_is_not_retried_and_an_unreachable_url_fails_without_its_token(
    monkeypatch,
) -> None:
    with http_receiver(404) as receiver:
        monkeypatch.setenv("HOOK_URL", receiver.url)
        refused = deliver(_hook(), MESSAGE, retries=3, backoff=0, timeout=5)
    assert (refused.delivered, refused.attempts) == (False, 1)
    assert refused.error.startswith("HTTP 404 from the webhook")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("HOOK_URL", f"http://127.0.0.1:{closed}/hook/T0KEN-SECRET")
    gone = deliver(_hook(), MESSAGE, retries=2, backoff=0, timeout=2)
    assert (gone.delivered, gone.attempts) == (False, 3)
    assert gone.error.startswith("ConnectError") and "T0KEN-SECRET" not in gone.error


def test_slack_and_teams_get_their_incoming_webhook_formats() -> None:
    assert body_for("slack", MESSAGE) == {
        "text": "Harborline: run 2026-11.001 needs attention",
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "*Harborline: run 2026-11.001 needs attention*\n3 new critical",
                },
            }
        ],
    }
    teams = body_for("teams", MESSAGE)
    assert teams["type"] == "message"
    (attachment,) = teams["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert [block["text"] for block in card["body"]] == [MESSAGE.title, "3 new critical"]


def test_email_goes_through_smtp_with_the_password_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "pw")
    with smtp_server() as mailbox:
        channel = EmailChannel.model_validate(
            {
                "name": "mail",
                "kind": "email",
                "host": "127.0.0.1",
                "port": mailbox.port,
                "from": "alerts@partner.example",
                "to": ["oncall@partner.example", "cfo@harborline.example"],
                "starttls": False,
            }
        )
        outcome = deliver(channel, MESSAGE, retries=0, backoff=0, timeout=5)

    assert outcome.delivered
    (envelope,) = mailbox.messages
    assert envelope.rcpt_tos == ["oncall@partner.example", "cfo@harborline.example"]
    mail = message_from_bytes(envelope.content)
    assert mail["Subject"] == MESSAGE.title
    assert mail.get_payload().strip() == "3 new critical"


def test_a_secret_written_into_the_workspace_is_refused_at_load(tmp_path: Path) -> None:
    config = {"channels": [{"name": "s", "kind": "slack", "url": "https://hooks.slack.com/T/B/x"}]}
    folder = make_tenant(tmp_path / "t", alerts=config)

    with pytest.raises(ConfigError, match=r"alerts\.channels\[0\]\.url: write it as env:NAME,"):
        load_workspace(folder)


def test_runs_alert_on_thresholds_and_keep_what_failed(tmp_path: Path, monkeypatch) -> None:
    with http_receiver() as hook, http_receiver(*[500] * 8) as broken, smtp_server() as mailbox:
        monkeypatch.setenv("HOOK_URL", hook.url)
        monkeypatch.setenv("BROKEN_URL", broken.url)
        config = {
            "when": {"money_at_risk_above": 5000},
            "retries": 1,
            "backoff_seconds": 0,
            "channels": [
                {"name": "hook", "kind": "webhook", "url": "env:HOOK_URL"},
                {"name": "teams", "kind": "teams", "url": "env:BROKEN_URL"},
                {"name": "mail", "kind": "email", "host": "127.0.0.1", "port": mailbox.port,
                 "from": "a@partner.example", "to": ["oncall@partner.example"],
                 "starttls": False},
            ],
        }  # fmt: skip
        folder = make_tenant(tmp_path / "t", alerts=config)

        run(folder, 2)
        (first,) = hook.bodies
        assert first["triggers"] == ["money_at_risk", "new_critical"]
        assert (first["money_at_risk"], first["new_critical"], first["run_id"]) == (
            "8958.69",
            3,
            "2026-11.001",
        )
        assert sorted(f["rule_id"] for f in first["findings"]) == [
            "carrier-invoice-billed-twice",
            "shipment-posted-to-erp",
            "shipped-not-invoiced",
        ]
        assert len(mailbox.messages) == 1
        assert len(broken.statuses) == 2  # one try and one retry, both refused

        # The second run finds nothing new: the money is still above the threshold.
        run(folder, 3)
        assert hook.bodies[1]["triggers"] == ["money_at_risk"]

        with Catalog(folder) as catalog:
            kept = alerts.listed(catalog)
            assert [(a.subject, a.channel, a.status, a.attempts) for a in kept] == [
                ("run:2026-11.001", "hook", "delivered", 1),
                ("run:2026-11.001", "teams", "failed", 2),
                ("run:2026-11.001", "mail", "delivered", 1),
                ("run:2026-11.002", "hook", "delivered", 1),
                ("run:2026-11.002", "teams", "failed", 2),
                ("run:2026-11.002", "mail", "delivered", 1),
            ]
            assert kept[1].error == "HTTP 500 from the webhook"

            # The Teams endpoint is back: retrying delivers both and forgets nothing.
            monkeypatch.setenv("BROKEN_URL", hook.url)
            retried = alerts.retry_failed(catalog, load_workspace(folder).config.alerts)
            assert [(a.alert_id, a.status, a.attempts) for a in retried] == [
                (2, "delivered", 3),
                (5, "delivered", 3),
            ]
            assert hook.bodies[-1]["type"] == "message"


def test_a_source_that_fails_to_snapshot_alerts(tmp_path: Path, monkeypatch) -> None:
    with http_receiver() as hook:
        monkeypatch.setenv("HOOK_URL", hook.url)
        config = {"channels": [{"name": "hook", "kind": "webhook", "url": "env:HOOK_URL"}]}
        folder = make_tenant(tmp_path / "t", alerts=config)
        (folder / "wms/inventory.csv").unlink()

        with pytest.raises(SourceError):
            run(folder, 2)

    (body,) = hook.bodies
    assert (body["event"], body["period"], body["triggers"]) == (
        "source_failed",
        "2026-11",
        ["source_failed"],
    )
    assert "wms/inventory.csv" in body["error"]


def test_between_runs_a_breach_alerts_once(tmp_path: Path, monkeypatch) -> None:
    with http_receiver() as hook:
        monkeypatch.setenv("HOOK_URL", hook.url)
        config = {
            "when": {"new_critical": False},
            "channels": [{"name": "hook", "kind": "webhook", "url": "env:HOOK_URL"}],
        }
        folder = make_tenant(tmp_path / "t", alerts=config, sla={"critical": "1 business day"})
        run(folder, 6, month=11)  # a Friday: the critical findings are due on Monday the 9th
        workspace = load_workspace(folder).config
        runs = folder / ".tallyclerk" / "runs"

        with Catalog(folder) as catalog:
            on_time, none_sent = alerts.sla_check(catalog, workspace, runs, date(2026, 11, 9))
            late, sent = alerts.sla_check(catalog, workspace, runs, date(2026, 11, 10))
            again, nothing = alerts.sla_check(catalog, workspace, runs, date(2026, 11, 11))

    assert (on_time, none_sent, again, nothing) == ([], [], [], [])
    assert len(late) == 3 and [a.status for a in sent] == ["delivered"]
    (body,) = hook.bodies
    assert (body["event"], body["as_of"], len(body["breached_ids"])) == (
        "sla_breached",
        "2026-11-10",
        3,
    )
    assert {f["sla_due"] for f in body["findings"]} == {"2026-11-09"}


def test_a_catalog_of_the_first_schema_gains_the_alerts_table(tmp_path: Path) -> None:
    with Catalog(tmp_path) as catalog, catalog.write() as con:
        con.execute("DROP TABLE alerts")
        con.execute("PRAGMA user_version = 1")

    with Catalog(tmp_path) as catalog, catalog.read() as con:
        version = con.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master")}

    assert version == 2 and "alerts" in tables
