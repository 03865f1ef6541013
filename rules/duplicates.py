"""Compile a duplicates rule: one thing recorded twice in one system, by exact key or by name."""

from __future__ import annotations

from decimal import Decimal

from sqlglot import exp

from .findings import BODY_COLUMNS, CompileContext, body_select, key_text
from .model import DuplicatesRule, NearDuplicates
from .sql import as_text, col, table

_CANDIDATES = "candidates"
_PAIRS = "pairs"
_LOWER, _HIGHER = "lower", "higher"


def duplicates_sql(rule: DuplicatesRule, ctx: CompileContext) -> exp.Select:
    """Keys recorded more than once and, when asked, pairs of records that look alike."""
    ctx.require(rule.table, rule.key, where=_where(rule, "key"))
    exact = _exact_sql(rule, ctx)
    if rule.near is None:
        return exact

    near = rule.near
    ctx.require(rule.table, near.block, where=_where(rule, "near.block"))
    ctx.require(rule.table, [near.compare], where=_where(rule, "near.compare"))
    union = exp.union(exact, _near_sql(rule, ctx, near), distinct=False)
    query = exp.select(*(col(name) for name in BODY_COLUMNS)).from_(
        union.subquery(_name("duplicates"))
    )
    query = query.with_(_name(_CANDIDATES), as_=_candidates_sql(rule, near))
    return query.with_(_name(_PAIRS), as_=_pairs_sql(rule, near))


def _exact_sql(rule: DuplicatesRule, ctx: CompileContext) -> exp.Select:
    system, _, entity = rule.table.partition(".")
    keys = [col(name) for name in rule.key]
    count = exp.Count(this=exp.Star())
    key = key_text([(name, col(name)) for name in rule.key])
    field = "+".join(rule.key)
    body = body_select(
        problem="duplicate_key",
        key=key,
        field_name=field,
        systems=system,
        owner_system=ctx.owner(entity, field),
        owner_value=None,
        other_value=count,
        amount_at_risk=None,
        message=_sentence(f"{system} has ", count, f" {entity} records with this key"),
    )
    # A record without a key is a not_null finding of a validate rule, not a duplicate.
    body = body.from_(table(rule.table)).where(*(_is_not_null(key) for key in keys))
    return body.group_by(*(key.copy() for key in keys)).having(
        exp.GT(this=count, expression=exp.Literal.number(1))
    )


# --- near duplicates ----------------------------------------------------------------


def _candidates_sql(rule: DuplicatesRule, near: NearDuplicates) -> exp.Select:
    """Each distinct record's key, block and compared value, with the value normalised."""
    names = list(dict.fromkeys([*rule.key, *near.block, near.compare]))
    compared = col(near.compare)
    return (
        exp.select(
            *(col(name) for name in names), _normalised(compared).as_("normalised", quoted=True)
        )
        .distinct()
        .from_(table(rule.table))
        .where(*(_is_not_null(col(name)) for name in [*rule.key, near.compare]))
    )


def _pairs_sql(rule: DuplicatesRule, near: NearDuplicates) -> exp.Select:
    """Pairs of records in one block, each pair once, with the edit distance of their values."""
    lower, higher = (col("normalised", side) for side in (_LOWER, _HIGHER))
    distance = exp.Levenshtein(this=lower, expression=higher)
    longest = exp.Greatest(
        this=exp.Length(this=lower.copy()), expressions=[exp.Length(this=higher.copy())]
    )
    pair_keys = [col(name, side) for side in (_LOWER, _HIGHER) for name in rule.key]
    best_first = exp.Order(
        expressions=[
            exp.Ordered(this=distance.copy() / longest.copy()),
            exp.Ordered(this=col(near.compare, _LOWER)),
            exp.Ordered(this=col(near.compare, _HIGHER)),
        ]
    )
    same_block = [
        exp.EQ(this=col(name, _LOWER), expression=col(name, _HIGHER)) for name in near.block
    ]
    # Empty values would divide by a zero length, and say nothing about likeness anyway.
    filled = [
        exp.NEQ(this=value.copy(), expression=exp.Literal.string("")) for value in (lower, higher)
    ]
    return (
        exp.select(
            *(
                col(name, side).as_(f"{side}__{name}", quoted=True)
                for side in (_LOWER, _HIGHER)
                for name in rule.key
            ),
            col(near.compare, _LOWER).as_("lower_value", quoted=True),
            col(near.compare, _HIGHER).as_("higher_value", quoted=True),
            distance.as_("distance", quoted=True),
            longest.as_("longest", quoted=True),
            exp.Window(this=exp.RowNumber(), partition_by=pair_keys, order=best_first).as_(
                "nth", quoted=True
            ),
        )
        .from_(exp.Table(this=_name(_CANDIDATES)).as_(_LOWER, quoted=True))
        .join(
            exp.Table(this=_name(_CANDIDATES)).as_(_HIGHER, quoted=True),
            on=exp.and_(*same_block, _key_before(rule.key)),
            join_type="inner",
        )
        .where(*filled)
    )


def _near_sql(rule: DuplicatesRule, ctx: CompileContext, near: NearDuplicates) -> exp.Select:
    system, _, entity = rule.table.partition(".")
    key = key_text(
        [
            (
                name,
                exp.Concat(
                    expressions=[
                        as_text(col(f"{_LOWER}__{name}")),
                        exp.Literal.string("|"),
                        as_text(col(f"{_HIGHER}__{name}")),
                    ],
                    safe=True,
                ),
            )
            for name in rule.key
        ]
    )
    similarity = exp.Sub(this=exp.Literal.number(1), expression=col("distance") / col("longest"))
    body = body_select(
        problem="near_duplicate",
        key=key,
        field_name=near.compare,
        systems=system,
        owner_system=ctx.owner(entity, near.compare),
        owner_value=col("lower_value"),
        other_value=col("higher_value"),
        amount_at_risk=None,
        message=_sentence(
            f"{system} {entity} {near.compare}s ",
            col("lower_value"),
            " and ",
            col("higher_value"),
            " are ",
            exp.Round(this=similarity, decimals=exp.Literal.number(3)),
            f" alike; they may be one {entity}",
        ),
    )
    # similarity >= threshold, written without division so the boundary is exact.
    allowed = exp.Mul(
        this=_number(Decimal(1) - Decimal(str(near.threshold))), expression=col("longest")
    )
    return body.from_(exp.Table(this=_name(_PAIRS))).where(
        exp.EQ(this=col("nth"), expression=exp.Literal.number(1)),
        exp.LTE(this=col("distance"), expression=allowed),
    )


def _key_before(key: list[str]) -> exp.Expression:
    """The lower record's key sorts before the higher one's, column by column."""
    orders = []
    for position, name in enumerate(key):
        equal_before = [
            exp.EQ(this=col(prior, _LOWER), expression=col(prior, _HIGHER))
            for prior in key[:position]
        ]
        orders.append(
            exp.and_(*equal_before, exp.LT(this=col(name, _LOWER), expression=col(name, _HIGHER)))
        )
    return exp.paren(exp.or_(*orders)) if len(orders) > 1 else orders[0]


def _normalised(value: exp.Expression) -> exp.Expression:
    """Lower case, letters, digits and single spaces only, trimmed."""
    text = exp.Lower(this=as_text(value))
    text = _replace_all(text, r"[^\p{L}\p{N}\s]", "")
    return exp.Trim(this=_replace_all(text, r"\s+", " "))


def _replace_all(text: exp.Expression, pattern: str, replacement: str) -> exp.Expression:
    return exp.RegexpReplace(
        this=text,
        expression=exp.Literal.string(pattern),
        replacement=exp.Literal.string(replacement),
        modifiers=exp.Literal.string("g"),
    )


def _is_not_null(value: exp.Expression) -> exp.Expression:
    return exp.not_(exp.Is(this=value, expression=exp.null()))


def _where(rule: DuplicatesRule, key: str) -> str:
    return f"rule {rule.id!r} {key}"


def _name(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _number(value: float | Decimal) -> exp.Literal:
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
