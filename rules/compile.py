"""Compile any rule into its finding query, and show that query as SQL for a backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError

from tallyclerk.errors import ConfigError, RuleError

from .aggregate import aggregate_sql
from .duplicates import duplicates_sql
from .findings import CompileContext, finding_query
from .match import match_sql
from .model import AggregateRule, DuplicatesRule, MatchRule, SequenceRule, ValidateRule
from .sequence import sequence_sql
from .validate import validate_sql

AnyRule = ValidateRule | MatchRule | AggregateRule | DuplicatesRule | SequenceRule

_COMPILERS: dict[str, Callable[[Any, CompileContext], exp.Select]] = {
    "validate": validate_sql,
    "match": match_sql,
    "aggregate": aggregate_sql,
    "duplicates": duplicates_sql,
    "sequence": sequence_sql,
}

# The backends tallyclerk runs on; sqlglot knows more, but only these are tested.
DIALECTS = ("duckdb", "spark")


def compile_rule(rule: AnyRule, ctx: CompileContext) -> exp.Select:
    """The query returning the rule's findings, with the columns of FINDING_COLUMNS."""
    compiler = _COMPILERS.get(rule.kind)
    if compiler is None:
        raise RuleError(
            f"rule {rule.id!r} kind: unknown kind {rule.kind!r}; use one of: "
            + ", ".join(_COMPILERS)
            + "."
        )
    return finding_query(
        compiler(rule, ctx),
        rule_id=rule.id,
        kind=rule.kind,
        severity=rule.severity,
        entity=entity_of(rule),
    )


def rule_sql(rule: AnyRule, ctx: CompileContext, dialect: str) -> str:
    """The rule's finding query as readable SQL for `dialect` (duckdb or spark)."""
    if dialect not in DIALECTS:
        raise ConfigError(f"unknown SQL dialect {dialect!r}; use one of: {', '.join(DIALECTS)}.")
    query = compile_rule(rule, ctx)
    try:
        return query.sql(dialect=dialect, pretty=True, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        raise RuleError(f"rule {rule.id!r} cannot be written for {dialect}: {exc}") from exc


def entity_of(rule: AnyRule) -> str:
    """The entity a rule's findings are about."""
    if isinstance(rule, MatchRule | AggregateRule):
        return rule.entity
    return rule.table.partition(".")[2]
