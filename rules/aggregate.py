"""Compile an aggregate rule: totals of two systems, grouped alike, that must agree."""

from __future__ import annotations

from decimal import Decimal

from sqlglot import exp

from tallyclerk.errors import ExpressionError, RuleError

from .findings import CompileContext, body_select, key_text, systems_text
from .model import AggregateRule, AggregateSide
from .sql import (
    PERIOD_NAMES,
    as_text,
    bind_period,
    check_columns,
    col,
    parse_expression,
    table,
    table_name,
)

# Totals are compared as exact decimals, so a difference of exactly the tolerance is equal.
_NUMERIC = exp.DataType.build("DECIMAL(38, 10)")
_TOTAL = "total"
_ROWS = "rows"
_COMPARED = "compared"
_SIDES = ("left", "right")


def aggregate_sql(rule: AggregateRule, ctx: CompileContext) -> exp.Select:
    """One finding per group whose totals differ beyond tolerance, or exist on one side only."""
    if len(rule.left.by) != len(rule.right.by):
        raise RuleError(
            f"{_where(rule, 'right.by')}: name as many columns as left.by "
            f"({len(rule.left.by)}), paired by position; got {len(rule.right.by)}."
        )
    systems = {"left": _system(rule.left), "right": _system(rule.right)}
    owner = ctx.owner(rule.entity)
    owner = owner if owner in systems.values() else None
    owner_side, other_side = ("right", "left") if owner == systems["right"] else _SIDES
    field = "amount" if rule.money else "quantity"
    totals = {side: col(f"{side}_total") for side in _SIDES}

    body = body_select(
        problem=_problem(systems),
        key=key_text([(name, col(name)) for name in rule.left.by]),
        field_name=field,
        systems=systems_text(*systems.values()),
        owner_system=owner,
        owner_value=totals[owner_side],
        other_value=totals[other_side],
        amount_at_risk=_gap() if rule.money else None,
        message=(
            exp.case()
            .when(exp.not_(col("in_left")), _one_sided(systems, "right", field))
            .when(exp.not_(col("in_right")), _one_sided(systems, "left", field))
            .else_(
                _sentence(
                    f"{systems[other_side]} {field} ",
                    totals[other_side],
                    f" differs from {'owner ' if owner else ''}{systems[owner_side]} ",
                    totals[owner_side],
                    " beyond tolerance" if rule.abs_tol or rule.rel_tol else "",
                )
            )
        ),
    )
    body = body.from_(exp.Table(this=_name(_COMPARED))).where(_beyond_tolerance(rule))
    body = body.with_(_name("left"), as_=_totals_sql(rule, ctx, rule.left, "left"))
    body = body.with_(_name("right"), as_=_totals_sql(rule, ctx, rule.right, "right"))
    return body.with_(_name(_COMPARED), as_=_compared_sql(rule))


def _compared_sql(rule: AggregateRule) -> exp.Select:
    """Both sides' totals per group; a side without the group has a total of zero."""
    pairs = list(zip(rule.left.by, rule.right.by, strict=True))
    keys = [
        exp.Coalesce(this=col(name, "left"), expressions=[col(other, "right")]).as_(
            name, quoted=True
        )
        for name, other in pairs
    ]
    totals = [
        exp.Coalesce(this=col(_TOTAL, side), expressions=[_number(0)]).as_(
            f"{side}_total", quoted=True
        )
        for side in _SIDES
    ]
    found = [
        exp.not_(exp.Is(this=col(_ROWS, side), expression=exp.null())).as_(
            f"in_{side}", quoted=True
        )
        for side in _SIDES
    ]
    # NULL never equals NULL, so a group without a key shows as missing on the other side.
    on = exp.and_(
        *(exp.EQ(this=col(name, "left"), expression=col(other, "right")) for name, other in pairs)
    )
    return (
        exp.select(*keys, *totals, *found)
        .from_(exp.Table(this=_name("left")))
        .join(exp.Table(this=_name("right")), on=on, join_type="full outer")
    )


def _beyond_tolerance(rule: AggregateRule) -> exp.Expression:
    """|left - right| beyond both tolerances, in exact decimals: the boundary itself is equal."""
    limits: list[exp.Expression] = []
    if rule.abs_tol or not rule.rel_tol:
        limits.append(exp.GT(this=_gap(), expression=_number(rule.abs_tol)))
    if rule.rel_tol:
        left, right = (exp.Abs(this=_exact(side)) for side in _SIDES)
        largest = exp.Greatest(this=left, expressions=[right])
        relative = exp.Mul(this=_number(rule.rel_tol), expression=largest)
        limits.append(exp.GT(this=_gap(), expression=relative))
    return exp.and_(*limits)


def _problem(systems: dict[str, str]) -> exp.Expression:
    return (
        exp.case()
        .when(exp.not_(col("in_left")), exp.Literal.string(f"missing_in_{systems['left']}"))
        .when(exp.not_(col("in_right")), exp.Literal.string(f"missing_in_{systems['right']}"))
        .else_(exp.Literal.string("total_mismatch"))
    )


def _one_sided(systems: dict[str, str], present: str, field: str) -> exp.Expression:
    absent = "left" if present == "right" else "right"
    return _sentence(
        f"{systems[present]} {field} ",
        col(f"{present}_total"),
        f" has no counterpart in {systems[absent]}",
    )


def _gap() -> exp.Expression:
    return exp.Abs(this=exp.Sub(this=_exact("left"), expression=_exact("right")))


def _exact(side: str) -> exp.Expression:
    return exp.cast(col(f"{side}_total"), _NUMERIC)


def _totals_sql(
    rule: AggregateRule, ctx: CompileContext, side: AggregateSide, name: str
) -> exp.Select:
    """One side's total of its measure per group of its `by` columns."""
    base = ctx.columns(side.table, where=_where(rule, f"{name}.table"))
    sources: dict[str, str] = {}
    if side.join is not None:
        if side.join.table == side.table:
            raise RuleError(f"{_where(rule, f'{name}.join.table')}: join a different table.")
        ctx.require(side.table, side.join.on, where=_where(rule, f"{name}.join.on"))
        ctx.require(side.join.table, side.join.on, where=_where(rule, f"{name}.join.on"))
        sources = dict.fromkeys(ctx.columns(side.join.table, where=""), side.join.table)
    # Where a column is in both tables, the side's own table wins.
    sources |= dict.fromkeys(base, side.table)

    for column in side.by:
        if column not in sources:
            ctx.require(side.table, [column], where=_where(rule, f"{name}.by"))
    groups = [_qualified(column, sources) for column in side.by]
    measure = _user_expression(rule, ctx, side.measure, sources, where=f"{name}.measure")
    total = exp.Sum(this=measure)

    query = exp.select(
        *(group.as_(column, quoted=True) for group, column in zip(groups, side.by, strict=True)),
        total.as_(_TOTAL, quoted=True),
        exp.Count(this=exp.Star()).as_(_ROWS, quoted=True),
    ).from_(table(side.table))
    if side.join is not None:
        using = [_name(column) for column in side.join.on]
        query = query.join(table(side.join.table), using=using, join_type="inner")
    if side.filter is not None:
        query = query.where(
            _user_expression(rule, ctx, side.filter, sources, where=f"{name}.filter")
        )
    return query.group_by(*(group.copy() for group in groups))


def _user_expression(
    rule: AggregateRule,
    ctx: CompileContext,
    text: str,
    sources: dict[str, str],
    *,
    where: str,
) -> exp.Expression:
    """A user expression over the side's columns, each read from the table that has it."""
    where = _where(rule, where)
    try:
        tree = parse_expression(text, where=where)
        check_columns(tree, sources, where=where, allow=PERIOD_NAMES)
    except ExpressionError as exc:
        raise RuleError(str(exc)) from exc
    tree = bind_period(tree, start=ctx.period_start, end=ctx.period_end)
    return tree.transform(
        lambda node: _qualified(node.name, sources) if isinstance(node, exp.Column) else node
    )


def _qualified(column: str, sources: dict[str, str]) -> exp.Column:
    return col(column, table_name(sources[column]))


def _system(side: AggregateSide) -> str:
    return side.table.partition(".")[0]


def _where(rule: AggregateRule, key: str) -> str:
    return f"rule {rule.id!r} {key}"


def _name(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _number(value: float) -> exp.Literal:
    """An exact decimal literal, never in exponent form, so engines read it as DECIMAL."""
    return exp.Literal.number(format(Decimal(str(value)), "f"))


def _sentence(*parts: str | exp.Expression) -> exp.Expression:
    """Words and values joined into one message; a NULL value reads as NULL."""
    pieces = [
        exp.Literal.string(part)
        if isinstance(part, str)
        else exp.Coalesce(this=as_text(part), expressions=[exp.Literal.string("NULL")])
        for part in parts
        if not isinstance(part, str) or part
    ]
    return exp.Concat(expressions=pieces, safe=True)
