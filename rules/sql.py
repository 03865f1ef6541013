"""SQL building blocks shared by the rule compilers and the source mappings.

User-written SQL only ever enters as a single expression that sqlglot parses and
this module checks: no queries, no statements, no functions that touch files.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlglot
from sqlglot import exp

from tallyclerk.errors import ExpressionError

READ_DIALECT = "duckdb"

# Functions sqlglot does not model but that are pure and useful in mappings.
_SAFE_ANONYMOUS = frozenset(
    {"strip_accents", "nfc_normalize", "jaro_winkler_similarity", "damerau_levenshtein"}
)

_FORBIDDEN = (
    exp.Query,
    exp.Subquery,
    exp.DDL,
    exp.DML,
    exp.Command,
    exp.Block,
    exp.Pragma,
    exp.Transaction,
    exp.Set,
    exp.Use,
    exp.Copy,
    exp.Attach,
    exp.Table,
    exp.Star,
    exp.Placeholder,
    exp.Parameter,
)

# Names a rule may use for the bounds of the period it runs over.
PERIOD_NAMES = ("period_start", "period_end")


def parse_expression(text: str | int | float, *, where: str) -> exp.Expression:
    """Parse one SQL expression written by a user, refusing anything unsafe.

    `where` names the place in the configuration, for the error message.
    """
    source = str(text)
    try:
        tree = sqlglot.parse_one(source, read=READ_DIALECT)
    except sqlglot.errors.ParseError as exc:
        reason = exc.errors[0]["description"] if exc.errors else str(exc)
        raise ExpressionError(
            f"{where}: cannot parse SQL expression {source!r}: {reason}. "
            "Write one expression, for example \"ltrim(ItemNumber, '0')\"."
        ) from exc
    if tree is None:
        raise ExpressionError(f"{where}: the SQL expression is empty.")
    for node in tree.walk():
        _refuse_unsafe(node, source=source, where=where)
    return tree


def _refuse_unsafe(node: exp.Expression, *, source: str, where: str) -> None:
    name = type(node).__name__
    if isinstance(node, (exp.AggFunc, exp.Window)):
        raise ExpressionError(
            f"{where}: {source!r} is not allowed: {node.sql(READ_DIALECT)} works across rows; "
            "write an expression over one row's columns (the rule does the grouping)."
        )
    if isinstance(node, exp.Alias):
        raise ExpressionError(
            f"{where}: {source!r} is not allowed: drop the alias ({node.sql(READ_DIALECT)}); "
            "the name comes from the configuration key."
        )
    if isinstance(node, _FORBIDDEN) or name.startswith("Read"):
        raise ExpressionError(
            f"{where}: {source!r} is not allowed: it contains {_describe(node)}. "
            "Only single-row expressions over the row's own columns are accepted."
        )
    if isinstance(node, exp.Anonymous) and node.name.lower() not in _SAFE_ANONYMOUS:
        raise ExpressionError(
            f"{where}: {source!r} calls the unknown function {node.name}(). "
            "Use a standard SQL function, or one of: " + ", ".join(sorted(_SAFE_ANONYMOUS)) + "."
        )


def _describe(node: exp.Expression) -> str:
    if isinstance(node, (exp.Query, exp.Subquery)):
        return "a subquery"
    if isinstance(node, exp.Table):
        return f"a table reference ({node.sql()})"
    if isinstance(node, exp.Block):
        return "more than one statement"
    return f"a {type(node).__name__.upper()} statement or clause"


def columns_of(tree: exp.Expression) -> list[str]:
    """Names of the columns an expression reads, in order of first use."""
    seen: dict[str, None] = {}
    for column in tree.find_all(exp.Column):
        seen.setdefault(column.name, None)
    return list(seen)


def check_columns(
    tree: exp.Expression, available: Iterable[str], *, where: str, allow: Iterable[str] = ()
) -> None:
    """Raise naming the first column the expression reads that is not available."""
    known = set(available) | set(allow)
    for name in columns_of(tree):
        if name not in known:
            raise ExpressionError(
                f"{where}: unknown column {name!r}; available columns are: "
                + ", ".join(sorted(set(available)))
                + "."
            )


def bind_period(tree: exp.Expression, *, start: str, end: str) -> exp.Expression:
    """Replace `period_start` and `period_end` with timestamp literals."""
    bounds = {"period_start": start, "period_end": end}

    def replace(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name in bounds:
            return exp.cast(exp.Literal.string(bounds[node.name]), exp.DataType.Type.TIMESTAMPTZ)
        return node

    return tree.transform(replace)


def table_name(ref: str) -> str:
    """The name a snapshot `system.entity` is registered under in a backend."""
    system, _, entity = ref.partition(".")
    return f"{system}__{entity}"


def table(ref: str, *, alias: str | None = None) -> exp.Table:
    """A quoted table node for the snapshot `system.entity`."""
    node = exp.to_table(exp.to_identifier(table_name(ref), quoted=True).sql(READ_DIALECT))
    return node.as_(alias, quoted=True) if alias else node


def col(name: str, source: str | None = None) -> exp.Column:
    """A quoted column, optionally qualified by a table alias."""
    return exp.column(name, table=source, quoted=True)


def as_text(value: exp.Expression) -> exp.Expression:
    """Cast to text for the owner/other value columns of a finding."""
    return exp.cast(value, exp.DataType.Type.VARCHAR)
