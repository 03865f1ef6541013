"""One side of an aggregate rule: the columns it can read, the table it joins, and the
rows that join would leave out of its totals or count twice.
"""

from __future__ import annotations

from sqlglot import exp

from tallyclerk.errors import ExpressionError, RuleError

from .findings import CompileContext, body_select, key_text, systems_text
from .model import AggregateRule, AggregateSide, JoinSpec
from .sql import (
    PERIOD_NAMES,
    bind_period,
    check_columns,
    col,
    is_null,
    number,
    parse_expression,
    sentence,
    table,
    table_name,
    where,
)


def readable_columns(
    rule: AggregateRule, ctx: CompileContext, side: AggregateSide, label: str
) -> dict[str, str]:
    """Each column a side can read, with the table it is read from."""
    base = ctx.columns(side.table, where=where(rule.id, f"{label}.table"))
    sources: dict[str, str] = {}
    if side.join is not None:
        ctx.require(side.table, side.join.on, where=where(rule.id, f"{label}.join.on"))
        ctx.require(side.join.table, side.join.on, where=where(rule.id, f"{label}.join.on"))
        sources = dict.fromkeys(ctx.columns(side.join.table, where=""), side.join.table)
    # Where a column is in both tables, the side's own table wins.
    sources |= dict.fromkeys(base, side.table)
    for column in side.by:
        if column not in sources:
            ctx.require(side.table, [column], where=where(rule.id, f"{label}.by"))
    return sources


def join_on(side: AggregateSide, join: JoinSpec) -> exp.Expression:
    return exp.and_(
        *(
            exp.EQ(
                this=col(column, table_name(side.table)),
                expression=col(column, table_name(join.table)),
            )
            for column in join.on
        )
    )


def join_findings_sql(
    rule: AggregateRule,
    ctx: CompileContext,
    side: AggregateSide,
    label: str,
    sources: dict[str, str],
) -> tuple[exp.Select, exp.Select]:
    """Rows a join leaves out of the total, and join keys that would count rows twice."""
    join = side.join
    if join is None:
        raise RuleError(f"{where(rule.id, f'{label}.join')}: this side joins no table.")
    own, other = table_name(side.table), table_name(join.table)
    systems = systems_text(side.table.partition(".")[0], join.table.partition(".")[0])
    keys = [col(column, own) for column in join.on]

    count = exp.Count(this=exp.Star())
    unmatched = body_select(
        problem="unmatched_join",
        key=key_text(list(zip(join.on, keys, strict=True))),
        field_name=join.table,
        systems=systems,
        owner_system=None,
        owner_value=None,
        other_value=count,
        amount_at_risk=None,
        message=sentence(
            f"{side.table} has ",
            count,
            f" rows with no {join.table} to join, so the {label} totals leave them out",
        ),
    )
    unmatched = unmatched.from_(table(side.table)).join(
        table(join.table), on=join_on(side, join), join_type="left"
    )
    filters = [is_null(col(join.on[0], other))]
    if side.filter is not None:
        filters.append(user_expression(rule, ctx, side.filter, sources, at=f"{label}.filter"))
    unmatched = unmatched.where(*filters).group_by(*(key.copy() for key in keys))

    twice = exp.Count(this=exp.Star())
    ambiguous = body_select(
        problem="ambiguous_join",
        key=key_text([(column, col(column)) for column in join.on]),
        field_name=join.table,
        systems=systems,
        owner_system=None,
        owner_value=None,
        other_value=twice,
        amount_at_risk=None,
        message=sentence(
            f"{join.table} has ",
            twice,
            f" rows with this key, so {side.table} rows joined to it count that many times "
            f"in the {label} totals",
        ),
    )
    ambiguous = ambiguous.from_(table(join.table)).group_by(*(col(c) for c in join.on))
    return unmatched, ambiguous.having(exp.GT(this=twice.copy(), expression=number(1)))


def user_expression(
    rule: AggregateRule,
    ctx: CompileContext,
    source: str,
    sources: dict[str, str],
    *,
    at: str,
) -> exp.Expression:
    """A user expression over the side's columns, each read from the table that has it."""
    place = where(rule.id, at)
    try:
        tree = parse_expression(source, where=place)
        check_columns(tree, sources, where=place, allow=PERIOD_NAMES)
    except ExpressionError as exc:
        raise RuleError(str(exc)) from exc
    tree = bind_period(tree, start=ctx.period_start, end=ctx.period_end)
    return tree.transform(
        lambda node: qualified(node.name, sources) if isinstance(node, exp.Column) else node
    )


def qualified(column: str, sources: dict[str, str]) -> exp.Column:
    return col(column, table_name(sources[column]))
