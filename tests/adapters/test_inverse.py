"""Linear mappings read backwards: the source field of a canonical value, in its own unit."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest

from adapters.inverse import linear
from adapters.mapping import NumberFormat
from adapters.source_fields import source_fields, source_scales
from rules.sql import parse_expression


def _linear(text: str):
    return linear(parse_expression(text, where="test"))


@pytest.mark.parametrize(
    ("expression", "canonical", "source"),
    [
        ("WEIGHT_LB * 0.45359237", "4.742", "10.4543"),
        ("0.45359237 * WEIGHT_LB", "4.742", "10.4543"),
        ("WEIGHT_G / 1000", "4.742", "4742"),
        ("QTY + 5", "12", "7"),
        ("QTY - 5", "12", "17"),
        ("100 - PCT", "12", "88"),
        ("-DEBIT", "12.5", "-12.5"),
        ("(TEMP_F - 32) * 5 / 9", "100", "212"),
        ("CAST(WEIGHT_LB AS DECIMAL(10, 2)) * 0.45359237", "4.742", "10.45"),
        ("TRY_CAST(TRY_CAST(WEIGHT_G AS DOUBLE) / 1000 AS DECIMAL(18, 4))", "4.742", "4742"),
        ("WEIGHT_OZ * (28.349523125 / 1000)", "0.0283", "1"),
    ],
)
def test_linear_expressions_are_read_backwards(expression, canonical, source):
    inverse = _linear(expression)
    assert inverse is not None
    assert inverse.to_source(canonical, canonical_scale=4) == source


@pytest.mark.parametrize(
    "expression",
    [
        "ltrim(ItemNumber, '0')",
        "upper(DESCRIPTION)",
        "A * B",
        "A + B",
        "1000 / WEIGHT_G",
        "WEIGHT_G * 0",
        "CAST(WEIGHT_LB AS VARCHAR) * 2",
        "round(WEIGHT_LB * 0.45359237, 2)",
        "coalesce(WEIGHT_LB, 0) * 2",
    ],
)
def test_anything_else_has_no_inverse(expression):
    assert _linear(expression) is None


def test_the_source_scale_rounds_and_a_value_the_source_holds_comes_back_whole():
    inverse = _linear("WEIGHT_LB * 0.45359237")
    assert inverse.to_source("4.742", scale=2) == "10.45"
    # 12.54 lb is 5.6880 kg at the canonical four decimals: it reads back as 12.54.
    assert inverse.to_source("5.6880", canonical_scale=4) == "12.54"
    assert inverse.to_source(None) is None
    with pytest.raises(ValueError, match="'heavy' is not a number"):
        inverse.to_source("heavy")


def test_a_mapped_field_names_its_source_column_and_converts_values():
    columns = {
        "weight_kg": parse_expression("WEIGHT_LB * 0.45359237", where="test"),
        "description": parse_expression("upper(DESCRIPTION)", where="test"),
    }
    fields = source_fields(columns)
    weight = fields["weight_kg"]
    assert (weight.field, weight.name) == ("WEIGHT_LB", "WEIGHT_LB")
    assert weight.to_source(Decimal("4.742"), scale=2) == "10.45"
    assert (fields["description"].field, fields["description"].name) == (None, "description")


def test_source_scales_come_from_types_or_the_digits_written():
    columns = {"weight_kg": parse_expression("WEIGHT_LB * 0.45359237", where="test")}
    text = pa.table({"WEIGHT_LB": ["40.86", " 7.1 ", "3", None]})
    assert source_scales(text, columns) == {"WEIGHT_LB": 2}
    european = pa.table({"WEIGHT_LB": ["1.234,567", "2,5"]})
    assert source_scales(european, columns, NumberFormat(",", ".")) == {"WEIGHT_LB": 3}
    typed = pa.table({"WEIGHT_LB": pa.array([Decimal("1.50")], pa.decimal128(10, 2))})
    assert source_scales(typed, columns) == {"WEIGHT_LB": 2}
    assert source_scales(pa.table({"WEIGHT_LB": pa.array([1, 2])}), columns) == {"WEIGHT_LB": 0}
    assert source_scales(pa.table({"WEIGHT_LB": pa.array([1.5])}), columns) == {}
