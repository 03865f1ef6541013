"""duplicates rules: repeated keys, and near duplicates scored within a block."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from rules.compile import compile_rule, rule_sql
from tallyclerk.errors import RuleError

from .conftest import build_context, parse_rule, refusal

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


def test_an_invoice_billed_twice_puts_its_extra_amounts_at_risk(run_rule):
    invoices = pl.DataFrame(
        {
            "carrier_scac": ["SBLT", "SBLT", "ATLX", "ATLX", "ATLX", "NRTH"],
            "carrier_invoice_no": ["I-1", "I-1", "I-2", "I-2", "I-2", "I-3"],
            "amount": ["9079.15", "9079.15", "100.00", "250.50", "100.00", "75.00"],
        }
    ).with_columns(pl.col("amount").cast(pl.Decimal(12, 2)))
    rule = {
        "id": "billed-twice",
        "kind": "duplicates",
        "table": "finance.freight_invoice",
        "key": ["carrier_scac", "carrier_invoice_no"],
        "money_field": "amount",
    }
    found = run_rule(
        rule,
        {"finance.freight_invoice": invoices},
        owners=OWNERS,
        columns=("key", "other_value", "amount_at_risk"),
    )
    # Every record of a key but its largest is billed once too often.
    assert found == [
        ("carrier_scac=ATLX, carrier_invoice_no=I-2", "3", Decimal("200.00")),
        ("carrier_scac=SBLT, carrier_invoice_no=I-1", "2", Decimal("9079.15")),
    ]


def test_a_money_field_that_is_a_key_column_is_refused():
    rule = {
        "id": "billed-twice",
        "kind": "duplicates",
        "table": "finance.freight_invoice",
        "key": ["carrier_invoice_no"],
        "money_field": "carrier_invoice_no",
    }
    assert refusal(rule) == ("money_field: name a money column, not a key column")


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
    # Harborline's planted pair: without the legal form "ltd", three edits in 22 characters.
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
            "erp customer names Baltic Marine Supplies Ltd and Baltic Marine Supply Ltd. are 0.864 "
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


def test_near_duplicates_on_a_composite_key_make_one_cluster(run_rule):
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

    # Three alike pairs among three records make one cluster, its members in key order.
    assert found == [("company=EU|EU|US, supplier_id=S1|S9|S1",)]


def test_an_unknown_compare_column_is_refused():
    customers = pl.DataFrame({"customer_id": ["C1"], "name": ["A"], "zip": ["1"]})
    with pytest.raises(RuleError) as raised:
        compile_rule(parse_rule(_customers_rule()), build_context({"erp.customer": customers}))
    assert str(raised.value) == (
        "rule 'customer-duplicates' near.block[0]: erp.customer has no column 'postal_code'; "
        "its columns are: customer_id, name, zip."
    )


# --- clusters, blocking keys, vetoes ------------------------------------------------------


def _master(*rows: tuple[str, str, str | None, str | None, str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": [row[0] for row in rows],
            "name": [row[1] for row in rows],
            "tax_id": [row[2] for row in rows],
            "postal_code": [row[3] for row in rows],
            "phone": [row[4] for row in rows],
        }
    )


def _blocked(**near) -> dict:
    return {
        "id": "customer-duplicates",
        "kind": "duplicates",
        "table": "erp.customer",
        "key": ["customer_id"],
        "near": {"block": ["tax_id", "postal_code", "phone"], "compare": "name", **near},
    }


def test_alike_pairs_join_into_one_cluster_listing_its_members(run_rule):
    # C1~C2 and C2~C3 are alike; C1 and C3 are not alike enough on their own, yet all three
    # are one cluster. C4 and C5 are a cluster of their own.
    customers = _master(
        ("C1", "Harbor Freight", None, "10115", None),
        ("C2", "Harbor Freights", None, "10115", None),
        ("C3", "Harbour Freights", None, "10115", None),
        ("C4", "Nordic Cold Chain", "SE1", None, None),
        ("C5", "Nordic Coldchain", "SE1", None, None),
        ("C6", "Alpine Tools", None, "10115", None),
    )

    found = run_rule(
        _blocked(threshold=0.9),
        {"erp.customer": customers},
        owners={"customer": "erp"},
        columns=("problem", "key", "owner_value", "other_value", "message"),
    )

    assert found == [
        (
            "near_duplicate",
            "customer_id=C1|C2|C3",
            "Harbor Freight",
            "Harbor Freights | Harbour Freights",
            "erp customer names Harbor Freight, Harbor Freights and Harbour Freights are 0.933 "
            "to 0.938 alike; these 3 records may be one customer",
        ),
        (
            "near_duplicate",
            "customer_id=C4|C5",
            "Nordic Cold Chain",
            "Nordic Coldchain",
            "erp customer names Nordic Cold Chain and Nordic Coldchain are 0.941 alike; they "
            "may be one customer",
        ),
    ]


def test_any_blocking_key_compares_a_pair_and_values_are_normalised_first(run_rule):
    # C1/C2 share only a tax id written two ways; C3/C4 only a phone number written two
    # ways; C5/C6 share nothing and are never compared, however alike their names.
    customers = _master(
        ("C1", "Pacific Pallets", "DE 123-456", "10115", None),
        ("C2", "Pacific Palets", "de123456", "20095", None),
        ("C3", "Summit Steel", None, "10115", "(030) 123-4567"),
        ("C4", "Summit Steels", None, "80331", "030 1234567"),
        ("C5", "Orion Dairy", "X1", "11111", "1"),
        ("C6", "Orion Dairy", "X2", "22222", "2"),
    )

    found = run_rule(_blocked(), {"erp.customer": customers}, columns=("key",))

    assert found == [("customer_id=C1|C2",), ("customer_id=C3|C4",)]


def test_a_veto_column_known_on_both_and_different_keeps_records_apart(run_rule):
    # One postcode, names one letter apart: Pools and Tools are two companies, as their
    # tax ids say. A tax id missing on one record vetoes nothing: Tool may be Tools.
    customers = _master(
        ("C1", "Alpine Pools", "T1", "55299", None),
        ("C2", "Alpine Tools", "T2", "55299", None),
        ("C3", "Alpine Tool", None, "55299", None),
    )

    found = run_rule(_blocked(veto=["tax_id"]), {"erp.customer": customers}, columns=("key",))

    assert found == [("customer_id=C2|C3",)]


def test_legal_forms_are_ignored_unless_told_otherwise(run_rule):
    customers = _master(
        ("C1", "Polar Dairy Ltd", None, "1", None),
        ("C2", "Polar Dairy Limited", None, "1", None),
    )

    assert run_rule(_blocked(threshold=1.0), {"erp.customer": customers}, columns=("key",)) == [
        ("customer_id=C1|C2",)
    ]
    assert (
        run_rule(
            _blocked(threshold=1.0, ignore_words=[]), {"erp.customer": customers}, columns=("key",)
        )
        == []
    )


def test_regular_expressions_are_written_for_each_dialect():
    customers = _master(("C1", "A", None, None, None))
    ctx = build_context({"erp.customer": customers})
    rule = parse_rule(_blocked())

    postgres = rule_sql(rule, ctx, "postgres")
    duckdb = rule_sql(rule, ctx, "duckdb")

    assert "'[^[:alnum:]]', '', 'g')" in postgres and "'\\y(ab|ag|" in postgres
    assert "'[^\\p{L}\\p{N}]', '', 'g')" in duckdb and "'\\b(ab|ag|" in duckdb


def test_jaro_winkler_is_refused_where_the_backend_lacks_it():
    customers = _master(("C1", "A", None, None, None))
    rule = parse_rule(_blocked(similarity="jaro_winkler"))
    with pytest.raises(RuleError) as raised:
        rule_sql(rule, build_context({"erp.customer": customers}), "postgres")
    assert str(raised.value) == (
        "rule 'customer-duplicates' near.similarity: postgres has no Jaro-Winkler similarity; "
        "use similarity: levenshtein there."
    )
