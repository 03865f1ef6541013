"""Declared rules: one pydantic model per rule kind, read from YAML."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Severity = Literal["critical", "high", "medium", "low"]
RULE_KINDS = ("validate", "match", "aggregate", "duplicates", "sequence")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_table_ref(value: str) -> str:
    system, dot, entity = value.partition(".")
    if not dot or not system or not entity:
        raise ValueError(f"{value!r} must be written as system.entity, for example erp.item")
    return value


class RuleBase(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    severity: Severity = "medium"


# --- validate -----------------------------------------------------------------


class NotNull(_Strict):
    check: Literal["not_null"]
    column: str


class Unique(_Strict):
    check: Literal["unique"]
    columns: list[str] = Field(min_length=1)


class AcceptedValues(_Strict):
    check: Literal["accepted_values"]
    column: str
    values: list[str | int | float] = Field(min_length=1)


class Range(_Strict):
    check: Literal["range"]
    column: str
    min: float | None = None
    max: float | None = None
    exclusive_min: bool = False
    exclusive_max: bool = False


class Pattern(_Strict):
    check: Literal["pattern"]
    column: str
    regex: str


class Reference(_Strict):
    check: Literal["reference"]
    column: str
    to: str
    to_column: str | None = None

    _ref = field_validator("to")(_check_table_ref)


class Expression(_Strict):
    check: Literal["expression"]
    name: str
    predicate: str


Check = Annotated[
    NotNull | Unique | AcceptedValues | Range | Pattern | Reference | Expression,
    Field(discriminator="check"),
]


class ValidateRule(RuleBase):
    kind: Literal["validate"]
    table: str
    checks: list[Check] = Field(min_length=1)
    filter: str | None = None
    # Columns naming a row in findings; the table's first column when left out.
    key: list[str] | None = Field(None, min_length=1)

    _ref = field_validator("table")(_check_table_ref)


# --- match ----------------------------------------------------------------------


class FieldCompare(_Strict):
    name: str
    compare: Literal["exact", "numeric", "text", "time"] = "exact"
    abs_tol: float | None = None
    rel_tol: float | None = None
    window_seconds: float | None = None


class MatchRule(RuleBase):
    kind: Literal["match"]
    entity: str
    systems: tuple[str, str]
    key: list[str] = Field(min_length=1)
    fields: list[FieldCompare] = []
    money_field: str | None = None


# --- aggregate ------------------------------------------------------------------


class JoinSpec(_Strict):
    table: str
    on: list[str] = Field(min_length=1)

    _ref = field_validator("table")(_check_table_ref)

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: Any) -> Any:
        # YAML 1.1 reads a bare `on:` key as the boolean true.
        if isinstance(data, dict) and True in data and "on" not in data:
            data = {("on" if name is True else name): value for name, value in data.items()}
        return data


class AggregateSide(_Strict):
    table: str
    by: list[str] = Field(min_length=1)
    measure: str
    filter: str | None = None
    join: JoinSpec | None = None

    _ref = field_validator("table")(_check_table_ref)


class AggregateRule(RuleBase):
    kind: Literal["aggregate"]
    entity: str
    left: AggregateSide
    right: AggregateSide
    abs_tol: float = 0.0
    rel_tol: float = 0.0
    money: bool = False


# --- duplicates -----------------------------------------------------------------


class NearDuplicates(_Strict):
    block: list[str] = Field(min_length=1)
    compare: str
    threshold: float = Field(0.85, gt=0, le=1)


class DuplicatesRule(RuleBase):
    kind: Literal["duplicates"]
    table: str
    key: list[str] = Field(min_length=1)
    near: NearDuplicates | None = None

    _ref = field_validator("table")(_check_table_ref)


# --- sequence -------------------------------------------------------------------


class SequenceRule(RuleBase):
    kind: Literal["sequence"]
    table: str
    key: list[str] = Field(min_length=1)
    status: str
    lifecycle: list[str] = Field(min_length=2)
    order_by: str

    _ref = field_validator("table")(_check_table_ref)


Rule = Annotated[
    ValidateRule | MatchRule | AggregateRule | DuplicatesRule | SequenceRule,
    Field(discriminator="kind"),
]
