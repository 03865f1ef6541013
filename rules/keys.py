"""Keys two systems can be joined on: declared normalisation, and types reconciled or refused.

A key typed integer in one system and text in the other is never joined as it is: a
declared normalisation compares both as normalised text, and without one the rule is
refused when it compiles. Numbers of different types compare by value, dates and
timestamps as instants.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from sqlglot import exp

from tallyclerk.errors import RuleError

from .findings import CompileContext
from .sql import as_text, replace_all, text, where

# Steps run in this order whatever order they are declared in: NFKC first turns fullwidth
# digits and ideographic spaces into ones the later steps know.
STEP_ORDER = ("nfkc", "trim", "case", "leading_zeros")

NUMERIC = exp.DataType.build("DECIMAL(38, 10)")
INSTANT = exp.DataType.build("TIMESTAMPTZ")
_NUMBERS = {"integer", "decimal", "float"}
_TIMES = {"date", "timestamp"}


@dataclass(frozen=True)
class KeyForm:
    """How the values of one key column are made comparable between two tables."""

    steps: tuple[str, ...] = ()
    cast: exp.DataType | None = None

    @property
    def as_is(self) -> bool:
        """The values are compared as they are, neither normalised nor cast."""
        return not self.steps and self.cast is None

    def apply(self, value: exp.Expression, dialect: str) -> exp.Expression:
        if self.steps:
            return normalised(value, self.steps, dialect)
        if self.cast is not None:
            return exp.cast(value, self.cast.copy())
        return value


def key_form(
    ctx: CompileContext,
    *,
    rule_id: str,
    at: str,
    refs: tuple[str, str],
    columns: tuple[str, str],
    steps: Sequence[str] = (),
    fix: str,
) -> KeyForm:
    """The form two key columns are compared in; a RuleError when their types cannot meet."""
    if steps:
        return KeyForm(steps=tuple(step for step in STEP_ORDER if step in steps))
    families = [ctx.type_of(ref, column) for ref, column in zip(refs, columns, strict=True)]
    first, second = families
    if first is None or second is None or first == second:
        return KeyForm()
    if {first, second} <= _NUMBERS:
        return KeyForm(cast=NUMERIC)
    if {first, second} <= _TIMES:
        return KeyForm(cast=INSTANT)
    (ref_a, ref_b), (column_a, column_b) = refs, columns
    raise RuleError(
        f"{where(rule_id, at)}: {column_a} is {first} in {ref_a} but {column_b} is {second} "
        f"in {ref_b}, so their values cannot be joined as they are; {fix}."
    )


def normalised(value: exp.Expression, steps: Sequence[str], dialect: str) -> exp.Expression:
    """`value` as text with the normalisation steps applied, in STEP_ORDER."""
    result = as_text(value)
    for step in STEP_ORDER:
        if step not in steps:
            continue
        if step == "nfkc":
            result = nfkc(result, dialect)
        elif step == "trim":
            result = replace_all(result, r"^\s+|\s+$", "")
        elif step == "case":
            result = exp.Lower(this=result)
        else:
            result = _without_leading_zeros(result)
    return result


def _without_leading_zeros(value: exp.Expression) -> exp.Expression:
    # '007' is 7 and '000' is 0; a key of zeros alone keeps one.
    only_zeros = exp.RegexpLike(this=value.copy(), expression=text("^0+$"))
    stripped = exp.Trim(this=value, expression=text("0"), position="LEADING")
    return exp.case().when(only_zeros, text("0")).else_(stripped)


# --- Unicode NFKC ---------------------------------------------------------------------

# Blocks holding the compatibility characters met in business keys and names: Latin-1
# signs, compatibility spaces and super/subscripts, letterlike and number forms, circled
# letters and digits, the ideographic space, fullwidth and halfwidth forms.
_BLOCKS = (
    (0x00A0, 0x00FF),
    (0x2000, 0x209F),
    (0x2100, 0x218F),
    (0x2460, 0x24FF),
    (0x3000, 0x3000),
    (0xFF00, 0xFFEF),
)


def _single_character_folds() -> tuple[str, str]:
    source, target = [], []
    for first, last in _BLOCKS:
        for point in range(first, last + 1):
            character = chr(point)
            folded = unicodedata.normalize("NFKC", character)
            if folded != character and len(folded) == 1:
                source.append(character)
                target.append(folded)
    return "".join(source), "".join(target)


_FOLD_FROM, _FOLD_TO = _single_character_folds()


def nfkc(value: exp.Expression, dialect: str) -> exp.Expression:
    """Unicode NFKC where the backend has it; elsewhere the closest pure-SQL equivalent.

    Postgres normalises natively. DuckDB has NFC only, so the compatibility characters of
    `_BLOCKS` are folded first and NFC composes the rest (halfwidth kana and their marks
    included). Spark and Snowflake have neither: they get the folding alone, so a
    decomposed accent stays apart from its letter there until they gain a normaliser.
    """
    if dialect == "postgres":
        return exp.Normalize(this=value, form=exp.var("NFKC"))
    folded = exp.Translate(this=value, from_=text(_FOLD_FROM), to=text(_FOLD_TO))
    if dialect == "duckdb":
        return exp.Anonymous(this="nfc_normalize", expressions=[folded])
    return folded
