"""A mapping read backwards: the field and unit each canonical column comes from in a system,
so a change to a canonical value can be written in the system's own terms."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from .inverse import Linear, linear
from .mapping import NumberFormat


@dataclass(frozen=True)
class SourceField:
    """How one system names one canonical column: a field of its own, an expression that
    reads one field linearly (so it can be read backwards), or another expression."""

    canonical: str
    # The system's field: the column mapped bare, or the one a linear expression reads.
    field: str | None
    expression: str
    # Canonical value to the system's own value, the value map read backwards.
    values: Mapping[str, str]
    linear: Linear | None = None

    @property
    def name(self) -> str:
        """The system's field, or the canonical name when no field of its own holds it."""
        return self.field or self.canonical

    def to_source(
        self, value: object, *, scale: int | None = None, canonical_scale: int | None = None
    ) -> object:
        """The system's own value of a canonical one; a linear field is converted into the
        field's unit and rounded to its `scale` (ValueError when that is not a number)."""
        if isinstance(value, str):
            value = self.values.get(value, value)
        if self.linear is None:
            return value
        return self.linear.to_source(value, scale=scale, canonical_scale=canonical_scale)


def source_fields(
    columns: Mapping[str, exp.Expression],
    value_maps: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, SourceField]:
    """Read a mapping backwards, so a change to a canonical column can be written in the
    system's own field names and units; a column computed otherwise has no field of its own."""
    fields = {}
    for canonical, tree in columns.items():
        bare = tree.name if isinstance(tree, exp.Column) and not tree.table else None
        inverse = linear(tree) if bare is None else None
        backwards: dict[str, str] = {}
        for source_value, canonical_value in (value_maps or {}).get(canonical, {}).items():
            backwards.setdefault(canonical_value, str(source_value))
        fields[canonical] = SourceField(
            canonical=canonical,
            field=bare or (inverse.column if inverse else None),
            expression=tree.sql(dialect="duckdb"),
            values=backwards,
            linear=inverse,
        )
    return fields


def source_scales(
    raw: pa.Table,
    columns: Mapping[str, exp.Expression],
    number_format: NumberFormat | None = None,
) -> dict[str, int]:
    """Decimals each source column read by a linear expression holds, where that is known:
    from a decimal or integer type, or the most decimals written in a text column."""
    scales = {}
    for tree in columns.values():
        inverse = None if isinstance(tree, exp.Column) else linear(tree)
        if inverse is None or inverse.column not in raw.column_names:
            continue
        values = raw[inverse.column]
        if pa.types.is_decimal(values.type):
            scales[inverse.column] = values.type.scale
        elif pa.types.is_integer(values.type):
            scales[inverse.column] = 0
        elif pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            mark = re.escape((number_format or NumberFormat()).decimal)
            digits = pc.extract_regex(
                pc.utf8_trim_whitespace(values), pattern=f"{mark}(?P<digits>[0-9]+)$"
            )
            most = pc.max(pc.utf8_length(pc.struct_field(digits, [0]))).as_py()
            if most is not None or values.null_count < len(values):
                scales[inverse.column] = most or 0
    return scales
