"""Circular updates: writes that flowed against the ownership direction, seen across runs.

For every field a `match` rule compares, the values the owner and the other system
held are followed through the snapshots of the last runs and this one:

- `reverse_write`: the owner's value changed to the value the other system held in the
  run before, where the two differed: the consumer's value was written back into the
  system of record;
- `value_flip`: over three runs in a row the owner's value went from one value to another
  and back, and the other system held the value in between: two systems overwrite each
  other, run after run.

A finding names the field, the two systems, and the runs each value was seen in.
Values are compared as the rule compares them (text ignoring case and blanks, numbers
and times within its tolerances), and keys are normalised with the rule's own steps.
"""

from __future__ import annotations

import logging
import sqlite3
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from adapters.canonical import ENTITIES
from rules.findings import finding_id, systems_text
from rules.model import FieldCompare, MatchRule
from rules.sql import table_name

from .config import LoadedWorkspace
from .findings import FINDINGS_SCHEMA
from .snapshot import Snapshot

log = logging.getLogger(__name__)

# Earlier runs read besides the current one: enough to see a value go and come back.
LOOKBACK = 4


@dataclass(frozen=True)
class Sighting:
    """One record's field in one run: what the owner and the other system held."""

    run_id: str
    owner: object
    other: object


def circular_for_run(
    con: sqlite3.Connection,
    workspace: LoadedWorkspace,
    runs_dir: Path,
    snapshots: Iterable[Snapshot],
    run_id: str,
) -> pa.Table:
    """The findings of a run: its match rules over its snapshots and those of the last runs
    whose snapshots are still kept."""
    ids = [row[0] for row in con.execute("SELECT run_id FROM runs ORDER BY seq")]
    earlier = [(i, runs_dir / i) for i in ids if (runs_dir / i / "snapshots").is_dir()]
    owner_of = {
        (entity, name): entry.fields.get(name, entry.owner)
        for entity, entry in workspace.config.ownership.items()
        for name in ENTITIES[entity].columns
    }
    matches = [rule for rule in workspace.rules if isinstance(rule, MatchRule)]
    tables = {snapshot.ref: snapshot.table for snapshot in snapshots}
    return circular_findings(matches, owner_of, tables, earlier, run_id)


def circular_findings(
    rules: Iterable[MatchRule],
    owner_of: Mapping[tuple[str, str], str],
    current: Mapping[str, pa.Table],
    earlier: Sequence[tuple[str, Path]],
    run_id: str,
) -> pa.Table:
    """Findings of every match rule's fields; `earlier` is (run id, run folder), oldest first,
    and `owner_of` gives the owner of (entity, field)."""
    rows: list[dict] = []
    for rule in rules:
        for compare in rule.fields:
            owner = owner_of.get((rule.entity, compare.name))
            if owner not in rule.systems:
                continue
            other = next(system for system in rule.systems if system != owner)
            series = _series(rule, compare, owner, other, current, earlier, run_id)
            for key, sightings in series.items():
                found = _pattern(sightings, compare)
                if found is not None:
                    rows.append(_finding(rule, compare, owner, other, key, sightings, *found))
    if rows:
        log.info("circular updates: %d findings", len(rows))
    return pa.Table.from_pylist(rows, schema=FINDINGS_SCHEMA)


def _series(
    rule: MatchRule,
    compare: FieldCompare,
    owner: str,
    other: str,
    current: Mapping[str, pa.Table],
    earlier: Sequence[tuple[str, Path]],
    run_id: str,
) -> dict[str, list[Sighting]]:
    """Per key text, the field's values in each run that had the record in both systems."""
    columns = [*rule.key, compare.name]
    now_tables = {system: current.get(f"{system}.{rule.entity}") for system in (owner, other)}
    if any(t is None or not set(columns) <= set(t.column_names) for t in now_tables.values()):
        return {}
    before: list[tuple[str, dict[str, pa.Table]]] = []
    for earlier_id, folder in earlier[-LOOKBACK:]:
        tables = {}
        for system in (owner, other):
            path = folder / "snapshots" / f"{table_name(f'{system}.{rule.entity}')}.parquet"
            if not path.is_file() or not set(columns) <= set(pq.read_schema(path).names):
                break
            tables[system] = pq.read_table(path, columns=columns)
        else:
            before.append((earlier_id, tables))
    if not before:
        return {}

    # Both patterns need the owner's value to have changed since the run before; following
    # only those records keeps a run over millions of rows quick.
    changed = _changed(rule, now_tables[owner].select(columns), before[-1][1][owner], compare)
    latest = {system: table.select(columns) for system, table in now_tables.items()}
    runs: list[tuple[str, dict[str, dict[tuple, object]]]] = []
    for rid, tables in [*before, (run_id, latest)]:
        values = {
            s: _values(rule, _only(rule, t, changed), compare.name) for s, t in tables.items()
        }
        runs.append((rid, values))
    now = runs[-1][1]
    series: dict[str, list[Sighting]] = {}
    for key in now[owner].keys() & now[other].keys():
        seen = [
            Sighting(rid, tables[owner][key], tables[other][key])
            for rid, tables in runs
            if key in tables[owner] and key in tables[other]
        ]
        if len(seen) >= 2 and not _all_same([s.owner for s in seen], compare):
            series[", ".join(f"{c}={v}" for c, v in zip(rule.key, key, strict=True))] = seen
    return series


def _changed(
    rule: MatchRule, now: pa.Table, before: pa.Table, compare: FieldCompare
) -> pa.Array | None:
    """Raw key texts of the owner's records whose value is not exactly what the run before
    held (or that it lacked); None to follow every record, when keys are normalised."""
    if rule.normalise:
        return None
    field = compare.name
    now_keys, before_keys = _raw_keys(now, rule.key), _raw_keys(before, rule.key)
    joined = pa.table({"k": now_keys, "v": _raw(now[field])}).join(
        pa.table({"k": before_keys, "b": _raw(before[field])}), keys="k", join_type="left outer"
    )
    differs = pc.or_(pc.is_null(joined["b"]), pc.not_equal(joined["v"], joined["b"]))
    return joined.filter(differs)["k"].combine_chunks()


def _only(rule: MatchRule, table: pa.Table, keys: pa.Array | None) -> pa.Table:
    if keys is None:
        return table
    return table.filter(pc.is_in(_raw_keys(table, rule.key), value_set=keys))


def _raw_keys(table: pa.Table, key: list[str]) -> pa.ChunkedArray:
    parts = [_raw(table[column]) for column in key]
    return pc.binary_join_element_wise(*parts, "\x1f")


def _raw(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column as text, NULL as a marker no value has, so NULLs compare equal."""
    return pc.fill_null(pc.cast(column, pa.string()), "\x00NULL")


def _pattern(seen: list[Sighting], compare: FieldCompare) -> tuple[str, list[Sighting]] | None:
    """The pattern the last sightings show, with the sightings that show it."""
    if len(seen) >= 3:
        a, b, c = seen[-3:]
        if (
            not _same(a.owner, b.owner, compare)
            and _same(a.owner, c.owner, compare)
            and _same(b.owner, a.other, compare)
        ):
            return "value_flip", [a, b, c]
    before, now = seen[-2:]
    if (
        not _same(before.owner, now.owner, compare)
        and not _same(before.owner, before.other, compare)
        and _same(now.owner, before.other, compare)
    ):
        return "reverse_write", [before, now]
    return None


def _finding(
    rule: MatchRule,
    compare: FieldCompare,
    owner: str,
    other: str,
    key: str,
    seen: list[Sighting],
    problem: str,
    shown: list[Sighting],
) -> dict:
    rule_id = f"circular.{rule.id}"
    field = compare.name
    if problem == "reverse_write":
        before, now = shown
        message = (
            f"{field} of {rule.entity} {key}: {owner}, its owner, changed from "
            f"{_shown(before.owner)} to {_shown(now.owner)} in run {now.run_id}, the value "
            f"{other} held in "
            f"run {before.run_id}: {other}'s value was written back into the system of record."
        )
    else:
        message = (
            f"{field} of {rule.entity} {key} flips between two values: {owner} held "
            f"{_runs_of(shown, 'owner')}; {other} held {_runs_of(shown, 'other')}: the two "
            "systems overwrite each other."
        )
    return {
        "finding_id": finding_id(rule_id, rule.entity, key, field, problem),
        "rule_id": rule_id,
        "kind": "sequence",
        "severity": "high",
        "entity": rule.entity,
        "problem": problem,
        "key": key,
        "field": field,
        "systems": systems_text(owner, other),
        "owner_system": owner,
        "owner_value": _text(shown[-1].owner),
        "other_value": _text(shown[-1].other),
        "amount_at_risk": None,
        "message": message,
        "owner_team": rule.owner_team,
        "rule_version": rule.version,
    }


def _runs_of(shown: list[Sighting], side: str) -> str:
    """`'A' in runs 2026-11.001 and 2026-11.003, 'B' in run 2026-11.002`."""
    groups: dict[str, list[str]] = {}
    for sighting in shown:
        groups.setdefault(_shown(getattr(sighting, side)), []).append(sighting.run_id)
    parts = []
    for value, runs in groups.items():
        label = "runs" if len(runs) > 1 else "run"
        parts.append(f"{value} in {label} {' and '.join(runs)}")
    return ", ".join(parts)


def _values(rule: MatchRule, table: pa.Table, field: str) -> dict[tuple, object]:
    keys = [table[c].to_pylist() for c in rule.key]
    values = table[field].to_pylist()
    found = {}
    for position, value in enumerate(values):
        key = tuple(_key_part(rule, c, keys[i][position]) for i, c in enumerate(rule.key))
        found[key] = value
    return found


def _key_part(rule: MatchRule, column: str, value: object) -> str:
    text = "NULL" if value is None else str(value)
    steps = rule.normalise.get(column, []) if isinstance(rule.normalise, dict) else rule.normalise
    for step in steps:
        if step == "trim":
            text = text.strip()
        elif step == "case":
            text = text.upper()
        elif step == "leading_zeros":
            text = text.lstrip("0") or "0"
        elif step == "nfkc":
            text = unicodedata.normalize("NFKC", text)
    return text


def _all_same(values: list[object], compare: FieldCompare) -> bool:
    return all(_same(values[0], value, compare) for value in values[1:])


def _same(a: object, b: object, compare: FieldCompare) -> bool:
    """Equal as the rule compares: text without case and blanks, numbers and times within
    the rule's tolerances, anything else exactly."""
    if a is None or b is None:
        return a is None and b is None
    if compare.compare == "text":
        return " ".join(str(a).split()).casefold() == " ".join(str(b).split()).casefold()
    if compare.compare == "numeric":
        try:
            x, y = Decimal(str(a)), Decimal(str(b))
        except InvalidOperation:
            return str(a) == str(b)
        tolerance = Decimal(str(compare.abs_tol or 0))
        if compare.rel_tol:
            tolerance = max(tolerance, Decimal(str(compare.rel_tol)) * max(abs(x), abs(y)))
        return abs(x - y) <= tolerance
    if compare.compare == "time" and isinstance(a, datetime) and isinstance(b, datetime):
        return abs((a - b).total_seconds()) <= (compare.window_seconds or 0)
    return a == b


def _shown(value: object) -> str:
    """A value in a message: text quoted, numbers without trailing zeros."""
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    if isinstance(value, datetime):
        return value.isoformat()
    return repr(value)


def _text(value: object) -> str | None:
    return None if value is None else str(value)
