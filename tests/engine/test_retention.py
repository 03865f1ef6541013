"""Retention: old run folders and snapshots go, the history and the audit trail stay."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

import api.ops_cli
from api.cli import app
from engine import audit, retention
from engine.catalog import Catalog
from engine.config import load_workspace
from tallyclerk.errors import AccessError, ConfigError
from tests.engine.harborline import make_tenant, run
from tests.reports.page import Page

POLICY = {"runs": "60d", "snapshots": "20 days", "keep_last": 1}
TODAY = datetime(2026, 12, 5, 8, tzinfo=UTC)


class _Clock(datetime):
    @classmethod
    def now(cls, tz=None) -> datetime:
        return TODAY


@pytest.fixture
def four_runs(tmp_path: Path) -> Path:
    folder = make_tenant(tmp_path / "t", retention=POLICY)
    for month, day in ((9, 1), (10, 15), (11, 20), (12, 1)):
        run(folder, day, month=month)
    return folder


def test_a_purge_deletes_what_the_policy_lets_go_and_is_audited(four_runs, monkeypatch) -> None:
    folder, runs = four_runs, four_runs / ".tallyclerk" / "runs"
    monkeypatch.setattr(api.ops_cli, "datetime", _Clock)
    cli = CliRunner()

    # Runs are named by their period: all four closed November, on different days.
    dry = cli.invoke(app, ["purge", str(folder), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Would delete 1 run folder and the snapshots of 1 run" in " ".join(dry.output.split())
    assert sorted(p.name for p in runs.iterdir()) == [
        "2026-11.001",
        "2026-11.002",
        "2026-11.003",
        "2026-11.004",
    ]

    refused = cli.invoke(app, ["purge", str(folder), "--as", "pat"])
    assert isinstance(refused.exception, AccessError)
    assert "pat is a preparer, and to purge needs the role admin" in str(refused.exception)

    done = cli.invoke(app, ["purge", str(folder), "--as", "ada"])
    assert done.exit_code == 0, done.output
    # 95 days old: the whole run goes; 51 days: its snapshots; 15 days and the newest stay.
    assert sorted(p.name for p in runs.iterdir()) == ["2026-11.002", "2026-11.003", "2026-11.004"]
    assert not (runs / "2026-11.002" / "snapshots").exists()
    assert (runs / "2026-11.002" / "findings.parquet").is_file()
    assert (runs / "2026-11.003" / "snapshots").is_dir()

    with Catalog(folder) as catalog:
        (entry,) = audit.entries(catalog, subject="retention")
        assert (entry.actor, entry.verb) == ("ada", "purge")
        assert (entry.detail["runs"], entry.detail["snapshots"]) == (
            ["2026-11.001"],
            ["2026-11.002"],
        )
        assert audit.verify(catalog)[1] == []
        with catalog.read() as con:
            history = con.execute(
                "SELECT count(*) FROM finding_history WHERE run_id = '2026-11.001'"
            ).fetchone()[0]
        assert history == 20
        # Nothing is left to purge today; the next purge changes nothing.
        policy = load_workspace(folder).config.retention
        assert retention.plan(catalog, policy, runs, date(2026, 12, 5)).removals == []

    # The next run still compares with the newest one.
    fifth = run(folder, 6)
    assert fifth.manifest["compared_with"] == "2026-11.004"
    assert fifth.manifest["lifecycle"]["persisting"] == 20


def test_purge_without_a_policy_says_how_to_set_one(tmp_path: Path) -> None:
    folder = make_tenant(tmp_path / "t")

    result = CliRunner().invoke(app, ["purge", str(folder), "--dry-run"])

    assert isinstance(result.exception, ConfigError)
    assert (
        "no retention policy; set `retention: {runs: 400d, snapshots: 90d, events: 400d}`"
        in " ".join(str(result.exception).split())
    )


def test_a_retention_age_in_business_days_is_refused(tmp_path: Path) -> None:
    folder = make_tenant(tmp_path / "t", retention={"runs": "5 business days"})

    with pytest.raises(ConfigError, match=r"retention\.runs: '5 business days': write a"):
        load_workspace(folder)


def test_a_retention_age_that_is_no_duration_says_how_to_write_one(tmp_path: Path) -> None:
    folder = make_tenant(tmp_path / "t", retention={"runs": "forever"})

    with pytest.raises(ConfigError) as caught:
        load_workspace(folder)

    message = str(caught.value)
    assert "retention.runs: 'forever' is not a retention age; write a retention age in days" in (
        message
    )
    assert "business day" not in message


def test_the_batch_sheet_of_a_purged_run_comes_from_the_catalog(four_runs, monkeypatch) -> None:
    folder, cli = four_runs, CliRunner()
    monkeypatch.setattr(api.ops_cli, "datetime", _Clock)
    with Catalog(folder) as catalog, catalog.read() as con:
        batch_id, pending = con.execute(
            "SELECT batch_id, count(*) FROM actions WHERE batch_id LIKE '2026-11.001/%' "
            "AND status = 'pending' GROUP BY batch_id ORDER BY batch_id LIMIT 1"
        ).fetchone()
    assert cli.invoke(app, ["purge", str(folder), "--as", "ada"]).exit_code == 0
    assert not (folder / ".tallyclerk" / "runs" / "2026-11.001").exists()

    sheet = folder / "sheet.html"
    args = ["report", str(folder), "--kind", "batch", "--batch", batch_id, "--out", str(sheet)]
    result = cli.invoke(app, args)

    assert result.exit_code == 0, result.output
    page = Page(sheet.read_text())
    assert page.text("batch-id") == batch_id
    assert page.text("action-count") == str(pending)
    assert "folder was removed by the retention policy" in page.text("run-folder-gone")
