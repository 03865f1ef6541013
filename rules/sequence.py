"""Compile a sequence rule: a record's status moving backwards against its declared lifecycle."""

from __future__ import annotations

from sqlglot import exp

from tallyclerk.errors import RuleError

from .findings import BODY_COLUMNS, CompileContext, body_select, key_text
from .model import SequenceRule
from .sql import as_text, col, table

_RANKED = "ranked"
_REGRESSIONS = "regressions"
_UNKNOWN = "unknown_statuses"
_STAGE = "stage"
_HIGHEST = "highest_before"
_NTH = "nth"


def sequence_sql(rule: SequenceRule, ctx: CompileContext) -> exp.Select:
    """The first status regression of each key, and the first status outside the lifecycle."""
    if len(set(rule.lifecycle)) != len(rule.lifecycle):
        raise RuleError(f"{_where(rule, 'lifecycle')}: name each status once.")
    ctx.require(rule.table, rule.key, where=_where(rule, "key"))
    ctx.require(rule.table, [rule.status], where=_where(rule, "status"))
    ctx.require(rule.table, [rule.order_by], where=_where(rule, "order_by"))

    bodies = [_regression_sql(rule, ctx), _unknown_sql(rule, ctx)]
    union = exp.union(*bodies, distinct=False)
    query = exp.select(*(col(name) for name in BODY_COLUMNS)).from_(
        union.subquery(_name("sequence"))
    )
    query = query.with_(_name(_RANKED), as_=_ranked_sql(rule))
    query = query.with_(_name(_REGRESSIONS), as_=_regressions_sql(rule))
    return query.with_(_name(_UNKNOWN), as_=_unknown_statuses_sql(rule))


def _ranked_sql(rule: SequenceRule) -> exp.Select:
    """Every record with the stage its status has in the lifecycle (NULL when not in it)."""
    stage = exp.Case(
        this=col(rule.status),
        ifs=[
            exp.If(this=exp.Literal.string(status), true=exp.Literal.number(position))
            for position, status in enumerate(rule.lifecycle, start=1)
        ],
    )
    names = dict.fromkeys([*rule.key, rule.status, rule.order_by])
    return exp.select(*(col(name) for name in names), stage.as_(_STAGE, quoted=True)).from_(
        table(rule.table)
    )


def _regressions_sql(rule: SequenceRule) -> exp.Select:
    """Records whose stage is below the highest stage an earlier record of the key reached."""
    keys = [col(name) for name in rule.key]
    # Records at the same moment count as in lifecycle order, so a tie is never a regression.
    in_order = [exp.Ordered(this=col(rule.order_by)), exp.Ordered(this=col(_STAGE))]
    earlier = exp.WindowSpec(
        kind="ROWS",
        start="UNBOUNDED",
        start_side="PRECEDING",
        end=exp.Literal.number(1),
        end_side="PRECEDING",
    )
    highest = exp.Window(
        this=exp.Max(this=col(_STAGE)),
        partition_by=keys,
        order=exp.Order(expressions=in_order),
        spec=earlier,
    )
    reached = (
        exp.select(exp.Star(), highest.as_(_HIGHEST, quoted=True))
        .from_(exp.Table(this=_name(_RANKED)))
        .subquery(_name("reached"))
    )
    first = exp.Window(
        this=exp.RowNumber(),
        partition_by=[key.copy() for key in keys],
        order=exp.Order(expressions=[order.copy() for order in in_order]),
    )
    return (
        exp.select(exp.Star(), first.as_(_NTH, quoted=True))
        .from_(reached)
        .where(exp.LT(this=col(_STAGE), expression=col(_HIGHEST)))
    )


def _unknown_statuses_sql(rule: SequenceRule) -> exp.Select:
    """Records whose status is not in the lifecycle, numbered in order within their key."""
    first = exp.Window(
        this=exp.RowNumber(),
        partition_by=[col(name) for name in rule.key],
        order=exp.Order(
            expressions=[exp.Ordered(this=col(rule.order_by)), exp.Ordered(this=col(rule.status))]
        ),
    )
    return (
        exp.select(exp.Star(), first.as_(_NTH, quoted=True))
        .from_(exp.Table(this=_name(_RANKED)))
        .where(_is_not_null(col(rule.status)), exp.Is(this=col(_STAGE), expression=exp.null()))
    )


def _regression_sql(rule: SequenceRule, ctx: CompileContext) -> exp.Select:
    reached = exp.Case(
        this=col(_HIGHEST),
        ifs=[
            exp.If(this=exp.Literal.number(position), true=exp.Literal.string(status))
            for position, status in enumerate(rule.lifecycle, start=1)
        ],
    )
    status = col(rule.status)
    body = _body(
        rule,
        ctx,
        problem="status_regression",
        owner_value=reached,
        message=_sentence(
            f"{rule.status} went back from ",
            reached.copy(),
            " to ",
            status,
            f" at {rule.order_by} ",
            col(rule.order_by),
        ),
    )
    return body.from_(exp.Table(this=_name(_REGRESSIONS))).where(_first_of_key())


def _unknown_sql(rule: SequenceRule, ctx: CompileContext) -> exp.Select:
    body = _body(
        rule,
        ctx,
        problem="unknown_status",
        owner_value=None,
        message=_sentence(
            f"{rule.status} ",
            col(rule.status),
            " is not in the lifecycle " + ", ".join(rule.lifecycle),
        ),
    )
    return body.from_(exp.Table(this=_name(_UNKNOWN))).where(_first_of_key())


def _body(
    rule: SequenceRule,
    ctx: CompileContext,
    *,
    problem: str,
    owner_value: exp.Expression | None,
    message: exp.Expression,
) -> exp.Select:
    system, _, entity = rule.table.partition(".")
    return body_select(
        problem=problem,
        key=key_text([(name, col(name)) for name in rule.key]),
        field_name=rule.status,
        systems=system,
        owner_system=ctx.owner(entity, rule.status),
        owner_value=owner_value,
        other_value=col(rule.status),
        amount_at_risk=None,
        message=message,
    )


def _first_of_key() -> exp.Expression:
    # One finding per key: the finding id is made of rule, key, field and problem.
    return exp.EQ(this=col(_NTH), expression=exp.Literal.number(1))


def _is_not_null(value: exp.Expression) -> exp.Expression:
    return exp.not_(exp.Is(this=value, expression=exp.null()))


def _where(rule: SequenceRule, key: str) -> str:
    return f"rule {rule.id!r} {key}"


def _name(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


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
