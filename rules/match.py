"""Compile a match rule: one entity in two systems, joined by key and compared field by field."""

from __future__ import annotations

from decimal import Decimal

from sqlglot import exp

from tallyclerk.errors import RuleError

from .findings import BODY_COLUMNS, CompileContext, body_select, key_text, systems_text
from .model import FieldCompare, MatchRule
from .sql import as_text, col, table

# Numbers are compared as exact decimals, so a difference of exactly the tolerance is equal.
_NUMERIC = exp.DataType.build("DECIMAL(38, 10)")
_TIMESTAMPTZ = exp.DataType.build("TIMESTAMPTZ")
_ROWS = "rows_with_key"
_PAIRED = "paired"
_OPTIONS = {"numeric": ("abs_tol", "rel_tol"), "time": ("window_seconds",)}


def match_sql(rule: MatchRule, ctx: CompileContext) -> exp.Select:
    """Duplicate keys, missing records and drifted fields between the rule's two systems."""
    first, second = rule.systems
    if first == second:
        raise RuleError(f"rule {rule.id!r} systems: name two different systems, not {first} twice.")
    _require_columns(rule, ctx)
    owner = _involved(rule, ctx.owner(rule.entity))

    bodies = [_duplicate_keys_sql(rule, system, owner) for system in rule.systems]
    bodies.append(_missing_sql(rule, present=first, absent=second, owner=owner))
    bodies.append(_missing_sql(rule, present=second, absent=first, owner=owner))
    for compare in rule.fields:
        field_owner = _involved(rule, ctx.owner(rule.entity, compare.name))
        bodies.append(_drift_sql(rule, compare, field_owner))

    union = exp.union(*bodies, distinct=False)
    query = exp.select(*(col(name) for name in BODY_COLUMNS)).from_(union.subquery(_name("match")))
    for system in rule.systems:
        query = query.with_(_name(_side(system)), as_=_side_sql(rule, system))
    return query.with_(_name(_PAIRED), as_=_paired_sql(rule))


def _require_columns(rule: MatchRule, ctx: CompileContext) -> None:
    for system in rule.systems:
        ref = f"{system}.{rule.entity}"
        ctx.require(ref, rule.key, where=_where(rule, "key"))
        for position, compare in enumerate(rule.fields):
            ctx.require(ref, [compare.name], where=_where(rule, f"fields[{position}].name"))
        if rule.money_field:
            ctx.require(ref, [rule.money_field], where=_where(rule, "money_field"))
    if rule.money_field in rule.key:
        raise RuleError(f"{_where(rule, 'money_field')}: name a money column, not a key column.")
    for position, compare in enumerate(rule.fields):
        _refuse_misplaced_options(rule, compare, position)


def _refuse_misplaced_options(rule: MatchRule, compare: FieldCompare, position: int) -> None:
    """A tolerance the compare mode does not read would be silently ignored."""
    for option in ("abs_tol", "rel_tol", "window_seconds"):
        if getattr(compare, option) is not None and option not in _OPTIONS.get(compare.compare, ()):
            raise RuleError(
                f"{_where(rule, f'fields[{position}].{option}')}: {option} does not apply "
                f"to compare: {compare.compare}; remove it or change the compare mode."
            )


# --- the rows every finding reads ---------------------------------------------------


def _side_sql(rule: MatchRule, system: str) -> exp.Select:
    """One system's records, each with the number of its records sharing that key."""
    count = exp.Window(this=exp.Count(this=exp.Star()), partition_by=[col(k) for k in rule.key])
    names = [*rule.key, *_compared(rule)]
    return exp.select(*(col(name) for name in names), count.as_(_ROWS, quoted=True)).from_(
        table(f"{system}.{rule.entity}")
    )


def _paired_sql(rule: MatchRule) -> exp.Select:
    """Records of both systems side by side; keys duplicated on either side are left out."""
    first, second = (_side(system) for system in rule.systems)
    keys = [
        exp.Coalesce(this=col(name, first), expressions=[col(name, second)]).as_(name, quoted=True)
        for name in rule.key
    ]
    values = [
        col(name, _side(system)).as_(_paired(system, name), quoted=True)
        for system in rule.systems
        for name in _compared(rule)
    ]
    present = [
        _is_not_null(col(_ROWS, _side(system))).as_(_present(system), quoted=True)
        for system in rule.systems
    ]
    # NULL never equals NULL, so a record without a key shows as missing on the other side.
    on = exp.and_(
        *(exp.EQ(this=col(name, first), expression=col(name, second)) for name in rule.key)
    )
    # A key on several records of either side pairs with nothing; duplicate_key reports it.
    once = [
        exp.EQ(
            this=exp.Coalesce(this=col(_ROWS, side), expressions=[_number(1)]),
            expression=_number(1),
        )
        for side in (first, second)
    ]
    return (
        exp.select(*keys, *values, *present)
        .from_(exp.Table(this=_name(first)))
        .join(exp.Table(this=_name(second)), on=on, join_type="full outer")
        .where(*once)
    )


# --- one SELECT per kind of finding -------------------------------------------------


def _duplicate_keys_sql(rule: MatchRule, system: str, owner: str | None) -> exp.Select:
    keys = [col(name) for name in rule.key]
    count = exp.Count(this=exp.Star())
    key = key_text([(name, col(name)) for name in rule.key])
    body = body_select(
        problem="duplicate_key",
        key=key,
        field_name="",
        systems=system,
        owner_system=owner,
        owner_value=None,
        other_value=count,
        amount_at_risk=None,
        message=_sentence(
            f"{system} has ", count, f" {rule.entity} records with this key, so none is compared"
        ),
    )
    body = body.from_(table(f"{system}.{rule.entity}")).group_by(*keys)
    return body.having(exp.GT(this=count, expression=_number(1)))


def _missing_sql(rule: MatchRule, *, present: str, absent: str, owner: str | None) -> exp.Select:
    key = key_text([(name, col(name)) for name in rule.key])
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
        message=_sentence(f"this {rule.entity} is in {present} but missing in {absent}"),
    )
    return body.from_(_name(_PAIRED)).where(col(_present(present)), exp.not_(col(_present(absent))))


def _drift_sql(rule: MatchRule, compare: FieldCompare, owner: str | None) -> exp.Select:
    name = compare.name
    right, other = _owner_and_other(rule, owner)
    right_value, other_value = col(_paired(right, name)), col(_paired(other, name))
    amount = None
    if name == rule.money_field:
        amount = exp.Abs(this=exp.Sub(this=_decimal(right, name), expression=_decimal(other, name)))
    tolerated = any(getattr(compare, option) for option in _OPTIONS.get(compare.compare, ()))
    says = f" differs from owner {right} " if owner else f" differs from {right} "
    body = body_select(
        problem="drift",
        key=key_text([(key, col(key)) for key in rule.key]),
        field_name=name,
        systems=systems_text(*rule.systems),
        owner_system=owner,
        owner_value=right_value,
        other_value=other_value,
        amount_at_risk=amount,
        message=_sentence(
            f"{other} {name} ",
            other_value,
            says,
            right_value,
            " beyond tolerance" if tolerated else "",
        ),
    )
    present = [col(_present(system)) for system in rule.systems]
    return body.from_(_name(_PAIRED)).where(*present, _differs(rule, compare))


# --- comparing one field ------------------------------------------------------------


def _differs(rule: MatchRule, compare: FieldCompare) -> exp.Expression:
    first, second = (col(_paired(system, compare.name)) for system in rule.systems)
    if compare.compare == "exact":
        return exp.NullSafeNEQ(this=first, expression=second)
    if compare.compare == "text":
        return exp.NullSafeNEQ(this=_folded(first), expression=_folded(second))
    if compare.compare == "numeric":
        a, b = exp.cast(first, _NUMERIC), exp.cast(second, _NUMERIC)
        gap = exp.Abs(this=exp.Sub(this=a, expression=b))
        largest = exp.Greatest(this=exp.Abs(this=a.copy()), expressions=[exp.Abs(this=b.copy())])
        within = exp.or_(
            exp.LTE(this=gap, expression=_number(compare.abs_tol or 0)),
            exp.LTE(
                this=gap.copy(),
                expression=exp.Mul(this=_number(compare.rel_tol or 0), expression=largest),
            ),
        )
        return _unequal(first, second, within)
    instants = [exp.TimeToUnix(this=exp.cast(value, _TIMESTAMPTZ)) for value in (first, second)]
    gap = exp.Abs(this=exp.Sub(this=instants[0], expression=instants[1]))
    return _unequal(
        first, second, exp.LTE(this=gap, expression=_number(compare.window_seconds or 0))
    )


def _unequal(
    first: exp.Expression, second: exp.Expression, within: exp.Expression
) -> exp.Expression:
    """Two values differ: one is NULL and the other not, or both present and not `within`."""
    first_null = exp.Is(this=first.copy(), expression=exp.null())
    second_null = exp.Is(this=second.copy(), expression=exp.null())
    return (
        exp.case()
        .when(exp.and_(first_null, second_null), exp.false())
        .when(exp.or_(first_null.copy(), second_null.copy()), exp.true())
        .else_(exp.not_(exp.paren(within)))
    )


def _folded(value: exp.Expression) -> exp.Expression:
    """Lower case, every run of whitespace (tabs, newlines too) one space, trimmed."""
    spaced = exp.RegexpReplace(
        this=as_text(value),
        expression=exp.Literal.string(r"\s+"),
        replacement=exp.Literal.string(" "),
        modifiers=exp.Literal.string("g"),
    )
    return exp.Lower(this=exp.Trim(this=spaced))


# --- names and small pieces ---------------------------------------------------------


def _compared(rule: MatchRule) -> list[str]:
    """The non-key columns read from each side, in order, each once."""
    names = [compare.name for compare in rule.fields]
    if rule.money_field:
        names.append(rule.money_field)
    return [name for name in dict.fromkeys(names) if name not in rule.key]


def _involved(rule: MatchRule, owner: str | None) -> str | None:
    """The owner when it is one of the two systems; otherwise nobody here is right."""
    return owner if owner in rule.systems else None


def _owner_and_other(rule: MatchRule, owner: str | None) -> tuple[str, str]:
    first, second = rule.systems
    return (second, first) if owner == second else (first, second)


def _decimal(system: str, name: str) -> exp.Expression:
    return exp.cast(col(_paired(system, name)), _NUMERIC)


def _side(system: str) -> str:
    return f"{system}_rows"


def _paired(system: str, name: str) -> str:
    return f"{system}__{name}"


def _present(system: str) -> str:
    return f"in_{system}"


def _is_not_null(value: exp.Expression) -> exp.Expression:
    return exp.not_(exp.Is(this=value, expression=exp.null()))


def _where(rule: MatchRule, key: str) -> str:
    return f"rule {rule.id!r} {key}"


def _name(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _number(value: float) -> exp.Literal:
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
