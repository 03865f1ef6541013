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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from adapters.canonical import ENTITIES
from adapters.mapping import source_fields
from adapters.postgres_apply import Change, Outcome, Write, apply_changes
from tallyclerk.errors import ApplyError, ConfigError

from . import audit
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


def export_batch(
    catalog: Catalog, *, user: str, batch: str, folder: Path | None = None
) -> list[Path]:
    """Write the approved actions of a batch as CSV and JSON lines, in the target's names."""
    with catalog.read() as con:
        row = find_batch(con, batch)
        actions = [a for a in batch_actions(con, row["batch_id"]) if a["status"] == "approved"]
    if not actions:
        raise ConfigError(
            f"batch {row['batch_id']} has no approved actions waiting to be applied; "
            "approve some first (`tallyclerk batches approve`)."
        )
    folder = folder or catalog.state / EXPORTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    stem = row["batch_id"].replace("/", "_").replace(":", "-")
    lines = [_flat(a) for a in actions]
    records = [record for group in lines for record in group]
    columns = list(dict.fromkeys(name for record in records for name in record))
    csv_path, jsonl_path = folder / f"{stem}.csv", folder / f"{stem}.jsonl"
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
        raise ApplyError(
            f"{system} has no target under `targets` in {WORKSPACE_FILE}, so batch {batch_id} "
            "can only be exported; declare one (kind: postgres, dsn: env:NAME, entities), or "
            "run `tallyclerk batches export`."
        )
    entity_target = target.entities.get(entity)
    if entity_target is None:
        raise ApplyError(
            f"targets.{system}.entities has no {entity}: name the table batch {batch_id} "
            "is written to."
        )
    variable = target.dsn.removeprefix("env:")
    dsn = environ.get(variable)
    if not dsn:
        raise ApplyError(
            f"targets.{system}.dsn reads the environment variable {variable}, which is not set; "
            f"export it with the PostgreSQL connection string of {system}."
        )

    claimed, export_only = _claim(catalog, batch_id, retry=retry)
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
    return ApplyReport(batch_id, tuple(outcomes), tuple(export_only))


def _claim(catalog: Catalog, batch_id: str, *, retry: bool) -> tuple[list, list[str]]:
    statuses = ("approved", "failed", "applying") if retry else ("approved",)
    with catalog.write() as con:
        actions = [
            a
            for a in batch_actions(con, batch_id)
            if a["status"] in statuses and a["confirmation"] != "confirmed"
        ]
        claimed = [a for a in actions if a["kind"] in WRITABLE]
        con.executemany(
            "UPDATE actions SET status = 'applying' WHERE action_id = ?",
            [(a["action_id"],) for a in claimed],
        )
    return claimed, [a["action_id"] for a in actions if a["kind"] not in WRITABLE]


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
    """The payload's name of each canonical column, and the table column of a payload name."""

    payload: Mapping[str, str]
    columns: Mapping[str, str]


def _names(workspace: LoadedWorkspace, system: str, entity: str, target: TargetEntity) -> _Names:
    fields = {}
    for index, source in enumerate(workspace.config.systems[system].sources):
        if source.entity == entity:
            fields = source_fields(workspace.mappings[(system, index)], source.value_maps)
    payload = {canonical: field.name for canonical, field in fields.items()}
    columns = {
        payload.get(canonical, canonical): column for canonical, column in target.columns.items()
    }
    return _Names(payload, columns)


def _change(action, target: TargetEntity, names: _Names) -> tuple[Change, str]:
    """The writes of one action, and a note on what a create leaves unwritten."""
    payload = json.loads(action["payload"])
    unmapped = {
        name: why for name, why in payload.get("canonical", {}).items() if name not in names.columns
    }

    def columns(values: Mapping[str, object]) -> dict[str, object]:
        for name in values:
            if name in unmapped:
                raise ConfigError(
                    f"{action['target_system']} has no column for {name}: {unmapped[name]}; map "
                    f"it under targets.{action['target_system']}.entities.{action['entity']}"
                    ".columns, or change it by hand."
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
        values = {k: v for k, v in payload["values"].items() if k not in unmapped}
        left = sorted(set(payload["values"]) - set(values))
        note = "; ".join(f"{name} not written: {unmapped[name]}" for name in left)
        writes = [Write(target.table, columns(payload["record"]), columns(values), insert=True)]
    elif kind == "void":
        if target.void is None or not payload["void"]:
            raise ConfigError(
                payload.get("note")
                or f"targets.{action['target_system']}.entities.{action['entity']} names no "
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
