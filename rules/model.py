"""Declared rules: one pydantic model per rule kind, read from YAML.

Declarations that cannot mean anything (a negative tolerance, one system compared
with itself, a threshold outside (0, 1]) are refused here, when the workspace loads.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from .checks import (
    TABLE_CHECKS,
    AcceptedValues,
    AnyCheck,
    Check,
    Expression,
    Freshness,
    Length,
    NotNull,
    Pattern,
    Range,
    Reference,
    RowCount,
    Unique,
    ValidateRule,
    field_of,
)
from .model_base import Columns, Duration, RuleBase, Severity, Strict, check_table_ref

__all__ = [
    "RULE_KINDS",
    "TABLE_CHECKS",
    "AcceptedValues",
    "AggregateRule",
    "AggregateSide",
    "AnyCheck",
    "AnyRule",
    "Check",
    "Deadline",
    "DuplicatesRule",
    "Expression",
    "FieldCompare",
    "Freshness",
    "JoinSpec",
    "KeyStep",
    "Length",
    "MatchRule",
    "NearDuplicates",
    "NotNull",
    "Pattern",
    "Range",
    "Reference",
    "RowCount",
    "Rule",
    "RuleBase",
    "SequenceRule",
    "Severity",
    "Unique",
    "ValidateRule",
    "field_of",
]

RULE_KINDS = ("validate", "match", "aggregate", "duplicates", "sequence")


# --- match ----------------------------------------------------------------------

# How a key is normalised before two systems' keys are compared.
KeyStep = Literal["trim", "case", "leading_zeros", "nfkc"]

# The options each compare mode reads; any other is refused rather than ignored.
COMPARE_OPTIONS = {"numeric": ("abs_tol", "rel_tol"), "time": ("window_seconds",)}


class FieldCompare(Strict):
    name: str
    compare: Literal["exact", "numeric", "text", "time"] = "exact"
    abs_tol: float | None = Field(None, ge=0)
    rel_tol: float | None = Field(None, ge=0)
    window_seconds: float | None = Field(None, ge=0)
    # Per system, its values translated to the other system's words before comparing.
    map: dict[str, dict[str, str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _options_fit_the_mode(self) -> FieldCompare:
        for option in ("abs_tol", "rel_tol", "window_seconds"):
            if getattr(self, option) is not None and option not in COMPARE_OPTIONS.get(
                self.compare, ()
            ):
                raise ValueError(
                    f"{option} does not apply to compare: {self.compare}; "
                    "remove it or change the compare mode"
                )
        return self


class MatchRule(RuleBase):
    kind: Literal["match"]
    entity: str
    systems: tuple[str, str]
    key: Columns
    # Steps applied to every key column, or per key column.
    normalise: list[KeyStep] | dict[str, list[KeyStep]] = Field(default_factory=list)
    fields: list[FieldCompare] = Field(default_factory=list)
    money_field: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> MatchRule:
        first, second = self.systems
        if first == second:
            raise ValueError(f"systems: name two different systems, not {first} twice")
        if self.money_field in self.key:
            raise ValueError("money_field: name a money column, not a key column")
        if isinstance(self.normalise, dict):
            for column in self.normalise:
                if column not in self.key:
                    raise ValueError(
                        f"normalise: {column!r} is not a key column; normalise only "
                        f"{', '.join(self.key)}"
                    )
        for position, compare in enumerate(self.fields):
            if compare.name in self.key:
                raise ValueError(
                    f"fields[{position}]: {compare.name} is a key column; the join compares keys"
                )
            for system in compare.map:
                if system not in self.systems:
                    raise ValueError(
                        f"fields[{position}].map: {system!r} is not one of the rule's systems "
                        f"{first} and {second}"
                    )
        return self

    def steps(self, column: str) -> list[KeyStep]:
        """The normalisation steps declared for one key column."""
        if isinstance(self.normalise, dict):
            return list(self.normalise.get(column, []))
        return list(self.normalise)


# --- aggregate ------------------------------------------------------------------


class JoinSpec(Strict):
    table: str
    on: list[str] = Field(min_length=1)
    # Rows finding nothing to join would drop out of the total: report them, or say it is fine.
    unmatched: Literal["finding", "ignore"] = "finding"

    _ref = field_validator("table")(check_table_ref)

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: Any) -> Any:
        # YAML 1.1 reads a bare `on:` key as the boolean true.
        if isinstance(data, dict) and True in data and "on" not in data:
            data = {("on" if name is True else name): value for name, value in data.items()}
        return data


class AggregateSide(Strict):
    table: str
    by: Columns
    measure: str
    filter: str | None = None
    join: JoinSpec | None = None
    # False: a group the other side has and this one lacks is not a finding (an open invoice).
    required: bool = True

    _ref = field_validator("table")(check_table_ref)

    @model_validator(mode="after")
    def _join_another_table(self) -> AggregateSide:
        if self.join is not None and self.join.table == self.table:
            raise ValueError(f"join.table: join a table other than {self.table}")
        return self


class AggregateRule(RuleBase):
    kind: Literal["aggregate"]
    entity: str
    left: AggregateSide
    right: AggregateSide
    abs_tol: float = Field(0.0, ge=0)
    rel_tol: float = Field(0.0, ge=0)
    money: bool = False
    # equal: totals agree; left_at_least: the left total may exceed the right one (an invoice
    # partly paid); right_at_least the other way; presence: only groups on one side count.
    expect: Literal["equal", "left_at_least", "right_at_least", "presence"] = "equal"

    @model_validator(mode="after")
    def _sides_pair_up(self) -> AggregateRule:
        if len(self.left.by) != len(self.right.by):
            raise ValueError(
                f"right.by: name as many columns as left.by ({len(self.left.by)}), paired by "
                f"position; got {len(self.right.by)}"
            )
        if not self.left.required and not self.right.required and self.expect == "presence":
            raise ValueError("expect: presence with neither side required can find nothing")
        return self


# --- duplicates -----------------------------------------------------------------


# Legal forms say little about which company a record is: "Acme Ltd" and "Acme Limited".
LEGAL_FORMS = (
    "ab", "ag", "aps", "as", "bv", "co", "company", "corp", "corporation", "gmbh", "inc",
    "incorporated", "kg", "limited", "llc", "llp", "ltd", "nv", "oy", "plc", "sa", "sarl",
    "sas", "spa", "srl",
)  # fmt: skip


class NearDuplicates(Strict):
    # Each entry is one blocking key (a column, or several together); two records are
    # compared when they agree on any one of them.
    block: list[str | list[str]] = Field(min_length=1)
    compare: str
    threshold: float = Field(0.85, gt=0, le=1)
    similarity: Literal["levenshtein", "jaro_winkler"] = "levenshtein"
    # Whole words left out of the compared value before scoring.
    ignore_words: list[str] = Field(default_factory=lambda: list(LEGAL_FORMS))
    # Columns that, known on both records and different, make them two things (a tax id).
    veto: list[str] = Field(default_factory=list)

    @field_validator("ignore_words")
    @classmethod
    def _words(cls, value: list[str]) -> list[str]:
        for word in value:
            if not word.isalnum():
                raise ValueError(f"{word!r} is not one word of letters and digits")
        return [word.lower() for word in value]

    def blocking_keys(self) -> list[list[str]]:
        return [[entry] if isinstance(entry, str) else list(entry) for entry in self.block]

    @field_validator("block")
    @classmethod
    def _no_empty_key(cls, value: list[str | list[str]]) -> list[str | list[str]]:
        if any(isinstance(entry, list) and not entry for entry in value):
            raise ValueError("a blocking key needs at least one column")
        return value


class DuplicatesRule(RuleBase):
    kind: Literal["duplicates"]
    table: str
    key: Columns
    near: NearDuplicates | None = None
    # A money column: what the records of a key hold beyond one of them is at risk
    # (an invoice billed twice pays its amount once too often).
    money_field: str | None = None

    @model_validator(mode="after")
    def _money_is_no_key(self) -> DuplicatesRule:
        if self.money_field in self.key:
            raise ValueError("money_field: name a money column, not a key column")
        return self

    _ref = field_validator("table")(check_table_ref)


# --- sequence -------------------------------------------------------------------


class Deadline(Strict):
    """`expect` must follow `after` within a time, judged at the period's cut-off."""

    after: str
    expect: str
    within: Duration


class SequenceRule(RuleBase):
    kind: Literal["sequence"]
    table: str
    key: Columns
    status: str
    # The order records were applied in: arrival time, or a sequence number.
    order_by: str
    # Statuses in order; a status below one reached before is a regression.
    lifecycle: list[str] | None = Field(None, min_length=2)
    # Allowed moves from each status; staying in a status is always allowed.
    transitions: dict[str, list[str]] | None = None
    # A version or last-modified column: a record below one applied before it is stale.
    stale_by: str | None = None
    # Statuses that must have been recorded before a status is reached.
    requires: dict[str, list[str]] = Field(default_factory=dict)
    deadlines: list[Deadline] = Field(default_factory=list)
    # When a status happened, for deadlines; order_by when left out.
    time: str | None = None

    _ref = field_validator("table")(check_table_ref)

    @model_validator(mode="after")
    def _something_to_check(self) -> SequenceRule:
        if not (
            self.lifecycle or self.transitions or self.stale_by or self.requires or self.deadlines
        ):
            raise ValueError(
                "declare what to check: lifecycle, transitions, stale_by, requires or deadlines"
            )
        if self.lifecycle and len(set(self.lifecycle)) != len(self.lifecycle):
            raise ValueError("lifecycle: name each status once")
        known = set(self.lifecycle or ())
        if self.transitions:
            known |= set(self.transitions)
            known |= {status for moves in self.transitions.values() for status in moves}
        named = [*self.requires, *(s for before in self.requires.values() for s in before)]
        named += [s for deadline in self.deadlines for s in (deadline.after, deadline.expect)]
        expected = [deadline.expect for deadline in self.deadlines]
        if len(set(expected)) != len(expected):
            raise ValueError("deadlines: give each expected status one deadline")
        unknown = [status for status in named if known and status not in known]
        if unknown:
            raise ValueError(
                f"status {unknown[0]!r} is in neither the lifecycle nor the transitions; "
                "check its spelling"
            )
        return self


AnyRule = ValidateRule | MatchRule | AggregateRule | DuplicatesRule | SequenceRule
Rule = Annotated[AnyRule, Field(discriminator="kind")]
