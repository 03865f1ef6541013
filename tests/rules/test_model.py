"""Rules that cannot mean anything are refused when they are read, never run into odd findings."""

from __future__ import annotations

import pytest

from .conftest import parse_rule, refusal

VALIDATE = {"id": "x", "kind": "validate", "table": "erp.item"}
MATCH = {"id": "x", "kind": "match", "entity": "item", "systems": ["erp", "wms"], "key": ["id"]}
AGGREGATE = {
    "id": "x",
    "kind": "aggregate",
    "entity": "payment",
    "left": {"table": "finance.ar_invoice", "by": ["invoice_id"], "measure": "amount"},
    "right": {"table": "finance.payment", "by": ["invoice_id"], "measure": "amount"},
}
DUPLICATES = {"id": "x", "kind": "duplicates", "table": "erp.customer", "key": ["customer_id"]}
SEQUENCE = {
    "id": "x",
    "kind": "sequence",
    "table": "tms.shipment_event",
    "key": ["shipment_id"],
    "status": "status",
    "order_by": "recorded_at",
}


def _check(**check) -> dict:
    return {**VALIDATE, "checks": [check]}


def _near(**near) -> dict:
    return {**DUPLICATES, "near": {"block": ["tax_id"], "compare": "name", **near}}


@pytest.mark.parametrize(
    ("rule", "why"),
    [
        (
            _check(check="range", column="w", min=5, max=1),
            "checks.0.range: min 5 and max 1 leave no value allowed; swap them or widen the range",
        ),
        (
            _check(check="range", column="w", min=1, max=1, exclusive_max=True),
            "checks.0.range: min 1 and max 1 leave no value allowed; swap them or widen the range",
        ),
        (_check(check="range", column="w"), "checks.0.range: give min, max or both"),
        (
            _check(check="length", column="w", min=-1),
            "checks.0.length.min: Input should be greater than or equal to 0",
        ),
        (
            _check(check="length", column="w", min=4, max=2),
            "checks.0.length: min 4 exceeds max 2; swap them",
        ),
        (
            _check(check="row_count", min=10, max=5),
            "checks.0.row_count: min 10 exceeds max 5; swap them",
        ),
        (
            _check(check="pattern", column="w", regex="[A-Z"),
            "checks.0.pattern.regex: '[A-Z' is not a regular expression: unterminated character "
            "set at position 0",
        ),
        (
            _check(check="freshness", column="w", max_age="soon"),
            "checks.0.freshness.max_age: 'soon' is not a duration; write a number and a unit s, "
            "m, h, d or w, for example 36h or 2d",
        ),
        (
            _check(check="freshness", column="w", max_age=-60),
            "checks.0.freshness.max_age: Input should be greater than or equal to 0",
        ),
        (
            {
                **VALIDATE,
                "checks": [
                    {"check": "not_null", "column": "w"},
                    {"check": "not_null", "column": "w"},
                ],
            },
            "checks[1] repeats the not_null check on w of checks[0]; merge the two, or write an "
            "expression check with its own name",
        ),
        (
            {**MATCH, "fields": [{"name": "w", "compare": "numeric", "abs_tol": -0.01}]},
            "fields.0.abs_tol: Input should be greater than or equal to 0",
        ),
        (
            {**MATCH, "fields": [{"name": "w", "compare": "numeric", "rel_tol": -1}]},
            "fields.0.rel_tol: Input should be greater than or equal to 0",
        ),
        (
            {**MATCH, "fields": [{"name": "w", "compare": "text", "abs_tol": 0.1}]},
            "fields.0: abs_tol does not apply to compare: text; remove it or change the compare "
            "mode",
        ),
        (
            {**MATCH, "systems": ["erp", "erp"]},
            "systems: name two different systems, not erp twice",
        ),
        (
            {**MATCH, "money_field": "id"},
            "money_field: name a money column, not a key column",
        ),
        (
            {**MATCH, "fields": [{"name": "id"}]},
            "fields[0]: id is a key column; the join compares keys",
        ),
        (
            {**MATCH, "normalise": {"sku": ["trim"]}},
            "normalise: 'sku' is not a key column; normalise only id",
        ),
        (
            {**MATCH, "normalise": ["soundex"]},
            "normalise.list[literal['trim','case','leading_zeros','nfkc']].0: Input should be "
            "'trim', 'case', 'leading_zeros' or 'nfkc'",
        ),
        (
            {**MATCH, "fields": [{"name": "s", "map": {"tms": {"A": "B"}}}]},
            "fields[0].map: 'tms' is not one of the rule's systems erp and wms",
        ),
        ({**AGGREGATE, "abs_tol": -1}, "abs_tol: Input should be greater than or equal to 0"),
        (
            {**AGGREGATE, "right": {**AGGREGATE["right"], "by": ["invoice_id", "line_no"]}},
            "right.by: name as many columns as left.by (1), paired by position; got 2",
        ),
        (
            {
                **AGGREGATE,
                "left": {**AGGREGATE["left"], "join": {"table": "finance.ar_invoice", "on": ["x"]}},
            },
            "left: join.table: join a table other than finance.ar_invoice",
        ),
        (_near(threshold=0), "near.threshold: Input should be greater than 0"),
        (_near(threshold=1.5), "near.threshold: Input should be less than or equal to 1"),
        (
            _near(ignore_words=["g.m.b.h"]),
            "near.ignore_words: 'g.m.b.h' is not one word of letters and digits",
        ),
        (
            SEQUENCE,
            "declare what to check: lifecycle, transitions, stale_by, requires or deadlines",
        ),
        ({**SEQUENCE, "lifecycle": ["A", "B", "A"]}, "lifecycle: name each status once"),
        (
            {**SEQUENCE, "lifecycle": ["A", "B"], "requires": {"B": ["C"]}},
            "status 'C' is in neither the lifecycle nor the transitions; check its spelling",
        ),
        (
            {
                **SEQUENCE,
                "deadlines": [
                    {"after": "A", "expect": "B", "within": "1d"},
                    {"after": "C", "expect": "B", "within": "2d"},
                ],
            },
            "deadlines: give each expected status one deadline",
        ),
        (
            {**VALIDATE, "id": "Bad Id", "checks": []},
            "id: String should match pattern '^[a-z0-9][a-z0-9_.-]*$'",
        ),
        (
            {**VALIDATE, "table": "item", "checks": []},
            "table: 'item' must be written as system.entity, for example erp.item",
        ),
        (
            {**VALIDATE, "version": 0, "checks": []},
            "version: Input should be greater than or equal to 1",
        ),
        (
            {
                **VALIDATE,
                "key": ["sku", "site", "sku"],
                "checks": [{"check": "not_null", "column": "sku"}],
            },
            "key: names sku twice; name each column once",
        ),
        (
            {**VALIDATE, "checks": [{"check": "unique", "columns": ["a", "a"]}]},
            "checks.0.unique.columns: names a twice; name each column once",
        ),
        ({**MATCH, "key": ["id", "id"]}, "key: names id twice; name each column once"),
        (
            {**AGGREGATE, "left": {**AGGREGATE["left"], "by": ["invoice_id", "invoice_id"]}},
            "left.by: names invoice_id twice; name each column once",
        ),
    ],
)
def test_a_rule_that_cannot_mean_anything_is_refused(rule, why):
    assert refusal(rule) == why


def test_durations_are_read_in_any_unit():
    rule = parse_rule(
        {
            **SEQUENCE,
            "lifecycle": ["A", "B"],
            "deadlines": [{"after": "A", "expect": "B", "within": "36h"}],
        }
    )
    assert rule.deadlines[0].within == 36 * 3600


def test_owner_team_and_version_are_part_of_every_rule():
    rule = parse_rule({**DUPLICATES, "owner_team": "master-data", "version": 3})
    assert (rule.owner_team, rule.version) == ("master-data", 3)
    assert (parse_rule(DUPLICATES).owner_team, parse_rule(DUPLICATES).version) == (None, 1)
