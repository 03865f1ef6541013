"""The checks a validate rule may declare on its table, and the validate rule itself.

Each check refuses, when it is read, a declaration that cannot mean anything:
a range whose minimum exceeds its maximum, a negative length, a broken pattern.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from .model_base import Columns, Duration, RuleBase, Strict, check_table_ref


class NotNull(Strict):
    check: Literal["not_null"]
    column: str


class Unique(Strict):
    check: Literal["unique"]
    columns: Columns


class AcceptedValues(Strict):
    check: Literal["accepted_values"]
    column: str
    values: list[str | int | float] = Field(min_length=1)


class Range(Strict):
    check: Literal["range"]
    column: str
    min: float | None = None
    max: float | None = None
    exclusive_min: bool = False
    exclusive_max: bool = False

    @model_validator(mode="after")
    def _bounds_make_a_range(self) -> Range:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None:
            empty = self.min == self.max and (self.exclusive_min or self.exclusive_max)
            if self.min > self.max or empty:
                raise ValueError(
                    f"min {self.min:g} and max {self.max:g} leave no value allowed; "
                    "swap them or widen the range"
                )
        return self


class Pattern(Strict):
    check: Literal["pattern"]
    column: str
    regex: str

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{value!r} is not a regular expression: {exc}") from None
        return value


class Length(Strict):
    """Text length in characters, bounds included."""

    check: Literal["length"]
    column: str
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _bounds_make_a_range(self) -> Length:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} exceeds max {self.max}; swap them")
        return self


class Reference(Strict):
    check: Literal["reference"]
    column: str
    to: str
    to_column: str | None = None

    _ref = field_validator("to")(check_table_ref)


class Freshness(Strict):
    """The newest value of a timestamp column is at most `max_age` before the period end."""

    check: Literal["freshness"]
    column: str
    max_age: Duration
    # Checked per group of these columns (each warehouse's stock count), or for the table.
    by: list[str] = Field(default_factory=list)


class RowCount(Strict):
    check: Literal["row_count"]
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _bounds_make_a_range(self) -> RowCount:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} exceeds max {self.max}; swap them")
        return self


class Expression(Strict):
    check: Literal["expression"]
    name: str
    predicate: str


AnyCheck = (
    NotNull | Unique | AcceptedValues | Range | Pattern | Length | Reference | Freshness | RowCount
) | Expression
Check = Annotated[AnyCheck, Field(discriminator="check")]

# Checks about the table as a whole rather than about each of its rows.
TABLE_CHECKS = (Freshness, RowCount)


class ValidateRule(RuleBase):
    kind: Literal["validate"]
    table: str
    checks: list[Check] = Field(min_length=1)
    filter: str | None = None
    # Columns naming a row in findings; the table's first column when left out.
    key: Columns | None = None

    _ref = field_validator("table")(check_table_ref)

    @model_validator(mode="after")
    def _one_check_per_field(self) -> ValidateRule:
        """Two checks of one kind on one field would share finding ids."""
        seen: dict[tuple[str, str], int] = {}
        for position, check in enumerate(self.checks):
            earlier = seen.setdefault((check.check, field_of(check)), position)
            if earlier != position:
                raise ValueError(
                    f"checks[{position}] repeats the {check.check} check on {field_of(check)} "
                    f"of checks[{earlier}]; merge the two, or write an expression check with "
                    "its own name"
                )
        return self


def field_of(check: AnyCheck) -> str:
    """The finding's field: the column, the columns joined by '+', or the check's name."""
    if isinstance(check, Unique):
        return "+".join(check.columns)
    if isinstance(check, Expression):
        return check.name
    if isinstance(check, RowCount):
        return "rows"
    return check.column
