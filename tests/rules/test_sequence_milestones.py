"""sequence rules beyond the lifecycle: declared transitions, stale updates by version or
last-modified time, milestones missing, and milestones late at the period's cut-off."""

from __future__ import annotations

from datetime import datetime

import polars as pl

NOVEMBER = ("2026-11-01 00:00:00+00", "2026-12-01 00:00:00+00")


def _rule(**checks) -> dict:
    return {
        "id": "milestones",
        "kind": "sequence",
        "table": "tms.shipment_event",
        "key": ["shipment_id"],
        "status": "status",
        "order_by": "recorded_at",
        **checks,
    }


def _events(*rows: tuple) -> pl.DataFrame:
    """(shipment, status, day and hour recorded in November, [day and hour it happened])."""
    return pl.DataFrame(
        {
            "shipment_id": [row[0] for row in rows],
            "status": [row[1] for row in rows],
            "recorded_at": pl.Series(
                [datetime(2026, 11, *row[2]) for row in rows], dtype=pl.Datetime("us", "UTC")
            ),
            "event_time": pl.Series(
                [datetime(2026, 11, *(row[3] if len(row) > 3 else row[2])) for row in rows],
                dtype=pl.Datetime("us", "UTC"),
            ),
        }
    )


TRANSITIONS = {
    "TENDERED": ["PICKED_UP", "CANCELLED"],
    "PICKED_UP": ["IN_TRANSIT", "DELIVERED"],
    "IN_TRANSIT": ["DELIVERED", "EXCEPTION"],
    "EXCEPTION": ["IN_TRANSIT"],
}


def test_moves_the_transitions_do_not_allow(run_rule):
    events = _events(
        # An exception and back is allowed; so is repeating a status.
        ("SH1", "TENDERED", (2, 1)),
        ("SH1", "PICKED_UP", (2, 2)),
        ("SH1", "IN_TRANSIT", (2, 3)),
        ("SH1", "EXCEPTION", (2, 4)),
        ("SH1", "IN_TRANSIT", (2, 5)),
        ("SH1", "IN_TRANSIT", (2, 6)),
        ("SH1", "DELIVERED", (2, 7)),
        # Tendered straight to delivered skips pickup; cancelled is final.
        ("SH2", "TENDERED", (2, 1)),
        ("SH2", "DELIVERED", (2, 2)),
        ("SH2", "CANCELLED", (2, 3)),
        ("SH2", "PICKED_UP", (2, 4)),
        # An unknown status is its own finding, not a forbidden move either side of it.
        ("SH3", "TENDERED", (2, 1)),
        ("SH3", "LOST", (2, 2)),
        ("SH3", "PICKED_UP", (2, 3)),
    )

    found = run_rule(
        _rule(transitions=TRANSITIONS),
        {"tms.shipment_event": events},
        columns=("problem", "key", "owner_value", "other_value", "message"),
    )

    assert found == [
        (
            "forbidden_transition",
            "shipment_id=SH2",
            "TENDERED",
            "DELIVERED",
            "status moved from TENDERED to DELIVERED at recorded_at 2026-11-02 02:00:00+00, a "
            "move the declared transitions do not allow",
        ),
        (
            "unknown_status",
            "shipment_id=SH3",
            None,
            "LOST",
            "status LOST is not in the transitions TENDERED, PICKED_UP, CANCELLED, IN_TRANSIT, "
            "DELIVERED, EXCEPTION",
        ),
    ]


def test_an_update_older_than_the_state_it_overwrote_is_stale(run_rule):
    # SH1's DELIVERED arrived first; the PICKED_UP that happened before it arrived later and
    # overwrote it. SH2 arrives in order. SH3's tie in event time is not stale.
    events = _events(
        ("SH1", "PICKED_UP", (2, 1), (2, 1)),
        ("SH1", "DELIVERED", (3, 9), (3, 8)),
        ("SH1", "IN_TRANSIT", (3, 10), (2, 12)),
        ("SH2", "PICKED_UP", (2, 1), (2, 1)),
        ("SH2", "DELIVERED", (3, 9), (3, 8)),
        ("SH3", "PICKED_UP", (2, 1), (2, 1)),
        ("SH3", "IN_TRANSIT", (2, 2), (2, 1)),
    )

    found = run_rule(
        _rule(stale_by="event_time"),
        {"tms.shipment_event": events},
        columns=("problem", "key", "field", "owner_value", "other_value", "message"),
    )

    assert found == [
        (
            "stale_update",
            "shipment_id=SH1",
            "event_time",
            "2026-11-03 08:00:00+00",
            "2026-11-02 12:00:00+00",
            "an update with event_time 2026-11-02 12:00:00+00 was applied at recorded_at "
            "2026-11-03 10:00:00+00 after one with event_time 2026-11-03 08:00:00+00, so it "
            "overwrote newer state",
        )
    ]


def test_stale_by_a_version_number(run_rule):
    # Master data updates applied in arrival order, each carrying the source's version.
    updates = pl.DataFrame(
        {
            "item_id": ["A", "A", "A", "B", "B"],
            "status": ["ACTIVE", "BLOCKED", "ACTIVE", "ACTIVE", "ACTIVE"],
            "applied": [1, 2, 3, 1, 2],
            "version": [4, 6, 5, 1, 2],
        }
    )
    rule = {
        "id": "item-versions",
        "kind": "sequence",
        "table": "erp.item",
        "key": ["item_id"],
        "status": "status",
        "order_by": "applied",
        "stale_by": "version",
    }

    found = run_rule(
        rule, {"erp.item": updates}, columns=("problem", "key", "owner_value", "other_value")
    )

    assert found == [("stale_update", "item_id=A", "6", "5")]


def test_delivered_without_pickup_is_a_missing_milestone(run_rule):
    events = _events(
        ("SH1", "TENDERED", (2, 1)),
        ("SH1", "DELIVERED", (4, 1)),
        # Picked up only after delivery: still missing when delivery was recorded.
        ("SH2", "DELIVERED", (4, 1)),
        ("SH2", "PICKED_UP", (5, 1)),
        ("SH3", "PICKED_UP", (2, 1)),
        ("SH3", "DELIVERED", (4, 1)),
        # Not delivered yet: nothing missing.
        ("SH4", "TENDERED", (2, 1)),
    )

    found = run_rule(
        _rule(requires={"DELIVERED": ["PICKED_UP"]}),
        {"tms.shipment_event": events},
        columns=("problem", "key", "field", "other_value", "message"),
    )

    assert found == [
        (
            "missing_milestone",
            "shipment_id=SH1",
            "PICKED_UP",
            "DELIVERED",
            "status reached DELIVERED at recorded_at 2026-11-04 01:00:00+00 with no PICKED_UP "
            "recorded before it",
        ),
        (
            "missing_milestone",
            "shipment_id=SH2",
            "PICKED_UP",
            "DELIVERED",
            "status reached DELIVERED at recorded_at 2026-11-04 01:00:00+00 with no PICKED_UP "
            "recorded before it",
        ),
    ]


def test_late_milestones_are_judged_at_the_period_cut_off(run_rule):
    deadline = {"after": "PICKED_UP", "expect": "DELIVERED", "within": "5d"}
    events = _events(
        ("SH1", "PICKED_UP", (10, 0)),
        ("SH1", "DELIVERED", (15, 0)),  # exactly 5 days: on time
        ("SH2", "PICKED_UP", (10, 0)),
        ("SH2", "DELIVERED", (15, 1)),  # an hour late
        ("SH3", "PICKED_UP", (10, 0)),  # never delivered, long overdue at the cut-off
        ("SH4", "PICKED_UP", (27, 0)),  # due 2 December: still running at the cut-off
    )

    found = run_rule(
        _rule(deadlines=[deadline], time="event_time"),
        {"tms.shipment_event": events},
        period=NOVEMBER,
        columns=("problem", "key", "field", "owner_value", "other_value", "message"),
    )

    assert found == [
        (
            "late_milestone",
            "shipment_id=SH2",
            "DELIVERED",
            "2026-11-10 00:00:00+00",
            "2026-11-15 01:00:00+00",
            "PICKED_UP at 2026-11-10 00:00:00+00 and DELIVERED only at 2026-11-15 01:00:00+00, "
            "later than 5d",
        ),
        (
            "late_milestone",
            "shipment_id=SH3",
            "DELIVERED",
            "2026-11-10 00:00:00+00",
            None,
            "PICKED_UP at 2026-11-10 00:00:00+00 and no DELIVERED within 5d by the period end "
            "2026-12-01 00:00:00+00",
        ),
    ]


def test_every_check_of_one_rule_together(run_rule):
    events = _events(
        ("SH1", "PICKED_UP", (2, 1)),
        ("SH1", "DELIVERED", (3, 1)),
        ("SH1", "IN_TRANSIT", (4, 1), (2, 12)),
        ("SH2", "TENDERED", (2, 1)),
        ("SH2", "DELIVERED", (3, 1)),
    )
    rule = _rule(
        lifecycle=["TENDERED", "PICKED_UP", "IN_TRANSIT", "DELIVERED"],
        stale_by="event_time",
        requires={"DELIVERED": ["PICKED_UP"]},
        deadlines=[{"after": "TENDERED", "expect": "PICKED_UP", "within": "2d"}],
    )

    found = run_rule(
        rule, {"tms.shipment_event": events}, period=NOVEMBER, columns=("problem", "key", "field")
    )

    assert found == [
        ("late_milestone", "shipment_id=SH2", "PICKED_UP"),
        ("missing_milestone", "shipment_id=SH2", "PICKED_UP"),
        ("stale_update", "shipment_id=SH1", "event_time"),
        ("status_regression", "shipment_id=SH1", "status"),
    ]
