"""`tallyclerk findings` and `tallyclerk audit`: findings across runs, waivers, the trail."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import typer
from rich.table import Table

from engine import audit, lifecycle, waivers
from engine.causes import causes_first
from engine.config import WORKSPACE_FILE
from engine.lifecycle import StatusFilter
from engine.run import RESOLVED_FILE
from tallyclerk.errors import ConfigError
from tallyclerk.wording import plural

from .workflow import (
    AsUser,
    WorkspaceArg,
    acting,
    cannot_write,
    err,
    open_workspace,
    out,
    run_folder,
    writable_file,
)

findings_app = typer.Typer(help="Findings of a run across runs, and waivers.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail of decisions.", no_args_is_help=True)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


@findings_app.command("list")
def findings_list(
    workspace: WorkspaceArg,
    run: Annotated[str, typer.Argument(help="Run id, or `latest`.")],
    status: Annotated[
        StatusFilter | None, typer.Option(help="Only findings in this state.")
    ] = None,
    rule: Annotated[str | None, typer.Option(help="Only findings of this rule id.")] = None,
    output_format: Annotated[Format, typer.Option("--format", help="Output format.")] = (
        Format.table
    ),
    output: Annotated[Path | None, typer.Option(help="Write to this file, not stdout.")] = None,
    causes: Annotated[
        bool,
        typer.Option(
            "--causes",
            help="Root causes first, each with the number of findings it explains, each "
            "followed by the findings it explains.",
        ),
    ] = False,
) -> None:
    """List a run's findings, and those resolved since the run before it."""
    folder = run_folder(workspace, run)
    if output_format is Format.parquet and output is None:
        raise ConfigError("parquet is binary: pass --output FILE to write it.")
    if output is not None:
        writable_file(output, "--output")
    tables = [pq.read_table(folder / "findings.parquet")]
    if (folder / RESOLVED_FILE).is_file():
        tables.append(pq.read_table(folder / RESOLVED_FILE))
    found = pa.concat_tables(tables)
    loaded, catalog = open_workspace(workspace)
    if rule is not None:
        known = {r.id for r in loaded.config.rules} | set(found["rule_id"].to_pylist())
        if rule not in known:
            raise ConfigError(
                f"unknown rule {rule!r}: neither a rule of {workspace} nor one that run "
                f"{folder.name} found; its rules: {', '.join(sorted(known))}."
            )
    with catalog, catalog.read() as con:
        found = lifecycle.with_current_waivers(con, found, datetime.now(UTC).date())
    found = lifecycle.select(found, status=status.value if status else None, rule=rule)
    title = f"Run {folder.name}: {plural(found.num_rows, 'finding')}"
    if causes:
        if "cause_id" not in found.column_names:
            raise ConfigError(
                f"run {folder.name} was written before findings named their root causes; "
                "run the workspace again to see them."
            )
        found = causes_first(found)
        explained = sum(1 for cause in found["cause_id"].to_pylist() if cause)
        count = sum(1 for n in found["explains"].to_pylist() if n)
        title += f"; {plural(count, 'root cause')} explaining {plural(explained, 'finding')}"
    try:
        _write(found, output_format, output, title=title)
    except OSError as exc:
        if output is None:
            raise
        raise cannot_write(output, "--output", exc) from exc


@findings_app.command("waive")
def findings_waive(
    workspace: WorkspaceArg,
    until: Annotated[str, typer.Option(help="Last day the waiver holds, YYYY-MM-DD.")],
    reason: Annotated[str, typer.Option(help="Why the finding may wait.")],
    finding: Annotated[str | None, typer.Option(help="Finding id (or its first characters).")] = (
        None
    ),
    rule: Annotated[str | None, typer.Option(help="Waive this rule for --key.")] = None,
    key: Annotated[str | None, typer.Option(help="Business key, as findings list shows it.")] = (
        None
    ),
    user: AsUser = None,
) -> None:
    """Suppress a finding, or a rule for one key, until a date; it stays listed as waived."""
    loaded, catalog = open_workspace(workspace)
    with catalog:
        who = acting(catalog, loaded, user, "waive")
        waived = waivers.waive(
            catalog,
            user=who,
            until=_date(until),
            reason=reason,
            finding=finding,
            rule=rule,
            key=key,
        )
    waiver = waived.waiver
    target = f"finding {waiver.finding_id}" if waiver.finding_id else f"{rule} for {key}"
    if not waived.created:
        out.print(
            f"Waiver {waiver.waiver_id} already waives {target} until {until} for this reason; "
            "nothing changed.",
            highlight=False,
        )
        return
    out.print(
        f"Waiver {waiver.waiver_id}: {target} waived until {until} by {who}.", highlight=False
    )
    if waived.withdrawn:
        ids = ", ".join(action_id[:12] for action_id in waived.withdrawn)
        out.print(
            f"Withdrawn, so they are not applied while it waits: "
            f"{plural(len(waived.withdrawn), 'action')} ({ids}).",
            highlight=False,
        )


@findings_app.command("unwaive")
def findings_unwaive(
    workspace: WorkspaceArg,
    waiver_id: Annotated[int, typer.Argument(help="The waiver's number.")],
    reason: Annotated[str, typer.Option(help="Why the waiver ends early.")],
    user: AsUser = None,
) -> None:
    """End a waiver before its date."""
    loaded, catalog = open_workspace(workspace)
    with catalog:
        who = acting(catalog, loaded, user, "waive")
        waivers.revoke(catalog, user=who, waiver_id=waiver_id, reason=reason)
    out.print(f"Waiver {waiver_id} revoked by {who}.")


@findings_app.command("waivers")
def findings_waivers(workspace: WorkspaceArg) -> None:
    """List the waivers that hold today."""
    _, catalog = open_workspace(workspace)
    with catalog:
        current = waivers.current(catalog)
    table = Table("waiver", "finding", "rule", "key", "until", "reason")
    for w in current:
        table.add_row(
            str(w.waiver_id),
            w.finding_id or "",
            w.rule_id or "",
            w.key or "",
            w.until.isoformat(),
            w.reason,
        )
    out.print(table)


@audit_app.command("list")
def audit_list(
    workspace: WorkspaceArg,
    subject: Annotated[str | None, typer.Option(help="Entries whose subject starts so.")] = None,
    actor: Annotated[str | None, typer.Option(help="Entries of this actor.")] = None,
    output_format: Annotated[Format, typer.Option("--format", help="table or json.")] = (
        Format.table
    ),
) -> None:
    """Every decision, oldest first: who, when, what and why."""
    loaded, catalog = open_workspace(workspace)
    with catalog:
        entries = audit.entries(catalog, subject=subject, actor=actor)
        if actor is not None and not entries:
            known = set(loaded.config.users) | {e.actor for e in audit.entries(catalog)}
            if actor not in known:
                raise ConfigError(
                    f"unknown user {actor!r}: not declared under `users` in {WORKSPACE_FILE} "
                    f"and never in the audit trail; its actors: {', '.join(sorted(known))}."
                )
    if output_format is Format.json:
        out.print_json(json.dumps([vars(entry) for entry in entries]))
        return
    table = Table("#", "at", "actor", "verb", "subject", "why", "detail")
    for e in entries:
        detail = json.dumps(e.detail)
        table.add_row(
            str(e.seq),
            e.at,
            e.actor,
            e.verb,
            e.subject,
            e.why or "",
            detail if len(detail) <= 60 else detail[:57] + "...",
        )
    out.print(table)


@audit_app.command("verify")
def audit_verify(workspace: WorkspaceArg) -> None:
    """Check the hash chain; exit 1 naming each edited or deleted entry."""
    _, catalog = open_workspace(workspace)
    with catalog:
        checked, breaks = audit.verify(catalog)
    if not breaks:
        out.print(f"The audit trail is intact: {checked} entries, each hash and link checks out.")
        return
    for item in breaks:
        where = "trail" if item.seq is None else f"entry {item.seq}"
        err.print(f"[bold red]{'catalog' if item.state else where}:[/] {item.problem}")
    if all(b.state for b in breaks):
        state = "is intact, but the catalog's actions or waivers were edited outside tallyclerk"
    elif any(b.seq is None and not b.state for b in breaks):
        state = "is missing or damaged"
    else:
        state = "was tampered with"
    err.print(
        f"The audit trail {state}: {plural(len(breaks), 'problem')} in "
        f"{plural(checked, 'entry', 'entries')}."
    )
    raise typer.Exit(1)


def _write(found: pa.Table, output_format: Format, output: Path | None, *, title: str) -> None:
    if output_format is Format.parquet:
        pq.write_table(found, output)
    elif output_format is Format.csv:
        sink = output.open("wb") if output else sys.stdout.buffer
        pa_csv.write_csv(found, sink)
        sink.flush()
    elif output_format is Format.json:
        text = json.dumps(found.to_pylist(), default=str, indent=1) + "\n"
        if output:
            output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    else:
        table = Table(title=title, title_justify="left")
        names = ("finding", "status", "age", "cause", "explains", "rule", "key", "field")
        for name in (*names, "waived until", "breached", "message"):
            table.add_column(name, justify="right" if name in ("age", "explains") else "left")
        for f in found.to_pylist():
            table.add_row(
                f["finding_id"][:10],
                f["status"],
                str(f["age_days"]),
                (f.get("cause_id") or "")[:10],
                str(f.get("explains") or ""),
                f["rule_id"],
                f["key"],
                f["field"] or "",
                str(f["waived_until"] or ""),
                "yes" if f.get("sla_breached") else "",
                f["message"],
            )
        out.print(table)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"invalid date {text!r}: write it as YYYY-MM-DD.") from None
