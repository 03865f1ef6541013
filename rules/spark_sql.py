"""Compiled rules as Spark SQL with DuckDB's meaning, where the two engines differ in ways
the compilers cannot see: how an instant reads as text, how a moment becomes seconds, and
where NULLs sort. The Spark backend runs this SQL, and `rules sql --dialect spark` shows it.
"""

from __future__ import annotations

from sqlglot import exp


def for_spark(select: exp.Expression) -> exp.Expression:
    """The compiled query rewritten to mean in Spark what it means in DuckDB."""
    return select.copy().transform(_as_duckdb_means)


def spark_sql(select: exp.Expression) -> str:
    """The compiled query as the Spark SQL the Spark backend runs."""
    return for_spark(select).sql(dialect="spark")


def _as_duckdb_means(node: exp.Expression) -> exp.Expression:
    # A node replaced here is not walked further, so its operand is rewritten first.
    if isinstance(node, exp.TimeToUnix):
        # DuckDB's epoch() keeps fractions of a second; Spark's unix_timestamp drops them.
        moment = node.this.transform(_as_duckdb_means)
        micros = exp.Anonymous(this="unix_micros", expressions=[moment])
        return exp.Div(this=micros, expression=exp.Literal.number("1000000.0"))
    if isinstance(node, exp.Cast) and node.to.is_type(*exp.DataType.TEXT_TYPES):
        return _text_with_offset(node)
    # DuckDB sorts NULLs last in both directions; Spark first when ascending.
    if isinstance(node, exp.Ordered) and node.args.get("nulls_first") is None:
        node.set("nulls_first", False)
    return node


def _text_with_offset(node: exp.Cast) -> exp.Expression:
    """An instant as text with its offset, as DuckDB writes it ('2026-11-03 10:00:00+00');
    Spark writes none. Values that cannot be instants are cast as they are."""
    value = node.this.transform(_as_duckdb_means)
    cast = exp.Cast(this=value, to=node.to.copy())
    if isinstance(value, _NEVER_INSTANTS) or _is_null_cast(value):
        return cast
    if isinstance(value, exp.Cast) and not value.to.is_type(*_INSTANT_TYPES):
        return cast
    kind = exp.Anonymous(this="typeof", expressions=[value.copy()])
    with_offset = exp.Concat(expressions=[cast.copy(), exp.Literal.string("+00")])
    return (
        exp.case()
        .when(exp.EQ(this=kind, expression=exp.Literal.string("timestamp")), with_offset)
        .else_(cast)
    )


# Expressions whose value is never an instant, so their text needs no offset.
_NEVER_INSTANTS = (
    exp.Literal,
    exp.Null,
    exp.Concat,
    exp.Count,
    exp.Sum,
    exp.Predicate,
    exp.Connector,
    exp.Length,
    exp.Lower,
    exp.Upper,
    exp.Trim,
    exp.RegexpReplace,
    exp.Round,
    exp.Abs,
    exp.MD5,
    exp.Translate,
    exp.Levenshtein,
)
_INSTANT_TYPES = (exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIMESTAMPLTZ)


def _is_null_cast(value: exp.Expression) -> bool:
    return isinstance(value, exp.Null) or (
        isinstance(value, exp.Cast) and isinstance(value.this, exp.Null)
    )
