"""What the workflow commands say when something is missing or wrong: a failed apply
waiting for --retry, a damaged catalog, unknown filters, missing configuration and
paths that cannot be written. Each through the real `tallyclerk` executable."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from engine import batches
from engine.catalog import Catalog
from tests.engine.harborline import make_tenant, run

TALLYCLERK = str(Path(sys.executable).parent / "tallyclerk")
ITEMS = "2026-11.001/wms:item"
TARGETS = {
    "wms": {"kind": "postgres", "dsn": "env:WMS_DSN", "entities": {"item": {"table": "items"}}}
}
# Nothing listens on port 1: the connection is refused at once.
REFUSED = "postgresql://tally@127.0.0.1:1/wms"


def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("TALLYCLERK_USER", "WMS_DSN")}
    return subprocess.run(
        [TALLYCLERK, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**environ, "NO_COLOR": "1", **env},
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def approved_template(tmp_path_factory) -> Path:
    """The sample tenant with a WMS target, its item batch approved by alex."""
    folder = make_tenant(tmp_path_factory.mktemp("targets") / "harborline", targets=TARGETS)
    run(folder, 1)
    with Catalog(folder) as catalog:
        batches.decide(catalog, user="alex", batch=ITEMS, decision="approve", comment="go")
    return folder


@pytest.fixture
def approved(tmp_path, approved_template) -> Path:
    return Path(shutil.copytree(approved_template, tmp_path / "harborline"))


def test_after_a_failed_apply_a_plain_apply_says_to_retry_and_fails(approved):
    first = _run("batches", "apply", str(approved), "wms:item", "--as", "pat", WMS_DSN=REFUSED)
    assert first.returncode == 1
    assert "cannot connect to PostgreSQL" in _one_line(first.stderr)

    again = _run("batches", "apply", str(approved), "wms:item", "--as", "pat", WMS_DSN=REFUSED)
    assert again.returncode == 1
    assert _one_line(again.stdout) == (
        f"Batch {ITEMS}: nothing to apply; 4 failed actions; rerun with --retry."
    )


def test_an_unset_dsn_variable_is_configuration_naming_the_variable(approved):
    result = _run("batches", "apply", str(approved), "wms:item", "--as", "pat")
    assert result.returncode == 2
    assert _one_line(result.stderr) == (
        "error: targets.wms.dsn reads the environment variable WMS_DSN, which is not set; set "
        "it to the PostgreSQL connection string of wms, for example: export "
        "WMS_DSN='postgresql://USER:PASSWORD@HOST:5432/DATABASE'"
    )
    with Catalog(approved) as catalog, catalog.read() as con:
        statuses = {
            row[0] for row in con.execute("SELECT status FROM actions WHERE batch_id = ?", (ITEMS,))
        }
    assert statuses == {"approved"}


def test_export_into_a_file_names_the_path_and_the_fix(approved, tmp_path):
    existing = tmp_path / "exports.txt"
    existing.write_text("keep me")
    result = _run(
        "batches", "export", str(approved), "wms:item", "--out", str(existing), "--as", "pat"
    )
    assert result.returncode == 2
    assert _one_line(result.stderr) == (
        f"error: --out {existing} is a file, not a folder; name a folder for the files "
        "(it is created when missing)."
    )
    assert existing.read_text() == "keep me"


def test_findings_output_into_a_missing_folder_names_the_path_and_the_fix(approved, tmp_path):
    target = tmp_path / "nodir" / "x.csv"
    result = _run(
        "findings", "list", str(approved), "latest", "--format", "csv", "--output", str(target)
    )
    assert result.returncode == 2
    assert _one_line(result.stderr) == (
        f"error: --output {target}: the folder {target.parent} does not exist; create it "
        f"first (mkdir -p {target.parent}) or write to a folder that exists."
    )
    report = _run("report", str(approved), "--out", str(target))
    assert report.returncode == 2
    assert f"--out {target}: the folder {target.parent} does not exist" in _one_line(report.stderr)


def test_unknown_rule_actor_and_run_filters_are_named_not_listed_as_empty(approved):
    rule = _run("findings", "list", str(approved), "latest", "--rule", "no-such-rule")
    assert rule.returncode == 2
    assert _one_line(rule.stderr).startswith(
        f"error: unknown rule 'no-such-rule': neither a rule of {approved} nor one that run "
        "2026-11.001 found; its rules: carrier-invoice-billed-twice, "
    )
    actor = _run("audit", "list", str(approved), "--actor", "nobody")
    assert actor.returncode == 2
    assert _one_line(actor.stderr).startswith(
        "error: unknown user 'nobody': not declared under `users` in tallyclerk.yaml and never "
        "in the audit trail; its actors: ada, alex, "
    )
    # A known user who has not acted yet is no error: the list is empty.
    assert _run("audit", "list", str(approved), "--actor", "vic").returncode == 0
    runs = _run("batches", "list", str(approved), "--run", "2026-10.001")
    assert runs.returncode == 2
    assert _one_line(runs.stderr) == (
        f"error: no run '2026-10.001' in {approved}; its latest runs: 2026-11.001."
    )


def test_a_dropped_audit_table_is_reported_as_missing_not_a_traceback(approved):
    with sqlite3.connect(approved / ".tallyclerk" / "catalog.sqlite") as con:
        con.execute("DROP TABLE audit")
    verify = _run("audit", "verify", str(approved))
    assert verify.returncode == 1
    assert "Traceback" not in verify.stderr
    catalog = approved / ".tallyclerk" / "catalog.sqlite"
    head = (approved / ".tallyclerk" / "audit.head").read_text().split()[0]
    assert _one_line(verify.stderr) == (
        f"trail: the audit table is missing from {catalog} (dropped) "
        f"entry 1: entries 1 to {head} are missing (deleted) "
        "The audit trail is missing or damaged: 2 problems in 0 entries."
    )
    # Every other reader of the catalog says the same, once, without a traceback.
    for args in (
        ("audit", "list", str(approved)),
        ("batches", "approve", str(approved), "erp:customer"),
    ):
        result = _run(*args, TALLYCLERK_USER="sam")
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert "it is damaged: no such table: audit; restore it from a backup" in _one_line(
            result.stderr
        )


def test_a_file_that_is_not_a_catalog_is_named_as_damaged(approved):
    state = approved / ".tallyclerk"
    for name in ("catalog.sqlite-wal", "catalog.sqlite-shm"):
        (state / name).unlink(missing_ok=True)
    (state / "catalog.sqlite").write_bytes(b"not a database, just bytes" * 100)
    result = _run("batches", "list", str(approved))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert _one_line(result.stderr) == (
        f"error: the catalog {state / 'catalog.sqlite'} failed to open, it is damaged: file is "
        "not a database; restore it from a backup (`tallyclerk audit verify` checks its audit "
        "trail)."
    )
