"""Milestones of a sequence rule: statuses reached without the ones that must come first, and
statuses not reached within their deadline, judged at the period's cut-off.
"""

from __future__ import annotations

from sqlglot import exp

from .findings import CompileContext, body_select, key_text
from .model import Deadline, SequenceRule
from .model_base import duration_text
from .sql import col, is_null, name, number, sentence, table, text

_INSTANT = exp.DataType.build("TIMESTAMPTZ")


def requirement_sql(rule: SequenceRule, ctx: CompileContext) -> exp.Select:
    """Keys that reached a status with a milestone it requires not recorded at or before it.

    One finding per key and missing milestone (its field); when several statuses require
    the milestone, the first of them reached is the one judged.
    """
    keys = list(rule.key)
    system, _, entity = rule.table.partition(".")
    first_at = exp.Min(this=col(rule.order_by))
    needing: dict[str, list[str]] = {}
    for status, milestones in rule.requires.items():
        for milestone in milestones:
            needing.setdefault(milestone, []).append(status)

    bodies = []
    for milestone, statuses in needing.items():
        reached = _firsts(rule, first_at, statuses, "reached")
        before = _firsts(rule, first_at, [milestone], "before")
        on = exp.and_(*(exp.EQ(this=col(k, "reached"), expression=col(k, "before")) for k in keys))
        missing = exp.or_(
            is_null(col("first_at", "before")),
            exp.GT(this=col("first_at", "before"), expression=col("first_at", "reached")),
        )
        named = " or ".join(statuses)
        body = body_select(
            problem="missing_milestone",
            key=key_text([(k, col(k, "reached")) for k in keys]),
            field_name=milestone,
            systems=system,
            owner_system=ctx.owner(entity, rule.status),
            owner_value=None,
            other_value=text(named),
            amount_at_risk=None,
            message=sentence(
                f"{rule.status} reached {named} at {rule.order_by} ",
                col("first_at", "reached"),
                f" with no {milestone} recorded before it",
            ),
        )
        body = body.from_(reached).join(before, on=on, join_type="left").where(missing)
        bodies.append(body)
    return bodies[0] if len(bodies) == 1 else exp.union(*bodies, distinct=False)


def deadline_sql(rule: SequenceRule, ctx: CompileContext, deadline: Deadline) -> exp.Select:
    """Keys whose `expect` status did not follow `after` within the deadline.

    Judged at the period end: a deadline still running then is no finding yet; one that
    passed with the status missing, or recorded after it, is.
    """
    keys = list(rule.key)
    moment = rule.time or rule.order_by
    started = _firsts(rule, exp.Min(this=col(moment)), [deadline.after], "started")
    later = exp.and_(
        *(exp.EQ(this=col(k, "started"), expression=col(k, "later")) for k in keys),
        exp.EQ(this=col(rule.status, "later"), expression=text(deadline.expect)),
        exp.GTE(this=col(moment, "later"), expression=col("first_at", "started")),
    )
    followed = (
        exp.select(
            *(col(k, "started") for k in keys),
            col("first_at", "started").as_("started_at", quoted=True),
            exp.Min(this=col(moment, "later")).as_("reached_at", quoted=True),
        )
        .from_(started)
        .join(table(rule.table, alias="later"), on=later, join_type="left")
        .group_by(*(col(k, "started") for k in keys), col("first_at", "started"))
        .subquery(name("followed"))
    )

    due = exp.Add(this=_epoch(col("started_at")), expression=number(deadline.within))
    cut_off = _epoch(exp.Literal.string(ctx.period_end))
    late = exp.and_(
        exp.LT(this=due, expression=cut_off),
        exp.or_(
            is_null(col("reached_at")),
            exp.GT(this=_epoch(col("reached_at")), expression=due.copy()),
        ),
    )
    within = duration_text(deadline.within)
    system, _, entity = rule.table.partition(".")
    message = (
        exp.case()
        .when(
            is_null(col("reached_at")),
            sentence(
                f"{deadline.after} at ",
                col("started_at"),
                f" and no {deadline.expect} within {within} by the period end {ctx.period_end}",
            ),
        )
        .else_(
            sentence(
                f"{deadline.after} at ",
                col("started_at"),
                f" and {deadline.expect} only at ",
                col("reached_at"),
                f", later than {within}",
            )
        )
    )
    body = body_select(
        problem="late_milestone",
        key=key_text([(k, col(k)) for k in keys]),
        field_name=deadline.expect,
        systems=system,
        owner_system=ctx.owner(entity, rule.status),
        owner_value=col("started_at"),
        other_value=col("reached_at"),
        amount_at_risk=None,
        message=message,
    )
    return body.from_(followed).where(late)


def _firsts(
    rule: SequenceRule, first_at: exp.Expression, statuses: list[str], alias: str
) -> exp.Subquery:
    """Per key, the first moment any of `statuses` was recorded."""
    keys = [col(k) for k in rule.key]
    return (
        exp.select(*keys, first_at.copy().as_("first_at", quoted=True))
        .from_(table(rule.table))
        .where(exp.In(this=col(rule.status), expressions=[text(s) for s in statuses]))
        .group_by(*(k.copy() for k in keys))
        .subquery(name(alias))
    )


def _epoch(value: exp.Expression) -> exp.Expression:
    return exp.TimeToUnix(this=exp.cast(value, _INSTANT))
