"""An approved batch leaves tallyclerk: as files in the target system's field names, or
applied to the target's PostgreSQL database, each action ending applied, conflicted
or failed with its reason.

Applying claims the batch's approved actions in the catalog first (status
`applying`), so two people applying at once do not both write; the database
guards make a repeated write harmless anyway. Merge and route actions need a
person in the target system: they are exported, never written.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from adapters.canonical import ENTITIES
from adapters.postgres_apply import Change, Outcome, Write, apply_changes
from adapters.source_fields import source_fields
from tallyclerk.errors import ApplyError, CatalogError, ConfigError

from . import audit
from .audit_state import state_problems
from .batches import batch_actions, find_batch
from .catalog import Catalog
from .config import WORKSPACE_FILE, LoadedWorkspace
from .policy import TargetEntity

WRITABLE = ("update", "create", "void", "journal")
EXPORTS_DIR = "exports"


@dataclass(frozen=True)
class ApplyReport:
    batch_id: str
    outcomes: tuple[Outcome, ...]
    # Approved actions no database writer applies: export them for a person.
    export_only: tuple[str, ...]
    # Actions left as they were, by status: failed ones (and those an interrupted apply
    # left applying) wait for --retry; conflicted ones for a new run.
    waiting: Mapping[str, int] = field(default_factory=dict)


def export_batch(
    catalog: Catalog, *, user: str, batch: str, folder: Path | None = None
) -> list[Path]:
    """Write the approved actions of a batch as CSV and JSON lines, in the target's names."""
    with catalog.read() as con:
        row = find_batch(con, batch)
        _check_against_trail(con, row["batch_id"])
        actions = [a for a in batch_actions(con, row["batch_id"]) if a["status"] == "approved"]
    if not actions:
        raise ConfigError(
            f"batch {row['batch_id']} has no approved actions waiting to be applied; "
            "approve some first (`tallyclerk batches approve`)."
        )
    folder = folder or catalog.state / EXPORTS_DIR
    stem = row["batch_id"].replace("/", "_").replace(":", "-")
    csv_path, jsonl_path = folder / f"{stem}.csv", folder / f"{stem}.jsonl"
    try:
        _write_files(actions, folder, csv_path, jsonl_path)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the export of batch {row['batch_id']} into {folder}: "
            f"{exc.strerror or exc}{': ' + str(exc.filename) if exc.filename else ''}; "
            "name a folder you may write to."
        ) from exc
    with catalog.write() as con:
        audit.append(
            catalog,
            con,
            actor=user,
            verb="export",
            subject=f"batch:{row['batch_id']}",
            detail={
                "actions": [a["action_id"] for a in actions],
                "files": [csv_path.name, jsonl_path.name],
            },
        )
    return [csv_path, jsonl_path]


def _write_files(actions: list, folder: Path, csv_path: Path, jsonl_path: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise ConfigError(
            f"{folder} is a file, not a folder; name a folder for the export files "
            "(it is created when missing)."
        )
    folder.mkdir(parents=True, exist_ok=True)
    lines = [_flat(a) for a in actions]
    records = [record for group in lines for record in group]
    columns = list(dict.fromkeys(name for record in records for name in record))
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
    with jsonl_path.open("w", encoding="utf-8") as handle:
        for action in actions:
            document = {
                "action_id": action["action_id"],
                "action": action["kind"],
                "target_system": action["target_system"],
                "entity": action["entity"],
                **json.loads(action["payload"]),
            }
            handle.write(json.dumps(document, sort_keys=False) + "\n")


def apply_batch(
    catalog: Catalog,
    workspace: LoadedWorkspace,
    *,
    user: str,
    batch: str,
    retry: bool = False,
    environ: Mapping[str, str] | None = None,
) -> ApplyReport:
    """Apply a batch's approved actions (and, with `retry`, its failed ones) to its target."""
    environ = os.environ if environ is None else environ
    config = workspace.config
    with catalog.read() as con:
        row = find_batch(con, batch)
    batch_id, system, entity = row["batch_id"], row["target_system"], row["entity"]
    target = config.targets.get(system)
    if target is None:
        raise ConfigError(
            f"{system} has no target under `targets` in {WORKSPACE_FILE}, so batch {batch_id} "
            "can only be exported; declare one (kind: postgres, dsn: env:NAME, entities), or "
            "run `tallyclerk batches export`."
        )
    entity_target = target.entities.get(entity)
    if entity_target is None:
        raise ConfigError(
            f"targets.{system}.entities in {WORKSPACE_FILE} has no {entity}: name the table "
            f"batch {batch_id} is written to."
        )
    variable = target.dsn.removeprefix("env:")
    dsn = environ.get(variable)
    if not dsn:
        raise ConfigError(
            f"targets.{system}.dsn reads the environment variable {variable}, which is not set; "
            f"set it to the PostgreSQL connection string of {system}, for example: export "
            f"{variable}='postgresql://USER:PASSWORD@HOST:5432/DATABASE'"
        )

    claimed, export_only, waiting = _claim(catalog, batch_id, retry=retry)
    names = _names(workspace, system, entity, entity_target)
    changes, outcomes, notes = [], [], {}
    for action in claimed:
        try:
            change, notes[action["action_id"]] = _change(action, entity_target, names)
            changes.append(change)
        except ConfigError as exc:
            outcomes.append(Outcome(action["action_id"], "failed", str(exc)))
    try:
        written = apply_changes(dsn, changes, where=f"{system} ({variable})") if changes else []
    except ApplyError as exc:
        outcomes += [Outcome(c.action_id, "failed", str(exc)) for c in changes]
        _record(catalog, user, batch_id, outcomes)
        raise
    for outcome in written:
        note = notes[outcome.action_id] if outcome.status == "applied" else ""
        reason = "; ".join(part for part in (outcome.reason, note) if part)
        outcomes.append(Outcome(outcome.action_id, outcome.status, reason))
    _record(catalog, user, batch_id, outcomes)
    return ApplyReport(batch_id, tuple(outcomes), tuple(export_only), waiting)


def _check_against_trail(con: sqlite3.Connection, batch_id: str) -> None:
    """Refuse a batch whose actions no longer agree with the audit trail."""
    problems = state_problems(con, batch_id=batch_id)
    if problems:
        raise CatalogError(
            f"batch {batch_id} disagrees with the audit trail, so nothing of it is exported "
            "or applied:\n  " + "\n  ".join(problems) + "\nRestore the catalog from a backup; "
            "`tallyclerk audit verify` lists every such problem."
        )


def _claim(
    catalog: Catalog, batch_id: str, *, retry: bool
) -> tuple[list, list[str], dict[str, int]]:
    """The actions to apply, marked applying; those only a person applies; and how many
    writable actions stay as they are, by status."""
    statuses = ("approved", "failed", "applying") if retry else ("approved",)
    with catalog.write() as con:
        _check_against_trail(con, batch_id)
        every = [a for a in batch_actions(con, batch_id) if a["confirmation"] != "confirmed"]
        actions = [a for a in every if a["status"] in statuses]
        claimed = [a for a in actions if a["kind"] in WRITABLE]
        con.executemany(
            "UPDATE actions SET status = 'applying' WHERE action_id = ?",
            [(a["action_id"],) for a in claimed],
        )
    taken = {a["action_id"] for a in actions}
    waiting = Counter(
        a["status"]
        for a in every
        if a["kind"] in WRITABLE
        and a["status"] in ("failed", "applying", "conflicted")
        and a["action_id"] not in taken
    )
    return claimed, [a["action_id"] for a in actions if a["kind"] not in WRITABLE], dict(waiting)


def _record(catalog: Catalog, user: str, batch_id: str, outcomes: list[Outcome]) -> None:
    now = datetime.now(UTC)
    at = now.isoformat(timespec="seconds")
    with catalog.write() as con:
        con.executemany(
            "UPDATE actions SET status = ?, reason = ?, attempts = attempts + 1, "
            "applied_at = CASE WHEN ? = 'applied' THEN ? ELSE applied_at END WHERE action_id = ?",
            [(o.status, o.reason or None, o.status, at, o.action_id) for o in outcomes],
        )
        if outcomes:
            audit.append(
                catalog,
                con,
                actor=user,
                verb="apply",
                subject=f"batch:{batch_id}",
                detail={
                    o.action_id: f"{o.status}{': ' + o.reason if o.reason else ''}"
                    for o in outcomes
                },
                at=now,
            )


@dataclass(frozen=True)
class _Names:
    """The payload's name of each canonical column, the table column of a payload name, and
    payload names that must not be written, with the reason."""

    payload: Mapping[str, str]
    columns: Mapping[str, str]
    refused: Mapping[str, str]


def _names(workspace: LoadedWorkspace, system: str, entity: str, target: TargetEntity) -> _Names:
    fields = {}
    for index, source in enumerate(workspace.config.systems[system].sources):
        if source.entity == entity:
            fields = source_fields(workspace.mappings[(system, index)], source.value_maps)
    payload = {canonical: source.name for canonical, source in fields.items()}
    columns, refused = {}, {}
    for canonical, column in target.columns.items():
        name = payload.get(canonical, canonical)
        source = fields.get(canonical)
        if source is not None and source.linear is not None and column != source.field:
            # The payload holds the source field in its own unit, not the canonical value.
            refused[name] = (
                f"targets.{system}.entities.{entity}.columns maps {canonical} onto {column}, "
                f"but {system} reads {canonical} as {source.expression}, so the value is "
                f"{source.field} in its own unit; map {canonical} onto {source.field}, or leave "
                "it out of columns"
            )
        columns[name] = column
    return _Names(payload, columns, refused)


def _change(action, target: TargetEntity, names: _Names) -> tuple[Change, str]:
    """The writes of one action, and a note on what a create leaves unwritten."""
    payload = json.loads(action["payload"])
    system = action["target_system"]
    # A value named canonically is not in the system's own field and unit: never write it.
    refused = {
        name: f"{why}; the value is canonical, not {system}'s own, so it is not written"
        for name, why in payload.get("canonical", {}).items()
    }
    refused |= names.refused

    def columns(values: Mapping[str, object]) -> dict[str, object]:
        for name in values:
            if name in refused:
                raise ConfigError(
                    f"{system} cannot take {name}: {refused[name]}; change it by hand in {system}."
                )
        return {names.columns.get(name, name): value for name, value in values.items()}

    kind, note = action["kind"], ""
    if kind == "update":
        writes = [
            Write(
                target.table,
                columns(payload["record"]),
                columns(payload["set"]),
                expect=columns(payload["expect"]),
            )
        ]
    elif kind == "create":
        # A new record is still worth creating without a value its system computes.
        values = {k: v for k, v in payload["values"].items() if k not in refused}
        left = {name: refused[name] for name in sorted(set(payload["values"]) - set(values))}
        left |= payload.get("not_written", {})
        note = "; ".join(f"{name} not written: {why}" for name, why in sorted(left.items()))
        writes = [Write(target.table, columns(payload["record"]), columns(values), insert=True)]
    elif kind == "void":
        if target.void is None or not payload["void"]:
            raise ConfigError(
                payload.get("note")
                or f"targets.{system}.entities.{action['entity']} names no "
                "void column and value; declare `void: {column: ..., value: ...}`."
            )
        values = {target.void.column: target.void.value}
        writes = [Write(target.table, columns(record), values) for record in payload["void"]]
    else:
        key = [names.payload.get(name, name) for name in ENTITIES["journal_line"].key]
        writes = [
            Write(target.table, columns({k: line[k] for k in key}), columns(line), insert=True)
            for line in payload["lines"]
        ]
    return Change(action["action_id"], tuple(writes)), note


def _flat(action) -> list[dict]:
    """CSV rows of one action: the target's field names, one row per record it touches."""
    payload = json.loads(action["payload"])
    head = {"action_id": action["action_id"], "action": action["kind"]}
    kind = action["kind"]
    if kind == "update":
        expect = {f"expected {name}": value for name, value in payload["expect"].items()}
        return [{**head, **payload["record"], **payload["set"], **expect}]
    if kind == "create":
        return [{**head, **payload["values"]}]
    if kind == "journal":
        return [{**head, **line} for line in payload["lines"]]
    if kind in ("void", "merge"):
        keep = {f"keep {name}": value for name, value in (payload["keep"] or {}).items()}
        records = payload.get("void") or payload.get("merge") or [{}]
        return [{**head, **record, **keep} for record in records]
    return [
        {
            **head,
            **payload.get("record", {}),
            "to": payload["to"],
            "problem": payload["problem"],
            "message": payload["message"],
        }
    ]
