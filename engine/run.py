"""A run: one period of one workspace, from snapshots to findings, actions and report.

The stages are listed once, in `STAGES`, and executed in one loop. A run is
written to a temporary folder and renamed into place only when it has finished,
inside the catalog transaction that records its findings history and batches,
so a failed or killed run leaves neither a half-written folder nor a half record.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import resource
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rules.compile import compile_rule, finish_findings
from rules.findings import family_of
from rules.sql import table_name
from tallyclerk.errors import RunError, SourceError, TallyclerkError

from . import alerts, lifecycle, sla
from .access import authorize, sync_users
from .actions import derive_actions
from .backends.options import EngineConfig, open_backend
from .catalog import STATE_DIR, Catalog
from .causes import link_causes, order_actions
from .circular import circular_for_run
from .config import LoadedWorkspace, Period, load_workspace, parse_period
from .events import with_event_findings
from .findings import empty_findings, quarantine_findings, source_findings, to_findings
from .payloads import PayloadContext
from .publish import record_run
from .register import RegisterSummary, live_actions
from .run_folder import (
    STAGING,
    claim_run_id,
    previous_snapshots,
    recorded_runs,
    sweep_abandoned,
)
from .snapshot import Previous, Snapshot, take_snapshot

log = logging.getLogger(__name__)

RUNS_DIR = "runs"
RESOLVED_FILE = "resolved.parquet"

# Sorted on the whole identity, so every backend writes the findings in one order.
_FINDING_ORDER = [(c, "ascending") for c in ("rule_id", "key", "field", "problem", "finding_id")]

Progress = Callable[[str, int, int], None]
# Renders a finished run as HTML: one page (report.html), or pages by file name. The engine
# never imports `reports`; the caller passes the renderer.
Renderer = Callable[[dict, pa.Table, pa.Table], str | Mapping[str, str]]


@dataclass
class RunContext:
    """What the stages share while a run executes."""

    workspace: LoadedWorkspace
    period: Period
    run_id: str
    folder: Path
    progress: Progress
    catalog: Catalog
    now: datetime
    user: str | None = None
    render: Renderer | None = None
    full: bool = False
    engine: EngineConfig = field(default_factory=EngineConfig)
    previous: dict[str, Previous] = field(default_factory=dict)
    snapshots: list[Snapshot] = field(default_factory=list)
    findings: pa.Table = field(default_factory=empty_findings)
    lifecycle: lifecycle.Lifecycle | None = None
    actions: pa.Table | None = None
    timings: dict[str, float] = field(default_factory=dict)
    # The process's peak memory (max RSS, MiB) once each stage has finished.
    peak_mib: dict[str, int] = field(default_factory=dict)

    @property
    def run_date(self) -> date:
        """Today in the workspace's time zone: waivers hold until a day of the calendar."""
        return self.now.astimezone(ZoneInfo(self.workspace.config.timezone)).date()

    @property
    def as_of(self) -> date:
        """The day findings are dated and aged by: today, or the period's last day when the
        period is over, so closing September in December still ages its findings by months."""
        return min(self.run_date, (self.period.end - timedelta(days=1)).date())


@dataclass(frozen=True)
class RunResult:
    run_id: str
    folder: Path
    manifest: dict
    findings: pa.Table
    actions: pa.Table
    resolved: pa.Table
    batches: RegisterSummary


def _stage_snapshot(ctx: RunContext) -> None:
    sources = [
        (system, index)
        for system, config in ctx.workspace.config.systems.items()
        for index in range(len(config.sources))
    ]
    (ctx.folder / "snapshots").mkdir()
    for done, (system, index) in enumerate(sources, start=1):
        entity = ctx.workspace.config.systems[system].sources[index].entity
        previous = ctx.previous.get(f"{system}.{entity}")
        snapshot = take_snapshot(ctx.workspace, system, index, previous=previous, full=ctx.full)
        pq.write_table(
            snapshot.table, ctx.folder / "snapshots" / f"{table_name(snapshot.ref)}.parquet"
        )
        ctx.snapshots.append(snapshot)
        ctx.progress("snapshot", done, len(sources))


def _stage_validate(ctx: RunContext) -> None:
    """Quarantined rows and problems found in the sources (envelopes, schema drift)
    become findings before any rule runs; quarantined rows stay readable in the run folder."""
    quarantined = [s for s in ctx.snapshots if s.quarantined]
    if quarantined:
        (ctx.folder / "quarantine").mkdir()
    for snapshot in quarantined:
        rows = pa.Table.from_pylist([vars(q) for q in snapshot.quarantined])
        pq.write_table(rows, ctx.folder / "quarantine" / f"{table_name(snapshot.ref)}.parquet")
    ctx.findings = pa.concat_tables(
        [quarantine_findings(ctx.snapshots), source_findings(ctx.snapshots)]
    )
    ctx.progress("validate", 1, 1)


def _stage_evaluate(ctx: RunContext) -> None:
    backend = open_backend(ctx.engine, root=ctx.workspace.root, staging=ctx.folder)
    try:
        tables: dict[str, list[str]] = {}
        types: dict[str, dict[str, str]] = {}
        for snapshot in ctx.snapshots:
            if snapshot.ref in tables:
                raise RunError(
                    f"system {snapshot.system!r} maps two sources onto {snapshot.entity}; "
                    "map one file (or one glob) per entity and system."
                )
            path = ctx.folder / "snapshots" / f"{table_name(snapshot.ref)}.parquet"
            backend.register(snapshot.ref, snapshot.table, path=path)
            tables[snapshot.ref] = snapshot.table.column_names
            types[snapshot.ref] = {
                field.name: family
                for field in snapshot.table.schema
                if (family := family_of(field.type)) is not None
            }
        context = ctx.workspace.config.compile_context(tables, ctx.period, types)
        context = dataclasses.replace(context, dialect=backend.dialect)
        results = [ctx.findings]
        rules = ctx.workspace.rules
        for done, rule in enumerate(rules, start=1):
            query = compile_rule(rule, context)
            found = backend.query(query, label=f"rule {rule.id!r}")
            results.append(to_findings(finish_findings(rule, found)))
            ctx.progress("evaluate", done, len(rules))
        # Findings that events raised in this period are the run's too (see engine.events).
        with ctx.catalog.read() as con:
            found = with_event_findings(con, pa.concat_tables(results), ctx.period.label)
        ctx.findings = found.sort_by(_FINDING_ORDER)
    finally:
        backend.close()


def _stage_circular(ctx: RunContext) -> None:
    """Writes against the ownership direction across runs (see `engine.circular`)."""
    with ctx.catalog.read() as con:
        found = circular_for_run(con, ctx.workspace, ctx.folder.parent, ctx.snapshots, ctx.run_id)
    ctx.findings = pa.concat_tables([ctx.findings, found]).sort_by(_FINDING_ORDER)
    ctx.progress("circular", 1, 1)


def _stage_causes(ctx: RunContext) -> None:
    """Link each finding to the missing master record that explains it (see `engine.causes`)."""
    ctx.findings = link_causes(ctx.findings, {s.ref: s.table for s in ctx.snapshots})
    ctx.progress("causes", 1, 1)


def _stage_lifecycle(ctx: RunContext) -> None:
    """New, persisting, reopened or resolved against the previous run; age and waivers; the
    resolution target of each and whether it is breached."""
    with ctx.catalog.read() as con:
        found = lifecycle.classify(
            con, ctx.findings, run_id=ctx.run_id, as_of=ctx.as_of, today=ctx.run_date
        )
        ctx.lifecycle = sla.apply_targets(con, found, ctx.workspace.config.sla, ctx.run_date)
    ctx.findings = ctx.lifecycle.findings
    pq.write_table(ctx.findings, ctx.folder / "findings.parquet")
    if ctx.lifecycle.resolved.num_rows:
        pq.write_table(ctx.lifecycle.resolved, ctx.folder / RESOLVED_FILE)
    ctx.progress("lifecycle", 1, 1)


def _stage_actions(ctx: RunContext) -> None:
    """Actions for every finding that is not waived, each under its live id (see
    `engine.register`)."""
    waived = pc.is_valid(ctx.findings["waived_until"])
    last_day = (ctx.period.end - timedelta(days=1)).date().isoformat()
    tables = {snapshot.ref: snapshot.table for snapshot in ctx.snapshots}
    scales = {(snapshot.system, snapshot.entity): snapshot.scales for snapshot in ctx.snapshots}
    context = PayloadContext.for_run(ctx.workspace, tables, last_day, scales)
    actions = derive_actions(ctx.findings.filter(pc.invert(waived)), context)
    reopened = ctx.lifecycle.reopened() if ctx.lifecycle is not None else set()
    with ctx.catalog.read() as con:
        ctx.actions = order_actions(live_actions(con, actions, reopened), ctx.findings)
    pq.write_table(ctx.actions, ctx.folder / "actions.parquet")
    ctx.progress("actions", 1, 1)


def _stage_report(ctx: RunContext) -> None:
    if ctx.render is not None:
        pages = ctx.render(_manifest(ctx, run_id=ctx.run_id), ctx.findings, ctx.actions)
        if isinstance(pages, str):
            pages = {"report.html": pages}
        for name, html in pages.items():
            (ctx.folder / name).write_text(html, encoding="utf-8")
    ctx.progress("report", 1, 1)


STAGES: tuple[tuple[str, Callable[[RunContext], None]], ...] = (
    ("snapshot", _stage_snapshot),
    ("validate", _stage_validate),
    ("evaluate", _stage_evaluate),
    ("circular", _stage_circular),
    ("causes", _stage_causes),
    ("lifecycle", _stage_lifecycle),
    ("actions", _stage_actions),
    ("report", _stage_report),
)


def run_workspace(
    folder: Path,
    period_text: str,
    *,
    progress: Progress | None = None,
    render: Renderer | None = None,
    full: bool = False,
    user: str | None = None,
    now: datetime | None = None,
    loaded: LoadedWorkspace | None = None,
    authorized: bool = False,
    engine: EngineConfig | None = None,
) -> RunResult:
    """Run every rule of the workspace in `folder` over one period.

    Sources with a watermark read only what changed since the last finished run,
    unless `full` is set. `user` prepares the run's batches (a run without one is
    prepared by the system); `now` fixes the run's clock, which dates findings and
    decides which waivers hold. `loaded` is the workspace when the caller has loaded it;
    `authorized` says the caller has checked that `user` may run, as the API does for a key
    that acts as no declared user; `engine` replaces the workspace's `engine:` settings.
    """
    # Loading compiles every rule against the planned snapshot columns, so a bad rule
    # fails in a second instead of after every source has been read.
    workspace = loaded or load_workspace(folder)
    period = parse_period(period_text, workspace.config.timezone)
    runs = folder / STATE_DIR / RUNS_DIR
    runs.mkdir(parents=True, exist_ok=True)
    sweep_abandoned(runs)
    with Catalog(folder) as catalog:
        sync_users(catalog, workspace.config)
        if user is not None and not authorized:
            authorize(catalog, workspace.config, user, "run")
        recorded = recorded_runs(catalog, period.label)
        run_id, claim = claim_run_id(runs, period.label, recorded)
        staging = runs / f"{STAGING}{os.getpid()}-{uuid.uuid4().hex[:12]}"
        try:
            staging.mkdir()
            ctx = RunContext(
                workspace,
                period,
                run_id,
                staging,
                progress or (lambda *_: None),
                catalog,
                now or datetime.now(UTC),
                user,
                render,
            )
            ctx.full, ctx.previous = full, previous_snapshots(runs)
            ctx.engine = engine or workspace.config.engine
            started = time.perf_counter()
            for name, stage in STAGES:
                began = time.perf_counter()
                stage(ctx)
                ctx.timings[name] = round(time.perf_counter() - began, 3)
                ctx.peak_mib[name] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
            ctx.timings["total"] = round(time.perf_counter() - started, 3)
            result = _publish(ctx, runs)
        except SourceError as exc:
            alerts.after_failure(catalog, workspace.config, period.label, exc)
            raise
        except TallyclerkError:
            raise
        except RuntimeError as exc:
            # DuckDB turns Ctrl-C into an interrupted query; report it as the interrupt it is.
            if "interrupted" in str(exc).lower():
                raise KeyboardInterrupt from exc
            raise RunError(f"the run of {folder} for {period.label} failed: {exc!r}") from exc
        except Exception as exc:
            raise RunError(f"the run of {folder} for {period.label} failed: {exc!r}") from exc
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
            claim.unlink(missing_ok=True)
        alerts.after_run(catalog, workspace.config, result.manifest, result.findings, runs)
        return result


def _publish(ctx: RunContext, runs: Path) -> RunResult:
    """Record the run in the catalog and rename it into place, in one catalog transaction."""
    published = runs / ctx.run_id
    found = ctx.lifecycle
    if found is None:
        raise RunError(f"run {ctx.run_id} reached publishing without its lifecycle stage.")
    summary, manifest = record_run(
        ctx.catalog,
        found=found,
        actions=ctx.actions,
        manifest=_manifest(ctx, run_id=ctx.run_id),
        policy=ctx.workspace.config.policy,
        run_date=ctx.run_date,
        user=ctx.user,
        now=ctx.now,
        staging=ctx.folder,
        published=published,
    )
    return RunResult(
        ctx.run_id, published, manifest, ctx.findings, ctx.actions, found.resolved, summary
    )


def _manifest(ctx: RunContext, *, run_id: str) -> dict:
    findings = ctx.findings
    money = pc.sum(findings["amount_at_risk"]).as_py() if findings.num_rows else None
    return {
        "run_id": run_id,
        "workspace": ctx.workspace.config.name,
        "period": ctx.period.label,
        "period_start": ctx.period.start.isoformat(),
        "period_end": ctx.period.end.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "findings": findings.num_rows,
        "actions": 0 if ctx.actions is None else ctx.actions.num_rows,
        "amount_at_risk": str(money or 0),
        "rules": [rule.id for rule in ctx.workspace.rules],
        "skipped_rules": [
            {"rule_id": skipped.rule_id, "pack": skipped.pack, "reason": skipped.reason}
            for skipped in ctx.workspace.skipped
        ],
        "snapshots": [snapshot.manifest() for snapshot in ctx.snapshots],
        "backend": ctx.engine.backend,
        "timings": ctx.timings,
        "peak_mib": ctx.peak_mib,
        "schema": lifecycle.RUN_FINDINGS_SCHEMA.names,
    }
