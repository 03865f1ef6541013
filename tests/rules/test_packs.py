"""The built-in packs: every rule reads, compiles for every dialect, and together they cover
every canonical entity; a workspace's systems take them on by kind."""

from __future__ import annotations

import pytest
import sqlglot

from adapters.canonical import ENTITIES
from rules.compile import DIALECTS, compile_rule, rule_sql
from rules.findings import CompileContext
from rules.packs import PACKS, load_pack, tables_read, with_systems
from tallyclerk.errors import ConfigError

from .conftest import parse_rule

PACK_RULES = [(pack, rule) for pack in PACKS for rule in load_pack(pack).rules]


def _canonical(refs: list[str]) -> CompileContext:
    return CompileContext(
        tables={ref: list(ENTITIES[ref.partition(".")[2]].columns) for ref in refs},
        period_start="2026-11-01 00:00:00+00",
        period_end="2026-12-01 00:00:00+00",
    )


@pytest.mark.parametrize(
    ("pack", "declared"), PACK_RULES, ids=[rule["id"] for _, rule in PACK_RULES]
)
def test_every_pack_rule_compiles_for_every_dialect(pack, declared):
    rule = parse_rule(declared)
    assert rule.id.startswith(f"{pack}.")
    assert rule.description and rule.owner_team
    ctx = _canonical(tables_read(declared))

    compile_rule(rule, ctx)
    for dialect in DIALECTS:
        sqlglot.parse_one(rule_sql(rule, ctx, dialect), read=dialect)


def test_the_packs_cover_every_canonical_entity():
    read = {ref.partition(".")[2] for _, rule in PACK_RULES for ref in tables_read(rule)}
    assert sorted(set(ENTITIES) - read) == []


def test_rule_ids_are_unique_across_packs():
    ids = [rule["id"] for _, rule in PACK_RULES]
    assert len(ids) == len(set(ids))


def test_system_kinds_become_the_workspace_systems():
    declared = next(rule for _, rule in PACK_RULES if rule["id"] == "master-data.item-sync")
    kinds = {"erp": ["sap"], "wms": ["manhattan"], "tms": ["mercurygate"]}

    resolved, reason = with_systems(declared, kinds)

    assert reason is None
    assert resolved["systems"] == ["sap", "manhattan"]
    assert tables_read(resolved) == ["sap.item", "manhattan.item"]


@pytest.mark.parametrize(
    ("kinds", "reason"),
    [
        ({"erp": ["sap"]}, "the workspace has no wms system"),
        (
            {"erp": ["sap"], "wms": ["north", "south"]},
            "the workspace has several wms systems (north, south); copy the rule into rules: "
            "naming the one to check",
        ),
    ],
)
def test_a_rule_whose_systems_the_workspace_lacks_is_skipped_with_the_reason(kinds, reason):
    declared = next(rule for _, rule in PACK_RULES if rule["id"] == "master-data.item-sync")
    assert with_systems(declared, kinds) == (None, reason)


def test_an_unknown_pack_is_refused():
    with pytest.raises(ConfigError, match=r"^unknown pack 'month-end'; the built-in packs are: "):
        load_pack("month-end")
