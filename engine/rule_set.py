"""The rules a workspace runs: its packs' rules, fitted to its systems and columns, then
its own rules. A pack rule the workspace cannot run is skipped and said so; its own rule
that cannot run stops the workspace from loading.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from adapters.canonical import ENTITIES, TYPES
from rules.compile import compile_rule
from rules.findings import CompileContext, family_of
from rules.model import AnyRule, Rule
from rules.packs import fitted, load_pack, with_systems
from tallyclerk.errors import RuleError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SkippedRule:
    """A pack rule the workspace cannot run, and why."""

    rule_id: str
    pack: str
    reason: str


@dataclass(frozen=True)
class RuleSet:
    """The rules a run evaluates, in order, with where each comes from and what was skipped."""

    rules: tuple[AnyRule, ...] = ()
    skipped: tuple[SkippedRule, ...] = ()
    # A pack's name, or "workspace".
    origins: Mapping[str, str] = field(default_factory=dict)


def rules_to_run(
    own: Sequence[AnyRule],
    packs: Sequence[str],
    systems_by_kind: Mapping[str, list[str]],
    context: CompileContext,
    *,
    path: Path,
) -> RuleSet:
    """Compile the workspace's own rules once, to fail fast; add the packs' rules it can run.

    A workspace rule with a pack rule's id replaces it.
    """
    for index, rule in enumerate(own):
        try:
            compile_rule(rule, context)
        except RuleError as exc:
            raise RuleError(f"{path}: rules[{index}]: {exc}") from exc

    own_ids = {rule.id for rule in own}
    rules: list[AnyRule] = []
    skipped: list[SkippedRule] = []
    origins: dict[str, str] = {}
    for pack in packs:
        for declared in load_pack(pack).rules:
            if declared["id"] in own_ids:
                log.info(
                    "rule %s of pack %s is replaced by the workspace's own", declared["id"], pack
                )
                continue
            rule, reason = _pack_rule(declared, systems_by_kind, context)
            if rule is None:
                log.warning("skipped rule %s of pack %s: %s", declared["id"], pack, reason)
                skipped.append(SkippedRule(declared["id"], pack, reason or ""))
                continue
            rules.append(rule)
            origins[rule.id] = pack
    origins |= dict.fromkeys(own_ids, "workspace")
    return RuleSet(rules=(*rules, *own), skipped=tuple(skipped), origins=origins)


def _pack_rule(
    declared: dict[str, Any], systems_by_kind: Mapping[str, list[str]], context: CompileContext
) -> tuple[AnyRule | None, str | None]:
    """The pack rule in the workspace's systems and columns, or why it cannot run."""
    resolved, reason = with_systems(declared, systems_by_kind)
    if resolved is None:
        return None, reason
    resolved, dropped = fitted(resolved, {ref: list(cols) for ref, cols in context.tables.items()})
    if resolved.get("kind") == "validate" and not resolved["checks"]:
        return None, f"none of its columns is mapped in {resolved['table']}"
    if dropped:
        log.info("rule %s runs without %s: not mapped", declared["id"], ", ".join(dropped))
    rule: AnyRule = TypeAdapter(Rule).validate_python(resolved)
    try:
        compile_rule(rule, context)
    except RuleError as exc:
        # The first clause names what is missing; the list of what there is would be long.
        return None, str(exc).removeprefix(f"rule {rule.id!r} ").split("; ")[0]
    return rule, None


def canonical_types(tables: Mapping[str, Iterable[str]]) -> dict[str, dict[str, str]]:
    """The type family of each snapshot column, from its entity's canonical schema."""
    return {
        ref: {
            column: family
            for column in columns
            if (family := family_of(TYPES[ENTITIES[ref.partition(".")[2]].columns[column]]))
        }
        for ref, columns in tables.items()
    }


def canonical_context(refs: Iterable[str], *, period_start: str, period_end: str) -> CompileContext:
    """A context where each snapshot has every column of its canonical entity."""
    tables = {ref: list(ENTITIES[ref.partition(".")[2]].columns) for ref in refs}
    return CompileContext(
        tables=tables,
        period_start=period_start,
        period_end=period_end,
        types=canonical_types(tables),
    )
