"""`tallyclerk sla`, `alerts`, `purge` and `portfolio`: what a partner running many tenants
as a managed service needs beside the runs themselves."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from engine import alerts, retention
from engine.config import WORKSPACE_FILE
from engine.sla_month import month_bounds, sla_month
from reports.branding import brand_for
from reports.history import runs_folder
from reports.portfolio import build_portfolio, render_portfolio
from reports.sla_report import render_sla_html, sla_csv
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
    writable_file,
    writable_folder,
)

sla_app = typer.Typer(help="Resolution targets and the monthly SLA report.", no_args_is_help=True)


@sla_app.command("report")
def sla_report(
    workspaces: Annotated[
        list[Path], typer.Argument(help="Tenant workspace folders.", show_default=False)
    ],
    month: Annotated[str, typer.Option(help="The month to report, as YYYY-MM.")],
    out: Annotated[
        Path, typer.Option(help="Folder to write sla-MONTH.html and sla-MONTH.csv into.")
    ] = Path("."),
) -> None:
    """Per tenant: findings opened and resolved in the month, the median days to resolve,
    and the breaches of the resolution targets; as HTML and CSV. The page carries the
    branding of the first tenant that has one."""
    month_bounds(month)
    writable_folder(out, "--out")
    months, branding = [], None
    for folder in workspaces:
        loaded, catalog = open_workspace(folder)
        if branding is None and loaded.config.branding is not None:
            branding = (loaded.config.branding, folder)
        with catalog:
            months.append(
                sla_month(
                    catalog,
                    loaded.config.sla,
                    month,
                    workspace=loaded.config.name,
                    folder=folder.resolve().name,
                )
            )
    brand = brand_for(*branding) if branding else brand_for(None, None)
    out.mkdir(parents=True, exist_ok=True)
    html, table = out / f"sla-{month}.html", out / f"sla-{month}.csv"
    try:
        html.write_text(render_sla_html(months, brand=brand, month=month), encoding="utf-8")
        table.write_text(sla_csv(months), encoding="utf-8")
    except OSError as exc:
        raise cannot_write(out, "--out", exc) from exc
    for tenant in months:
        total = tenant.total
        median = "none" if total.median_days is None else f"{total.median_days:g} d"
        err.print(
            f"{tenant.workspace}: {total.opened} opened, {total.resolved} resolved "
            f"(median {median}), {total.breaches} breached",
            highlight=False,
            markup=False,
        )
    err.print(f"Wrote {html} and {table}.", highlight=False, markup=False)


@sla_app.command("check")
def sla_check(workspace: WorkspaceArg) -> None:
    """Between runs: alert on open findings of the latest run that passed their resolution
    target since, once each (run it from a scheduler, hourly or daily); exit 1 while an
    alert failed to deliver."""
    loaded, catalog = open_workspace(workspace)
    with catalog:
        late, sent = alerts.sla_check(
            catalog, loaded.config, runs_folder(workspace), datetime.now(UTC).date()
        )
    failed = sum(1 for alert in sent if alert.status == "failed")
    out.print(
        f"{plural(len(late), 'finding')} newly past the resolution target; "
        f"{plural(len(sent), 'alert')}: {len(sent) - failed} delivered, {failed} failed.",
        highlight=False,
    )
    # A scheduler only sees the exit code: a failed delivery must not look like success.
    if failed:
        err.print(
            f"`tallyclerk alerts retry {workspace}` sends the failed ones again.",
            highlight=False,
            markup=False,
        )
        raise typer.Exit(1)


alerts_app = typer.Typer(
    help="Alerts sent after runs, and the ones that failed.", no_args_is_help=True
)


class AlertStatus(StrEnum):
    delivered = "delivered"
    failed = "failed"


@alerts_app.command("list")
def alerts_list(
    workspace: WorkspaceArg,
    status: Annotated[AlertStatus | None, typer.Option(help="Only alerts in this state.")] = None,
) -> None:
    """Every alert sent, oldest first, with the channel, attempts and the last error."""
    _, catalog = open_workspace(workspace)
    with catalog:
        found = alerts.listed(catalog, status=status.value if status else None)
    table = Table("#", "at", "event", "subject", "channel", "status", "attempts", "error")
    for alert in found:
        table.add_row(
            str(alert.alert_id),
            alert.created_at,
            alert.event,
            alert.subject,
            f"{alert.channel} ({alert.kind})",
            alert.status,
            str(alert.attempts),
            alert.error or "",
        )
    out.print(table)
    failed = sum(1 for alert in found if alert.status == "failed")
    if failed:
        err.print(
            f"{plural(failed, 'alert')} failed to deliver; `tallyclerk alerts retry "
            f"{workspace}` sends them again.",
            highlight=False,
            markup=False,
        )


@alerts_app.command("retry")
def alerts_retry(workspace: WorkspaceArg) -> None:
    """Send every failed alert again; exit 1 while some still fail."""
    loaded, catalog = open_workspace(workspace)
    with catalog:
        done = alerts.retry_failed(catalog, loaded.config.alerts)
    delivered = sum(1 for alert in done if alert.status == "delivered")
    out.print(
        f"Retried {plural(len(done), 'failed alert')}: {delivered} delivered, "
        f"{len(done) - delivered} still failing.",
        highlight=False,
    )
    if delivered < len(done):
        raise typer.Exit(1)


def purge(
    workspace: WorkspaceArg,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would go; delete nothing.")
    ] = False,
    user: AsUser = None,
) -> None:
    """Delete the run folders, snapshots and events the workspace's retention policy lets go.

    The findings history, batches and the audit trail stay in the catalog; the purge itself
    is an audit entry. Needs an admin (--as, or $TALLYCLERK_USER), except with --dry-run.
    """
    loaded, catalog = open_workspace(workspace)
    policy = loaded.config.retention
    if policy.runs is None and policy.snapshots is None and policy.events is None:
        raise ConfigError(
            f"{workspace}: no retention policy; set `retention: {{runs: 400d, snapshots: 90d, "
            f"events: 400d}}` in {WORKSPACE_FILE} to say how long runs, snapshots and posted "
            "events are kept."
        )
    runs_dir = runs_folder(workspace)
    now = datetime.now(UTC)
    with catalog:
        if dry_run:
            done = retention.plan(catalog, policy, runs_dir, now.date())
        else:
            who = acting(catalog, loaded, user, "purge")
            done = retention.purge(catalog, policy, runs_dir, user=who, now=now)
    removals = done.removals
    table = Table("run", "run day", "what", "size", "path")
    for removal in removals:
        table.add_row(
            removal.run_id,
            removal.run_date.isoformat(),
            removal.what,
            _size(removal.bytes),
            str(removal.path),
        )
    if removals:
        out.print(table)
    total = _size(sum(removal.bytes for removal in removals))
    runs = len({r.run_id for r in removals if r.what == "run"})
    snapshots = len({r.run_id for r in removals if r.what == "snapshots"})
    verb = "Would delete" if dry_run else "Deleted"
    events = ""
    if done.events_before is not None:
        events = f", and {plural(done.events, 'event')} received before {done.events_before}"
    out.print(
        f"{verb} {plural(runs, 'run folder')} and the snapshots of {plural(snapshots, 'run')} "
        f"({total}){events}; the findings history and the audit trail are kept.",
        highlight=False,
    )


def _size(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1024
    return f"{count:,.1f} GB"


def portfolio(
    folder: Annotated[
        Path, typer.Argument(help="Folder holding the tenant workspaces.", show_default=False)
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="Where to write the page; by default portfolio.html in FOLDER."),
    ] = None,
) -> None:
    """One page across every tenant under FOLDER: money at risk, open and breached findings,
    the trend per customer, and links into each tenant's executive report."""
    if not folder.is_dir():
        raise ConfigError(
            f"{folder}: no such folder; point the command at the folder holding the tenant "
            "workspaces."
        )
    target = out or folder / "portfolio.html"
    writable_file(target, "--out")
    found, brand = build_portfolio(folder, out_dir=target.parent)
    try:
        target.write_text(render_portfolio(found, brand), encoding="utf-8")
    except OSError as exc:
        raise cannot_write(target, "--out", exc) from exc
    broken = [tenant.name for tenant in found.tenants if tenant.error]
    err.print(
        f"Wrote the portfolio of {plural(len(found.tenants), 'tenant')} to {target}.",
        highlight=False,
        markup=False,
    )
    if broken:
        err.print(f"Not loaded: {', '.join(broken)}.", style="yellow", highlight=False)
