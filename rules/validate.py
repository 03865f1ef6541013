"""Compile a validate rule: one finding for every row that breaks a check on its own table."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlglot import exp

from tallyclerk.errors import ExpressionError, RuleError

from .findings import BODY_COLUMNS, CompileContext, body_select, key_text
from .model import (
    AcceptedValues,
    Check,
    Expression,
    NotNull,
    Pattern,
    Range,
    Reference,
    Unique,
    ValidateRule,
)
from .sql import (
    PERIOD_NAMES,
    as_text,
    bind_period,
    check_columns,
    col,
    columns_of,
    parse_expression,
    table,
)


def validate_sql(rule: ValidateRule, ctx: CompileContext) -> exp.Select:
    """Rows of `rule.table` failing any of the rule's checks, one finding per check and row."""
    columns = ctx.columns(rule.table, where=_where(rule, "table"))
    key = list(rule.key) if rule.key else [columns[0]]
    ctx.require(rule.table, key, where=_where(rule, "key"))
    _refuse_repeated_checks(rule)
    checked = _Checked(rule, ctx, key)

    bodies = [checked.body(check, position) for position, check in enumerate(rule.checks)]
    failed = bodies[0] if len(bodies) == 1 else exp.union(*bodies, distinct=False)
    return _one_per_key(failed)


def _refuse_repeated_checks(rule: ValidateRule) -> None:
    """Two checks of one kind on one field would share finding ids."""
    seen: dict[tuple[str, str], int] = {}
    for position, check in enumerate(rule.checks):
        earlier = seen.setdefault((check.check, _field_of(check)), position)
        if earlier != position:
            raise RuleError(
                f"{_where(rule, f'checks[{position}]')}: repeats the {check.check} check on "
                f"{_field_of(check)} of checks[{earlier}]; merge the two, or write an "
                "expression check with its own name."
            )


def _field_of(check: Check) -> str:
    """The finding's field: the column, the columns joined by '+', or the check's name."""
    if isinstance(check, Unique):
        return "+".join(check.columns)
    if isinstance(check, Expression):
        return check.name
    return check.column


def _one_per_key(failed: exp.Query) -> exp.Select:
    """The first failing row per key, field and problem, since these make the finding id.

    A key that is not unique (the first column by default) can name several failing rows;
    the finding then says how many there are.
    """
    identity = [col(name) for name in ("problem", "key", "field")]
    rows = exp.Window(this=exp.Count(this=exp.Star()), partition_by=identity)
    first = exp.Window(
        this=exp.RowNumber(),
        partition_by=[name.copy() for name in identity],
        order=exp.Order(expressions=[exp.Ordered(this=col("other_value"), nulls_first=True)]),
    )
    numbered = exp.select(exp.Star(), rows.as_("rows", quoted=True), first.as_("nth", quoted=True))
    numbered = numbered.from_(failed.subquery(_name("failed")))

    more = exp.GT(this=col("rows"), expression=_number(1))
    message = (
        exp.case()
        .when(more, _sentence(col("message"), " (", col("rows"), " rows with this key)"))
        .else_(col("message"))
    )
    columns = [
        message.as_(name, quoted=True) if name == "message" else col(name) for name in BODY_COLUMNS
    ]
    return (
        exp.select(*columns)
        .from_(numbered.subquery(_name("numbered")))
        .where(exp.EQ(this=col("nth"), expression=_number(1)))
    )


class _Checked:
    """The table a validate rule reads, with what every check's SELECT shares."""

    def __init__(self, rule: ValidateRule, ctx: CompileContext, key: list[str]) -> None:
        self.rule = rule
        self.ctx = ctx
        self.key = key
        self.system, _, self.entity = rule.table.partition(".")
        self.alias = self.entity
        self.columns = list(ctx.columns(rule.table, where=_where(rule, "table")))
        self.filter = None if rule.filter is None else self.expression(rule.filter, where="filter")

    def body(self, check: Check, position: int) -> exp.Select:
        where = f"checks[{position}]"
        if isinstance(check, Unique):
            return self.unique(check, where)
        if isinstance(check, Expression):
            return self.predicate(check, where)
        self.require([check.column], f"{where}.column")
        value = col(check.column, self.alias)
        if isinstance(check, NotNull):
            return self.failing(check, exp.Is(this=value, expression=exp.null()), "has no value")
        if isinstance(check, AcceptedValues):
            return self.accepted_values(check, value)
        if isinstance(check, Range):
            return self.outside_range(check, value, where)
        if isinstance(check, Pattern):
            failing = exp.not_(exp.RegexpLike(this=as_text(value), expression=_text(check.regex)))
            says = f"does not match the pattern {check.regex}"
            return self.failing(check, failing, says, value, not_null=value)
        return self.reference(check, value, where)

    # --- one method per check ---------------------------------------------------------

    def unique(self, check: Unique, where: str) -> exp.Select:
        self.require(check.columns, f"{where}.columns")
        values = [col(name, self.alias) for name in check.columns]
        count = exp.Count(this=exp.Star())
        field = _field_of(check)
        body = self.select(
            problem="unique",
            key=key_text(list(zip(check.columns, values, strict=True))),
            field=field,
            other_value=count,
            message=_sentence(f"{field} is not unique in {self.rule.table}: ", count, " rows"),
        )
        # SQL UNIQUE lets NULLs repeat; a missing value is the not_null check's finding.
        present = [exp.not_(exp.Is(this=value, expression=exp.null())) for value in values]
        body = body.where(*self.filters(), *present)
        return body.group_by(*values).having(exp.GT(this=count, expression=_number(1)))

    def predicate(self, check: Expression, where: str) -> exp.Select:
        tree = self.expression(check.predicate, where=f"{where}.predicate")
        # A predicate that is NULL has not been shown to hold, so the row fails.
        failing = exp.not_(exp.Coalesce(this=tree, expressions=[exp.false()]))
        read = [check.name] if check.name in self.columns else columns_of(tree)
        shown = col(read[0], self.alias) if read else None
        says = f"fails the check: {check.predicate}"
        return self.failing(check, failing, says, shown)

    def accepted_values(self, check: AcceptedValues, value: exp.Expression) -> exp.Select:
        # A join against an inline VALUES list stays small in the plan, unlike a long IN list.
        numeric = all(isinstance(item, int | float) for item in check.values)
        rows = [
            exp.Tuple(expressions=[_number(item) if numeric else _text(str(item))])
            for item in check.values
        ]
        alias = exp.TableAlias(this=_name("accepted"), columns=[_name("value")])
        accepted = exp.Values(expressions=rows, alias=alias)
        allowed = col("value", "accepted")
        listed = ", ".join(str(item) for item in check.values)
        body = self.failing(
            check,
            exp.Is(this=allowed, expression=exp.null()),
            f"is not one of {listed}",
            value,
            not_null=value,
        )
        compared = value if numeric else as_text(value)
        return body.join(accepted, on=exp.EQ(this=compared, expression=allowed), join_type="left")

    def outside_range(self, check: Range, value: exp.Expression, where: str) -> exp.Select:
        if check.min is None and check.max is None:
            raise RuleError(f"{_where(self.rule, where)}: give min, max or both.")
        breaks: list[exp.Expression] = []
        allowed: list[str] = []
        if check.min is not None:
            low = exp.LTE if check.exclusive_min else exp.LT
            breaks.append(low(this=value, expression=_number(check.min)))
            allowed.append(f"{'above' if check.exclusive_min else 'at least'} {check.min:g}")
        if check.max is not None:
            high = exp.GTE if check.exclusive_max else exp.GT
            breaks.append(high(this=value, expression=_number(check.max)))
            allowed.append(f"{'below' if check.exclusive_max else 'at most'} {check.max:g}")
        failing = exp.paren(exp.or_(*breaks)) if len(breaks) > 1 else breaks[0]
        says = f"is outside the allowed range ({' and '.join(allowed)})"
        return self.failing(check, failing, says, value, not_null=value)

    def reference(self, check: Reference, value: exp.Expression, where: str) -> exp.Select:
        target = check.to_column or check.column
        self.ctx.require(check.to, [target], where=_where(self.rule, f"{where}.to_column"))
        known = exp.select(col(target)).distinct().from_(table(check.to)).subquery(_name("known"))
        found = col(target, "known")
        body = self.failing(
            check,
            exp.Is(this=found, expression=exp.null()),
            f"is not a known {check.to} {target}",
            value,
            not_null=value,
        )
        return body.join(known, on=exp.EQ(this=value, expression=found), join_type="left")

    # --- shared by the checks --------------------------------------------------------

    def failing(
        self,
        check: Check,
        condition: exp.Expression,
        says: str,
        value: exp.Expression | None = None,
        *,
        not_null: exp.Expression | None = None,
    ) -> exp.Select:
        """One finding per row meeting `condition`; `not_null` skips rows where it is NULL."""
        field = _field_of(check)
        shown: list[str | exp.Expression] = [f"{field} "]
        if value is not None:
            shown += [value, " "]
        body = self.select(
            problem=check.check,
            key=key_text([(name, col(name, self.alias)) for name in self.key]),
            field=field,
            other_value=value,
            message=_sentence(*shown, says),
        )
        present = (
            [] if not_null is None else [exp.not_(exp.Is(this=not_null, expression=exp.null()))]
        )
        return body.where(*self.filters(), *present, condition)

    def select(
        self,
        *,
        problem: str,
        key: exp.Expression,
        field: str,
        other_value: exp.Expression | None,
        message: exp.Expression,
    ) -> exp.Select:
        body = body_select(
            problem=problem,
            key=key,
            field_name=field,
            systems=self.system,
            owner_system=self.ctx.owner(self.entity, field),
            owner_value=None,
            other_value=other_value,
            amount_at_risk=None,
            message=message,
        )
        return body.from_(table(self.rule.table, alias=self.alias))

    def filters(self) -> list[exp.Expression]:
        return [] if self.filter is None else [self.filter.copy()]

    def require(self, names: Sequence[str], key: str) -> None:
        self.ctx.require(self.rule.table, names, where=_where(self.rule, key))

    def expression(self, text: str, *, where: str) -> exp.Expression:
        """A user expression, checked against the table and read through its alias."""
        where = _where(self.rule, where)
        try:
            tree = parse_expression(text, where=where)
            check_columns(tree, self.columns, where=where, allow=PERIOD_NAMES)
        except ExpressionError as exc:
            raise RuleError(str(exc)) from exc
        tree = bind_period(tree, start=self.ctx.period_start, end=self.ctx.period_end)
        return tree.transform(
            lambda node: col(node.name, self.alias) if isinstance(node, exp.Column) else node
        )


def _where(rule: ValidateRule, key: str) -> str:
    return f"rule {rule.id!r} {key}"


def _name(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _text(value: str) -> exp.Literal:
    return exp.Literal.string(value)


def _number(value: float) -> exp.Literal:
    """An exact decimal literal, never in exponent form, so engines read it as DECIMAL."""
    return exp.Literal.number(format(Decimal(str(value)), "f"))


def _sentence(*parts: str | exp.Expression) -> exp.Expression:
    """Words and values joined into one message; a NULL value reads as NULL."""
    pieces = [
        _text(part)
        if isinstance(part, str)
        else exp.Coalesce(this=as_text(part), expressions=[_text("NULL")])
        for part in parts
        if not isinstance(part, str) or part
    ]
    return exp.Concat(expressions=pieces, safe=True)
