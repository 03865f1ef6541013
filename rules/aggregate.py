"""Compile an aggregate rule: totals of two sides, grouped alike, that must agree.

One-to-many, many-to-one and many-to-many all reduce to the same thing: each side is
summed per group of its `by` columns, and the groups are paired by position. A group on
one side only compares its total with zero, unless the other side is not `required`.
"""

from __future__ import annotations

from sqlglot import exp

from .aggregate_side import (
    join_findings_sql,
    join_on,
    qualified,
    readable_columns,
    user_expression,
)
from .findings import BODY_COLUMNS, CompileContext, body_select, key_text, systems_text
from .keys import NUMERIC, KeyForm, key_form
from .model import AggregateRule, AggregateSide
from .sql import col, cte, is_not_null, name, number, sentence, table, text

_TOTAL = "total"
_ROWS = "rows"
_COMPARED = "compared"
_SIDES = ("left", "right")


def aggregate_sql(rule: AggregateRule, ctx: CompileContext) -> exp.Select:
    """One finding per group whose totals differ beyond tolerance, or exist on one side only."""
    sides = {"left": rule.left, "right": rule.right}
    sources = {side: readable_columns(rule, ctx, sides[side], side) for side in _SIDES}
    forms = _by_forms(rule, ctx, sources)
    labels = _labels(rule)
    owner = ctx.owner(rule.entity)
    owner = owner if owner in {_system(rule.left), _system(rule.right)} else None
    # Within one system the left side is the reference the other is judged against.
    owner_on_right = owner == _system(rule.right) != _system(rule.left)
    owner_side, other_side = ("right", "left") if owner_on_right else _SIDES
    field = "amount" if rule.money else "quantity"
    totals = {side: col(f"{side}_total") for side in _SIDES}

    body = body_select(
        problem=exp.case()
        .when(exp.not_(col("in_left")), text(labels["missing_left"]))
        .when(exp.not_(col("in_right")), text(labels["missing_right"]))
        .else_(text("total_mismatch")),
        key=key_text([(column, col(column)) for column in rule.left.by]),
        field_name=field,
        systems=systems_text(_system(rule.left), _system(rule.right)),
        owner_system=owner,
        owner_value=totals[owner_side],
        other_value=totals[other_side],
        amount_at_risk=_gap() if rule.money else None,
        message=exp.case()
        .when(exp.not_(col("in_left")), _one_sided(labels, "right", field))
        .when(exp.not_(col("in_right")), _one_sided(labels, "left", field))
        .else_(_mismatch_message(rule, labels, owner, owner_side, other_side, field)),
    )
    body = body.from_(cte(_COMPARED)).where(_is_finding(rule))

    joins = [
        join_findings_sql(rule, ctx, sides[side], side, sources[side])
        for side in _SIDES
        if sides[side].join is not None and sides[side].join.unmatched == "finding"
    ]
    query: exp.Select = body
    if joins:
        union = exp.union(body, *(q for pair in joins for q in pair), distinct=False)
        query = exp.select(*(col(c) for c in BODY_COLUMNS)).from_(union.subquery(name("totals")))
    for side in _SIDES:
        query = query.with_(
            name(side), as_=_totals_sql(rule, ctx, sides[side], side, sources[side], forms)
        )
    return query.with_(name(_COMPARED), as_=_compared_sql(rule))


def _compared_sql(rule: AggregateRule) -> exp.Select:
    """Both sides' totals per group; a side without the group has a total of zero."""
    pairs = list(zip(rule.left.by, rule.right.by, strict=True))
    keys = [
        exp.Coalesce(this=col(column, "left"), expressions=[col(other, "right")]).as_(
            column, quoted=True
        )
        for column, other in pairs
    ]
    totals = [
        exp.Coalesce(this=col(_TOTAL, side), expressions=[number(0)]).as_(
            f"{side}_total", quoted=True
        )
        for side in _SIDES
    ]
    found = [is_not_null(col(_ROWS, side)).as_(f"in_{side}", quoted=True) for side in _SIDES]
    # Each group part compared on its own: a NULL part matches nothing on the other side.
    on = exp.and_(
        *(
            exp.EQ(this=col(_joined(position), "left"), expression=col(_joined(position), "right"))
            for position in range(len(pairs))
        )
    )
    return (
        exp.select(*keys, *totals, *found)
        .from_(cte("left"))
        .join(cte("right"), on=on, join_type="full outer")
    )


def _is_finding(rule: AggregateRule) -> exp.Expression:
    """Which compared groups are findings, by the rule's expectation and required sides."""
    left, right = (_exact(side) for side in _SIDES)
    outcomes: list[exp.Expression] = []
    for side, required in (("left", rule.left.required), ("right", rule.right.required)):
        if required:
            other = "right" if side == "left" else "left"
            lacking = exp.and_(exp.not_(col(f"in_{side}")), col(f"in_{other}"))
            if rule.expect == "presence":
                outcomes.append(lacking)
            else:
                outcomes.append(exp.and_(lacking, _totals_disagree(rule, left, right)))
    if rule.expect != "presence":
        both = exp.and_(col("in_left"), col("in_right"))
        outcomes.append(exp.and_(both, _totals_disagree(rule, left.copy(), right.copy())))
    return exp.or_(*(exp.paren(outcome) for outcome in outcomes)) if outcomes else exp.false()


def _totals_disagree(
    rule: AggregateRule, left: exp.Expression, right: exp.Expression
) -> exp.Expression:
    """The difference the rule cares about is beyond both tolerances, in exact decimals.

    The boundary itself is equal, and a relative tolerance is measured against the larger
    magnitude, so swapping the sides never changes a verdict.
    """
    if rule.expect == "left_at_least":
        difference = exp.Sub(this=right.copy(), expression=left.copy())
    elif rule.expect == "right_at_least":
        difference = exp.Sub(this=left.copy(), expression=right.copy())
    else:
        difference = _gap()
    limits: list[exp.Expression] = []
    if rule.abs_tol or not rule.rel_tol:
        limits.append(exp.GT(this=difference, expression=number(rule.abs_tol)))
    if rule.rel_tol:
        largest = exp.Greatest(this=exp.Abs(this=left), expressions=[exp.Abs(this=right)])
        relative = exp.Mul(this=number(rule.rel_tol), expression=largest)
        limits.append(exp.GT(this=difference.copy(), expression=relative))
    return exp.and_(*limits)


def _labels(rule: AggregateRule) -> dict[str, str]:
    """Problem codes and names of the sides: systems, or entities when one system has both."""
    systems = {side: _system(getattr(rule, side)) for side in _SIDES}
    if systems["left"] != systems["right"]:
        names = systems
        missing = {side: f"missing_in_{systems[side]}" for side in _SIDES}
    else:
        names = {side: getattr(rule, side).table for side in _SIDES}
        missing = {side: f"no_{_entity(getattr(rule, side))}" for side in _SIDES}
    return {
        "left": names["left"],
        "right": names["right"],
        "missing_left": missing["left"],
        "missing_right": missing["right"],
    }


def _mismatch_message(
    rule: AggregateRule,
    labels: dict[str, str],
    owner: str | None,
    owner_side: str,
    other_side: str,
    field: str,
) -> exp.Expression:
    if rule.expect in ("left_at_least", "right_at_least"):
        small, large = ("left", "right") if rule.expect == "left_at_least" else ("right", "left")
        return sentence(
            f"{labels[large]} {field} ",
            col(f"{large}_total"),
            f" exceeds {labels[small]} ",
            col(f"{small}_total"),
            " beyond tolerance" if rule.abs_tol or rule.rel_tol else "",
        )
    return sentence(
        f"{labels[other_side]} {field} ",
        col(f"{other_side}_total"),
        f" differs from {'owner ' if owner else ''}{labels[owner_side]} ",
        col(f"{owner_side}_total"),
        " beyond tolerance" if rule.abs_tol or rule.rel_tol else "",
    )


def _one_sided(labels: dict[str, str], present: str, field: str) -> exp.Expression:
    absent = "left" if present == "right" else "right"
    return sentence(
        f"{labels[present]} {field} ",
        col(f"{present}_total"),
        f" has no counterpart in {labels[absent]}",
    )


def _gap() -> exp.Expression:
    return exp.Abs(this=exp.Sub(this=_exact("left"), expression=_exact("right")))


def _exact(side: str) -> exp.Expression:
    return exp.cast(col(f"{side}_total"), NUMERIC)


# --- one side's totals --------------------------------------------------------------


def _by_forms(
    rule: AggregateRule, ctx: CompileContext, sources: dict[str, dict[str, str]]
) -> list[KeyForm]:
    pairs = zip(rule.left.by, rule.right.by, strict=True)
    return [
        key_form(
            ctx,
            rule_id=rule.id,
            at="right.by",
            refs=(sources["left"][left], sources["right"][right]),
            columns=(left, right),
            fix="map the columns to one type in the source mappings",
        )
        for left, right in pairs
    ]


def _totals_sql(
    rule: AggregateRule,
    ctx: CompileContext,
    side: AggregateSide,
    label: str,
    sources: dict[str, str],
    forms: list[KeyForm],
) -> exp.Select:
    """One side's total of its measure per group of its `by` columns."""
    groups = [qualified(column, sources) for column in side.by]
    joined = [
        form.apply(group.copy(), ctx.dialect) for form, group in zip(forms, groups, strict=True)
    ]
    measure = user_expression(rule, ctx, side.measure, sources, at=f"{label}.measure")

    query = exp.select(
        *(group.as_(column, quoted=True) for group, column in zip(groups, side.by, strict=True)),
        *(value.as_(_joined(position), quoted=True) for position, value in enumerate(joined)),
        exp.Sum(this=measure).as_(_TOTAL, quoted=True),
        exp.Count(this=exp.Star()).as_(_ROWS, quoted=True),
    ).from_(table(side.table))
    if side.join is not None:
        query = query.join(table(side.join.table), on=join_on(side, side.join), join_type="left")
    if side.filter is not None:
        query = query.where(user_expression(rule, ctx, side.filter, sources, at=f"{label}.filter"))
    return query.group_by(*(group.copy() for group in groups), *(v.copy() for v in joined))


def _joined(position: int) -> str:
    return f"group_{position}"


def _system(side: AggregateSide) -> str:
    return side.table.partition(".")[0]


def _entity(side: AggregateSide) -> str:
    return side.table.partition(".")[2]
