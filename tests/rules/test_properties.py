"""Properties every rule must keep, on tables hypothesis makes up.

A table compared with itself yields no finding but its duplicate keys; row order never
changes a finding; swapping the data of a match's two systems swaps missing-in-one and
missing-in-the-other (and whose keys repeat) and changes no verdict; a validate rule told
its key is unique finds what it finds without being told, when the key is unique.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.compile import compile_rule, finish_findings

from .conftest import FINDING_COLUMNS, build_context, parse_rule

EXAMPLES = settings(max_examples=50, deadline=None)

# Few distinct keys, so both sides share some, miss some and repeat some.
keys = st.sampled_from(["1", "01", "2", "A", "a", " A", "ß", "10"])
amounts = st.one_of(st.none(), st.decimals(min_value=-50, max_value=50, places=2, allow_nan=False))
names = st.one_of(st.none(), st.sampled_from(["Dock Plate", "dock  plate", "Dock Plates", ""]))
rows = st.lists(st.tuples(keys, amounts, names), max_size=8)

MATCH = {
    "id": "sync",
    "kind": "match",
    "entity": "item",
    "systems": ["erp", "wms"],
    "key": ["item_id"],
    "fields": [
        {"name": "unit_cost", "compare": "numeric", "abs_tol": 0.5, "rel_tol": 0.1},
        {"name": "description", "compare": "text"},
    ],
    "money_field": "unit_cost",
}
AGGREGATE = {
    "id": "totals",
    "kind": "aggregate",
    "entity": "item",
    "left": {"table": "erp.item", "by": ["item_id"], "measure": "unit_cost"},
    "right": {"table": "wms.item", "by": ["item_id"], "measure": "unit_cost"},
    "abs_tol": 0.5,
    "rel_tol": 0.1,
    "money": True,
}
DUPLICATES = {
    "id": "dupes",
    "kind": "duplicates",
    "table": "erp.item",
    "key": ["item_id"],
    "near": {"block": ["unit_cost"], "compare": "description", "threshold": 0.8},
}
SEQUENCE = {
    "id": "steps",
    "kind": "sequence",
    "table": "erp.item",
    "key": ["item_id"],
    "status": "description",
    "order_by": "at",
    "lifecycle": ["Dock Plate", "Dock Plates"],
    "stale_by": "unit_cost",
}
VALIDATE = {
    "id": "items",
    "kind": "validate",
    "table": "erp.item",
    "checks": [
        {"check": "not_null", "column": "description"},
        {"check": "range", "column": "unit_cost", "min": -10, "max": 10},
        {"check": "unique", "columns": ["description"]},
    ],
}


RULES = {
    rule["id"]: rule
    for rule in (
        MATCH,
        AGGREGATE,
        DUPLICATES,
        SEQUENCE,
        VALIDATE,
        {**MATCH, "id": "sync-reversed", "systems": ["wms", "erp"]},
    )
}


def _items(data: list[tuple[str, Decimal | None, str | None]]) -> pa.Table:
    start = datetime(2026, 11, 2)
    return pa.table(
        {
            "item_id": pa.array([row[0] for row in data], pa.string()),
            "unit_cost": pa.array([row[1] for row in data], pa.decimal128(12, 2)),
            "description": pa.array([row[2] for row in data], pa.string()),
            # Two rows in three share a moment, so ties are common.
            "at": pa.array(
                [start + timedelta(hours=n // 3) for n in range(len(data))], pa.timestamp("us")
            ),
        }
    )


# One connection for every example; registering a table again replaces it.
_CONNECTION = duckdb.connect()


@cache
def _compiled(rule_id: str, owner: str | None) -> tuple[Any, str]:
    """A rule's DuckDB SQL, compiled once: every example has tables of the same columns."""
    rule = parse_rule(RULES[rule_id])
    empty = _items([])
    ctx = build_context(
        {"erp.item": empty, "wms.item": empty}, owners={"item": owner} if owner else None
    )
    return rule, compile_rule(rule, ctx).sql(dialect="duckdb")


@cache
def _compiled_for_unique_keys(rule_id: str) -> str:
    """A rule's DuckDB SQL as compiled for records whose item_id no two rows share."""
    empty = _items([])
    ctx = build_context({"erp.item": empty})
    ctx = dataclasses.replace(ctx, unique_keys={"erp.item": [["item_id"]]})
    return compile_rule(parse_rule(RULES[rule_id]), ctx).sql(dialect="duckdb")


def evaluate(
    rule: dict,
    tables: dict[str, pa.Table],
    *,
    owner: str | None = None,
    columns: tuple[str, ...] = FINDING_COLUMNS,
) -> list[tuple]:
    """The chosen columns of the rule's findings on DuckDB, sorted."""
    parsed, sql = _compiled(rule["id"], owner)
    for ref, table in tables.items():
        _CONNECTION.register(ref.replace(".", "__"), table)
    found = finish_findings(parsed, _CONNECTION.sql(sql).to_arrow_table()).to_pylist()
    return sorted((tuple(row[name] for name in columns) for row in found), key=str)


def _all(rule: dict, tables: dict[str, pa.Table], **options: Any) -> list[tuple]:
    return evaluate(rule, tables, **options)


@EXAMPLES
@given(data=rows)
def test_a_table_compared_with_itself_has_no_finding_but_its_repeated_keys(data):
    items = _items(data)
    ids = items["item_id"].to_pylist()
    repeated = sorted({key for key in ids if ids.count(key) > 1})
    tables = {"erp.item": items, "wms.item": items}

    assert evaluate(MATCH, tables, columns=("problem", "key")) == sorted(
        [
            (f"duplicate_key_in_{system}", f"item_id={key}")
            for key in repeated
            for system in ("erp", "wms")
        ],
        key=str,
    )
    assert evaluate(AGGREGATE, tables, columns=("problem",)) == []


@EXAMPLES
@given(erp=rows, wms=rows, order=st.randoms(use_true_random=False))
def test_row_order_never_changes_the_findings(erp, wms, order):
    # Shuffle positions, not rows: identical rows at different moments stay apart.
    erp_order, wms_order = list(range(len(erp))), list(range(len(wms)))
    order.shuffle(erp_order)
    order.shuffle(wms_order)
    shuffled_erp = [erp[n] for n in erp_order]
    shuffled_wms = [wms[n] for n in wms_order]
    # Sequence order ties are broken by the data, not by where a row happens to be: keep
    # each row's moment while moving it.
    moments = _items(erp)["at"].to_pylist()
    moved = _items(shuffled_erp).set_column(
        3, "at", pa.array([moments[n] for n in erp_order], pa.timestamp("us"))
    )

    for rule in (MATCH, AGGREGATE):
        assert _all(rule, {"erp.item": _items(erp), "wms.item": _items(wms)}) == _all(
            rule, {"erp.item": _items(shuffled_erp), "wms.item": _items(shuffled_wms)}
        )
    for rule in (DUPLICATES, VALIDATE):
        assert _all(rule, {"erp.item": _items(erp)}) == _all(
            rule, {"erp.item": _items(shuffled_erp)}
        )
    assert _all(SEQUENCE, {"erp.item": _items(erp)}) == _all(SEQUENCE, {"erp.item": moved})


# The findings that belong to one side: what is missing in it, what it repeats.
SWAPPED = {
    "missing_in_erp": "missing_in_wms",
    "missing_in_wms": "missing_in_erp",
    "duplicate_key_in_erp": "duplicate_key_in_wms",
    "duplicate_key_in_wms": "duplicate_key_in_erp",
}


def _verdicts(found: list[tuple], *, swap: bool) -> list[tuple]:
    """What a finding decides, with the two systems' roles exchanged when `swap`."""
    names = {"erp": "wms", "wms": "erp"} if swap else {}
    verdicts = []
    for problem, key, field, systems, owner_value, other_value, amount in found:
        verdicts.append(
            (
                SWAPPED.get(problem, problem) if swap else problem,
                key,
                field,
                names.get(systems, systems),
                tuple(sorted(str(value) for value in (owner_value, other_value))),
                amount,
            )
        )
    return sorted(verdicts, key=str)


@EXAMPLES
@given(erp=rows, wms=rows)
def test_swapping_the_sides_of_a_match_swaps_missing_in_one_and_the_other(erp, wms):
    columns = ("problem", "key", "field", "systems", "owner_value", "other_value", "amount_at_risk")
    found = evaluate(MATCH, {"erp.item": _items(erp), "wms.item": _items(wms)}, columns=columns)
    swapped = evaluate(MATCH, {"erp.item": _items(wms), "wms.item": _items(erp)}, columns=columns)

    assert _verdicts(swapped, swap=False) == _verdicts(found, swap=True)


@EXAMPLES
@given(erp=rows, wms=rows)
def test_the_order_a_match_names_its_systems_in_changes_nothing_when_an_owner_is_declared(erp, wms):
    tables = {"erp.item": _items(erp), "wms.item": _items(wms)}

    # Everything but the rule's id, and the finding id made from it.
    columns = FINDING_COLUMNS[2:]
    assert evaluate(MATCH, tables, owner="erp", columns=columns) == evaluate(
        RULES["sync-reversed"], tables, owner="erp", columns=columns
    )


@EXAMPLES
@given(data=st.lists(st.tuples(keys, amounts, names), max_size=8, unique_by=lambda row: row[0]))
def test_a_validate_rule_told_its_key_is_unique_finds_the_same_as_one_that_is_not(data):
    items = _items(data)
    told = _compiled_for_unique_keys(VALIDATE["id"])
    # Told, it leaves out the step gathering the failing rows of one key into one finding.
    assert "OVER" not in told and "OVER" in _compiled(VALIDATE["id"], None)[1]

    _CONNECTION.register("erp__item", items)
    found = finish_findings(parse_rule(VALIDATE), _CONNECTION.sql(told).to_arrow_table())
    assert sorted(map(tuple, (row.values() for row in found.to_pylist())), key=str) == evaluate(
        VALIDATE, {"erp.item": items}
    )
