"""`tallyclerk rules list`, `explain` and `sql`: a workspace's rules and the built-in packs."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
import yaml
from typer.testing import CliRunner

from api.cli import app
from tallyclerk.errors import ConfigError

ITEMS = "ItemNumber,Description\n1,Pallet jack\n"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """Items in an ERP and a WMS, the master-data pack, and one rule of its own."""
    (tmp_path / "items.csv").write_text(ITEMS)
    source = {
        "entity": "item",
        "file": "items.csv",
        "columns": {"item_id": "ItemNumber", "description": "Description"},
    }
    config = {
        "name": "Tiny",
        "systems": {
            "erp": {"kind": "erp", "sources": [source]},
            "wms": {"kind": "wms", "sources": [source]},
        },
        "packs": ["master-data"],
        "rules": [
            {
                "id": "item-names",
                "kind": "validate",
                "description": "Every item has a description.",
                "table": "erp.item",
                "checks": [{"check": "not_null", "column": "description"}],
                "owner_team": "catalogue",
                "version": 2,
            }
        ],
    }
    (tmp_path / "tallyclerk.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return tmp_path


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), terminal_width=200)
    if result.exception is not None:
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


def test_list_shows_pack_rules_own_rules_and_what_is_skipped(workspace):
    output = _invoke("rules", "list", "--workspace", str(workspace))

    rows = [line.split("│")[1:-1] for line in output.splitlines() if line.startswith("│")]
    cells = [[cell.strip() for cell in row] for row in rows]
    assert cells[:3] == [
        ["master-data.item-sync", "match", "high", "item", "master-data", "master-data", "1"],
        ["master-data.item-complete", "validate", "medium", "erp.item", "master-data",
         "master-data", "1"],
        ["item-names", "validate", "medium", "erp.item", "workspace", "catalogue", "2"],
    ]  # fmt: skip
    assert "Skipped pack rules" in output
    assert [
        "master-data.carrier-sync",
        "master-data",
        "the workspace has no tms system",
    ] in cells


def test_list_a_built_in_pack_without_a_workspace(tmp_path):
    output = _invoke("rules", "list", "--pack", "freight-audit", "--workspace", str(tmp_path))
    assert [line.split("│")[1].strip() for line in output.splitlines() if "│" in line] == [
        "freight-audit.invoice-vs-rated-cost",
        "freight-audit.invoice-billed-twice",
        "freight-audit.invoice-complete",
        "freight-audit.invoice-vs-charges",
        "freight-audit.charge-lines-complete",
        "freight-audit.accrual",
    ]


def test_list_every_built_in_pack_in_a_folder_without_a_workspace(tmp_path, monkeypatch):
    from rules.packs import PACKS, load_pack

    monkeypatch.chdir(tmp_path)
    output = _invoke("rules", "list")
    listed = [line.split("│")[1].strip() for line in output.splitlines() if "│" in line]
    assert listed == [rule["id"] for name in sorted(PACKS) for rule in load_pack(name).rules]
    assert "freight-audit.accrual" in listed and "master-data.item-complete" in listed


def test_explain_says_what_a_rule_checks_and_shows_its_parameters(workspace):
    output = _invoke("rules", "explain", "item-names", "--workspace", str(workspace))

    assert output == (
        "item-names (validate, severity medium, version 2, owned by catalogue; from workspace)\n"
        "Every item has a description.\n"
        "\n"
        "Checks each row of erp.item, naming rows by its first column:\n"
        "- description has a value (not_null).\n"
        "\n"
        "Parameters:\n"
        "table: erp.item\n"
        "checks:\n"
        "- check: not_null\n"
        "  column: description\n"
    )


def test_explain_a_pack_rule_outside_any_workspace(tmp_path):
    output = _invoke("rules", "explain", "ship-to-invoice.cash-application", "-w", str(tmp_path))

    assert "from pack ship-to-invoice, systems named by kind" in output
    assert "- total_mismatch: the right total exceeds the left one beyond 0.01." in output
    assert (
        "- no_ar_invoice: a group of finance.payment with none in finance.ar_invoice (total "
        "against zero)." in output
    )


@pytest.mark.parametrize("dialect", ["duckdb", "spark", "postgres", "snowflake"])
def test_sql_of_one_rule_in_each_dialect(workspace, dialect):
    output = _invoke(
        "rules", "sql", "master-data.item-sync", "-w", str(workspace), "--dialect", dialect
    )

    header, sql = output.split("\n", 1)
    assert header == "-- rule master-data.item-sync (match, from master-data)"
    assert sqlglot.parse_one(sql.strip().rstrip(";"), read=dialect) is not None


def test_sql_of_every_rule_of_the_workspace(workspace):
    output = _invoke("rules", "sql", "-w", str(workspace))
    headers = [line for line in output.splitlines() if line.startswith("-- rule ")]
    assert headers == [
        "-- rule master-data.item-sync (match, from master-data)",
        "-- rule master-data.item-complete (validate, from master-data)",
        "-- rule item-names (validate, from workspace)",
    ]


@pytest.mark.parametrize("dialect", ["duckdb", "snowflake"])
def test_sql_of_every_built_in_pack_rule_in_a_folder_without_a_workspace(
    tmp_path, monkeypatch, dialect
):
    from rules.packs import PACKS, load_pack

    monkeypatch.chdir(tmp_path)
    output = _invoke("rules", "sql", "--dialect", dialect)
    headers = [line.split(" (")[0] for line in output.splitlines() if line.startswith("-- rule ")]
    assert headers == [
        f"-- rule {rule['id']}" for name in sorted(PACKS) for rule in load_pack(name).rules
    ]
    assert output.count(";\n") == len(headers)


def test_a_skipped_rule_says_why(workspace):
    with pytest.raises(ConfigError) as raised:
        _invoke("rules", "sql", "master-data.carrier-sync", "-w", str(workspace))
    assert str(raised.value) == (
        f"rule 'master-data.carrier-sync' of pack master-data is skipped in {workspace}: "
        "the workspace has no tms system."
    )


def test_an_unknown_rule_says_where_to_look(tmp_path):
    with pytest.raises(ConfigError) as raised:
        _invoke("rules", "explain", "no-such-rule", "-w", str(tmp_path))
    assert str(raised.value) == (
        f"no rule 'no-such-rule' in {tmp_path} or the built-in packs; `tallyclerk rules list` "
        "shows a workspace's rules, `tallyclerk rules list --pack NAME` a pack's."
    )
