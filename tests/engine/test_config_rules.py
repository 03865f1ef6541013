"""The workspace file's rules: packs enabled and skipped, rules refused when it loads,
and the owning team and version findings carry."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from engine.config import load_workspace
from engine.run import run_workspace
from tallyclerk.errors import ConfigError

ITEMS = "ItemNumber,Description,Uom\n1,Pallet jack,EA\n2,Shrink wrap,RL\n2,Shrink wrap,RL\n"
SKUS = "SKU,DESCRIPTION,UOM\n1,Pallet jack,EA\n2,Shrink  WRAP,RL\n3,Tape,EA\n"


def _workspace(tmp_path: Path, **changes) -> Path:
    (tmp_path / "items.csv").write_text(ITEMS)
    (tmp_path / "skus.csv").write_text(SKUS)
    columns = {"item_id": "ItemNumber", "description": "Description", "uom": "Uom"}
    config = {
        "name": "Tiny",
        "systems": {
            "erp": {
                "kind": "erp",
                "sources": [{"entity": "item", "file": "items.csv", "columns": columns}],
            },
            "wms": {
                "kind": "wms",
                "sources": [
                    {
                        "entity": "item",
                        "file": "skus.csv",
                        "columns": {"item_id": "SKU", "description": "DESCRIPTION", "uom": "UOM"},
                    }
                ],
            },
        },
        "ownership": {"item": {"owner": "erp"}},
        "rules": [],
    }
    config.update(changes)
    (tmp_path / "tallyclerk.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return tmp_path


def test_packs_are_enabled_and_rules_they_cannot_run_are_skipped_with_a_warning(tmp_path, caplog):
    folder = _workspace(tmp_path, packs=["master-data"])

    with caplog.at_level(logging.WARNING, logger="engine.config"):
        loaded = load_workspace(folder)

    assert [rule.id for rule in loaded.rules] == [
        "master-data.item-sync",
        "master-data.item-complete",
    ]
    assert loaded.origins == {
        "master-data.item-sync": "master-data",
        "master-data.item-complete": "master-data",
    }
    skipped = {item.rule_id: item.reason for item in loaded.skipped}
    assert skipped["master-data.carrier-sync"] == "the workspace has no tms system"
    # No weight or cost is mapped here: item-complete runs without the checks reading them.
    assert "master-data.item-complete" not in skipped
    assert skipped["master-data.customer-duplicates"] == (
        "key: no snapshot 'erp.customer' in this workspace"
    )
    assert (
        "skipped rule master-data.carrier-sync of pack master-data: "
        "the workspace has no tms system" in caplog.messages
    )


def test_a_workspace_rule_replaces_the_pack_rule_of_its_id(tmp_path):
    own = {
        "id": "master-data.item-sync",
        "kind": "match",
        "entity": "item",
        "systems": ["erp", "wms"],
        "key": ["item_id"],
        "fields": [{"name": "uom"}],
        "owner_team": "us",
    }
    loaded = load_workspace(_workspace(tmp_path, packs=["master-data"], rules=[own]))

    replaced = [rule for rule in loaded.rules if rule.id == "master-data.item-sync"]
    assert [(rule.owner_team, loaded.origins[rule.id]) for rule in replaced] == [
        ("us", "workspace")
    ]


def test_an_unknown_pack_names_the_key(tmp_path):
    with pytest.raises(ConfigError) as raised:
        load_workspace(_workspace(tmp_path, packs=["month-end"]))
    assert str(raised.value) == (
        f"{tmp_path / 'tallyclerk.yaml'}: packs[0]: unknown pack 'month-end'; the built-in "
        "packs are: master-data, order-to-ship, ship-to-invoice, freight-audit, "
        "inventory-to-finance."
    )


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {
                "id": "bad-key",
                "kind": "match",
                "entity": "item",
                "systems": ["erp", "wms"],
                "key": ["sku"],
            },
            "rules[0]: rule 'bad-key' key: erp.item has no column 'sku'; its columns are: "
            "item_id, description, uom.",
        ),
        (
            {
                "id": "bad-range",
                "kind": "validate",
                "table": "erp.item",
                "checks": [{"check": "range", "column": "uom", "min": 5, "max": 1}],
            },
            "the workspace configuration is not valid:\n  rules[0] (id 'bad-range').checks[0]: "
            "min 5 and max 1 leave no value allowed; swap them or widen the range",
        ),
        (
            {
                "id": "bad-tolerance",
                "kind": "match",
                "entity": "item",
                "systems": ["erp", "wms"],
                "key": ["item_id"],
                "fields": [{"name": "uom", "compare": "numeric", "abs_tol": -1}],
            },
            "the workspace configuration is not valid:\n  rules[0] (id 'bad-tolerance')"
            ".fields[0].abs_tol: Input should be greater than or equal to 0",
        ),
        (
            {
                "id": "bad-predicate",
                "kind": "validate",
                "table": "erp.item",
                "checks": [{"check": "expression", "name": "p", "predicate": "uom IN (SELECT 1)"}],
            },
            "rules[0]: rule 'bad-predicate' checks[0].predicate: 'uom IN (SELECT 1)' is not "
            "allowed: it contains a subquery. Only single-row expressions over the row's own "
            "columns are accepted.",
        ),
    ],
)
def test_a_rule_that_cannot_mean_anything_is_refused_when_the_workspace_loads(
    tmp_path, rule, message
):
    with pytest.raises(ConfigError) as raised:
        load_workspace(_workspace(tmp_path, rules=[rule]))
    assert str(raised.value) == f"{tmp_path / 'tallyclerk.yaml'}: {message}"


def test_findings_carry_the_rules_owning_team_and_version(tmp_path):
    rules = [
        {
            "id": "item-sync",
            "kind": "match",
            "entity": "item",
            "systems": ["erp", "wms"],
            "key": ["item_id"],
            "fields": [{"name": "description", "compare": "text"}],
            "owner_team": "master-data",
            "version": 3,
        },
        {
            "id": "item-unique",
            "kind": "duplicates",
            "table": "erp.item",
            "key": ["item_id"],
        },
    ]
    result = run_workspace(_workspace(tmp_path, rules=rules), "2026-11")

    found = result.findings.select(
        ["rule_id", "problem", "key", "owner_team", "rule_version"]
    ).to_pylist()
    assert sorted(found, key=str) == sorted(
        [
            {"rule_id": "item-sync", "problem": "duplicate_key_in_erp", "key": "item_id=2",
             "owner_team": "master-data", "rule_version": 3},
            {"rule_id": "item-sync", "problem": "missing_in_erp", "key": "item_id=3",
             "owner_team": "master-data", "rule_version": 3},
            {"rule_id": "item-unique", "problem": "duplicate_key", "key": "item_id=2",
             "owner_team": None, "rule_version": 1},
        ],
        key=str,
    )  # fmt: skip
    assert result.manifest["skipped_rules"] == []
