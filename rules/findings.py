"""The shape every compiled rule returns, and what a compiler may ask about the run.

A compiler returns a SELECT with the columns of `BODY_COLUMNS`; `finding_query`
wraps it with the rule's identity and the stable finding id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
from sqlglot import exp

from tallyclerk.errors import RuleError

from .sql import as_text

# The derived table numbering the SELECTs `in_one_scan` reads in one scan.
_BODIES = "finding_kind"
_NTH = "kind_number"

# Columns a compiler's SELECT must produce, in this order.
BODY_COLUMNS = (
    "problem",  # short code: missing_in_wms, drift, duplicate_key, status_regression, ...
    "key",  # business key as text: "item_id=123" or "order_id=SO-1, line_no=2"
    "field",  # the field or check concerned, '' when the whole record is
    "systems",  # the systems involved, sorted and joined by '+': "erp+wms"
    "owner_system",  # the system whose value is right, NULL when no owner applies
    "owner_value",  # the owner's value as text
    "other_value",  # the other system's value as text
    "amount_at_risk",  # money involved, DECIMAL(18, 2), NULL when none
    "message",  # one sentence a person can act on
)

# Columns of a finding row as written to findings.parquet; new columns go at the end.
FINDING_COLUMNS = (
    "finding_id",
    "rule_id",
    "kind",
    "severity",
    "entity",
    *BODY_COLUMNS,
    "owner_team",  # the team that owns the rule, NULL when none is declared
    "rule_version",  # the version of the rule that found it
)

# Type families a compiler reasons about; a column of unknown type has none.
TYPE_FAMILIES = ("text", "integer", "decimal", "float", "date", "timestamp", "boolean")


@dataclass(frozen=True)
class CompileContext:
    """What a compiler may know about the run: tables, columns, owners, period."""

    tables: Mapping[str, Sequence[str]]
    owners: Mapping[str, str] = field(default_factory=dict)
    field_owners: Mapping[tuple[str, str], str] = field(default_factory=dict)
    period_start: str = "1970-01-01 00:00:00+00"
    period_end: str = "9999-12-31 23:59:59+00"
    # Per snapshot, the type family of each column (one of TYPE_FAMILIES), when known.
    types: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # The SQL dialect the query will run in; a few functions differ between backends.
    dialect: str = "duckdb"
    # Per snapshot, column lists no two of its rows share values of (NULL counting as a
    # value), as measured on the data this query will read; a run measures none.
    unique_keys: Mapping[str, Sequence[Sequence[str]]] = field(default_factory=dict)

    def columns(self, ref: str, *, where: str) -> Sequence[str]:
        """Columns of snapshot `system.entity`, or a RuleError naming the rule."""
        if ref not in self.tables:
            known = ", ".join(sorted(self.tables)) or "none"
            raise RuleError(
                f"{where}: no snapshot {ref!r} in this workspace; "
                f"map a source onto it, or use one of: {known}."
            )
        return self.tables[ref]

    def require(self, ref: str, names: Sequence[str], *, where: str) -> None:
        """Raise naming the first of `names` that `ref` does not have."""
        available = self.columns(ref, where=where)
        for name in names:
            if name not in available:
                raise RuleError(
                    f"{where}: {ref} has no column {name!r}; "
                    f"its columns are: {', '.join(available)}."
                )

    def type_of(self, ref: str, column: str) -> str | None:
        """The type family of a snapshot column, None when unknown."""
        return self.types.get(ref, {}).get(column)

    def unique(self, ref: str, columns: Sequence[str]) -> bool:
        """Whether no two rows of snapshot `ref` share the values of `columns`."""
        return list(columns) in (list(key) for key in self.unique_keys.get(ref, ()))

    def owner(self, entity: str, field_name: str | None = None) -> str | None:
        """The system of record for an entity, or for one field of it."""
        if field_name is not None and (entity, field_name) in self.field_owners:
            return self.field_owners[(entity, field_name)]
        return self.owners.get(entity)


def family_of(arrow_type: pa.DataType) -> str | None:
    """The type family of an Arrow type, None for types no rule reasons about."""
    checks = (
        ("text", lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)),
        ("integer", pa.types.is_integer),
        ("decimal", pa.types.is_decimal),
        ("float", pa.types.is_floating),
        ("date", pa.types.is_date),
        ("timestamp", pa.types.is_timestamp),
        ("boolean", pa.types.is_boolean),
    )
    if pa.types.is_string_view(arrow_type):
        return "text"
    return next((family for family, test in checks if test(arrow_type)), None)


def finding_id(rule_id: str, entity: str, key: str, field_name: str, problem: str) -> str:
    """The id `finding_query` computes in SQL, for findings made in Python."""
    return hashlib.md5(f"{rule_id}|{entity}|{key}|{field_name}|{problem}".encode()).hexdigest()


def systems_text(*systems: str) -> str:
    return "+".join(sorted(set(systems)))


def key_text(parts: Sequence[tuple[str, exp.Expression]]) -> exp.Expression:
    """'a=1, b=x' from key columns; a NULL part shows as NULL, never vanishes."""
    pieces: list[exp.Expression] = []
    for position, (name, value) in enumerate(parts):
        label = f"{', ' if position else ''}{name}="
        pieces.append(exp.Literal.string(label))
        pieces.append(exp.Coalesce(this=as_text(value), expressions=[exp.Literal.string("NULL")]))
    return exp.Concat(expressions=pieces, safe=True)


def finding_query(
    body: exp.Select,
    *,
    rule_id: str,
    kind: str,
    severity: str,
    entity: str,
    owner_team: str | None = None,
    version: int = 1,
) -> exp.Select:
    """Wrap a compiler's SELECT with the rule's identity and a stable finding id."""
    inner = body.subquery("body", copy=False)
    identity = exp.Concat(
        expressions=[
            exp.Literal.string(f"{rule_id}|{entity}|"),
            exp.column("key", quoted=True),
            exp.Literal.string("|"),
            exp.column("field", quoted=True),
            exp.Literal.string("|"),
            exp.column("problem", quoted=True),
        ],
        safe=True,
    )
    projections: list[exp.Expression] = [
        exp.MD5(this=identity).as_("finding_id", quoted=True),
        exp.Literal.string(rule_id).as_("rule_id", quoted=True),
        exp.Literal.string(kind).as_("kind", quoted=True),
        exp.Literal.string(severity).as_("severity", quoted=True),
        exp.Literal.string(entity).as_("entity", quoted=True),
    ]
    projections += [exp.column(name, quoted=True) for name in BODY_COLUMNS]
    team = exp.null() if owner_team is None else exp.Literal.string(owner_team)
    projections += [
        exp.cast(team, exp.DataType.Type.VARCHAR).as_("owner_team", quoted=True),
        exp.cast(exp.Literal.number(version), exp.DataType.Type.INT).as_(
            "rule_version", quoted=True
        ),
    ]
    return exp.select(*projections).from_(inner, copy=False)


def body_select(
    *,
    problem: exp.Expression | str,
    key: exp.Expression,
    field_name: exp.Expression | str,
    systems: str,
    owner_system: str | None,
    owner_value: exp.Expression | None,
    other_value: exp.Expression | None,
    amount_at_risk: exp.Expression | None,
    message: exp.Expression | str,
) -> exp.Select:
    """A SELECT list in the order of BODY_COLUMNS, typed the same for every rule."""

    def text(value: exp.Expression | str | None) -> exp.Expression:
        if value is None:
            return exp.cast(exp.null(), exp.DataType.Type.VARCHAR)
        if isinstance(value, str):
            return exp.Literal.string(value)
        return as_text(value)

    money = (
        exp.cast(exp.null(), exp.DataType.build("DECIMAL(18, 2)"))
        if amount_at_risk is None
        else exp.cast(amount_at_risk, exp.DataType.build("DECIMAL(18, 2)"))
    )
    values = (
        text(problem),
        text(key),
        text(field_name),
        text(systems),
        text(owner_system),
        text(owner_value),
        text(other_value),
        money,
        text(message),
    )
    return exp.select(
        *(value.as_(name, quoted=True) for value, name in zip(values, BODY_COLUMNS, strict=True))
    )


def in_one_scan(bodies: Sequence[exp.Select]) -> exp.Select:
    """SELECTs of findings reading one source, each with a WHERE and no join or grouping,
    as one SELECT that reads the source once instead of once each.

    The source's rows meeting any WHERE are paired with a number per SELECT, and each pair
    keeps the columns of its SELECT when that SELECT's WHERE holds on the row: the rows of
    a UNION ALL of the SELECTs, in any SQL dialect, for one read of the source.
    """
    source = bodies[0].args["from_"].this
    conditions = [body.args["where"].this for body in bodies]
    failing = (
        exp.select(exp.Star())
        .from_(source.copy())
        .where(exp.or_(*(exp.paren(c.copy()) for c in conditions)))
    )
    numbers = exp.Values(
        expressions=[exp.Tuple(expressions=[exp.Literal.number(n)]) for n in range(len(bodies))],
        alias=exp.TableAlias(
            this=exp.to_identifier(_BODIES, quoted=True),
            columns=[exp.to_identifier(_NTH, quoted=True)],
        ),
    )
    nth = exp.column(_NTH, table=_BODIES, quoted=True)
    projections = []
    for position, column in enumerate(BODY_COLUMNS):
        values = [body.expressions[position].this for body in bodies]
        if all(value == values[0] for value in values):
            # The same for every SELECT (the system, a NULL of the column's type).
            projections.append(values[0].copy().as_(column, quoted=True))
            continue
        ifs = [exp.If(this=exp.Literal.number(n), true=v.copy()) for n, v in enumerate(values)]
        projections.append(exp.Case(this=nth.copy(), ifs=ifs).as_(column, quoted=True))
    holds = [
        exp.and_(exp.EQ(this=nth.copy(), expression=exp.Literal.number(n)), exp.paren(c.copy()))
        for n, c in enumerate(conditions)
    ]
    alias = source.alias_or_name
    return (
        exp.select(*projections)
        .from_(failing.subquery(exp.to_identifier(alias, quoted=True), copy=False), copy=False)
        .join(numbers, join_type="cross", copy=False)
        .where(exp.or_(*holds, copy=False), copy=False)
    )
