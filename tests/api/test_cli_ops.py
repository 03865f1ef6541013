"""The managed-service commands on a small portfolio: sla report, portfolio, alerts, causes."""

from __future__ import annotations

import csv
import shutil
import socket
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from api.cli import app
from engine import alerts
from tests.engine.harborline import make_tenant, run
from tests.reports.page import Page

SLA = {"critical": "1 business day", "high": "5d", "medium": "2 business days"}
BRANDING = {"partner_name": "Northwind Advisory", "footer": "Prepared by Northwind Advisory."}


@pytest.fixture(scope="module")
def partner(tmp_path_factory) -> Path:
    """Three tenants: Harborline with two runs, one with no run yet, and one that is broken."""
    root = tmp_path_factory.mktemp("partner")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    alerts = {
        "retries": 0,
        "channels": [{"name": "pager", "kind": "webhook", "url": "env:PAGER_URL"}],
    }
    mp = pytest.MonkeyPatch()
    mp.setenv("PAGER_URL", f"http://127.0.0.1:{closed}/pager")
    harborline = make_tenant(root / "harborline", sla=SLA, branding=BRANDING, alerts=alerts)
    run(harborline, 2, month=11)
    latest = run(harborline, 6, month=11)
    mp.undo()
    # Runs made without a renderer have no reports; write the executive report of the last.
    report = ["report", str(latest.folder), "--out", str(latest.folder / "executive.html")]
    assert CliRunner().invoke(app, report).exit_code == 0

    fresh = root / "baltic"
    fresh.mkdir()
    config = yaml.safe_load((harborline / "tallyclerk.yaml").read_text())
    config |= {"name": "Baltic Marine Supply"}
    del config["alerts"]
    (fresh / "tallyclerk.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    broken = root / "zeta"
    broken.mkdir()
    (broken / "tallyclerk.yaml").write_text("name: Zeta Freight\n")
    return root


def test_the_portfolio_page_ranks_customers_and_links_their_reports(partner: Path) -> None:
    result = CliRunner().invoke(app, ["portfolio", str(partner)])

    assert result.exit_code == 0, result.output
    page = Page((partner / "portfolio.html").read_text())
    assert page.text("money-at-risk") == "Money at risk, all tenants 8,958.69"
    assert page.text("open-findings") == "Open exceptions 20"
    assert page.text("breached-findings") == "Past their resolution target 6"
    rows = page.text("tenants")
    assert (
        "Harborline Distribution harborline 2026-11.002 period 2026-11 8,958.69 20 0 6 1 "
        "Baltic Marine Supply baltic no finished run yet "
        "zeta does not load:"
    ) in rows
    # White-labelled: the partner's name, and no product credit.
    assert "Northwind Advisory" in page.visible_text and "Produced by" not in page.visible_text
    html = (partner / "portfolio.html").read_text()
    link = html.split('<a href="', 1)[1].split('"', 1)[0]
    assert link == "harborline/.tallyclerk/runs/2026-11.002/executive.html"
    assert (partner / link).is_file()


def test_the_monthly_sla_report_per_tenant(partner: Path, tmp_path: Path) -> None:
    tenants = [str(partner / "harborline"), str(partner / "baltic")]
    result = CliRunner().invoke(
        app, ["sla", "report", *tenants, "--month", "2026-11", "--out", str(tmp_path)]
    )

    assert result.exit_code == 0, result.output
    with (tmp_path / "sla-2026-11.csv").open() as handle:
        rows = {(r["workspace"], r["severity"]): r for r in csv.DictReader(handle)}
    assert rows[("Harborline Distribution", "all")] | {} == {
        "workspace": "Harborline Distribution",
        "folder": "harborline",
        "month": "2026-11",
        "severity": "all",
        "opened": "20",
        "resolved": "0",
        "median_days_to_resolve": "",
        "resolved_in_target": "0",
        "breaches": "6",
    }
    assert rows[("Harborline Distribution", "critical")]["breaches"] == "3"
    assert rows[("Baltic Marine Supply", "all")]["opened"] == "0"
    page = Page((tmp_path / "sla-2026-11.html").read_text())
    assert page.text("sla-tenants").startswith(
        "tenant opened resolved median days to resolve resolved within target breaches "
        "Harborline Distribution harborline 20 0 \N{EN DASH} 0 6 "
        "Baltic Marine Supply baltic 0 0 \N{EN DASH} 0 0"
    )
    assert "Northwind Advisory" in page.visible_text


def test_tenants_with_one_display_name_are_told_apart_by_folder(
    partner: Path, tmp_path: Path
) -> None:
    config = (partner / "baltic" / "tallyclerk.yaml").read_text()
    for name in ("harborline-east", "harborline-west"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "tallyclerk.yaml").write_text(
            config.replace("Baltic Marine Supply", "Harborline Distribution")
        )
    tenants = [str(tmp_path / "harborline-east"), str(tmp_path / "harborline-west")]
    out = tmp_path / "out"

    sla = CliRunner().invoke(
        app, ["sla", "report", *tenants, "--month", "2026-11", "--out", str(out)]
    )
    portfolio = CliRunner().invoke(app, ["portfolio", str(tmp_path)])

    assert sla.exit_code == 0 and portfolio.exit_code == 0, sla.output + portfolio.output
    with (out / "sla-2026-11.csv").open() as handle:
        folders = [(r["workspace"], r["folder"]) for r in csv.DictReader(handle)]
    assert ("Harborline Distribution", "harborline-east") in folders
    assert ("Harborline Distribution", "harborline-west") in folders
    sla_page = Page((out / "sla-2026-11.html").read_text()).text("sla-tenants")
    assert "Harborline Distribution harborline-east 0" in sla_page
    assert "Harborline Distribution harborline-west 0" in sla_page
    rows = Page((tmp_path / "portfolio.html").read_text()).text("tenants")
    assert "Harborline Distribution harborline-east no finished run yet" in rows
    assert "Harborline Distribution harborline-west no finished run yet" in rows


def test_a_bad_month_is_refused(partner: Path) -> None:
    result = CliRunner().invoke(app, ["sla", "report", str(partner / "baltic"), "--month", "11"])

    assert "invalid month '11': write it as YYYY-MM" in str(result.exception)


def test_failed_alerts_are_listed_and_retried(partner: Path, monkeypatch) -> None:
    folder = str(partner / "harborline")
    listed = CliRunner().invoke(app, ["alerts", "list", folder, "--status", "failed"])

    assert listed.exit_code == 0, listed.output
    text = " ".join(listed.output.split())
    assert text.count("pager (webhook)") == 2 and text.count("ConnectError") == 2
    assert "2 alerts failed to deliver; `tallyclerk alerts retry" in text

    monkeypatch.delenv("PAGER_URL", raising=False)
    retried = CliRunner().invoke(app, ["alerts", "retry", folder])
    assert retried.exit_code == 1
    assert "Retried 2 failed alerts: 0 delivered, 2 still failing." in retried.output


def test_sla_check_fails_while_an_alert_failed_to_deliver(partner: Path, monkeypatch) -> None:
    def one(status: str) -> alerts.Alert:
        return alerts.Alert(
            1, "2026-12-01", "sla_breached", "sla", "pager", "webhook", status, 1, None, "t"
        )

    sent = [one("delivered")] * 4 + [one("failed")]
    monkeypatch.setattr(alerts, "sla_check", lambda *args, **kwargs: ([{}] * 3, sent))

    result = CliRunner().invoke(app, ["sla", "check", str(partner / "harborline")])

    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "3 findings newly past the resolution target; 5 alerts: 4 delivered, 1 failed." in text
    assert "`tallyclerk alerts retry" in text


def test_findings_list_shows_causes_first(partner: Path) -> None:
    result = CliRunner().invoke(
        app, ["findings", "list", str(partner / "harborline"), "latest", "--causes"]
    )

    assert result.exit_code == 0, result.output
    assert "Run 2026-11.002: 20 findings; 1 root cause explaining 4 findings" in result.output


def test_the_portfolio_of_a_folder_without_tenants_says_what_it_looks_for(tmp_path) -> None:
    shutil.rmtree(tmp_path, ignore_errors=True)
    tmp_path.mkdir()

    result = CliRunner().invoke(app, ["portfolio", str(tmp_path)])

    assert "no tenant workspaces under" in str(result.exception)


def test_batches_that_fix_root_causes_are_listed_first(partner: Path) -> None:
    listed = CliRunner().invoke(app, ["batches", "list", str(partner / "harborline")])

    assert listed.exit_code == 0, listed.output
    rows = [line for line in listed.output.splitlines() if "2026-11.001/" in line]
    first = " ".join(rows[0].replace("│", " ").split())
    assert first == "2026-11.001/wms:item pending 4 4 findings"
    assert all("findings" not in row for row in rows[1:])


def test_the_portfolio_of_a_missing_folder_says_it_does_not_exist(tmp_path) -> None:
    result = CliRunner().invoke(app, ["portfolio", str(tmp_path / "nonexistent")])

    message = str(result.exception)
    assert "nonexistent: no such folder" in message and "--out" not in message
