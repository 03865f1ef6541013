"""Whether two systems' values of one field differ, by the field's compare mode.

NULL against NULL is equal and NULL against a value differs, in every mode. Numbers are
compared as exact decimals, so a difference of exactly the tolerance is equal; times as
instants, whatever their zone or precision.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp

from tallyclerk.errors import RuleError

from .keys import INSTANT, NUMERIC
from .model import FieldCompare
from .sql import as_text, is_null, number, replace_all, text, where

_NUMBERS = {"integer", "decimal", "float"}
_TIMES = {"date", "timestamp"}


def mapped(value: exp.Expression, mapping: Mapping[str, str]) -> exp.Expression:
    """A system's value in the other system's words; values the map does not name stay."""
    if not mapping:
        return value
    return exp.Case(
        this=as_text(value),
        ifs=[exp.If(this=text(source), true=text(target)) for source, target in mapping.items()],
        default=as_text(value.copy()),
    )


def differs(
    compare: FieldCompare,
    first: exp.Expression,
    second: exp.Expression,
    *,
    families: tuple[str | None, str | None],
    rule_id: str,
    at: str,
    systems: tuple[str, str],
) -> exp.Expression:
    """A condition true when the two values differ beyond what the compare mode allows."""
    if compare.compare == "text":
        return exp.NullSafeNEQ(this=_folded(first), expression=_folded(second))
    if compare.compare == "numeric":
        a, b = exp.cast(first, NUMERIC), exp.cast(second, NUMERIC)
        gap = exp.Abs(this=exp.Sub(this=a, expression=b))
        largest = exp.Greatest(this=exp.Abs(this=a.copy()), expressions=[exp.Abs(this=b.copy())])
        within = exp.or_(
            exp.LTE(this=gap, expression=number(compare.abs_tol or 0)),
            exp.LTE(
                this=gap.copy(),
                expression=exp.Mul(this=number(compare.rel_tol or 0), expression=largest),
            ),
        )
        return _unequal(first, second, within)
    if compare.compare == "time":
        instants = [exp.TimeToUnix(this=exp.cast(value, INSTANT)) for value in (first, second)]
        gap = exp.Abs(this=exp.Sub(this=instants[0], expression=instants[1]))
        return _unequal(
            first, second, exp.LTE(this=gap, expression=number(compare.window_seconds or 0))
        )
    if compare.map:
        return exp.NullSafeNEQ(this=as_text(first), expression=as_text(second))
    common = _exact_type(compare, families, rule_id=rule_id, at=at, systems=systems)
    if common is not None:
        first, second = exp.cast(first, common), exp.cast(second, common.copy())
    return exp.NullSafeNEQ(this=first, expression=second)


def _exact_type(
    compare: FieldCompare,
    families: tuple[str | None, str | None],
    *,
    rule_id: str,
    at: str,
    systems: tuple[str, str],
) -> exp.DataType | None:
    """The type both values are cast to for an exact compare, None when they need none."""
    first, second = families
    if first is None or second is None or first == second:
        return None
    if {first, second} <= _NUMBERS:
        return NUMERIC.copy()
    if {first, second} <= _TIMES:
        return INSTANT.copy()
    raise RuleError(
        f"{where(rule_id, at)}: {compare.name} is {first} in {systems[0]} but {second} in "
        f"{systems[1]}; use compare: text to compare both as text, or compare: numeric or "
        "time to read both as numbers or instants."
    )


def _unequal(
    first: exp.Expression, second: exp.Expression, within: exp.Expression
) -> exp.Expression:
    """Two values differ: one is NULL and the other not, or both present and not `within`."""
    first_null, second_null = is_null(first.copy()), is_null(second.copy())
    return (
        exp.case()
        .when(exp.and_(first_null, second_null), exp.false())
        .when(exp.or_(first_null.copy(), second_null.copy()), exp.true())
        .else_(exp.not_(exp.paren(within)))
    )


def _folded(value: exp.Expression) -> exp.Expression:
    """Lower case, every run of whitespace (tabs, newlines too) one space, trimmed."""
    return exp.Lower(this=exp.Trim(this=replace_all(as_text(value), r"\s+", " ")))
