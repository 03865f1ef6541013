"""Events checked as they arrive: status changes and milestones of one entity, judged by the
workspace's sequence rules against every event seen before for the same key.

Each key's events are kept in the workspace catalog, so the state a key has reached
survives restarts and is shared by every process. A batch of events is added to its
keys' history, and the sequence rules run over that history exactly as a run runs them
over a snapshot: the findings have the same ids, so one problem seen both ways is one
finding. Findings raised by events are kept with the period of the events that raised
them, and every run of that period reports them with its own (see `with_event_findings`).
Deadlines are judged at a period's cut-off, so only runs judge them, not events.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from adapters.canonical import ENTITIES
from rules.model import AnyRule, SequenceRule
from tallyclerk.errors import ConfigError, SourceError

from .backends.duckdb import DuckDBBackend
from .catalog import Catalog
from .config import LoadedWorkspace, parse_period
from .findings import FINDINGS_SCHEMA, empty_findings, to_findings
from .records import compiled_sql

# `retention.events` deletes the events received before its age (see engine.retention).
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS event_log (
        ref TEXT NOT NULL,
        record_key TEXT NOT NULL,
        group_key TEXT NOT NULL,
        row TEXT NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (ref, record_key)
    )""",
    "CREATE INDEX IF NOT EXISTS event_log_by_group ON event_log (ref, group_key)",
    """CREATE TABLE IF NOT EXISTS event_findings (
        finding_id TEXT PRIMARY KEY,
        period TEXT NOT NULL,
        found_at TEXT NOT NULL,
        row TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS event_findings_by_period ON event_findings (period)",
)


@dataclass(frozen=True)
class EventsChecked:
    """What a batch of events raised: the findings new to the workspace, the rules that
    judged them, and the status each key of the batch has reached."""

    findings: pa.Table
    rules: tuple[str, ...]
    states: dict[str, str]


def sequence_rules(workspace: LoadedWorkspace, ref: str) -> list[SequenceRule]:
    """The workspace's sequence rules over `ref`, without the deadlines only a run judges."""
    found = [
        rule.model_copy(update={"deadlines": []})
        for rule in workspace.rules
        if isinstance(rule, SequenceRule) and rule.table == ref
    ]
    if not found:
        raise ConfigError(
            f"no sequence rule of this workspace reads {ref}, so its events have no lifecycle "
            "to be checked against; declare a sequence rule on it."
        )
    return found


def check_events(
    workspace: LoadedWorkspace,
    catalog: Catalog,
    events: pa.Table,
    *,
    ref: str,
    rules: Sequence[SequenceRule],
    baseline: pa.Table | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    now: datetime | None = None,
) -> EventsChecked:
    """Add `events` (canonical rows of `ref`) to their keys' history and judge it.

    `baseline` is the latest run's snapshot of `ref`: the events a run has read count as
    seen, so the first event posted for a key is judged against what the run saw.
    """
    entity = ENTITIES[ref.partition(".")[2]]
    group_columns = _group_columns(rules)
    moment = now or datetime.now(UTC)
    _check_times(events, rules, moment, entity.columns)
    received = moment.astimezone(UTC).isoformat(timespec="seconds")
    rows = events.to_pylist()
    groups = sorted({_key_text(row, group_columns) for row in rows})

    with catalog.write() as db:
        _prepare(db)
        db.executemany(
            "INSERT INTO event_log (ref, record_key, group_key, row, received_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (ref, record_key) DO UPDATE SET row = "
            "excluded.row, group_key = excluded.group_key, received_at = excluded.received_at",
            [
                (
                    ref,
                    _key_text(row, entity.key),
                    _key_text(row, group_columns),
                    json.dumps(row, default=str),
                    received,
                )
                for row in rows
            ],
        )
        history = _history(db, ref, groups, events.schema)
        if baseline is not None:
            history = _with_baseline(history, baseline, group_columns, entity.key)
        findings = _judge(workspace, history, ref, rules, con)
        known = _known_ids(db, findings["finding_id"].to_pylist())
        fresh = findings.filter(
            pc.invert(pc.is_in(findings["finding_id"], value_set=pa.array(known, pa.string())))
        )
        period = _period_of(workspace, rules, events)
        db.executemany(
            "INSERT INTO event_findings (finding_id, period, found_at, row) VALUES (?, ?, ?, ?)",
            [
                (row["finding_id"], period, received, json.dumps(row, default=str))
                for row in fresh.to_pylist()
            ],
        )
    return EventsChecked(fresh, tuple(rule.id for rule in rules), _states(history, rules))


def with_event_findings(con: sqlite3.Connection, findings: pa.Table, period: str) -> pa.Table:
    """A run's findings with those events raised in its period that the run did not find."""
    exists = con.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'event_findings'"
    ).fetchone()
    if exists is None:
        return findings
    seen = set(findings["finding_id"].to_pylist())
    rows = [
        json.loads(row["row"])
        for row in con.execute(
            "SELECT row FROM event_findings WHERE period = ? ORDER BY finding_id", (period,)
        )
    ]
    extra = [row for row in rows if row["finding_id"] not in seen]
    if not extra:
        return findings
    for row in extra:
        if row.get("amount_at_risk") is not None:
            row["amount_at_risk"] = Decimal(row["amount_at_risk"])
    return pa.concat_tables([findings, pa.Table.from_pylist(extra, schema=FINDINGS_SCHEMA)])


def _check_times(
    events: pa.Table, rules: Sequence[SequenceRule], now: datetime, types: Mapping[str, str]
) -> None:
    """Refuse events that cannot be placed in a key's order or in a period: without their
    order or time, or more than a day ahead of now (a clock or a zone set wrong)."""
    columns = dict.fromkeys(
        column for rule in rules for column in (rule.order_by, rule.time) if column
    )
    latest = now + timedelta(days=1)
    for column in columns:
        if column not in events.column_names:
            continue
        for number, value in enumerate(events[column].to_pylist(), start=1):
            if value is None:
                raise SourceError(
                    f"record {number}: {column} is missing or not a valid {types[column]}; the "
                    "sequence rules order events by it, so every event needs one."
                )
            if isinstance(value, datetime) and _aware(value) > latest:
                raise SourceError(
                    f"record {number}: {column} {value.isoformat()} is more than a day in the "
                    "future; check the sending system's clock and time zone."
                )
            if type(value) is date and value > latest.date():
                raise SourceError(
                    f"record {number}: {column} {value.isoformat()} is more than a day in the "
                    "future; check the sending system's clock."
                )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _prepare(db: sqlite3.Connection) -> None:
    for statement in _SCHEMA:
        db.execute(statement)


def _group_columns(rules: Sequence[SequenceRule]) -> list[str]:
    """The key columns every rule shares: the events of one group are judged together."""
    shared = list(rules[0].key)
    for rule in rules[1:]:
        shared = [column for column in shared if column in rule.key]
    return shared


def _key_text(row: dict, columns: Sequence[str]) -> str:
    return ", ".join(f"{name}={row.get(name)}" for name in columns)


def _history(db: sqlite3.Connection, ref: str, groups: list[str], schema: pa.Schema) -> pa.Table:
    rows: list[dict] = []
    for start in range(0, len(groups), 500):
        chunk = groups[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        rows += [
            json.loads(row["row"])
            for row in db.execute(
                f"SELECT row FROM event_log WHERE ref = ? AND group_key IN ({marks})",
                (ref, *chunk),
            )
        ]
    entity = ENTITIES[ref.partition(".")[2]]
    columns = {
        name: pa.array([_typed(row.get(name), entity.columns[name]) for row in rows], field.type)
        for name, field in zip(schema.names, schema, strict=True)
    }
    return pa.table(columns, schema=schema)


def _with_baseline(
    history: pa.Table, baseline: pa.Table, group_columns: list[str], key: Sequence[str]
) -> pa.Table:
    """The history with the baseline's events of the same groups it does not hold itself."""
    if not history.num_rows:
        return history
    earlier = baseline
    for column in group_columns:
        if column not in earlier.column_names:
            return history
        earlier = earlier.filter(pc.is_in(earlier[column], value_set=history[column].unique()))
    posted = {_key_text(row, key) for row in history.select(list(key)).to_pylist()}
    keep = [_key_text(row, key) not in posted for row in earlier.select(list(key)).to_pylist()]
    earlier = earlier.filter(pa.array(keep, pa.bool_()))
    for name in history.column_names:
        if name not in earlier.column_names:
            field = history.schema.field(name)
            earlier = earlier.append_column(name, pa.nulls(earlier.num_rows, field.type))
    return pa.concat_tables([history, earlier.select(history.column_names).cast(history.schema)])


def _typed(value: object, type_name: str) -> object:
    """A value of a stored event back in its canonical type."""
    if value is None or not isinstance(value, str):
        return value
    if type_name == "timestamp":
        return datetime.fromisoformat(value)
    if type_name == "date":
        return date.fromisoformat(value)
    if type_name in ("decimal", "money"):
        return Decimal(value)
    return value


def _judge(
    workspace: LoadedWorkspace,
    history: pa.Table,
    ref: str,
    rules: Sequence[AnyRule],
    con: duckdb.DuckDBPyConnection | None,
) -> pa.Table:
    config = workspace.config
    context = config.compile_context(
        {ref: history.column_names}, parse_period("2000-01", config.timezone)
    )
    backend = DuckDBBackend(con=con)
    try:
        backend.register(ref, history)
        found = [
            to_findings(backend.query(compiled_sql(rule, context), label=f"rule {rule.id!r}"))
            for rule in rules
        ]
    finally:
        backend.close()
    return pa.concat_tables([empty_findings(), *found])


def _known_ids(db: sqlite3.Connection, ids: list[str]) -> list[str]:
    known: list[str] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        known += [
            row[0]
            for row in db.execute(
                f"SELECT finding_id FROM event_findings WHERE finding_id IN ({marks})", chunk
            )
        ]
    return known


def _period_of(workspace: LoadedWorkspace, rules: Sequence[SequenceRule], events: pa.Table) -> str:
    """The month of the newest event, by the first rule's order, in the workspace's zone."""
    zone = ZoneInfo(workspace.config.timezone)
    column = rules[0].order_by
    newest = pc.max(events[column]).as_py() if column in events.column_names else None
    if isinstance(newest, datetime):
        return newest.astimezone(zone).strftime("%Y-%m")
    if isinstance(newest, date):
        return newest.strftime("%Y-%m")
    return datetime.now(UTC).astimezone(zone).strftime("%Y-%m")


def _states(history: pa.Table, rules: Sequence[SequenceRule]) -> dict[str, str]:
    """The status of each key's latest event, by the first rule's order."""
    rule = rules[0]
    latest: dict[str, tuple[object, str]] = {}
    for row in history.to_pylist():
        key = _key_text(row, rule.key)
        moment = row.get(rule.order_by)
        if moment is None:
            continue
        if key not in latest or moment >= latest[key][0]:
            latest[key] = (moment, row.get(rule.status))
    return {key: status for key, (_, status) in sorted(latest.items())}
