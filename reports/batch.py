"""The batch sheet: the actions of one batch with before and after values, for an approver.

In a workspace the sheet reads the batch from the catalog, as the `batches` commands
do: each action's status, who decided it, when and why, and the batch's decisions.
A run folder away from its workspace has no catalog: its sheet shows the actions as
the run proposed them.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from engine.batches import PAST, batch_actions, batch_state, find_batch
from engine.catalog import CATALOG_FILE, STATE_DIR, Catalog
from engine.config import ReportConfig
from tallyclerk.errors import ConfigError
from tallyclerk.wording import plural

from .branding import Brand, brand_for
from .ranking import at_risk, exception_order
from .render import render


@dataclass(frozen=True)
class BatchRecord:
    """One batch: its actions (as a run writes them, plus their state) and its decisions."""

    batch_id: str
    run_id: str
    target_system: str
    entity: str
    actions: list[dict]
    prepared_by: str | None = None
    submitted_by: str | None = None
    submitted_at: str | None = None
    revision: int | None = None
    decisions: list[str] = field(default_factory=list)
    # False when read from a run folder: nothing was decided as far as the sheet knows.
    from_catalog: bool = True
    # True when retention removed the run's folder: its findings cannot be read.
    run_folder_gone: bool = False


def batch_ids(actions: pa.Table | None) -> list[str]:
    if actions is None or actions.num_rows == 0:
        return []
    return sorted(set(actions["batch_id"].to_pylist()))


def has_catalog(workspace: Path | None) -> bool:
    return workspace is not None and (workspace / STATE_DIR / CATALOG_FILE).is_file()


def waiting_for_approval(
    actions: pa.Table | None, workspace: Path | None, auto_approve: tuple[str, ...] = ()
) -> list[dict]:
    """The run's actions a person still has to decide, with the batch each waits in.

    The catalog knows what was decided since; an action it does not hold yet (a run that
    is rendering its own reports) waits unless the policy approves its risk level.
    """
    if actions is None:
        return []
    known: dict[str, tuple[str, str]] = {}
    if has_catalog(workspace):
        with Catalog(workspace) as catalog, catalog.read() as con:
            known = {
                row["action_id"]: (row["status"], row["batch_id"])
                for row in con.execute("SELECT action_id, status, batch_id FROM actions")
            }
    waiting = []
    for action in actions.select(["action_id", "batch_id", "risk"]).to_pylist():
        status, batch_id = known.get(action["action_id"], (None, action["batch_id"]))
        if status is None:
            status = "approved" if action["risk"] in auto_approve else "pending"
        if status == "pending":
            waiting.append({"action_id": action["action_id"], "batch_id": batch_id})
    return waiting


def load_batch(workspace: Path, ref: str | None, *, run_id: str, run_named: bool) -> BatchRecord:
    """A batch from the workspace's catalog: by its id (`2026-11.001/wms:item`), or by
    `target:entity` for that pair's batch of run `run_id` when the run was named, and its
    newest batch otherwise; without `ref`, the run's only batch."""
    with Catalog(workspace) as catalog, catalog.read() as con:
        own = [row[0] for row in con.execute(_RUN_BATCHES, (run_id,))]
        if ref is None:
            if len(own) != 1:
                raise ConfigError(
                    f"run {run_id} has {plural(len(own), 'batch', 'batches')}; choose one with "
                    f"--batch: {', '.join(own) or 'none (`tallyclerk batches list` shows all)'}."
                )
            ref = own[0]
        elif "/" not in ref and run_named:
            if f"{run_id}/{ref}" not in own:
                raise ConfigError(_not_in_run(con, run_id, ref, own))
            ref = f"{run_id}/{ref}"
        row = find_batch(con, ref)
        actions = batch_actions(con, row["batch_id"])
        decisions = con.execute(
            "SELECT decision, user_id, at, comment, count(*) AS n FROM decisions "
            "WHERE batch_id = ? GROUP BY decision, user_id, at, comment ORDER BY min(decision_id)",
            (row["batch_id"],),
        ).fetchall()
    return BatchRecord(
        batch_id=row["batch_id"],
        run_id=row["run_id"],
        target_system=row["target_system"],
        entity=row["entity"],
        actions=[_from_catalog(action) for action in actions],
        prepared_by=row["prepared_by"],
        submitted_by=row["submitted_by"],
        submitted_at=row["submitted_at"],
        revision=row["revision"],
        decisions=[
            f"{d['user_id']} {PAST.get(d['decision'], d['decision'])} "
            f"{plural(d['n'], 'action')} at {d['at']}"
            + (f": {d['comment']}" if d["comment"] else "")
            for d in decisions
        ],
    )


def catalog_manifest(workspace: Path, run_id: str, name: str) -> dict:
    """What a batch sheet shows of a run whose folder is gone, as the catalog records it."""
    with Catalog(workspace) as catalog, catalog.read() as con:
        row = con.execute(
            "SELECT period, finished_at FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
    return {
        "workspace": name,
        "run_id": run_id,
        "period": row["period"] if row else "",
        "finished_at": row["finished_at"] if row else "",
    }


_RUN_BATCHES = "SELECT batch_id FROM batches WHERE run_id = ? ORDER BY batch_id"


def _not_in_run(con, run_id: str, ref: str, own: list[str]) -> str:
    newest = con.execute(
        "SELECT b.batch_id FROM batches b JOIN runs r USING (run_id) "
        "WHERE b.target_system || ':' || b.entity = ? ORDER BY r.seq DESC LIMIT 1",
        (ref,),
    ).fetchone()
    earlier = (
        f"its {ref} actions were proposed before, in batch {newest[0]}; "
        if newest is not None
        else ""
    )
    return (
        f"run {run_id} has no batch {ref!r}: {earlier}its batches are: "
        f"{', '.join(own) or 'none (the run proposed no new actions)'}."
    )


def proposed_batch(manifest: dict, actions: pa.Table | None, batch_id: str) -> BatchRecord:
    """A batch as a run folder holds it, before any decision."""
    known = batch_ids(actions)
    if actions is None or batch_id not in known:
        raise ConfigError(
            f"run {manifest['run_id']} has no batch {batch_id!r}; "
            f"its batches are: {', '.join(known) or 'none (the run proposed no actions)'}."
        )
    chosen = [row for row in actions.to_pylist() if row["batch_id"] == batch_id]
    return BatchRecord(
        batch_id=batch_id,
        run_id=manifest["run_id"],
        target_system=chosen[0]["target_system"],
        entity=chosen[0]["entity"],
        actions=chosen,
        from_catalog=False,
    )


def render_batch_sheet(
    manifest: dict,
    actions: pa.Table | BatchRecord | None,
    findings: pa.Table,
    batch_id: str | None = None,
    *,
    brand: Brand | None = None,
    settings: ReportConfig | None = None,
) -> str:
    """HTML of one batch: a catalog's `BatchRecord`, or `batch_id` of a run's actions
    (a ConfigError names the batches when it is unknown). `manifest` is the batch's run."""
    if isinstance(actions, BatchRecord):
        batch = actions
    else:
        batch = proposed_batch(manifest, actions, batch_id or "")
    by_id = {row["finding_id"]: row for row in findings.to_pylist()}
    rows = []
    for action in batch.actions:
        finding = by_id.get(action["finding_id"], {})
        # An action carries its finding's money, severity, rule and key, so it sorts like one.
        action = {"severity": finding.get("severity", ""), **action}
        before, after = before_after(action, finding)
        rows.append(
            {
                **action,
                "before": before,
                "after": after,
                "finding": finding,
                "decision": decision_of(action),
                "open": action["status"] in ("proposed", "pending"),
            }
        )
    rows.sort(key=exception_order)
    chosen = batch.actions

    return render(
        "batch.html.j2",
        manifest=manifest,
        brand=brand or brand_for(None, None),
        settings=settings or ReportConfig(),
        batch=batch,
        batch_id=batch.batch_id,
        target=batch.target_system,
        entity=batch.entity,
        rows=rows,
        amount=at_risk(chosen),
        state=batch_state(Counter(a["status"] for a in chosen)) if batch.from_catalog else None,
        by_action=sorted(Counter(row["action"] for row in chosen).items()),
        by_risk=sorted(Counter(row["risk"] for row in chosen).items()),
        statuses=sorted(Counter(row["status"] for row in chosen).items()),
    )


def _from_catalog(action) -> dict:
    """A catalog row with the names a run's actions file uses."""
    row = dict(action)
    row["action"] = row.pop("kind")
    amount = row["amount_at_risk"]
    row["amount_at_risk"] = None if amount is None else Decimal(amount)
    return row


def decision_of(action: dict) -> str:
    """Who decided an action, when and why, and what became of it since."""
    status = action["status"]
    if action.get("decided_by") is None:
        text = status
    else:
        text = f"{status} by {action['decided_by']}, {action['decided_at']}"
        if action.get("comment"):
            text += f": {action['comment']}"
    if action.get("confirmation"):
        text += f" ({action['confirmation'].replace('_', ' ')})"
    if action.get("reason") and status not in ("approved", "pending"):
        text += f"; {action['reason']}"
    return text


def before_after(action: dict, finding: dict) -> tuple[str, str]:
    """What the target record holds now, and what it will hold once the action is applied."""
    payload = json.loads(action["payload"] or "{}")
    target = action["target_system"]
    kind = action["action"]
    if kind == "update" and isinstance(payload.get("set"), dict):
        # A value converted into the target's own unit is shown with the field holding it.
        converted = payload.get("converted") or {}

        def values(named: dict) -> str:
            return "; ".join(
                f"{name} {_text(value)}" if name in converted else _text(value)
                for name, value in named.items()
            )

        before = values(payload.get("expect") or {})
        return before or _text(None), values(payload["set"])
    if kind == "create":
        source = payload.get("copy_from") or finding.get("owner_system") or "the owner"
        return f"not in {target}", f"created as in {source}"
    if kind == "void":
        voided = len(payload.get("void") or [])
        return f"{finding.get('other_value') or 'several'} records", (
            f"{voided} voided, one kept" if voided else "a person voids all but one"
        )
    if kind == "merge":
        return "two records", "merged into one"
    if kind == "journal":
        lines = payload.get("lines") or []
        return f"{_text(finding.get('other_value'))}", (
            f"journal {payload.get('journal')}: {len(lines)} lines, to "
            f"{_text(finding.get('owner_value'))}"
        )
    # "review" is what runs written before route actions existed call them.
    if kind in ("route", "review"):
        now, owner = finding.get("other_value"), finding.get("owner_value")
        who = payload.get("to")
        decides = f"{who} decides" if who and who != "unassigned" else "a person decides"
        if owner is None:
            return _text(now), decides
        return _text(now), f"as in {finding['owner_system']}: {owner}"
    return "", json.dumps(payload, sort_keys=True)


def _text(value: object) -> str:
    return "(empty)" if value is None or value == "" else str(value)
