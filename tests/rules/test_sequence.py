"""sequence rules: statuses moving backwards against a declared lifecycle."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from rules.compile import compile_rule
from tallyclerk.errors import RuleError

from .conftest import build_context, parse_rule

RULE = {
    "id": "shipment-status-sequence",
    "kind": "sequence",
    "table": "tms.shipment_event",
    "key": ["shipment_id"],
    "status": "status",
    "lifecycle": ["TENDERED", "PICKED_UP", "IN_TRANSIT", "DELIVERED"],
    "order_by": "recorded_at",
}
OWNERS = {"shipment_event": "tms"}


def _events(*rows: tuple[str, str | None, int]) -> pl.DataFrame:
    """Events as (shipment, status, hour of 2 November 2026 it was recorded)."""
    return pl.DataFrame(
        {
            "shipment_id": [row[0] for row in rows],
            "status": [row[1] for row in rows],
            "recorded_at": [datetime(2026, 11, 2, row[2]) for row in rows],
        }
    )


def test_a_status_going_back_is_reported_with_the_status_reached_before(run_rule):
    events = _events(
        ("SH1", "TENDERED", 1),
        ("SH1", "PICKED_UP", 2),
        ("SH1", "IN_TRANSIT", 3),
        ("SH1", "DELIVERED", 4),
        ("SH1", "IN_TRANSIT", 6),
        ("SH2", "TENDERED", 1),
        ("SH2", "IN_TRANSIT", 2),
        ("SH2", "IN_TRANSIT", 3),
        ("SH2", "DELIVERED", 5),
    )

    found = run_rule(
        RULE,
        {"tms.shipment_event": events},
        owners=OWNERS,
        columns=(
            "kind",
            "entity",
            "problem",
            "key",
            "field",
            "systems",
            "owner_system",
            "owner_value",
            "other_value",
            "message",
        ),
    )

    assert found == [
        (
            "sequence",
            "shipment_event",
            "status_regression",
            "shipment_id=SH1",
            "status",
            "tms",
            "tms",
            "DELIVERED",
            "IN_TRANSIT",
            "status went back from DELIVERED to IN_TRANSIT at recorded_at 2026-11-02 06:00:00",
        )
    ]


def test_only_the_first_regression_of_a_key_is_reported(run_rule):
    # Rows arrive out of order and recorded_at decides: DELIVERED, IN_TRANSIT, then PICKED_UP.
    events = _events(
        ("SH1", "PICKED_UP", 8),
        ("SH1", "DELIVERED", 4),
        ("SH1", "TENDERED", 1),
        ("SH1", "IN_TRANSIT", 6),
    )

    found = run_rule(
        RULE,
        {"tms.shipment_event": events},
        columns=("problem", "key", "owner_value", "other_value"),
    )

    assert found == [("status_regression", "shipment_id=SH1", "DELIVERED", "IN_TRANSIT")]


def test_events_recorded_at_the_same_moment_are_not_a_regression(run_rule):
    events = _events(("SH1", "DELIVERED", 4), ("SH1", "IN_TRANSIT", 4), ("SH1", "TENDERED", 1))

    assert run_rule(RULE, {"tms.shipment_event": events}) == []


def test_statuses_outside_the_lifecycle_are_reported_once_per_key(run_rule):
    # SH1's unknown statuses do not hide its regression; a missing status is not a status.
    events = _events(
        ("SH1", "TENDERED", 1),
        ("SH1", "LOST", 2),
        ("SH1", "IN_TRANSIT", 3),
        ("SH1", "FOUND", 4),
        ("SH1", "PICKED_UP", 5),
        ("SH2", "TENDERED", 1),
        ("SH2", None, 2),
    )

    found = run_rule(
        RULE,
        {"tms.shipment_event": events},
        columns=("problem", "key", "owner_value", "other_value", "message"),
    )

    assert found == [
        (
            "status_regression",
            "shipment_id=SH1",
            "IN_TRANSIT",
            "PICKED_UP",
            "status went back from IN_TRANSIT to PICKED_UP at recorded_at 2026-11-02 05:00:00",
        ),
        (
            "unknown_status",
            "shipment_id=SH1",
            None,
            "LOST",
            "status LOST is not in the lifecycle TENDERED, PICKED_UP, IN_TRANSIT, DELIVERED",
        ),
    ]


def test_a_composite_key_orders_each_record_on_its_own(run_rule):
    events = pl.DataFrame(
        {
            "order_id": ["SO1", "SO1", "SO1", "SO1"],
            "line_no": [1, 2, 1, 2],
            "state": ["OPEN", "SHIPPED", "SHIPPED", "OPEN"],
            "seq": [1, 2, 3, 4],
        }
    )
    rule = {
        "id": "order-line-states",
        "kind": "sequence",
        "table": "erp.sales_order_line",
        "key": ["order_id", "line_no"],
        "status": "state",
        "lifecycle": ["OPEN", "SHIPPED"],
        "order_by": "seq",
    }

    found = run_rule(rule, {"erp.sales_order_line": events}, columns=("problem", "key", "field"))

    assert found == [("status_regression", "order_id=SO1, line_no=2", "state")]


def test_an_unknown_order_by_column_is_refused():
    rule = {**RULE, "order_by": "event_time"}
    with pytest.raises(RuleError) as raised:
        compile_rule(
            parse_rule(rule), build_context({"tms.shipment_event": _events(("SH1", "TENDERED", 1))})
        )
    assert str(raised.value) == (
        "rule 'shipment-status-sequence' order_by: tms.shipment_event has no column 'event_time'; "
        "its columns are: shipment_id, status, recorded_at."
    )
