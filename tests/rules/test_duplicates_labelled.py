"""Precision and recall of near-duplicate detection on a labelled customer master.

`data/customers_labelled.csv` holds 231 customer records of 186 companies (column
`entity`). 40 companies have one or two extra records, retyped the ways master data goes
wrong (`variant`): typos, case and punctuation, spacing, a legal form spelled out or left
off, and their tax id, postcode or phone recorded differently or not at all. Eight pairs of
different companies share a postcode with names one letter apart (Alpine Pools, Alpine
Tools). The pairs the clusters imply are scored against the pairs of records of one company.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import polars as pl
import pytest

DATA = Path(__file__).parent / "data" / "customers_labelled.csv"


def _labelled() -> tuple[pl.DataFrame, set[tuple[str, str]]]:
    data = pl.read_csv(DATA, infer_schema_length=0)
    truth: set[tuple[str, str]] = set()
    for _, company in data.group_by("entity"):
        truth |= set(itertools.combinations(sorted(company["customer_id"].to_list()), 2))
    return data, truth


def test_the_labelled_set_is_large_enough():
    data, truth = _labelled()
    assert data.height == 231
    assert data["entity"].n_unique() == 186
    assert len(truth) == 50


@pytest.mark.parametrize(
    ("near", "precision", "recall"),
    [
        # Names alone cannot tell the one-letter distractors from typos.
        ({"threshold": 0.85}, 0.885, 0.92),
        # Different tax ids on both records keep the distractors apart.
        ({"threshold": 0.85, "veto": ["tax_id"]}, 1.0, 0.92),
        ({"threshold": 0.8, "veto": ["tax_id"]}, 1.0, 0.94),
        ({"threshold": 0.9, "similarity": "jaro_winkler", "veto": ["tax_id"]}, 1.0, 0.96),
    ],
)
def test_precision_and_recall(run_rule, near, precision, recall):
    data, truth = _labelled()
    rule = {
        "id": "customer-duplicates",
        "kind": "duplicates",
        "table": "erp.customer",
        "key": ["customer_id"],
        "near": {"block": ["tax_id", "postal_code", "phone"], "compare": "name", **near},
    }

    found = run_rule(
        rule, {"erp.customer": data.drop("entity", "variant")}, columns=("problem", "key")
    )

    predicted: set[tuple[str, str]] = set()
    for problem, key in found:
        assert problem == "near_duplicate"
        members = sorted(key.removeprefix("customer_id=").split("|"))
        predicted |= set(itertools.combinations(members, 2))
    hits = len(predicted & truth)
    assert round(hits / len(predicted), 3) == precision
    assert round(hits / len(truth), 3) == recall
