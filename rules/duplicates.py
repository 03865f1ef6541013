"""Compile a duplicates rule: one thing recorded twice in one system, by exact key or by name.

Near duplicates are found as pairs in SQL: records that agree on any blocking key (tax id,
postcode, phone, normalised) and whose names are alike. `clusters` then joins the pairs
into clusters, one finding per cluster, since grouping pairs needs a loop SQL lacks.
"""

from __future__ import annotations

from decimal import Decimal

from sqlglot import exp

from tallyclerk.errors import RuleError

from .findings import BODY_COLUMNS, CompileContext, body_select, key_text
from .keys import NUMERIC
from .model import DuplicatesRule, NearDuplicates
from .similarity import JARO_WINKLER_DIALECTS, jaro_winkler
from .sql import (
    as_text,
    col,
    cte,
    is_not_null,
    name,
    number,
    replace_all,
    sentence,
    table,
    text,
    where,
)

_CANDIDATES = "candidates"
_PAIRS = "pairs"
_LOWER, _HIGHER = "lower", "higher"
# Separates the parts of a composite key inside one member column; never in a real key.
MEMBER_SEPARATOR = "\x1f"
# Columns a near-duplicates query adds to the findings, read and dropped by `clusters`.
MEMBER_COLUMNS = ("lower_member", "higher_member", "lower_rank", "higher_rank", "similarity")


def duplicates_sql(rule: DuplicatesRule, ctx: CompileContext) -> exp.Select:
    """Keys recorded more than once and, when asked, pairs of records that look alike."""
    ctx.require(rule.table, rule.key, where=where(rule.id, "key"))
    exact = _exact_sql(rule, ctx)
    if rule.near is None:
        return exact

    near = rule.near
    if near.similarity == "jaro_winkler" and ctx.dialect not in JARO_WINKLER_DIALECTS:
        raise RuleError(
            f"{where(rule.id, 'near.similarity')}: {ctx.dialect} has no Jaro-Winkler "
            "similarity; use similarity: levenshtein there."
        )
    for position, block in enumerate(near.blocking_keys()):
        ctx.require(rule.table, block, where=where(rule.id, f"near.block[{position}]"))
    ctx.require(rule.table, [near.compare], where=where(rule.id, "near.compare"))
    ctx.require(rule.table, near.veto, where=where(rule.id, "near.veto"))
    members = [exp.cast(exp.null(), _member_type(c)).as_(c, quoted=True) for c in MEMBER_COLUMNS]
    union = exp.union(exact.select(*members), _near_sql(rule, ctx, near), distinct=False)
    query = exp.select(*(col(c) for c in (*BODY_COLUMNS, *MEMBER_COLUMNS))).from_(
        union.subquery(name("duplicates"))
    )
    query = query.with_(name(_CANDIDATES), as_=_candidates_sql(rule, near, ctx.dialect))
    return query.with_(name(_PAIRS), as_=_pairs_sql(rule, near, ctx.dialect))


def _member_type(column: str) -> exp.DataType:
    if column.endswith("rank"):
        return exp.DataType.build("BIGINT")
    if column == "similarity":
        return exp.DataType.build("DOUBLE")
    return exp.DataType.build("VARCHAR")


def _exact_sql(rule: DuplicatesRule, ctx: CompileContext) -> exp.Select:
    system, _, entity = rule.table.partition(".")
    keys = [col(column) for column in rule.key]
    count = exp.Count(this=exp.Star())
    field = "+".join(rule.key)
    amount = None
    if rule.money_field is not None:
        ctx.require(rule.table, [rule.money_field], where=where(rule.id, "money_field"))
        money = exp.cast(col(rule.money_field), NUMERIC)
        # Every record but the largest is money paid or billed once too often.
        amount = exp.Sub(this=exp.Sum(this=money), expression=exp.Max(this=money.copy()))
    body = body_select(
        problem="duplicate_key",
        key=key_text([(column, col(column)) for column in rule.key]),
        field_name=field,
        systems=system,
        owner_system=ctx.owner(entity, field),
        owner_value=None,
        other_value=count,
        amount_at_risk=amount,
        message=sentence(f"{system} has ", count, f" {entity} records with this key"),
    )
    # A record without a key is a not_null finding of a validate rule, not a duplicate.
    body = body.from_(table(rule.table)).where(*(is_not_null(key) for key in keys))
    return body.group_by(*(key.copy() for key in keys)).having(
        exp.GT(this=count.copy(), expression=number(1))
    )


# --- near duplicates ----------------------------------------------------------------


def _candidates_sql(rule: DuplicatesRule, near: NearDuplicates, dialect: str) -> exp.Select:
    """Each distinct record: key, rank in key order, blocking values and compared value."""
    blocks = list(dict.fromkeys(c for block in near.blocking_keys() for c in block))
    blocks += [column for column in near.veto if column not in blocks]
    rank = exp.Window(
        this=exp.DenseRank(),
        order=exp.Order(expressions=[exp.Ordered(this=col(c)) for c in rule.key]),
    )
    return (
        exp.select(
            *(col(column) for column in rule.key),
            *(
                _blocking(col(column), dialect).as_(_block(column), quoted=True)
                for column in blocks
            ),
            col(near.compare),
            _normalised(col(near.compare), near.ignore_words, dialect).as_(
                "normalised", quoted=True
            ),
            rank.as_("rank", quoted=True),
        )
        .from_(table(rule.table))
        .where(*(is_not_null(col(column)) for column in [*rule.key, near.compare]))
        .distinct()
    )


def _pairs_sql(rule: DuplicatesRule, near: NearDuplicates, dialect: str) -> exp.Select:
    """Pairs of records sharing any blocking key, each pair once, with its best similarity."""
    lower, higher = (col("normalised", side) for side in (_LOWER, _HIGHER))
    distance = exp.Levenshtein(this=lower, expression=higher)
    longest = exp.Greatest(
        this=exp.Length(this=lower.copy()), expressions=[exp.Length(this=higher.copy())]
    )
    if near.similarity == "jaro_winkler":
        similarity: exp.Expression = jaro_winkler(lower.copy(), higher.copy(), dialect)
    else:
        similarity = exp.Sub(
            this=number(1),
            expression=exp.Div(this=exp.cast(distance.copy(), "DOUBLE"), expression=longest),
        )
    pair_keys = [col(column, side) for side in (_LOWER, _HIGHER) for column in rule.key]
    best_first = exp.Order(
        expressions=[
            exp.Ordered(this=similarity.copy(), desc=True),
            exp.Ordered(this=col(near.compare, _LOWER)),
            exp.Ordered(this=col(near.compare, _HIGHER)),
        ]
    )
    same_block = exp.or_(
        *(
            exp.paren(
                exp.and_(
                    *(
                        exp.EQ(this=col(_block(c), _LOWER), expression=col(_block(c), _HIGHER))
                        for c in block
                    )
                )
            )
            for block in near.blocking_keys()
        )
    )
    # Empty values would divide by a zero length, and say nothing about likeness anyway.
    filled = [exp.NEQ(this=value.copy(), expression=text("")) for value in (lower, higher)]
    vetoed = [
        exp.not_(
            exp.paren(
                exp.and_(
                    is_not_null(col(_block(column), _LOWER)),
                    is_not_null(col(_block(column), _HIGHER)),
                    exp.NEQ(
                        this=col(_block(column), _LOWER), expression=col(_block(column), _HIGHER)
                    ),
                )
            )
        )
        for column in near.veto
    ]
    return (
        exp.select(
            *(_member(rule, side).as_(f"{side}_member", quoted=True) for side in (_LOWER, _HIGHER)),
            *(col("rank", side).as_(f"{side}_rank", quoted=True) for side in (_LOWER, _HIGHER)),
            col(near.compare, _LOWER).as_("lower_value", quoted=True),
            col(near.compare, _HIGHER).as_("higher_value", quoted=True),
            *(
                col(column, side).as_(f"{side}__{column}", quoted=True)
                for side in (_LOWER, _HIGHER)
                for column in rule.key
            ),
            distance.as_("distance", quoted=True),
            longest.copy().as_("longest", quoted=True),
            similarity.as_("similarity", quoted=True),
            exp.Window(this=exp.RowNumber(), partition_by=pair_keys, order=best_first).as_(
                "nth", quoted=True
            ),
        )
        .from_(cte(_CANDIDATES).as_(_LOWER, quoted=True))
        .join(
            cte(_CANDIDATES).as_(_HIGHER, quoted=True),
            on=exp.and_(
                exp.LT(this=col("rank", _LOWER), expression=col("rank", _HIGHER)),
                exp.paren(same_block),
            ),
            join_type="inner",
        )
        .where(*filled, *vetoed)
    )


def _similarity(dialect: str) -> exp.Expression:
    # PostgreSQL rounds to a number of decimals only numerics, not double precision.
    if dialect == "postgres":
        return exp.cast(col("similarity"), exp.DataType.build("NUMERIC"))
    return col("similarity")


def _near_sql(rule: DuplicatesRule, ctx: CompileContext, near: NearDuplicates) -> exp.Select:
    system, _, entity = rule.table.partition(".")
    key = key_text(
        [
            (
                column,
                exp.Concat(
                    expressions=[
                        as_text(col(f"{_LOWER}__{column}")),
                        text("|"),
                        as_text(col(f"{_HIGHER}__{column}")),
                    ],
                    safe=True,
                ),
            )
            for column in rule.key
        ]
    )
    body = body_select(
        problem="near_duplicate",
        key=key,
        field_name=near.compare,
        systems=system,
        owner_system=ctx.owner(entity, near.compare),
        owner_value=col("lower_value"),
        other_value=col("higher_value"),
        amount_at_risk=None,
        message=sentence(
            f"{system} {entity} {near.compare}s ",
            col("lower_value"),
            " and ",
            col("higher_value"),
            " are ",
            exp.Round(this=_similarity(ctx.dialect), decimals=exp.Literal.number(3)),
            f" alike; they may be one {entity}",
        ),
    )
    body = body.select(*(col(column) for column in MEMBER_COLUMNS))
    return body.from_(cte(_PAIRS)).where(
        exp.EQ(this=col("nth"), expression=number(1)), _alike(near)
    )


def _alike(near: NearDuplicates) -> exp.Expression:
    if near.similarity == "jaro_winkler":
        return exp.GTE(this=col("similarity"), expression=number(near.threshold))
    # similarity >= threshold, written without division so the boundary is exact.
    allowed = exp.Mul(
        this=number(Decimal(1) - Decimal(str(near.threshold))), expression=col("longest")
    )
    return exp.LTE(this=col("distance"), expression=allowed)


def _member(rule: DuplicatesRule, side: str) -> exp.Expression:
    """One record's key as text, its parts separated by MEMBER_SEPARATOR."""
    parts: list[exp.Expression] = []
    for position, column in enumerate(rule.key):
        if position:
            parts.append(text(MEMBER_SEPARATOR))
        parts.append(as_text(col(column, side)))
    return parts[0] if len(parts) == 1 else exp.Concat(expressions=parts, safe=True)


def _blocking(value: exp.Expression, dialect: str) -> exp.Expression:
    """Upper case letters and digits only: `10115 `, `DE-123` and `de 123` block alike.

    An empty result is NULL, so records without the value are never blocked together.
    """
    kept = replace_all(exp.Upper(this=as_text(value)), f"[^{_alnum(dialect)}]", "")
    return exp.Nullif(this=kept, expression=text(""))


def _normalised(value: exp.Expression, ignore_words: list[str], dialect: str) -> exp.Expression:
    """Lower case, letters, digits and single spaces only, without the ignored words, trimmed."""
    lowered = replace_all(exp.Lower(this=as_text(value)), rf"[^{_alnum(dialect)}\s]", "")
    if ignore_words:
        edge = _WORD_EDGE.get(dialect, r"\b")
        lowered = replace_all(lowered, f"{edge}({'|'.join(ignore_words)}){edge}", " ")
    return exp.Trim(this=replace_all(lowered, r"\s+", " "))


# Regular expressions differ: RE2 (DuckDB) and Java (Spark) know Unicode classes and \b,
# Postgres and Snowflake POSIX classes, and Postgres marks a word's edge with \y.
_WORD_EDGE = {"postgres": r"\y"}


def _alnum(dialect: str) -> str:
    return "[:alnum:]" if dialect in ("postgres", "snowflake") else r"\p{L}\p{N}"


def _block(column: str) -> str:
    return f"block__{column}"
