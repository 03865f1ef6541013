"""Compile any rule into its finding query, show that query as SQL for a backend, and finish
the rows it returns (near-duplicate pairs become clusters).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError

from tallyclerk.errors import ConfigError, RuleError

from .aggregate import aggregate_sql
from .clusters import cluster_findings
from .duplicates import MEMBER_COLUMNS, duplicates_sql
from .findings import CompileContext, finding_query
from .match import match_sql
from .model import AggregateRule, AnyRule, DuplicatesRule, MatchRule
from .sequence import sequence_sql
from .spark_sql import for_spark
from .validate import validate_sql

_COMPILERS: dict[str, Callable[[Any, CompileContext], exp.Select]] = {
    "validate": validate_sql,
    "match": match_sql,
    "aggregate": aggregate_sql,
    "duplicates": duplicates_sql,
    "sequence": sequence_sql,
}

# The backends tallyclerk runs on; their SQL is executed by the tests.
RUN_DIALECTS = ("duckdb", "spark")
# Dialects a rule can be shown in, for review or for running it elsewhere by hand.
DIALECTS = (*RUN_DIALECTS, "postgres", "snowflake")

__all__ = ["DIALECTS", "RUN_DIALECTS", "compile_rule", "entity_of", "finish_findings", "rule_sql"]


def compile_rule(rule: AnyRule, ctx: CompileContext) -> exp.Select:
    """The query returning the rule's findings, with the columns of FINDING_COLUMNS.

    A near-duplicates rule adds the columns of MEMBER_COLUMNS, which `finish_findings`
    reads and drops.
    """
    compiler = _COMPILERS.get(rule.kind)
    if compiler is None:
        raise RuleError(
            f"rule {rule.id!r} kind: unknown kind {rule.kind!r}; use one of: "
            + ", ".join(_COMPILERS)
            + "."
        )
    query = finding_query(
        compiler(rule, ctx),
        rule_id=rule.id,
        kind=rule.kind,
        severity=rule.severity,
        entity=entity_of(rule),
        owner_team=rule.owner_team,
        version=rule.version,
    )
    if isinstance(rule, DuplicatesRule) and rule.near is not None:
        query = query.select(*(exp.column(c, quoted=True) for c in MEMBER_COLUMNS))
    return query


def finish_findings(rule: AnyRule, found: pa.Table) -> pa.Table:
    """The rule's findings from the rows its query returned."""
    if isinstance(rule, DuplicatesRule) and rule.near is not None:
        return cluster_findings(rule, found)
    return found


def rule_sql(rule: AnyRule, ctx: CompileContext, dialect: str) -> str:
    """The rule's finding query as readable SQL for `dialect`."""
    if dialect not in DIALECTS:
        raise ConfigError(f"unknown SQL dialect {dialect!r}; use one of: {', '.join(DIALECTS)}.")
    query = compile_rule(rule, dataclasses.replace(ctx, dialect=dialect))
    if dialect == "spark":
        query = for_spark(query)
    try:
        sql = query.sql(dialect=dialect, pretty=True, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        raise RuleError(f"rule {rule.id!r} cannot be written for {dialect}: {exc}") from exc
    if isinstance(rule, DuplicatesRule) and rule.near is not None:
        sql = (
            "-- These rows are near-duplicate pairs; tallyclerk joins them into clusters,\n"
            "-- one finding per cluster, after the query.\n" + sql
        )
        if dialect == "postgres" and rule.near.similarity == "levenshtein":
            sql = "-- levenshtein() needs: CREATE EXTENSION fuzzystrmatch;\n" + sql
    return sql


def entity_of(rule: AnyRule) -> str:
    """The entity a rule's findings are about."""
    if isinstance(rule, MatchRule | AggregateRule):
        return rule.entity
    return rule.table.partition(".")[2]
