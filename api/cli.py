"""The `tallyclerk` command line: demo, run, report and rules; the findings, batches and
audit commands are defined beside it and added here."""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table

from engine.access import USER_ENV
from engine.backends.options import EngineConfig
from engine.config import load_workspace
from engine.run import STAGES, RunResult, run_workspace
from engine.sample.generate import MAX_ORDERS, MIN_ORDERS, generate
from engine.scoring import Score, check_expected_file, score_findings
from reports.history import MANIFEST, find_run
from reports.pages import (
    EXECUTIVE_REPORT,
    RUN_REPORT,
    Kind,
    render_batch_of_run,
    render_kind,
    run_renderer,
    setup_for_run,
)
from tallyclerk.errors import ConfigError, Interrupted, TallyclerkError
from tallyclerk.wording import plural

from .batches_cli import batches_app
from .engine_cli import engine_options
from .findings_cli import audit_app, findings_app
from .ops_cli import alerts_app, portfolio, purge, sla_app
from .rules_cli import rules_app
from .serve_cli import keys_app, serve
from .workflow import AsUser

app = typer.Typer(
    help="Reconcile ERP, WMS, TMS and finance data against declared rules and ownership.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(rules_app, name="rules")
app.add_typer(findings_app, name="findings")
app.add_typer(batches_app, name="batches")
app.add_typer(audit_app, name="audit")
app.add_typer(sla_app, name="sla")
app.add_typer(alerts_app, name="alerts")
app.command()(purge)
app.command()(portfolio)
app.add_typer(keys_app, name="keys")
app.command()(serve)

# Piped output gets a fixed width, so summaries are not cut to 80 columns.
out = Console(width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 120)

DEFAULT_DEMO_DIR = Path("examples/harborline")
# Missed and unexpected findings listed one by one after the score; the rest are counted.
_SCORE_ROWS = 10
DEMO_PERIOD = "2026-11"

Workspace = Annotated[
    Path, typer.Argument(help="Workspace folder holding tallyclerk.yaml.", show_default=False)
]


@app.command()
def demo(
    folder: Annotated[Path, typer.Argument(help="Where to write the sample tenant.")] = (
        DEFAULT_DEMO_DIR
    ),
    orders: Annotated[
        int, typer.Option(min=MIN_ORDERS, max=MAX_ORDERS, help="Sales orders in the period.")
    ] = 2000,
    seed: Annotated[
        int, typer.Option(min=0, help="Seed; the same seed gives identical files.")
    ] = 7,
    generate_only: Annotated[
        bool, typer.Option("--generate-only", help="Write the files, do not run the close.")
    ] = False,
) -> None:
    """Generate the Harborline Distribution sample tenant and run its November 2026 close."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} is a file; name a folder for the sample tenant.")
    with err.status(f"Generating {orders:,} orders into {folder} ..."):
        summary = generate(folder, orders=orders, seed=seed)
    rows = sum(count for _, count in summary.files)
    err.print(
        f"Wrote the sample tenant to {folder}: {len(summary.files)} files, {rows:,} rows, "
        f"{summary.injected} planted discrepancies.",
        markup=False,
        highlight=False,
    )
    if not generate_only:
        _run_and_report(folder, DEMO_PERIOD)


@app.command()
def run(
    workspace: Workspace,
    period: Annotated[str, typer.Option(help="The month to close, as YYYY-MM.")],
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Read every source in full, ignoring the watermarks of the last run."
        ),
    ] = False,
    user: AsUser = None,
    backend: Annotated[
        str | None,
        typer.Option(
            help="Where the rules run: duckdb (embedded, the default) or spark; "
            "overrides the workspace's engine.backend.",
            show_default=False,
        ),
    ] = None,
    spark_master: Annotated[
        str | None,
        typer.Option(
            "--spark-master",
            help="The Spark master for --backend spark: local[2] (the default), "
            "spark://host:7077, yarn, ...",
            show_default=False,
        ),
    ] = None,
    memory_limit: Annotated[
        str | None,
        typer.Option(
            "--memory-limit",
            help="DuckDB's memory limit, e.g. 4GB; beyond it DuckDB spills to disk.",
            show_default=False,
        ),
    ] = None,
    spill_dir: Annotated[
        Path | None,
        typer.Option(
            "--spill-dir", help="Where DuckDB spills beyond --memory-limit.", show_default=False
        ),
    ] = None,
) -> None:
    """Snapshot every source, run every rule, derive actions and write the reports.

    The acting user (--as, or $TALLYCLERK_USER) prepares the run's batches; without
    one the system does, as for a scheduled run.
    """
    engine = engine_options(
        workspace,
        backend=backend,
        spark_master=spark_master,
        memory_limit=memory_limit,
        spill_dir=None if spill_dir is None else str(spill_dir.resolve()),
    )
    user = user or os.environ.get(USER_ENV)
    _run_and_report(workspace, period, full=full, user=user, engine=engine)


@app.command()
def report(
    run: Annotated[
        Path,
        typer.Argument(
            help="A run folder, or a workspace folder (its latest run, or the one --run-id names)."
        ),
    ] = Path("."),
    kind: Annotated[Kind, typer.Option(help="Which report to write.")] = Kind.executive,
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="The run of the workspace, e.g. 2026-11.001.")
    ] = None,
    batch: Annotated[
        str | None,
        typer.Option(
            help="The batch of a batch sheet: its id (2026-11.001/wms:item), or target:entity "
            "for the run's batch of that pair (the newest when no run is named)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Where to write the HTML, `-` for standard output; by default RUN_ID-KIND.html "
            "in the current folder. Its links into the run folder are relative to the folder "
            "it is written to (to the current folder for `-`), so they work as long as the "
            "two stay where they are.",
        ),
    ] = None,
) -> None:
    """Write one report of a finished run: the executive report, the run report or a batch sheet."""
    if batch is not None and kind is not Kind.batch:
        raise ConfigError("--batch names the batch of a batch sheet; add --kind batch.")
    found = find_run(run, run_id)
    setup = setup_for_run(found)
    default_name = _default_report_name(found.run_id, kind, batch)
    target = out or Path(default_name)
    if str(target) != "-":
        _check_writable(target, default_name)
    here = Path.cwd() if str(target) == "-" else target.resolve().parent
    if kind is Kind.batch:
        named = run_id is not None or (run / MANIFEST).is_file()
        html = render_batch_of_run(found, setup, batch, run_named=named)
    else:
        html = render_kind(
            kind,
            found.manifest,
            found.findings(),
            found.actions(),
            setup,
            run_report_href=_link(here, found.folder / RUN_REPORT),
            executive_href=_link(here, found.folder / EXECUTIVE_REPORT),
        )
    if str(target) == "-":
        sys.stdout.write(html)
        return
    try:
        target.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"--out {target}: cannot write the report there ({exc.strerror or exc}); "
            "choose a file in a folder you may write to."
        ) from exc
    what = "batch sheet" if kind is Kind.batch else f"{kind.value} report of run {found.run_id}"
    err.print(f"Wrote the {what} to [bold]{target}[/].")


def _run_and_report(
    workspace: Path,
    period: str,
    *,
    full: bool = False,
    user: str | None = None,
    engine: EngineConfig | None = None,
) -> None:
    check_expected_file(workspace)
    columns = (TextColumn("{task.description:<10}"), BarColumn(), TaskProgressColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        tasks = {name: progress.add_task(name, total=None) for name, _ in STAGES}

        def advance(stage: str, done: int, total: int) -> None:
            progress.update(tasks[stage], completed=done, total=total)

        loaded = load_workspace(workspace)
        result = run_workspace(
            workspace,
            period,
            progress=advance,
            render=run_renderer(loaded),
            full=full,
            user=user,
            loaded=loaded,
            engine=engine,
        )
    _print_summary(result, score_findings(workspace, result.findings, period=period))


def _print_summary(result: RunResult, score: Score | None) -> None:
    findings = result.findings.to_pylist()
    by_rule = Counter((f["rule_id"], f["kind"], f["severity"]) for f in findings)
    amounts: dict[str, Decimal] = Counter()
    for f in findings:
        amounts[f["rule_id"]] += f["amount_at_risk"] or Decimal(0)

    table = Table(title=f"Run {result.run_id}: findings by rule", title_justify="left")
    for name in ("rule", "kind", "severity", "findings", "money at risk"):
        table.add_column(name, justify="right" if name in ("findings", "money at risk") else "left")
    for (rule_id, kind, severity), count in sorted(by_rule.items()):
        table.add_row(rule_id, kind, severity, str(count), f"{amounts[rule_id]:,.2f}")
    out.print(table)

    actions = Counter(a["target_system"] for a in result.actions.to_pylist())
    targets = ", ".join(f"{system} {count}" for system, count in sorted(actions.items()))
    total = sum(amounts.values(), Decimal(0))
    out.print(f"Findings: {len(findings)}   money at risk: {total:,.2f}")
    out.print(f"Actions by target system: {targets or 'none'}")
    causes = [f for f in findings if f.get("explains")]
    if causes:
        explained = sum(f["explains"] for f in causes)
        out.print(
            f"Root causes: {plural(len(causes), 'finding')} explaining "
            f"{plural(explained, 'other')} (findings list --causes)",
            highlight=False,
        )
    breached = sum(1 for f in findings if f.get("sla_breached"))
    if breached:
        out.print(f"Past their resolution target: {plural(breached, 'finding')}", highlight=False)
    lifecycle = result.manifest["lifecycle"]
    out.print(
        "Against the previous run: " + ", ".join(f"{lifecycle[name]} {name}" for name in lifecycle),
        highlight=False,
    )
    summary = result.batches
    reopened = f", {summary.for_reopened} for reopened findings" if summary.for_reopened else ""
    out.print(
        f"Batches: {plural(len(summary.batches), 'new batch', 'new batches')} with "
        f"{plural(summary.new_actions, 'action')} ({summary.auto_approved} approved by policy"
        f"{reopened}); earlier actions: {summary.confirmed} confirmed, {summary.obsolete} "
        f"obsolete, {len(summary.flagged) + len(summary.undone)} flagged",
        highlight=False,
    )
    for action_id in summary.flagged:
        out.print(
            f"  flagged: action {action_id[:12]} was applied but its finding persists",
            style="yellow",
            highlight=False,
        )
    for action_id in summary.undone:
        out.print(
            f"  flagged: action {action_id[:12]} was applied and confirmed, but its finding "
            "is back (reopened)",
            style="yellow",
            highlight=False,
        )
    if score is not None:
        out.print(
            f"Against expected_findings.csv: precision {score.precision:.2f}, "
            f"recall {score.recall:.2f} ({score.true_positives} of {score.expected} expected)"
        )
        for label, rows in (("missed:    ", score.missed), ("unexpected:", score.unexpected)):
            for row in rows[:_SCORE_ROWS]:
                out.print(
                    f"  {label} {', '.join(row)}", style="yellow", markup=False, highlight=False
                )
            if len(rows) > _SCORE_ROWS:
                out.print(
                    f"  {label} and {len(rows) - _SCORE_ROWS:,} more; the run report lists "
                    "every finding",
                    style="yellow",
                    highlight=False,
                )
    out.print(
        f"Executive report: {result.folder / EXECUTIVE_REPORT}", markup=False, highlight=False
    )
    out.print(f"Run report:       {result.folder / RUN_REPORT}", markup=False, highlight=False)


def _default_report_name(run_id: str, kind: Kind, batch: str | None) -> str:
    suffix = f"batch-{re.sub(r'[^A-Za-z0-9_.-]+', '-', batch)}" if batch else kind.value
    return f"{run_id}-{suffix}.html"


def _check_writable(target: Path, default_name: str) -> None:
    """Refuse an --out path that names a folder, or a file in a folder that does not exist."""
    if target.is_dir():
        raise ConfigError(
            f"--out {target} is a folder; name the file to write, "
            f"for example --out {target / default_name}."
        )
    folder = target.parent
    if not folder.is_dir():
        raise ConfigError(
            f"--out {target}: the folder {folder} does not exist; create it first "
            f"(mkdir -p {folder}) or write the report somewhere else."
        )


def _link(here: Path, target: Path) -> str:
    """A relative link from the folder a report is written to, to a file of the run."""
    return Path(os.path.relpath(target.resolve(), here)).as_posix()


def main() -> None:
    """Entry point: errors print one clear message and exit 2 (usage) or 1 (run)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        app()
    except TallyclerkError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        # DuckDB reports any signal that stops its query as an interrupt.
        if _terminated:
            _fail(_TERMINATED, Interrupted.exit_code)
        _fail("interrupted; nothing half-done was kept.", 130)
    except OSError as exc:
        _fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), 1)


_TERMINATED = "stopped by SIGTERM; nothing half-done was kept."
_terminated = False


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM unwinds like an error, so a run's staging folder and open transactions go."""
    global _terminated
    _terminated = True
    raise Interrupted(_TERMINATED)


def _fail(message: str, code: int) -> None:
    # Messages are printed whole: never re-wrapped, and brackets in them are not markup.
    err.print("error: ", style="bold red", end="")
    err.print(message, markup=False, highlight=False, soft_wrap=True)
    sys.exit(code)
