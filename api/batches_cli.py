"""`tallyclerk batches`: list, show, submit, approve, reject, export and apply batches."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from engine import batches
from engine.apply import apply_batch, export_batch
from engine.batches import PAST
from engine.causes import causes_first_batches, explained_by_batch
from reports.history import runs_folder
from tallyclerk.errors import ConfigError
from tallyclerk.wording import plural

from .workflow import AsUser, WorkspaceArg, acting, open_workspace, out, writable_folder

batches_app = typer.Typer(help="Approval batches of corrective actions.", no_args_is_help=True)

BatchArg = Annotated[
    str,
    typer.Argument(help="Batch id (2026-11.001/wms:item), or target:entity for the newest."),
]
ActionOpt = Annotated[
    list[str] | None,
    typer.Option("--action", help="Only this action (id or its first characters); repeatable."),
]
Comment = Annotated[str | None, typer.Option(help="Why; kept in the audit trail.")]


@batches_app.command("list")
def batches_list(
    workspace: WorkspaceArg,
    run: Annotated[str | None, typer.Option(help="Only batches of this run.")] = None,
) -> None:
    """Every batch with its state and how many actions are in each status."""
    _, catalog = open_workspace(workspace)
    with catalog, catalog.read() as con:
        runs = [row[0] for row in con.execute("SELECT run_id FROM runs ORDER BY seq")]
        if run is not None and run not in runs:
            raise ConfigError(
                f"no run {run!r} in {workspace}; its latest runs: {', '.join(runs[-5:]) or 'none'}."
            )
        rows = con.execute(
            "SELECT b.*, a.status, count(a.action_id) AS n, max(a.risk) AS risk FROM batches b "
            "JOIN runs r USING (run_id) JOIN actions a USING (batch_id) "
            "WHERE ? IS NULL OR b.run_id = ? GROUP BY b.batch_id, a.status ORDER BY r.seq, "
            "b.batch_id",
            (run, run),
        ).fetchall()
        explains = explained_by_batch(con, runs_folder(workspace))
    counts: dict[str, Counter] = {}
    for row in rows:
        counts.setdefault(row["batch_id"], Counter())[row["status"]] = row["n"]
    ranked = causes_first_batches(((row["run_id"], row["batch_id"]) for row in rows), explains)
    table = Table("batch", "state", *batches.ACTION_STATUSES, "fixes causes of")
    for batch_id in ranked:
        counter = counts[batch_id]
        cells = [str(counter[s]) if counter[s] else "" for s in batches.ACTION_STATUSES]
        fixes = plural(explains[batch_id], "finding") if batch_id in explains else ""
        table.add_row(batch_id, batches.batch_state(counter), *cells, fixes)
    out.print(table)


@batches_app.command("show")
def batches_show(workspace: WorkspaceArg, batch: BatchArg) -> None:
    """One batch: who prepared it, its revision, and each action with its payload."""
    _, catalog = open_workspace(workspace)
    with catalog, catalog.read() as con:
        row = batches.find_batch(con, batch)
        actions = batches.batch_actions(con, row["batch_id"])
    state = batches.batch_state(Counter(a["status"] for a in actions))
    out.print(
        f"Batch {row['batch_id']}: {state}, revision {row['revision']}, "
        f"prepared by {row['prepared_by'] or batches.SYSTEM_ACTOR}"
        + (f", submitted by {row['submitted_by']}" if row["submitted_by"] else ""),
        highlight=False,
    )
    table = Table("action", "kind", "key", "field", "risk", "status", "by", "payload", "reason")
    for a in actions:
        notes = {
            "confirmed": " (confirmed)",
            "finding_persists": " (finding persists!)",
            "finding_reopened": " (finding reopened!)",
        }
        table.add_row(
            a["action_id"][:12],
            a["kind"],
            a["key"],
            a["field"],
            a["risk"],
            a["status"] + notes.get(a["confirmation"] or "", ""),
            a["decided_by"] or "",
            json.dumps(json.loads(a["payload"]), ensure_ascii=False, separators=(",", ":")),
            a["reason"] or "",
        )
    out.print(table)


@batches_app.command("submit")
def batches_submit(
    workspace: WorkspaceArg, batch: BatchArg, user: AsUser = None, comment: Comment = None
) -> None:
    """Hand a batch to the approvers; whoever submits it may not approve it."""
    loaded, catalog = open_workspace(workspace)
    with catalog:
        who = acting(catalog, loaded, user, "submit")
        batch_id = batches.submit(catalog, user=who, batch=batch, comment=comment)
    out.print(f"Batch {batch_id} submitted by {who}.")


@batches_app.command("approve")
def batches_approve(
    workspace: WorkspaceArg,
    batch: BatchArg,
    action: ActionOpt = None,
    comment: Comment = None,
    revision: Annotated[
        int | None, typer.Option(help="Refuse if the batch changed since this revision.")
    ] = None,
    user: AsUser = None,
) -> None:
    """Approve every pending action of a batch, or only those named with --action."""
    _decide(workspace, batch, "approve", action, comment, revision, user)


@batches_app.command("reject")
def batches_reject(
    workspace: WorkspaceArg,
    batch: BatchArg,
    comment: Annotated[str, typer.Option(help="Why; kept in the audit trail.")],
    action: ActionOpt = None,
    revision: Annotated[
        int | None, typer.Option(help="Refuse if the batch changed since this revision.")
    ] = None,
    user: AsUser = None,
) -> None:
    """Reject every pending action of a batch, or only those named with --action."""
    _decide(workspace, batch, "reject", action, comment, revision, user)


@batches_app.command("export")
def batches_export(
    workspace: WorkspaceArg,
    batch: BatchArg,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the files; default .tallyclerk/exports."),
    ] = None,
    user: AsUser = None,
) -> None:
    """Write a batch's approved actions as CSV and JSON lines in the target's field names."""
    if out_dir is not None:
        writable_folder(out_dir, "--out")
    loaded, catalog = open_workspace(workspace)
    with catalog:
        who = acting(catalog, loaded, user, "export")
        paths = export_batch(catalog, user=who, batch=batch, folder=out_dir)
    for path in paths:
        out.print(f"Wrote {path}", highlight=False)


@batches_app.command("apply")
def batches_apply(
    workspace: WorkspaceArg,
    batch: BatchArg,
    retry: Annotated[
        bool,
        typer.Option(
            "--retry",
            help="Also apply actions that failed, or that an interrupted apply left applying.",
        ),
    ] = False,
    user: AsUser = None,
) -> None:
    """Apply a batch's approved actions to its target database, each guarded by the value
    the run saw; exit 1 when any action conflicted or failed, or failed earlier and waits
    for --retry."""
    loaded, catalog = open_workspace(workspace)
    with catalog:
        who = acting(catalog, loaded, user, "apply")
        report = apply_batch(catalog, loaded, user=who, batch=batch, retry=retry)
    statuses = Counter(outcome.status for outcome in report.outcomes)
    for outcome in report.outcomes:
        line = f"{outcome.action_id[:12]} {outcome.status}"
        out.print(line + (f": {outcome.reason}" if outcome.reason else ""), highlight=False)
    if report.export_only:
        out.print(
            f"{plural(len(report.export_only), 'approved action')} "
            f"{'needs' if len(report.export_only) == 1 else 'need'} a person in the target "
            "system: `tallyclerk batches export` them.",
            highlight=False,
        )
    if report.outcomes:
        summary = ", ".join(f"{statuses[s]} {s}" for s in ("applied", "conflicted", "failed"))
        out.print(f"Batch {report.batch_id}: {summary}.", highlight=False)
    waiting, retry = _waiting(report.waiting)
    if not report.outcomes:
        out.print(
            f"Batch {report.batch_id}: nothing to apply" + (f"; {waiting}" if waiting else "."),
            highlight=False,
        )
    elif waiting:
        out.print(f"Also {waiting}", highlight=False)
    if statuses["conflicted"] or statuses["failed"] or retry:
        raise typer.Exit(1)


def _waiting(waiting: dict[str, int]) -> tuple[str, bool]:
    """What an apply left as it was and still needs doing, and whether --retry does it."""
    parts = []
    if waiting.get("failed"):
        parts.append(plural(waiting["failed"], "failed action"))
    if waiting.get("applying"):
        parts.append(f"{plural(waiting['applying'], 'action')} an interrupted apply left applying")
    if parts:
        parts[-1] += "; rerun with --retry"
    if waiting.get("conflicted"):
        parts.append(
            f"{plural(waiting['conflicted'], 'conflicted action')} (their records changed "
            "since the run; the next run proposes the changes again)"
        )
    retry = bool(waiting.get("failed") or waiting.get("applying"))
    return ("; ".join(parts) + "." if parts else ""), retry


def _decide(
    workspace: Path,
    batch: str,
    decision: str,
    actions: list[str] | None,
    comment: str | None,
    revision: int | None,
    user: str | None,
) -> None:
    loaded, catalog = open_workspace(workspace)
    with catalog:
        who = acting(catalog, loaded, user, "decide")
        result = batches.decide(
            catalog,
            user=who,
            batch=batch,
            decision=decision,
            actions=actions,
            comment=comment,
            revision=revision,
        )
    left = f"; {result.still_pending} still pending" if result.still_pending else ""
    out.print(
        f"Batch {result.batch_id}: {who} {PAST[decision]} {plural(len(result.actions), 'action')}"
        f"{left} "
        f"(revision {result.revision}).",
        highlight=False,
    )
