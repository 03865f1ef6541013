"""Root causes: the upstream finding that explains each finding, by references between entities.

A master record missing from a system (an item the WMS lost, a carrier the ERP never
created) makes every record that references it wrong in that system: the order lines,
shipment lines and stock of the item, the shipments of the carrier. The record's own
`missing_in_<system>` finding is then the cause, and each finding on a referencing
record in that system names it in `cause_id`; the cause counts them in `explains`.

References come from the canonical entities: a column named like the one-column key of
another entity (`item_id`, `carrier_scac`, `customer_id`) refers to that entity. A
finding's record is found by its business key in the snapshots of its systems, so a
finding keyed by order line is linked through the line's `item_id`.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from adapters.canonical import ENTITIES

log = logging.getLogger(__name__)

CAUSE_FIELDS = (pa.field("cause_id", pa.string()), pa.field("explains", pa.int32()))
_MISSING = "missing_in_"


def _masters() -> dict[str, str]:
    """Key column to the entity it is the one-column key of, when other entities use it."""
    keys = {entity.key[0]: name for name, entity in ENTITIES.items() if len(entity.key) == 1}
    used = {column for entity in ENTITIES.values() for column in entity.columns}
    return {column: name for column, name in keys.items() if column in used}


# `item_id` -> `item`, `carrier_scac` -> `carrier`, ...
MASTERS: Mapping[str, str] = _masters()


@dataclass(frozen=True)
class Cause:
    finding_id: str
    entity: str
    value: str
    # The system the master record is missing from.
    system: str


def parse_key(key: str) -> dict[str, str]:
    """`order_id=SO-1, line_no=2` as {column: value}; a value may not hold `, name=`."""
    parts: dict[str, str] = {}
    last = None
    for piece in key.split(", "):
        name, sep, value = piece.partition("=")
        if sep and name.isidentifier():
            parts[name] = value
            last = name
        elif last is not None:
            parts[last] += f", {piece}"
    return parts


def link_causes(findings: pa.Table, snapshots: Mapping[str, pa.Table]) -> pa.Table:
    """`findings` with `cause_id` and `explains`; `snapshots` by `system.entity`."""
    rows = findings.to_pylist()
    causes = {(c.entity, c.value): c for c in _causes(rows)}
    cause_of: dict[str, str] = {}
    if causes:
        wanted = {entity for entity, _ in causes}
        references = _references(rows, snapshots, wanted)
        cause_ids = {cause.finding_id for cause in causes.values()}
        for row in rows:
            if row["finding_id"] in cause_ids:
                continue
            found = _explaining(row, references.get(row["finding_id"], set()), causes)
            if found is not None:
                cause_of[row["finding_id"]] = found.finding_id
    explains: dict[str, int] = {}
    for cause_id in cause_of.values():
        explains[cause_id] = explains.get(cause_id, 0) + 1
    ids = findings["finding_id"].to_pylist()
    log.info("root causes: %d findings explained by %d causes", len(cause_of), len(explains))
    findings = _drop(findings, [f.name for f in CAUSE_FIELDS])
    findings = findings.append_column(
        CAUSE_FIELDS[0], pa.array([cause_of.get(i) for i in ids], pa.string())
    )
    return findings.append_column(
        CAUSE_FIELDS[1], pa.array([explains.get(i, 0) for i in ids], pa.int32())
    )


def causes_first(findings: pa.Table) -> pa.Table:
    """Causes (most explained first), then findings no cause explains, then explained ones
    under their cause."""
    rows = findings.to_pylist()
    order = {
        row["finding_id"]: position
        for position, row in enumerate(sorted(rows, key=lambda r: -(r.get("explains") or 0)))
    }

    def rank(row: dict) -> tuple:
        if row.get("explains"):
            return (0, order[row["finding_id"]], 0)
        if row.get("cause_id") and row["cause_id"] in order:
            return (0, order[row["cause_id"]], 1)
        return (1, order[row["finding_id"]], 0)

    indices = sorted(range(len(rows)), key=lambda i: rank(rows[i]))
    return findings.take(pa.array(indices, pa.int64()))


def order_actions(actions: pa.Table, findings: pa.Table) -> pa.Table:
    """Actions that fix a cause before the ones it makes unnecessary; the rest keep their
    order between them. Each action carries the cause of its finding in `cause_id`."""
    if "cause_id" not in findings.column_names:
        return actions
    cause_of = dict(
        zip(findings["finding_id"].to_pylist(), findings["cause_id"].to_pylist(), strict=True)
    )
    causes = {cause for cause in cause_of.values() if cause is not None}
    finding_ids = actions["finding_id"].to_pylist()

    def rank(position: int) -> tuple[int, int]:
        finding_id = finding_ids[position]
        tier = 0 if finding_id in causes else 2 if cause_of.get(finding_id) else 1
        return tier, position

    indices = sorted(range(actions.num_rows), key=rank)
    ordered = actions.take(pa.array(indices, pa.int64()))
    ordered = _drop(ordered, ["cause_id"])
    return ordered.append_column(
        "cause_id", pa.array([cause_of.get(finding_ids[i]) for i in indices], pa.string())
    )


def causes_first_batches(
    batches: Iterable[tuple[str, str]], explains: Mapping[str, int]
) -> list[str]:
    """Batch ids, given as (run id, batch id) in run order, with each run's batches that fix
    root causes first, most explained first: approving those makes others unnecessary. The
    sort is stable, so ties keep their order."""
    batches = list(dict.fromkeys(batches))
    runs = list(dict.fromkeys(run for run, _ in batches))
    ranked = sorted(batches, key=lambda pair: (runs.index(pair[0]), -explains.get(pair[1], 0)))
    return [batch_id for _, batch_id in ranked]


def explained_by_batch(con: sqlite3.Connection, runs_dir: Path) -> dict[str, int]:
    """Per batch, how many findings the root causes its actions fix explain, read from the
    findings of each batch's run (runs written before causes were linked count none)."""
    explains: dict[str, int] = {}
    for (run_id,) in con.execute("SELECT DISTINCT run_id FROM batches").fetchall():
        path = runs_dir / run_id / "findings.parquet"
        if not path.is_file() or "explains" not in pq.read_schema(path).names:
            continue
        table = pq.read_table(path, columns=["finding_id", "explains"])
        counts = {
            row["finding_id"]: row["explains"] for row in table.to_pylist() if row["explains"]
        }
        if not counts:
            continue
        rows = con.execute(
            "SELECT batch_id, finding_id FROM actions WHERE run_id = ?", (run_id,)
        ).fetchall()
        for row in rows:
            if row["finding_id"] in counts:
                batch = row["batch_id"]
                explains[batch] = explains.get(batch, 0) + counts[row["finding_id"]]
    return explains


def _causes(rows: Iterable[dict]) -> list[Cause]:
    """Findings saying a master record is missing from one system."""
    found = []
    for row in rows:
        key = parse_key(row["key"])
        entity = ENTITIES.get(row["entity"])
        if entity is None or len(entity.key) != 1 or list(key) != list(entity.key):
            continue
        if MASTERS.get(entity.key[0]) != row["entity"] or not row["problem"].startswith(_MISSING):
            continue
        system = row["problem"].removeprefix(_MISSING)
        found.append(Cause(row["finding_id"], row["entity"], key[entity.key[0]], system))
    return found


def _explaining(row: dict, references: set[tuple[str, str]], causes: Mapping) -> Cause | None:
    """The cause of a finding: a master record it references that is missing from one of its
    systems (or any system, for a finding that says the reference itself is broken)."""
    systems = set(row["systems"].split("+"))
    matches = [
        causes[ref]
        for ref in sorted(references)
        if ref in causes and (causes[ref].system in systems or row["problem"] == "reference")
    ]
    return matches[0] if matches else None


def _references(
    rows: list[dict], snapshots: Mapping[str, pa.Table], wanted: set[str]
) -> dict[str, set[tuple[str, str]]]:
    """Per finding id, the (master entity, value) pairs its record refers to."""
    found: dict[str, set[tuple[str, str]]] = {}
    lookups: dict[tuple[str, tuple[str, ...]], list[tuple[str, dict[str, str]]]] = {}
    for row in rows:
        refs = found.setdefault(row["finding_id"], set())
        if row["problem"] == "reference" and MASTERS.get(row["field"] or "") in wanted:
            refs.add((MASTERS[row["field"]], str(row["other_value"])))
        key = parse_key(row["key"])
        for column, value in key.items():
            master = MASTERS.get(column)
            if master in wanted and master != row["entity"]:
                refs.add((master, value))
        for ref in _tables_for(row, key, snapshots):
            lookups.setdefault((ref, tuple(key)), []).append((row["finding_id"], key))
    for (ref, columns), wanting in lookups.items():
        table = snapshots[ref]
        pointing = [c for c in table.column_names if MASTERS.get(c) in wanted and c not in columns]
        if not pointing:
            continue
        first = pa.array(sorted({key[columns[0]] for _, key in wanting}), pa.string())
        table = table.filter(pc.is_in(pc.cast(table[columns[0]], pa.string()), first))
        values = _values_by_key(table, list(columns), pointing)
        for finding_id, key in wanting:
            named = values.get(tuple(key[c] for c in columns), {})
            # A key over records naming several items (stock value per location) is a total,
            # not a record of one of them: it refers to none.
            for column, distinct in named.items():
                if len(distinct) == 1:
                    found[finding_id].add((MASTERS[column], next(iter(distinct))))
    return found


def _tables_for(row: dict, key: dict[str, str], snapshots: Mapping[str, pa.Table]) -> list[str]:
    """Snapshots of the finding's systems holding its record: of its own entity when one has
    every key column, else any of its systems' snapshots that has them."""
    if not key or row["entity"] not in ENTITIES:
        return []
    systems = row["systems"].split("+")
    candidates = [
        ref
        for ref, table in snapshots.items()
        if ref.split(".", 1)[0] in systems and all(c in table.column_names for c in key)
    ]
    own = [ref for ref in candidates if ref.split(".", 1)[1] == row["entity"]]
    return own or candidates


def _values_by_key(
    table: pa.Table, columns: list[str], pointing: list[str]
) -> dict[tuple[str, ...], dict[str, set[str]]]:
    """Key values as text to the values each referencing column holds in rows of that key."""
    text = [pc.cast(table[c], pa.string()).to_pylist() for c in columns]
    refs = {c: pc.cast(table[c], pa.string()).to_pylist() for c in pointing}
    result: dict[tuple[str, ...], dict[str, set[str]]] = {}
    for position in range(table.num_rows):
        bucket = result.setdefault(tuple(values[position] for values in text), {})
        for column, values in refs.items():
            if values[position] is not None:
                bucket.setdefault(column, set()).add(values[position])
    return result


def _drop(table: pa.Table, names: list[str]) -> pa.Table:
    return table.drop_columns([n for n in names if n in table.column_names])
