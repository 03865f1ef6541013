"""The batch sheet: one batch's actions with before and after values."""

from __future__ import annotations

import pytest

from engine.actions import derive_actions
from reports.batch import batch_ids, render_batch_sheet
from tallyclerk.errors import ConfigError
from tests.reports.factory import finding, manifest, table
from tests.reports.page import Page

ROWS = [
    finding(
        "item-master-sync",
        "item_id=7",
        field="weight_kg",
        owner_value="1.500",
        other_value="1.250",
        amount="12.00",
    ),
    finding(
        "item-master-sync",
        "item_id=8",
        field="description",
        owner_value="Bolt M8",
        other_value="BOLT M8 ZINC",
    ),
    finding("item-master-sync", "item_id=9", problem="missing_in_wms"),
    finding("item-master-sync", "item_id=10", problem="missing_in_erp", owner_value=None),
]


@pytest.fixture
def findings():
    return table(ROWS)


def test_batches_are_the_target_system_and_entity(findings):
    assert batch_ids(derive_actions(findings)) == ["erp:item", "wms:item"]


def test_before_and_after_of_each_action(findings):
    page = Page(
        render_batch_sheet(manifest("2026-11.001"), derive_actions(findings), findings, "wms:item")
    )
    assert page.text("batch-id") == "wms:item"
    assert page.text("action-count") == "3"
    assert "3 1 create · 2 update" in page.visible_text
    assert page.text("batch-amount") == "12.00"
    rows = page.visible_text[page.visible_text.index("# action") :]
    assert "1 update item_id=7 weight_kg 1.250 1.500 12.00 medium" in rows
    assert "update item_id=8 description BOLT M8 ZINC Bolt M8 " in rows
    assert "create item_id=9 not in wms created as in erp" in rows
    assert "Prepared by, date Approved by, date" in page.visible_text


def test_a_route_shows_what_a_person_decides(findings):
    page = Page(
        render_batch_sheet(manifest("2026-11.001"), derive_actions(findings), findings, "erp:item")
    )
    assert "route item_id=10 (empty) a person decides" in page.visible_text


def test_an_unknown_batch_names_the_ones_there_are(findings):
    with pytest.raises(
        ConfigError, match=r"no batch 'tms:item'; its batches are: erp:item, wms:item"
    ):
        render_batch_sheet(manifest("2026-11.001"), derive_actions(findings), findings, "tms:item")
