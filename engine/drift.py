"""Schema drift: columns a source added, dropped, renamed or retyped since the last run.

Drift is reported as findings before any rule reads the entity; a mapping that
reads a column which drifted away fails with a message naming the change.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import pyarrow as pa

from adapters.base import SourceIssue, data_columns

_RENAME_SIMILARITY = 0.75


@dataclass(frozen=True)
class Change:
    kind: str  # added, dropped, renamed, retyped
    column: str
    detail: str
    old_name: str | None = None


def source_schema(table: pa.Table) -> dict[str, str]:
    """The source's own columns and their Arrow types, as the manifest keeps them."""
    return {name: str(table.schema.field(name).type) for name in data_columns(table)}


def schema_changes(before: dict[str, str], after: dict[str, str]) -> list[Change]:
    """What changed between two source schemas, renames paired by name and type."""
    dropped = [name for name in before if name not in after]
    added = [name for name in after if name not in before]
    changes: list[Change] = []
    for old in list(dropped):
        new = _renamed_to(old, before[old], added, after)
        if new is not None:
            dropped.remove(old)
            added.remove(new)
            changes.append(Change("renamed", new, f"renamed from {old!r} to {new!r}", old))
    changes += [
        Change("dropped", name, f"{name!r} ({before[name]}) was dropped") for name in dropped
    ]
    changes += [Change("added", name, f"{name!r} ({after[name]}) was added") for name in added]
    changes += [
        Change("retyped", name, f"{name!r} changed type from {before[name]} to {after[name]}")
        for name in before
        if name in after and before[name] != after[name]
    ]
    return changes


def drift_issues(changes: list[Change], *, where: str, since_run: str) -> list[SourceIssue]:
    return [
        SourceIssue(
            problem="schema_drift",
            where=where,
            field=change.column,
            variant=change.kind,
            severity="medium" if change.kind == "added" else "high",
            message=f"{where}: column {change.detail} since run {since_run}.",
        )
        for change in changes
    ]


def _renamed_to(old: str, old_type: str, added: list[str], after: dict[str, str]) -> str | None:
    candidates = [name for name in added if after[name] == old_type]
    for name in candidates:
        if _normal(name) == _normal(old):
            return name
    # A name that grew or lost a part (`sku` to `sku_code`) is the same column renamed.
    grown = [n for n in candidates if _normal(old) in _normal(n) or _normal(n) in _normal(old)]
    if len(grown) == 1:
        return grown[0]
    scored = [
        (difflib.SequenceMatcher(None, _normal(old), _normal(n)).ratio(), n) for n in candidates
    ]
    best = max(scored, default=(0.0, None))
    return best[1] if best[0] >= _RENAME_SIMILARITY else None


def _normal(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())
