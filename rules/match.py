"""Compile a match rule: one entity in two systems, joined by key and compared field by field.

Keys are joined as typed tuples, one comparison per part, after the declared
normalisation; a key on several records of one side is reported and never paired.
Repeated keys are found by grouping, and left out of both sides by anti-joins against
those few keys, so each side streams through the join once and is never held whole.
"""

from __future__ import annotations

from sqlglot import exp

from tallyclerk.errors import RuleError

from .compare import differs, mapped
from .findings import (
    BODY_COLUMNS,
    CompileContext,
    body_select,
    in_one_scan,
    key_text,
    systems_text,
)
from .keys import NUMERIC, KeyForm, key_form
from .model import FieldCompare, MatchRule
from .sql import as_text, col, cte, is_not_null, is_null, name, number, sentence, table, where

_ROWS = "rows_with_key"
_PAIRED = "paired"
_PRESENT = "present"


def match_sql(rule: MatchRule, ctx: CompileContext) -> exp.Select:
    """Duplicate keys, missing records and drifted fields between the rule's two systems."""
    _require_columns(rule, ctx)
    _refuse_own_names(rule)
    forms = _key_forms(rule, ctx)
    owner = _involved(rule, ctx.owner(rule.entity))

    paired = [
        _missing_sql(rule, present=rule.systems[0], absent=rule.systems[1], owner=owner),
        _missing_sql(rule, present=rule.systems[1], absent=rule.systems[0], owner=owner),
    ]
    for position, compare in enumerate(rule.fields):
        field_owner = _involved(rule, ctx.owner(rule.entity, compare.name))
        paired.append(_drift_sql(rule, ctx, compare, position, field_owner))
    # Missing records and drifted fields read the pairs once, not once per kind of finding.
    bodies = [_duplicate_keys_sql(rule, system, owner) for system in rule.systems]
    bodies.append(in_one_scan(paired))

    union = exp.union(*bodies, distinct=False)
    query = exp.select(*(col(column) for column in BODY_COLUMNS)).from_(
        union.subquery(name("match"), copy=False), copy=False
    )
    for system in rule.systems:
        repeated = _repeated_sql(rule, ctx, system, forms)
        query = query.with_(name(_repeated(system)), as_=repeated, copy=False)
    for system, other in (rule.systems, rule.systems[::-1]):
        side = _side_sql(rule, ctx, system, other, forms)
        query = query.with_(name(_side(system)), as_=side, copy=False)
    return query.with_(name(_PAIRED), as_=_paired_sql(rule, owner, forms), copy=False)


def _require_columns(rule: MatchRule, ctx: CompileContext) -> None:
    for system in rule.systems:
        ref = f"{system}.{rule.entity}"
        ctx.require(ref, rule.key, where=where(rule.id, "key"))
        for position, compare in enumerate(rule.fields):
            ctx.require(ref, [compare.name], where=where(rule.id, f"fields[{position}].name"))
        if rule.money_field:
            ctx.require(ref, [rule.money_field], where=where(rule.id, "money_field"))


def _refuse_own_names(rule: MatchRule) -> None:
    """A column may not share a name the query gives a column of its own, which would be
    read in its place."""
    own = {_PRESENT, _ROWS, *(_present(system) for system in rule.systems)}
    own |= {_joined(column) for column in rule.key}
    own |= {_paired(system, column) for system in rule.systems for column in _compared(rule)}
    named = [("key", column) for column in rule.key]
    named += [(f"fields[{n}].name", compare.name) for n, compare in enumerate(rule.fields)]
    if rule.money_field:
        named.append(("money_field", rule.money_field))
    for at, column in named:
        if column in own:
            raise RuleError(
                f"{where(rule.id, at)}: {column!r} is a name the match query gives a column of "
                "its own; map the column under another name in the source mappings."
            )


def _key_forms(rule: MatchRule, ctx: CompileContext) -> dict[str, KeyForm]:
    refs = tuple(f"{system}.{rule.entity}" for system in rule.systems)
    return {
        column: key_form(
            ctx,
            rule_id=rule.id,
            at="key",
            refs=(refs[0], refs[1]),
            columns=(column, column),
            steps=rule.steps(column),
            fix=(
                f"declare normalise: {{{column}: [trim]}} (or [leading_zeros], ...) to compare "
                "both as text, or map the column to one type in the source mappings"
            ),
        )
        for column in rule.key
    }


# --- the rows every finding reads ---------------------------------------------------


def _comparable(
    rule: MatchRule, ctx: CompileContext, forms: dict[str, KeyForm], source: str | None = None
) -> list[exp.Expression]:
    """The key's parts as they are joined: normalised, or cast to a type both sides share."""
    return [forms[column].apply(col(column, source), ctx.dialect) for column in rule.key]


def _repeated_sql(
    rule: MatchRule, ctx: CompileContext, system: str, forms: dict[str, KeyForm]
) -> exp.Select:
    """The keys on several records of one system, with how many, and the first spelling."""
    joined = _comparable(rule, ctx, forms)
    count = exp.Count(this=exp.Star())
    return (
        exp.select(
            *(v.as_(_joined(c), quoted=True) for v, c in zip(joined, rule.key, strict=True)),
            *(
                _first_spelling(column, forms[column]).as_(column, quoted=True)
                for column in rule.key
            ),
            count.as_(_ROWS, quoted=True),
        )
        .from_(table(f"{system}.{rule.entity}"))
        .group_by(*(value.copy() for value in joined))
        .having(exp.GT(this=count.copy(), expression=number(1)))
    )


def _first_spelling(column: str, form: KeyForm) -> exp.Expression:
    """The spelling naming a repeated key; a key compared as it is has only one."""
    if not form.steps and form.cast is None:
        return col(column)
    return exp.Min(this=col(column))


def _side_sql(
    rule: MatchRule,
    ctx: CompileContext,
    system: str,
    other: str,
    forms: dict[str, KeyForm],
) -> exp.Select:
    """One system's records with their comparable key, less those whose key repeats.

    A key repeated in this system is left out, NULL included; one repeated in the other
    system too, since it would pair with several records there. NULL pairs with nothing,
    so a key with a NULL part repeated there leaves this system's record in.
    """
    joined = _comparable(rule, ctx, forms, "own")
    comparable = [
        value.as_(_joined_by(column, forms), quoted=True)
        for value, column in zip(joined, rule.key, strict=True)
        if _joined_by(column, forms) != column
    ]
    query = exp.select(
        *(col(column, "own") for column in [*rule.key, *_compared(rule)]),
        *comparable,
        exp.true().as_(_PRESENT, quoted=True),
    ).from_(table(f"{system}.{rule.entity}", alias="own"))
    # One anti-join per side: NULL is repeated only where this system repeats it.
    parts = [_joined(column) for column in rule.key]
    mine = exp.select(*(col(part) for part in parts), exp.true().as_(_PRESENT, quoted=True))
    theirs = mine.copy().from_(cte(_repeated(other)))
    theirs = theirs.where(*(is_not_null(col(part)) for part in parts))
    repeats = exp.union(mine.from_(cte(_repeated(system))), theirs, distinct=False)
    on = exp.and_(
        *(
            exp.NullSafeEQ(this=value.copy(), expression=col(part, "repeats"))
            for value, part in zip(joined, parts, strict=True)
        )
    )
    query = query.join(repeats.subquery(name("repeats")), on=on, join_type="left")
    return query.where(is_null(col(_PRESENT, "repeats")))


def _paired_sql(rule: MatchRule, owner: str | None, forms: dict[str, KeyForm]) -> exp.Select:
    """Records of both systems side by side; keys duplicated on either side are left out."""
    right, other = _owner_and_other(rule, owner)
    # A finding names the record by the owner's spelling of the key, the other's when absent;
    # as text, since the two systems may type the key differently.
    keys = [
        exp.Coalesce(
            this=as_text(col(column, _side(right))),
            expressions=[as_text(col(column, _side(other)))],
        ).as_(column, quoted=True)
        for column in rule.key
    ]
    values = [
        col(column, _side(system)).as_(_paired(system, column), quoted=True)
        for system in rule.systems
        for column in _compared(rule)
    ]
    present = [
        is_not_null(col(_PRESENT, _side(system))).as_(_present(system), quoted=True)
        for system in rule.systems
    ]
    first, second = (_side(system) for system in rule.systems)
    # Each part of the key compared on its own: NULL matches nothing, and parts never merge.
    on = exp.and_(
        *(
            exp.EQ(this=col(joins, first), expression=col(joins, second))
            for joins in (_joined_by(column, forms) for column in rule.key)
        )
    )
    return (
        exp.select(*keys, *values, *present)
        .from_(cte(first))
        .join(cte(second), on=on, join_type="full outer")
    )


# --- one SELECT per kind of finding -------------------------------------------------


def _duplicate_keys_sql(rule: MatchRule, system: str, owner: str | None) -> exp.Select:
    count = col(_ROWS)
    # Records sharing a key once normalised may spell it differently; the first spelling names
    # the group.
    key = key_text([(column, col(column)) for column in rule.key])
    # Named per system: one key repeated in both systems is two findings.
    body = body_select(
        problem=f"duplicate_key_in_{system}",
        key=key,
        field_name="",
        systems=system,
        owner_system=owner,
        owner_value=None,
        other_value=count,
        amount_at_risk=None,
        message=sentence(
            f"{system} has ", count, f" {rule.entity} records with this key, so none is compared"
        ),
    )
    return body.from_(cte(_repeated(system)))


def _missing_sql(rule: MatchRule, *, present: str, absent: str, owner: str | None) -> exp.Select:
    key = key_text([(column, col(column)) for column in rule.key])
    right, other = _owner_and_other(rule, owner)
    shown = {present: key, absent: None}
    money = rule.money_field
    body = body_select(
        problem=f"missing_in_{absent}",
        key=key,
        field_name="",
        systems=systems_text(*rule.systems),
        owner_system=owner,
        owner_value=shown[right],
        other_value=shown[other],
        amount_at_risk=None if money is None else exp.Abs(this=_decimal(present, money)),
        message=sentence(f"this {rule.entity} is in {present} but missing in {absent}"),
    )
    return body.from_(cte(_PAIRED)).where(col(_present(present)), exp.not_(col(_present(absent))))


def _drift_sql(
    rule: MatchRule,
    ctx: CompileContext,
    compare: FieldCompare,
    position: int,
    owner: str | None,
) -> exp.Select:
    field = compare.name
    right, other = _owner_and_other(rule, owner)
    right_value, other_value = col(_paired(right, field)), col(_paired(other, field))
    amount = None
    if field == rule.money_field:
        gap = exp.Sub(this=_decimal(right, field), expression=_decimal(other, field))
        amount = exp.Abs(this=gap)
    tolerated = compare.abs_tol or compare.rel_tol or compare.window_seconds
    says = f" differs from owner {right} " if owner else f" differs from {right} "
    body = body_select(
        problem="drift",
        key=key_text([(key, col(key)) for key in rule.key]),
        field_name=field,
        systems=systems_text(*rule.systems),
        owner_system=owner,
        owner_value=right_value,
        other_value=other_value,
        amount_at_risk=amount,
        message=sentence(
            f"{other} {field} ",
            other_value,
            says,
            right_value,
            " beyond tolerance" if tolerated else "",
        ),
    )
    first, second = rule.systems
    condition = differs(
        compare,
        mapped(col(_paired(first, field)), compare.map.get(first, {})),
        mapped(col(_paired(second, field)), compare.map.get(second, {})),
        families=(
            ctx.type_of(f"{first}.{rule.entity}", field),
            ctx.type_of(f"{second}.{rule.entity}", field),
        ),
        rule_id=rule.id,
        at=f"fields[{position}].compare",
        systems=(first, second),
    )
    present = [col(_present(system)) for system in rule.systems]
    return body.from_(cte(_PAIRED)).where(*present, condition)


# --- names and small pieces ---------------------------------------------------------


def _compared(rule: MatchRule) -> list[str]:
    """The non-key columns read from each side, in order, each once."""
    names = [compare.name for compare in rule.fields]
    if rule.money_field:
        names.append(rule.money_field)
    return [column for column in dict.fromkeys(names) if column not in rule.key]


def _involved(rule: MatchRule, owner: str | None) -> str | None:
    """The owner when it is one of the two systems; otherwise nobody here is right."""
    return owner if owner in rule.systems else None


def _owner_and_other(rule: MatchRule, owner: str | None) -> tuple[str, str]:
    first, second = rule.systems
    return (second, first) if owner == second else (first, second)


def _decimal(system: str, column: str) -> exp.Expression:
    return exp.cast(col(_paired(system, column)), NUMERIC)


def _side(system: str) -> str:
    return f"{system}_rows"


def _repeated(system: str) -> str:
    return f"{system}_repeated_keys"


def _paired(system: str, column: str) -> str:
    return f"{system}__{column}"


def _joined(column: str) -> str:
    return f"{column}__joined"


def _joined_by(column: str, forms: dict[str, KeyForm]) -> str:
    """The column a key part joins by: its own when compared as it is, else its comparable
    copy, so each side carries no copy of a key it need not change."""
    return column if forms[column].as_is else _joined(column)


def _present(system: str) -> str:
    return f"in_{system}"
