"""Validate checks about a table as a whole: how fresh its newest record is, how many rows it has.

Both are judged at the period's cut-off: a snapshot whose newest stock count is two days
older than the period end is stale for that close, whenever the close is run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from .findings import body_select, key_text
from .model import Freshness, RowCount
from .model_base import duration_text
from .sql import as_text, col, is_null, name, number, sentence, table, text

if TYPE_CHECKING:
    from .validate import Checked

_NEWEST = "newest"
_ROWS = "row_count"
_TIMESTAMPTZ = exp.DataType.build("TIMESTAMPTZ")


def freshness_sql(checked: Checked, check: Freshness) -> exp.Select:
    """One finding per group (or for the table) whose newest value is too old, or missing."""
    groups = [col(column, checked.alias) for column in check.by]
    newest = exp.Max(this=col(check.column, checked.alias))
    latest = exp.select(
        *(group.as_(column, quoted=True) for group, column in zip(groups, check.by, strict=True)),
        newest.as_(_NEWEST, quoted=True),
    ).from_(table(checked.rule.table, alias=checked.alias))
    latest = latest.where(*checked.filters())
    if groups:
        latest = latest.group_by(*(group.copy() for group in groups))

    end = checked.ctx.period_end
    age = exp.Sub(this=_epoch(exp.Literal.string(end)), expression=_epoch(col(_NEWEST)))
    too_old = exp.GT(this=age, expression=number(check.max_age))
    allowed = duration_text(check.max_age)
    unknown = sentence(
        f"{check.column} has no value, so {checked.rule.table} is not known to be fresh "
        f"at the period end {end}"
    )
    message = (
        exp.case()
        .when(is_null(col(_NEWEST)), unknown)
        .else_(
            sentence(
                f"the newest {check.column} ",
                col(_NEWEST),
                f" is more than {allowed} before the period end {end}",
            )
        )
    )
    key = key_text([(column, col(column)) for column in check.by]) if check.by else text("")
    body = body_select(
        problem="freshness",
        key=key,
        field_name=check.column,
        systems=checked.system,
        owner_system=checked.ctx.owner(checked.entity, check.column),
        owner_value=None,
        other_value=col(_NEWEST),
        amount_at_risk=None,
        message=message,
    )
    return body.from_(latest.subquery(name("latest"))).where(
        exp.or_(is_null(col(_NEWEST)), too_old)
    )


def row_count_sql(checked: Checked, check: RowCount) -> exp.Select:
    """One finding when the table (after the rule's filter) has too few or too many rows."""
    counted = exp.select(exp.Count(this=exp.Star()).as_(_ROWS, quoted=True)).from_(
        table(checked.rule.table, alias=checked.alias)
    )
    counted = counted.where(*checked.filters())
    breaks: list[exp.Expression] = []
    allowed: list[str] = []
    if check.min is not None:
        breaks.append(exp.LT(this=col(_ROWS), expression=number(check.min)))
        allowed.append(f"at least {check.min}")
    if check.max is not None:
        breaks.append(exp.GT(this=col(_ROWS), expression=number(check.max)))
        allowed.append(f"at most {check.max}")
    body = body_select(
        problem="row_count",
        key=text(""),
        field_name="rows",
        systems=checked.system,
        owner_system=checked.ctx.owner(checked.entity),
        owner_value=None,
        other_value=as_text(col(_ROWS)),
        amount_at_risk=None,
        message=sentence(
            f"{checked.rule.table} has ", col(_ROWS), f" rows; expected {' and '.join(allowed)}"
        ),
    )
    return body.from_(counted.subquery(name("counted"))).where(exp.or_(*breaks))


def _epoch(value: exp.Expression) -> exp.Expression:
    return exp.TimeToUnix(this=exp.cast(value, _TIMESTAMPTZ))
