"""SQL building blocks shared by the rule compilers and the source mappings.

User-written SQL only ever enters as a single expression that sqlglot parses and
this module checks: no queries, no statements, no functions that touch files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from tallyclerk.errors import ExpressionError, sql_error_reason

READ_DIALECT = "duckdb"

# Functions sqlglot does not model but that are pure and useful in mappings.
_SAFE_ANONYMOUS = frozenset(
    {"strip_accents", "nfc_normalize", "jaro_winkler_similarity", "damerau_levenshtein"}
)

# Names a user may write for the current moment; a rule reads them as the period's cut-off.
_NOW_FUNCTIONS = frozenset({"now", "get_current_timestamp", "transaction_timestamp"})

# Prefixes of DuckDB, Spark and Postgres functions that read files, URLs or other databases.
_READERS = (
    "read_",
    "scan_",
    "parquet_",
    "csv_",
    "json_",
    "sniff_",
    "glob",
    "query",
    "iceberg_",
    "delta_",
    "postgres_",
    "mysql_",
    "sqlite_",
    "pg_read",
    "lo_",
    "dblink",
)

# Node types that are part of an expression without being a value themselves.
_PARTS = (exp.Identifier, exp.DataType, exp.DataTypeParam, exp.Var, exp.Interval)

_STATEMENTS = (
    exp.DDL,
    exp.DML,
    exp.Command,
    exp.Pragma,
    exp.Transaction,
    exp.Set,
    exp.Use,
    exp.Copy,
    exp.Attach,
    exp.Detach,
    exp.Install,
)

# Names a rule may use for the bounds of the period it runs over.
PERIOD_NAMES = ("period_start", "period_end")

# A token that could be a column's name if it were not a keyword.
_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_expression(text: str | int | float, *, where: str) -> exp.Expression:
    """Parse one SQL expression written by a user, refusing anything unsafe.

    `where` names the place in the configuration, for the error message.
    """
    source = str(text)
    try:
        tree = sqlglot.parse_one(source, read=READ_DIALECT)
    except sqlglot.errors.SqlglotError as exc:
        raise ExpressionError(_parse_failure(source, exc, where=where)) from exc
    if tree is None:
        raise ExpressionError(f"{where}: the SQL expression is empty.")
    _check_safe(tree, source=source, where=where)
    return tree.transform(_now_as_current_timestamp)


def _check_safe(tree: exp.Expression, *, source: str, where: str) -> None:
    """Raise naming the first part of a user expression that it may not hold."""
    for node in tree.walk():
        reason = _unsafe(node)
        if reason:
            raise ExpressionError(
                f"{where}: {source!r} is not allowed: it contains {reason}. "
                "Only single-row expressions over the row's own columns are accepted."
            )
        if isinstance(node, exp.Anonymous) and node.name.lower() not in _SAFE_ANONYMOUS:
            if node.name.lower() in _NOW_FUNCTIONS and not node.expressions:
                continue
            if node.name.lower().startswith(_READERS):
                raise ExpressionError(
                    f"{where}: {source!r} is not allowed: it contains a function reading files, "
                    f"URLs or other databases ({node.name}). Only single-row expressions over "
                    "the row's own columns are accepted."
                )
            raise ExpressionError(
                f"{where}: {source!r} calls the unknown function {node.name}(). Use a standard "
                "SQL function, or one of: " + ", ".join(sorted(_SAFE_ANONYMOUS)) + "."
            )


def _parse_failure(source: str, exc: Exception, *, where: str) -> str:
    """Say why an expression does not parse; a column named like an SQL keyword is the
    usual reason, and quoting it is the fix."""
    for word, quoted in _keywords_quoted(source):
        try:
            _check_safe(sqlglot.parse_one(quoted, read=READ_DIALECT), source=quoted, where=where)
        except (sqlglot.errors.SqlglotError, ExpressionError):
            continue
        return (
            f"{where}: cannot parse SQL expression {source!r}: {word} is a reserved word in "
            f"SQL; to read the source column {word}, quote its name: {quoted!r}."
        )
    return (
        f"{where}: cannot parse SQL expression {source!r}: {sql_error_reason(exc)}. "
        "Write one expression, for example \"ltrim(ItemNumber, '0')\"."
    )


def _keywords_quoted(source: str) -> list[tuple[str, str]]:
    """The expression with one of its keywords quoted as a name, for each keyword in it."""
    try:
        tokens = sqlglot.tokenize(source, read=READ_DIALECT)
    except sqlglot.errors.SqlglotError:
        return []
    return [
        (token.text, f'{source[: token.start]}"{token.text}"{source[token.end + 1 :]}')
        for token in tokens
        if token.token_type is not TokenType.VAR and _WORD.match(token.text)
    ]


def _unsafe(node: exp.Expression) -> str | None:
    """Why a node may not appear in a user expression, or None when it may."""
    name = type(node).__name__
    if isinstance(node, exp.Block):
        return "more than one statement"
    if isinstance(node, (exp.Query, exp.Subquery)):
        return "a subquery"
    if isinstance(node, exp.Table):
        return f"a table reference ({node.sql()})"
    if name.startswith("Read"):
        return f"a function reading files, URLs or other databases ({node.sql(READ_DIALECT)})"
    if isinstance(node, exp.Command):
        return _statement(node.name or name)
    if isinstance(node, _STATEMENTS):
        return _statement(name)
    if isinstance(node, (exp.Explode, exp.Unnest, exp.GenerateSeries, exp.UDTF)):
        return f"a function returning rows ({node.sql(READ_DIALECT)})"
    if isinstance(node, (exp.AggFunc, exp.Window)):
        return (
            f"an aggregate or window function ({node.sql(READ_DIALECT)}); "
            "write the value of one row, the rule does the summing"
        )
    if isinstance(node, (exp.Rand, exp.Uuid)):
        return f"a random value ({node.sql(READ_DIALECT)}), so findings would change every run"
    if isinstance(node, exp.Alias):
        return f"an alias ({node.sql(READ_DIALECT)}); the name comes from the configuration key"
    if isinstance(node, (exp.Placeholder, exp.Parameter, exp.Star)):
        return f"a placeholder or star ({node.sql(READ_DIALECT)})"
    if isinstance(node, exp.Column) and node.table:
        return f"a column of another table ({node.sql(READ_DIALECT)})"
    if isinstance(node, exp.Dot):
        return f"a qualified name ({node.sql(READ_DIALECT)})"
    if not isinstance(node, (exp.Condition, *_PARTS)):
        return _statement(name)
    return None


def _statement(kind: str) -> str:
    article = "an" if kind[0] in "AEIOU" else "a"
    return f"{article} {kind.upper()} statement or clause"


def _now_as_current_timestamp(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Anonymous) and node.name.lower() in _NOW_FUNCTIONS:
        return exp.CurrentTimestamp()
    return node


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
    """Replace `period_start`, `period_end` and the current moment with timestamp literals.

    A rule is evaluated as of its period's cut-off, so `now()` and `current_date` mean the
    period end: a run repeated a month later finds the same things.
    """
    bounds = {"period_start": start, "period_end": end}

    def instant(text: str) -> exp.Expression:
        return exp.cast(exp.Literal.string(text), exp.DataType.Type.TIMESTAMPTZ)

    def replace(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name in bounds:
            return instant(bounds[node.name])
        if isinstance(node, exp.CurrentTimestamp):
            return instant(end)
        if isinstance(node, exp.CurrentDate):
            return exp.cast(instant(end), exp.DataType.Type.DATE)
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


def name(text: str) -> exp.Identifier:
    """A quoted identifier: a CTE, an alias, a derived table."""
    return exp.to_identifier(text, quoted=True)


def cte(text: str) -> exp.Table:
    """A reference to a CTE by its name."""
    return exp.Table(this=name(text))


def as_text(value: exp.Expression) -> exp.Expression:
    """Cast to text for the owner/other value columns of a finding."""
    return exp.cast(value, exp.DataType.Type.VARCHAR)


def text(value: str) -> exp.Literal:
    return exp.Literal.string(value)


def number(value: float | int | Decimal) -> exp.Literal:
    """An exact decimal literal, never in exponent form, so engines read it as DECIMAL."""
    return exp.Literal.number(format(Decimal(str(value)), "f"))


def is_null(value: exp.Expression) -> exp.Expression:
    return exp.Is(this=value, expression=exp.null())


def is_not_null(value: exp.Expression) -> exp.Expression:
    return exp.not_(exp.Is(this=value, expression=exp.null()))


def sentence(*parts: str | exp.Expression) -> exp.Expression:
    """Words and values joined into one message; a NULL value reads as NULL."""
    pieces = [
        text(part)
        if isinstance(part, str)
        else exp.Coalesce(this=as_text(part), expressions=[text("NULL")])
        for part in parts
        if not isinstance(part, str) or part
    ]
    return exp.Concat(expressions=pieces, safe=True)


def replace_all(value: exp.Expression, pattern: str, replacement: str) -> exp.Expression:
    """Every match of a regular expression replaced, in every backend.

    sqlglot writes the node without modifiers as a global replace in each dialect: with
    DuckDB's and Postgres's 'g' flag, and as is where replacing all is the default.
    """
    return exp.RegexpReplace(this=value, expression=text(pattern), replacement=text(replacement))


def where(rule_id: str, key: str) -> str:
    """The place in the configuration an error is about: `rule 'x' checks[0].column`."""
    return f"rule {rule_id!r} {key}"
