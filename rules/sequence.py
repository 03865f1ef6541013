"""Compile a sequence rule: updates out of order for each record of a key.

A status moving backwards against the lifecycle, a move the declared transitions do not
allow, a status outside both, and an update older than the state it overwrote are found
here, each once per key (its first occurrence); missing and late milestones in `milestones`.
"""

from __future__ import annotations

from sqlglot import exp

from .findings import BODY_COLUMNS, CompileContext, body_select, key_text
from .milestones import deadline_sql, requirement_sql
from .model import SequenceRule
from .sql import col, cte, is_not_null, name, number, sentence, table, text, where

_ORDERED = "ordered"
_STAGE = "stage"
_HIGHEST = "highest_before"
_PREVIOUS = "previous_status"
_NEWEST = "newest_before"
_NTH = "nth"


def sequence_sql(rule: SequenceRule, ctx: CompileContext) -> exp.Select:
    """Every declared check of the rule, one finding per key, check and field."""
    ctx.require(rule.table, rule.key, where=where(rule.id, "key"))
    ctx.require(rule.table, [rule.status], where=where(rule.id, "status"))
    ctx.require(rule.table, [rule.order_by], where=where(rule.id, "order_by"))
    if rule.stale_by:
        ctx.require(rule.table, [rule.stale_by], where=where(rule.id, "stale_by"))
    if rule.time:
        ctx.require(rule.table, [rule.time], where=where(rule.id, "time"))

    bodies: list[exp.Select] = []
    if rule.lifecycle:
        bodies.append(_regression_sql(rule, ctx))
    if rule.transitions is not None:
        bodies.append(_transition_sql(rule, ctx))
    if rule.lifecycle or rule.transitions is not None:
        bodies.append(_unknown_sql(rule, ctx))
    if rule.stale_by:
        bodies.append(_stale_sql(rule, ctx))
    if rule.requires:
        bodies.append(requirement_sql(rule, ctx))
    bodies += [deadline_sql(rule, ctx, deadline) for deadline in rule.deadlines]

    union = bodies[0] if len(bodies) == 1 else exp.union(*bodies, distinct=False)
    query = exp.select(*(col(column) for column in BODY_COLUMNS)).from_(
        union.subquery(name("sequence"))
    )
    return query.with_(name(_ORDERED), as_=_ordered_sql(rule))


def _ordered_sql(rule: SequenceRule) -> exp.Select:
    """Every record with its lifecycle stage and what the records before it of its key held."""
    keys = [col(column) for column in rule.key]
    stage = _stage(rule)
    in_order = _in_order(rule, stage)
    before = exp.WindowSpec(
        kind="ROWS",
        start="UNBOUNDED",
        start_side="PRECEDING",
        end=exp.Literal.number(1),
        end_side="PRECEDING",
    )

    def window(this: exp.Expression, *, spec: exp.WindowSpec | None = None) -> exp.Window:
        return exp.Window(
            this=this,
            partition_by=[key.copy() for key in keys],
            order=exp.Order(expressions=[order.copy() for order in in_order]),
            spec=spec.copy() if spec else None,
        )

    extra = [column for column in (rule.stale_by, rule.time) if column]
    columns = dict.fromkeys([*rule.key, rule.status, rule.order_by, *extra])
    projections: list[exp.Expression] = [col(column) for column in columns]
    projections += [
        stage.as_(_STAGE, quoted=True),
        window(exp.Max(this=stage.copy()), spec=before).as_(_HIGHEST, quoted=True),
        window(exp.Lag(this=col(rule.status))).as_(_PREVIOUS, quoted=True),
    ]
    if rule.stale_by:
        newest = exp.Window(
            this=exp.Max(this=col(rule.stale_by)),
            partition_by=[key.copy() for key in keys],
            order=exp.Order(
                expressions=[
                    exp.Ordered(this=col(rule.order_by)),
                    exp.Ordered(this=col(rule.stale_by)),
                ]
            ),
            spec=before.copy(),
        )
        projections.append(newest.as_(_NEWEST, quoted=True))
    return exp.select(*projections).from_(table(rule.table))


def _stage(rule: SequenceRule) -> exp.Expression:
    """The position of the record's status in the lifecycle, NULL outside it or without one."""
    if not rule.lifecycle:
        return exp.cast(exp.null(), exp.DataType.build("INT"))
    return exp.Case(
        this=col(rule.status),
        ifs=[
            exp.If(this=text(status), true=exp.Literal.number(position))
            for position, status in enumerate(rule.lifecycle, start=1)
        ],
    )


def _in_order(rule: SequenceRule, stage: exp.Expression) -> list[exp.Ordered]:
    # Records at the same moment count as in lifecycle order, so a tie is never a regression;
    # the other columns a finding shows break what ties remain, so row order never matters.
    tie_breakers = dict.fromkeys(c for c in (rule.stale_by, rule.time) if c)
    return [
        exp.Ordered(this=col(rule.order_by)),
        exp.Ordered(this=stage.copy()),
        exp.Ordered(this=col(rule.status)),
        *(exp.Ordered(this=col(column)) for column in tie_breakers),
    ]


def _first_per_key(rule: SequenceRule, condition: exp.Expression) -> exp.Subquery:
    """The records of `ordered` meeting `condition`, numbered in order within their key."""
    nth = exp.Window(
        this=exp.RowNumber(),
        partition_by=[col(column) for column in rule.key],
        order=exp.Order(expressions=_in_order(rule, col(_STAGE))),
    )
    return (
        exp.select(exp.Star(), nth.as_(_NTH, quoted=True))
        .from_(cte(_ORDERED))
        .where(condition)
        .subquery(name("found"))
    )


def _first() -> exp.Expression:
    # One finding per key: the finding id is made of rule, key, field and problem.
    return exp.EQ(this=col(_NTH), expression=number(1))


# --- one SELECT per kind of finding -------------------------------------------------


def _regression_sql(rule: SequenceRule, ctx: CompileContext) -> exp.Select:
    lifecycle = rule.lifecycle or []
    reached = exp.Case(
        this=col(_HIGHEST),
        ifs=[
            exp.If(this=exp.Literal.number(position), true=text(status))
            for position, status in enumerate(lifecycle, start=1)
        ],
    )
    message = sentence(
        f"{rule.status} went back from ",
        reached.copy(),
        " to ",
        col(rule.status),
        f" at {rule.order_by} ",
        col(rule.order_by),
    )
    body = _body(rule, ctx, problem="status_regression", owner_value=reached, message=message)
    regressed = exp.LT(this=col(_STAGE), expression=col(_HIGHEST))
    return body.from_(_first_per_key(rule, regressed)).where(_first())


def _transition_sql(rule: SequenceRule, ctx: CompileContext) -> exp.Select:
    transitions = rule.transitions or {}
    known = _known(rule)
    # A status with no entry has no way out: it is final.
    allowed = exp.Case(
        this=col(_PREVIOUS),
        ifs=[
            exp.If(
                this=text(status),
                true=exp.In(this=col(rule.status), expressions=[text(s) for s in moves])
                if moves
                else exp.false(),
            )
            for status, moves in transitions.items()
        ],
        default=exp.false(),
    )
    forbidden = exp.and_(
        is_not_null(col(_PREVIOUS)),
        exp.NEQ(this=col(_PREVIOUS), expression=col(rule.status)),
        exp.In(this=col(_PREVIOUS), expressions=[text(s) for s in known]),
        exp.In(this=col(rule.status), expressions=[text(s) for s in known]),
        exp.not_(exp.paren(allowed)),
    )
    message = sentence(
        f"{rule.status} moved from ",
        col(_PREVIOUS),
        " to ",
        col(rule.status),
        f" at {rule.order_by} ",
        col(rule.order_by),
        ", a move the declared transitions do not allow",
    )
    body = _body(
        rule, ctx, problem="forbidden_transition", owner_value=col(_PREVIOUS), message=message
    )
    return body.from_(_first_per_key(rule, forbidden)).where(_first())


def _unknown_sql(rule: SequenceRule, ctx: CompileContext) -> exp.Select:
    known = _known(rule)
    origin = "lifecycle" if rule.lifecycle else "transitions"
    message = sentence(
        f"{rule.status} ", col(rule.status), f" is not in the {origin} " + ", ".join(known)
    )
    unknown = exp.and_(
        is_not_null(col(rule.status)),
        exp.not_(exp.In(this=col(rule.status), expressions=[text(s) for s in known])),
    )
    body = _body(rule, ctx, problem="unknown_status", owner_value=None, message=message)
    return body.from_(_first_per_key(rule, unknown)).where(_first())


def _stale_sql(rule: SequenceRule, ctx: CompileContext) -> exp.Select:
    stale_by = rule.stale_by or ""
    message = sentence(
        f"an update with {stale_by} ",
        col(stale_by),
        f" was applied at {rule.order_by} ",
        col(rule.order_by),
        f" after one with {stale_by} ",
        col(_NEWEST),
        ", so it overwrote newer state",
    )
    body = _body(
        rule,
        ctx,
        problem="stale_update",
        owner_value=col(_NEWEST),
        other_value=col(stale_by),
        field=stale_by,
        message=message,
    )
    stale = exp.LT(this=col(stale_by), expression=col(_NEWEST))
    return body.from_(_first_per_key(rule, stale)).where(_first())


def _body(
    rule: SequenceRule,
    ctx: CompileContext,
    *,
    problem: str,
    owner_value: exp.Expression | None,
    message: exp.Expression,
    other_value: exp.Expression | None = None,
    field: str | None = None,
) -> exp.Select:
    system, _, entity = rule.table.partition(".")
    field = field or rule.status
    return body_select(
        problem=problem,
        key=key_text([(column, col(column)) for column in rule.key]),
        field_name=field,
        systems=system,
        owner_system=ctx.owner(entity, field),
        owner_value=owner_value,
        other_value=col(rule.status) if other_value is None else other_value,
        amount_at_risk=None,
        message=message,
    )


def _known(rule: SequenceRule) -> list[str]:
    """Every status the rule names, lifecycle first, each once."""
    named = list(rule.lifecycle or [])
    for status, moves in (rule.transitions or {}).items():
        named += [status, *moves]
    return list(dict.fromkeys(named))
