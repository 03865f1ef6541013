"""Earlier runs read from run folders: new, first seen, age, resolved, and which run is which."""

from __future__ import annotations

from datetime import date

import pytest

from reports.history import find_run, finished_runs, load_history, run_sort_key, workspace_of
from tallyclerk.errors import ConfigError
from tests.reports.factory import finding, manifest, runs_dir, write_run

OLD = finding("r", "k=old")
MIDDLE = finding("r", "k=middle")
GONE = finding("r", "k=gone")
FRESH = finding("r", "k=fresh")


@pytest.fixture
def workspace(tmp_path):
    write_run(tmp_path, "2026-08.001", [OLD])
    write_run(tmp_path, "2026-09.001", [OLD, MIDDLE, GONE])
    write_run(tmp_path, "2026-10.001", [OLD, MIDDLE, GONE])
    return tmp_path


def test_run_ids_sort_by_period_then_number():
    ids = ["2026-11.010", "2026-10.002", "2026-11.1000", "2026-11.009", "2026-11.999"]
    assert sorted(ids, key=run_sort_key) == [
        "2026-10.002",
        "2026-11.009",
        "2026-11.010",
        "2026-11.999",
        "2026-11.1000",
    ]


def test_lineage_of_each_finding_at_the_end_of_the_period(workspace):
    history = load_history(runs_dir(workspace), manifest("2026-11.001"))
    assert history.previous.run_id == "2026-10.001"
    old, middle, fresh = (history.lineage(f) for f in (OLD, MIDDLE, FRESH))
    assert (old.new, old.first_seen, old.first_seen_run, old.age_days) == (
        False,
        date(2026, 8, 31),
        "2026-08.001",
        91,
    )
    assert (middle.new, middle.first_seen, middle.age_days) == (False, date(2026, 9, 30), 61)
    assert (fresh.new, fresh.first_seen, fresh.age_days) == (True, date(2026, 11, 30), 0)


def test_resolved_are_the_previous_runs_findings_this_run_lacks(workspace):
    history = load_history(runs_dir(workspace), manifest("2026-11.001"))
    resolved = history.resolved([OLD["finding_id"], MIDDLE["finding_id"]])
    assert [row["key"] for row in resolved] == ["k=gone"]


def test_only_runs_before_the_current_one_count(workspace):
    history = load_history(runs_dir(workspace), manifest("2026-09.001"))
    assert [run.run_id for run in history.earlier] == ["2026-08.001"]
    assert history.lineage(MIDDLE).new is True


def test_the_trend_takes_the_last_runs(workspace):
    history = load_history(runs_dir(workspace), manifest("2026-11.001"))
    assert [run.run_id for run in history.trend_runs(3)] == ["2026-09.001", "2026-10.001"]


def test_a_first_run_has_no_previous_and_everything_is_new(tmp_path):
    history = load_history(runs_dir(tmp_path), manifest("2026-11.001"))
    assert history.previous is None
    assert history.lineage(OLD).new is True
    assert history.resolved([]) == []


def test_lifecycle_columns_win_when_findings_carry_them(workspace):
    history = load_history(runs_dir(workspace), manifest("2026-11.001"))
    tracked = {**FRESH, "status": "persisting", "first_seen": "2026-11-10"}
    lineage = history.lineage(tracked)
    assert (lineage.new, lineage.age_days) == (False, 20)


def test_runs_being_written_are_not_read(workspace):
    (runs_dir(workspace) / ".tmp-1234").mkdir()
    (runs_dir(workspace) / "2026-12.001").mkdir()  # no manifest yet
    assert [run.run_id for run in finished_runs(runs_dir(workspace))] == [
        "2026-08.001",
        "2026-09.001",
        "2026-10.001",
    ]


def test_find_run_by_folder_by_workspace_and_id_or_latest(workspace):
    folder = runs_dir(workspace) / "2026-09.001"
    assert find_run(folder).run_id == "2026-09.001"
    assert find_run(workspace).run_id == "2026-10.001"
    assert find_run(workspace, "2026-08.001").run_id == "2026-08.001"
    assert workspace_of(find_run(folder)) == workspace.resolve()


def test_find_run_says_what_is_wrong(workspace, tmp_path_factory):
    with pytest.raises(ConfigError, match=r"has no run '2026-01.001'; its latest runs are: "):
        find_run(workspace, "2026-01.001")
    with pytest.raises(ConfigError, match=r"is run 2026-09\.001, not 2026-10\.001"):
        find_run(runs_dir(workspace) / "2026-09.001", "2026-10.001")
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(
        ConfigError, match="neither a run folder nor a workspace with finished runs"
    ):
        find_run(empty)
