"""Write approved changes to a PostgreSQL table: one transaction, each change guarded.

An update only touches a row whose columns still hold the values the run saw;
an insert only adds a row whose key is still free. A row that changed since the
run is reported as a conflict and left as it is. A row that already holds the
wanted values counts as applied, so applying the same changes twice changes
nothing the second time. Each change runs in its own savepoint: one that fails
is rolled back alone, with its reason, and the others still commit together.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from tallyclerk.errors import ApplyError

log = logging.getLogger(__name__)

CONNECT_SECONDS = 10


@dataclass(frozen=True)
class Write:
    """One row: find it by `key`; set `values` where `expect` still holds, or insert it."""

    table: str
    key: Mapping[str, object]
    values: Mapping[str, object]
    expect: Mapping[str, object] | None = None
    insert: bool = False


@dataclass(frozen=True)
class Change:
    """The writes of one action, applied all together or not at all."""

    action_id: str
    writes: tuple[Write, ...]


@dataclass(frozen=True)
class Outcome:
    action_id: str
    status: str  # applied, conflicted or failed
    reason: str


class _Conflict(Exception):
    """A guarded row is not what the run saw."""


def apply_changes(dsn: str, changes: Sequence[Change], *, where: str) -> list[Outcome]:
    """Apply `changes` in one transaction; `where` names the target in messages."""
    try:
        con = psycopg.connect(dsn, connect_timeout=CONNECT_SECONDS)
    except psycopg.Error as exc:
        raise ApplyError(f"{where}: cannot connect to PostgreSQL: {exc}".strip()) from exc
    outcomes: list[Outcome] = []
    try:
        with con.transaction():
            for change in changes:
                outcomes.append(_apply_one(con, change))
    except psycopg.Error as exc:
        raise ApplyError(
            f"{where}: the transaction failed and nothing was written: {exc}".strip()
        ) from exc
    finally:
        con.close()
    counts = {s: sum(o.status == s for o in outcomes) for s in ("applied", "conflicted", "failed")}
    log.info("%s: %d applied, %d conflicted, %d failed", where, *counts.values())
    return outcomes


def _apply_one(con: psycopg.Connection, change: Change) -> Outcome:
    try:
        with con.transaction():
            done = [_write(con, write) for write in change.writes]
    except _Conflict as exc:
        return Outcome(change.action_id, "conflicted", str(exc))
    except psycopg.Error as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Outcome(change.action_id, "failed", message)
    if all(already for already in done):
        return Outcome(change.action_id, "applied", "already in place; nothing changed")
    return Outcome(change.action_id, "applied", "")


def _write(con: psycopg.Connection, write: Write) -> bool:
    """Apply one write; True when the row already held the wanted values."""
    table = sql.Identifier(*write.table.split("."))
    key = _equal_all(write.key)
    if write.insert:
        columns = list(write.values)
        statement = sql.SQL(
            "INSERT INTO {table} ({columns}) SELECT {values} WHERE NOT EXISTS "
            "(SELECT 1 FROM {table} WHERE {key})"
        ).format(
            table=table,
            columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
            values=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            key=key,
        )
        params = [*write.values.values(), *write.key.values()]
    else:
        guard = (
            _equal_all(write.expect)
            if write.expect
            else sql.SQL("NOT ({})").format(_equal_all(write.values))
        )
        statement = sql.SQL("UPDATE {table} SET {assignments} WHERE {key} AND {guard}").format(
            table=table,
            assignments=sql.SQL(", ").join(
                sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder())
                for name in write.values
            ),
            key=key,
            guard=guard,
        )
        params = [
            *write.values.values(),
            *write.key.values(),
            *(write.expect or write.values).values(),
        ]
    rows = con.execute(statement, params).rowcount
    if rows == 1:
        return False
    if rows > 1:
        raise psycopg.DataError(
            f"{_describe(write.key)} matches {rows} rows of {write.table}; the key must name one"
        )
    return _already_in_place(con, table, write)


def _already_in_place(con: psycopg.Connection, table: sql.Composable, write: Write) -> bool:
    """Nothing was written: either the wanted values are there already, or it is a conflict."""
    names = list(dict.fromkeys([*write.values, *(write.expect or {})]))
    statement = sql.SQL("SELECT ({checks}), {columns} FROM {table} WHERE {key}").format(
        checks=_equal_all(write.values),
        columns=sql.SQL(", ").join(
            sql.SQL("{}::text").format(sql.Identifier(name)) for name in names
        ),
        table=table,
        key=_equal_all(write.key),
    )
    found = con.execute(statement, [*write.values.values(), *write.key.values()]).fetchall()
    if len(found) == 1 and found[0][0]:
        return True
    if not found:
        raise _Conflict(f"{write.table} has no row with {_describe(write.key)} any more")
    if write.insert:
        raise _Conflict(
            f"{write.table} already has a row with {_describe(write.key)}, with other values"
        )
    now = dict(zip(names, found[0][1:], strict=True))
    changed = [
        f"{name} is {now[name]!r}, the run saw {expected!r}"
        for name, expected in (write.expect or {}).items()
    ]
    raise _Conflict(
        f"{write.table} row {_describe(write.key)} changed since the run: {'; '.join(changed)}"
    )


def _equal_all(values: Mapping[str, object]) -> sql.Composable:
    return sql.SQL(" AND ").join(
        sql.SQL("{} IS NOT DISTINCT FROM {}").format(sql.Identifier(name), sql.Placeholder())
        for name in values
    )


def _describe(key: Mapping[str, object]) -> str:
    return ", ".join(f"{name}={value}" for name, value in key.items())
