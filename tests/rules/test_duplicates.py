"""duplicates rules: repeated keys, and near duplicates scored within a block."""

from __future__ import annotations

import polars as pl
import pytest

from rules.compile import compile_rule
from tallyclerk.errors import RuleError

from .conftest import build_context, parse_rule

OWNERS = {"customer": "erp", "freight_invoice": "finance"}


def _customers_rule(threshold: float | None = 0.85) -> dict:
    rule = {
        "id": "customer-duplicates",
        "kind": "duplicates",
        "table": "erp.customer",
        "key": ["customer_id"],
    }
    if threshold is not None:
        rule["near"] = {"block": ["postal_code"], "compare": "name", "threshold": threshold}
    return rule


def test_exact_duplicates_are_reported_once_per_key(run_rule):
    customers = pl.DataFrame(
        {
            "customer_id": ["C00017", "C00017", "C00018", None, None, "C00019", "C00019", "C00019"],
            "name": ["Acme", "Acme", "Bolt", "Nameless", "Nameless", "Crane", "Crane", "Crane"],
        }
    )

    found = run_rule(
        _customers_rule(threshold=None),
        {"erp.customer": customers},
        owners=OWNERS,
        columns=(
            "kind",
            "entity",
            "problem",
            "key",
            "field",
            "systems",
            "owner_system",
            "other_value",
            "message",
        ),
    )

    assert found == [
        (
            "duplicates",
            "customer",
            "duplicate_key",
            "customer_id=C00017",
            "customer_id",
            "erp",
            "erp",
            "2",
            "erp has 2 customer records with this key",
        ),
        (
            "duplicates",
            "customer",
            "duplicate_key",
            "customer_id=C00019",
            "customer_id",
            "erp",
            "erp",
            "3",
            "erp has 3 customer records with this key",
        ),
    ]


def test_a_carrier_invoice_billed_twice_is_one_finding_on_the_composite_key(run_rule):
    invoices = pl.DataFrame(
        {
            "invoice_id": ["AP-1", "AP-2", "AP-3", "AP-4"],
            "carrier_scac": ["ODFL", "ODFL", "UPSN", "ODFL"],
            "carrier_invoice_no": [
                "INV-ODFL-00031",
                "INV-ODFL-00031",
                "INV-ODFL-00031",
                "INV-ODFL-00032",
            ],
        }
    )
    rule = {
        "id": "carrier-invoice-billed-twice",
        "kind": "duplicates",
        "table": "finance.freight_invoice",
        "key": ["carrier_scac", "carrier_invoice_no"],
    }

    found = run_rule(rule, {"finance.freight_invoice": invoices}, owners=OWNERS)

    assert found == [
        (
            "duplicate_key",
            "carrier_scac=ODFL, carrier_invoice_no=INV-ODFL-00031",
            "carrier_scac+carrier_invoice_no",
            "finance",
            "finance",
            None,
            "2",
        )
    ]


def test_near_duplicates_within_a_block(run_rule):
    # Harborline's planted pair: three edits apart once normalised, 24 and 26 characters long.
    # C3 has the same name as C1 but another postal code, so it is never compared with it.
    customers = pl.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3", "C4"],
            "name": [
                "Baltic Marine Supplies Ltd",
                "Baltic Marine Supply Ltd.",
                "Baltic Marine Supplies Ltd",
                "Harbor Freight",
            ],
            "postal_code": ["10115", "10115", "20095", "10115"],
        }
    )

    found = run_rule(
        _customers_rule(),
        {"erp.customer": customers},
        owners=OWNERS,
        columns=(
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
            "near_duplicate",
            "customer_id=C1|C2",
            "name",
            "erp",
            "erp",
            "Baltic Marine Supplies Ltd",
            "Baltic Marine Supply Ltd.",
            "erp customer names Baltic Marine Supplies Ltd and Baltic Marine Supply Ltd. are 0.885 "
            "alike; they may be one customer",
        )
    ]


@pytest.mark.parametrize(("threshold", "expected"), [(0.9, [("customer_id=C1|C2",)]), (0.91, [])])
def test_similarity_equal_to_the_threshold_is_a_near_duplicate(run_rule, threshold, expected):
    # One edit in ten characters: similarity 0.9 exactly.
    customers = pl.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "name": ["abcdefghij", "abcdefghix"],
            "postal_code": ["1", "1"],
        }
    )

    found = run_rule(_customers_rule(threshold), {"erp.customer": customers}, columns=("key",))

    assert found == expected


def test_names_are_compared_without_case_punctuation_or_extra_spaces(run_rule):
    customers = pl.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3", "C4"],
            "name": ["ACME, Inc.", "  acme   inc", "!!!", "..."],
            "postal_code": ["1", "1", "1", "1"],
        }
    )

    found = run_rule(
        _customers_rule(0.99),
        {"erp.customer": customers},
        columns=("problem", "key", "owner_value", "other_value"),
    )

    assert found == [("near_duplicate", "customer_id=C1|C2", "ACME, Inc.", "  acme   inc")]


def test_an_exact_duplicate_is_not_also_a_near_one_and_pairs_are_reported_once(run_rule):
    # C1 is recorded twice with two spellings; against C2 that is still one pair of customers.
    customers = pl.DataFrame(
        {
            "customer_id": ["C1", "C1", "C2"],
            "name": ["Nordic Cold Chain", "Nordic Cold Chain AB", "Nordic Coldchain"],
            "postal_code": ["1", "1", "1"],
        }
    )

    found = run_rule(
        _customers_rule(0.8),
        {"erp.customer": customers},
        columns=("problem", "key", "owner_value", "other_value"),
    )

    assert found == [
        ("duplicate_key", "customer_id=C1", None, "2"),
        ("near_duplicate", "customer_id=C1|C2", "Nordic Cold Chain", "Nordic Coldchain"),
    ]


def test_near_duplicates_on_a_composite_key(run_rule):
    suppliers = pl.DataFrame(
        {
            "company": ["EU", "EU", "US"],
            "supplier_id": ["S9", "S1", "S1"],
            "name": ["Pacific Pallets", "Pacific Pallet", "Pacific Pallets"],
            "tax_id": ["T1", "T1", "T1"],
        }
    )
    rule = {
        "id": "supplier-duplicates",
        "kind": "duplicates",
        "table": "erp.supplier",
        "key": ["company", "supplier_id"],
        "near": {"block": ["tax_id"], "compare": "name", "threshold": 0.9},
    }

    found = run_rule(rule, {"erp.supplier": suppliers}, columns=("key",))

    assert found == [
        ("company=EU|EU, supplier_id=S1|S9",),
        ("company=EU|US, supplier_id=S1|S1",),
        ("company=EU|US, supplier_id=S9|S1",),
    ]


def test_an_unknown_compare_column_is_refused():
    customers = pl.DataFrame({"customer_id": ["C1"], "name": ["A"], "zip": ["1"]})
    with pytest.raises(RuleError) as raised:
        compile_rule(parse_rule(_customers_rule()), build_context({"erp.customer": customers}))
    assert str(raised.value) == (
        "rule 'customer-duplicates' near.block: erp.customer has no column 'postal_code'; "
        "its columns are: customer_id, name, zip."
    )
