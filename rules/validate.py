"""Compile a validate rule: one finding for every row that breaks a check on its own table.

Table-wide checks (freshness, row count) live in `validate_table`; this module holds the
checks on single rows and the SELECT they share.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from tallyclerk.errors import ExpressionError, RuleError

from .findings import BODY_COLUMNS, CompileContext, body_select, in_one_scan, key_text
from .model import (
    AcceptedValues,
    AnyCheck,
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
from .sql import (
    PERIOD_NAMES,
    as_text,
    bind_period,
    check_columns,
    col,
    columns_of,
    is_not_null,
    is_null,
    name,
    number,
    parse_expression,
    sentence,
    table,
    text,
    where,
)
from .validate_table import freshness_sql, row_count_sql


def validate_sql(rule: ValidateRule, ctx: CompileContext) -> exp.Select:
    """Rows of `rule.table` failing any of the rule's checks, one finding per check and row."""
    key = rule_key(rule, ctx.columns(rule.table, where=where(rule.id, "table")))
    ctx.require(rule.table, key, where=where(rule.id, "key"))
    checked = Checked(rule, ctx, key)

    bodies = [checked.body(check, position) for position, check in enumerate(rule.checks)]
    on_rows = [body for body in bodies if _on_its_row(body)]
    if len(on_rows) > 1:
        bodies = [in_one_scan(on_rows), *(b for b in bodies if not _on_its_row(b))]
    failed = bodies[0] if len(bodies) == 1 else exp.union(*bodies, distinct=False)
    if ctx.unique(rule.table, key):
        # Each failing row is then a finding of its own: no two checks of a rule find one
        # problem on one field (the model refuses that), so none share a key, field and problem.
        return failed
    return _one_per_key(failed)


def rule_key(rule: ValidateRule, columns: Sequence[str]) -> list[str]:
    """The columns naming a row in the rule's findings: its key, or else the table's first."""
    return list(rule.key) if rule.key else [columns[0]]


def _on_its_row(body: exp.Select) -> bool:
    """Whether a check's SELECT judges each row of the table by its own values: it reads the
    table itself (not a count or a newest value of it), with no join and no grouping."""
    source = body.args.get("from_")
    return (
        source is not None
        and isinstance(source.this, exp.Table)
        and not body.args.get("joins")
        and not body.args.get("group")
        and body.args.get("where") is not None
    )


def _one_per_key(failed: exp.Query) -> exp.Select:
    """The first failing row per key, field and problem, since these make the finding id.

    A key that is not unique (the first column by default) can name several failing rows;
    the finding then says how many there are.
    """
    identity = [col(column) for column in ("problem", "key", "field")]
    rows = exp.Window(this=exp.Count(this=exp.Star()), partition_by=identity)
    first = exp.Window(
        this=exp.RowNumber(),
        partition_by=[column.copy() for column in identity],
        order=exp.Order(expressions=[exp.Ordered(this=col("other_value"), nulls_first=True)]),
    )
    numbered = exp.select(exp.Star(), rows.as_("rows", quoted=True), first.as_("nth", quoted=True))
    numbered = numbered.from_(failed.subquery(name("failed")))

    more = exp.GT(this=col("rows"), expression=number(1))
    message = (
        exp.case()
        .when(more, sentence(col("message"), " (", col("rows"), " rows with this key)"))
        .else_(col("message"))
    )
    columns = [
        message.as_(column, quoted=True) if column == "message" else col(column)
        for column in BODY_COLUMNS
    ]
    return (
        exp.select(*columns)
        .from_(numbered.subquery(name("numbered")))
        .where(exp.EQ(this=col("nth"), expression=number(1)))
    )


class Checked:
    """The table a validate rule reads, with what every check's SELECT shares."""

    def __init__(self, rule: ValidateRule, ctx: CompileContext, key: list[str]) -> None:
        self.rule = rule
        self.ctx = ctx
        self.key = key
        self.system, _, self.entity = rule.table.partition(".")
        self.alias = self.entity
        self.columns = list(ctx.columns(rule.table, where=where(rule.id, "table")))
        self.filter = None if rule.filter is None else self.expression(rule.filter, at="filter")

    def body(self, check: AnyCheck, position: int) -> exp.Select:
        at = f"checks[{position}]"
        if isinstance(check, Unique):
            return self.unique(check, at)
        if isinstance(check, Expression):
            return self.predicate(check, at)
        if isinstance(check, RowCount):
            return row_count_sql(self, check)
        self.require([check.column], f"{at}.column")
        if isinstance(check, Freshness):
            self.require(check.by, f"{at}.by")
            return freshness_sql(self, check)
        value = col(check.column, self.alias)
        if isinstance(check, NotNull):
            return self.failing(check, is_null(value), "has no value")
        if isinstance(check, AcceptedValues):
            return self.accepted_values(check, value)
        if isinstance(check, Range):
            return self.outside_range(check, value)
        if isinstance(check, Length):
            return self.wrong_length(check, value)
        if isinstance(check, Pattern):
            failing = exp.not_(exp.RegexpLike(this=as_text(value), expression=text(check.regex)))
            says = f"does not match the pattern {check.regex}"
            return self.failing(check, failing, says, value, not_null=value)
        return self.reference(check, value, at)

    # --- one method per check ---------------------------------------------------------

    def unique(self, check: Unique, at: str) -> exp.Select:
        self.require(check.columns, f"{at}.columns")
        values = [col(column, self.alias) for column in check.columns]
        count = exp.Count(this=exp.Star())
        field = field_of(check)
        body = self.select(
            problem="unique",
            key=key_text(list(zip(check.columns, values, strict=True))),
            field=field,
            other_value=count,
            message=sentence(f"{field} is not unique in {self.rule.table}: ", count, " rows"),
        )
        # SQL UNIQUE lets NULLs repeat; a missing value is the not_null check's finding.
        body = body.where(*self.filters(), *(is_not_null(value) for value in values))
        return body.group_by(*values).having(exp.GT(this=count, expression=number(1)))

    def predicate(self, check: Expression, at: str) -> exp.Select:
        tree = self.expression(check.predicate, at=f"{at}.predicate")
        # A predicate that is NULL has not been shown to hold, so the row fails.
        failing = exp.not_(exp.Coalesce(this=tree, expressions=[exp.false()]))
        read = [check.name] if check.name in self.columns else columns_of(tree)
        shown = col(read[0], self.alias) if read else None
        return self.failing(check, failing, f"fails the check: {check.predicate}", shown)

    def accepted_values(self, check: AcceptedValues, value: exp.Expression) -> exp.Select:
        # A join against an inline VALUES table stays one hash join however long the list,
        # where an IN list of thousands of values becomes thousands of comparisons.
        numeric = all(isinstance(item, int | float) for item in check.values)
        rows = [
            exp.Tuple(expressions=[number(item) if numeric else text(str(item))])
            for item in dict.fromkeys(check.values)
        ]
        alias = exp.TableAlias(this=name("accepted"), columns=[name("value")])
        accepted = exp.Values(expressions=rows, alias=alias)
        allowed = col("value", "accepted")
        listed = ", ".join(str(item) for item in check.values[:10])
        if len(check.values) > 10:
            listed += f" or {len(check.values) - 10} other accepted values"
        body = self.failing(
            check, is_null(allowed), f"is not one of {listed}", value, not_null=value
        )
        compared = value if numeric else as_text(value)
        return body.join(accepted, on=exp.EQ(this=compared, expression=allowed), join_type="left")

    def outside_range(self, check: Range, value: exp.Expression) -> exp.Select:
        breaks: list[exp.Expression] = []
        allowed: list[str] = []
        if check.min is not None:
            low = exp.LTE if check.exclusive_min else exp.LT
            breaks.append(low(this=value, expression=number(check.min)))
            allowed.append(f"{'above' if check.exclusive_min else 'at least'} {check.min:g}")
        if check.max is not None:
            high = exp.GTE if check.exclusive_max else exp.GT
            breaks.append(high(this=value.copy(), expression=number(check.max)))
            allowed.append(f"{'below' if check.exclusive_max else 'at most'} {check.max:g}")
        says = f"is outside the allowed range ({' and '.join(allowed)})"
        return self.failing(check, _any(breaks), says, value, not_null=value)

    def wrong_length(self, check: Length, value: exp.Expression) -> exp.Select:
        length = exp.Length(this=as_text(value))
        breaks: list[exp.Expression] = []
        allowed: list[str] = []
        if check.min is not None:
            breaks.append(exp.LT(this=length, expression=number(check.min)))
            allowed.append(f"at least {check.min}")
        if check.max is not None:
            breaks.append(exp.GT(this=length.copy(), expression=number(check.max)))
            allowed.append(f"at most {check.max}")
        says = f"has a length outside {' and '.join(allowed)} characters"
        return self.failing(check, _any(breaks), says, value, not_null=value)

    def reference(self, check: Reference, value: exp.Expression, at: str) -> exp.Select:
        target = check.to_column or check.column
        self.ctx.require(check.to, [target], where=where(self.rule.id, f"{at}.to_column"))
        known = exp.select(col(target)).distinct().from_(table(check.to)).subquery(name("known"))
        found = col(target, "known")
        says = f"is not a known {check.to} {target}"
        body = self.failing(check, is_null(found), says, value, not_null=value)
        return body.join(known, on=exp.EQ(this=value, expression=found), join_type="left")

    # --- shared by the checks --------------------------------------------------------

    def failing(
        self,
        check: AnyCheck,
        condition: exp.Expression,
        says: str,
        value: exp.Expression | None = None,
        *,
        not_null: exp.Expression | None = None,
    ) -> exp.Select:
        """One finding per row meeting `condition`; `not_null` skips rows where it is NULL."""
        field = field_of(check)
        shown: list[str | exp.Expression] = [f"{field} "]
        if value is not None:
            shown += [value, " "]
        body = self.select(
            problem=check.check,
            key=key_text([(column, col(column, self.alias)) for column in self.key]),
            field=field,
            other_value=value,
            message=sentence(*shown, says),
        )
        present = [] if not_null is None else [is_not_null(not_null)]
        return body.where(*self.filters(), *present, condition)

    def select(
        self,
        *,
        problem: str,
        key: exp.Expression | str,
        field: str,
        other_value: exp.Expression | None,
        message: exp.Expression,
    ) -> exp.Select:
        body = body_select(
            problem=problem,
            key=key if isinstance(key, exp.Expression) else text(key),
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
        self.ctx.require(self.rule.table, names, where=where(self.rule.id, key))

    def expression(self, source: str, *, at: str) -> exp.Expression:
        """A user expression, checked against the table and read through its alias."""
        place = where(self.rule.id, at)
        try:
            tree = parse_expression(source, where=place)
            check_columns(tree, self.columns, where=place, allow=PERIOD_NAMES)
        except ExpressionError as exc:
            raise RuleError(str(exc)) from exc
        tree = bind_period(tree, start=self.ctx.period_start, end=self.ctx.period_end)
        return tree.transform(
            lambda node: col(node.name, self.alias) if isinstance(node, exp.Column) else node
        )


def _any(conditions: list[exp.Expression]) -> exp.Expression:
    return exp.paren(exp.or_(*conditions)) if len(conditions) > 1 else conditions[0]
