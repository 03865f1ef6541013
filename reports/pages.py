"""The reports of a run: written by every run, and rendered again from a finished run folder."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

import pyarrow as pa

from engine.config import WORKSPACE_FILE, LoadedWorkspace, ReportConfig, load_workspace
from tallyclerk.errors import ConfigError

from .batch import (
    batch_ids,
    catalog_manifest,
    has_catalog,
    load_batch,
    render_batch_sheet,
    waiting_for_approval,
)
from .branding import Brand, brand_for
from .executive import render_executive_report
from .history import (
    MANIFEST,
    History,
    RunFolder,
    find_run,
    load_history,
    runs_folder,
    workspace_of,
)
from .run_report import render_run_report

log = logging.getLogger(__name__)

RUN_REPORT = "report.html"
EXECUTIVE_REPORT = "executive.html"


class Kind(StrEnum):
    executive = "executive"
    run = "run"
    batch = "batch"


@dataclass(frozen=True)
class ReportSetup:
    """What a workspace says about its reports, and where its runs are."""

    runs_dir: Path
    brand: Brand = field(default_factory=lambda: brand_for(None, None))
    settings: ReportConfig = field(default_factory=ReportConfig)
    # Where the catalog says which actions still wait, and the risk levels approved unasked.
    workspace: Path | None = None
    auto_approve: tuple[str, ...] = ()


def setup_for(workspace: LoadedWorkspace) -> ReportSetup:
    config = workspace.config
    return ReportSetup(
        runs_dir=runs_folder(workspace.root),
        brand=brand_for(config.branding, workspace.root),
        settings=config.report,
        workspace=workspace.root,
        auto_approve=tuple(config.policy.auto_approve),
    )


def setup_for_run(run: RunFolder) -> ReportSetup:
    """The setup of the workspace a run belongs to, or plain defaults when it has none."""
    root = workspace_of(run)
    if root is None or not (root / WORKSPACE_FILE).is_file():
        log.warning("run %s has no workspace beside it: reports use no branding", run.run_id)
        return ReportSetup(runs_dir=run.folder.resolve().parent)
    return setup_for(load_workspace(root))


def run_renderer(
    workspace: LoadedWorkspace,
) -> Callable[[dict, pa.Table, pa.Table | None], dict[str, str]]:
    """What a run passes to the engine: both reports, by file name in the run folder."""
    setup = setup_for(workspace)

    def render(manifest: dict, findings: pa.Table, actions: pa.Table | None) -> dict[str, str]:
        # Both reports read the earlier runs; read them once.
        history = load_history(setup.runs_dir, manifest)
        return {
            name: render_kind(kind, manifest, findings, actions, setup, history=history)
            for name, kind in ((RUN_REPORT, Kind.run), (EXECUTIVE_REPORT, Kind.executive))
        }

    return render


def render_batch_of_run(
    run: RunFolder, setup: ReportSetup, batch: str | None, *, run_named: bool
) -> str:
    """The batch sheet of a run's batch, read from its workspace's catalog when there is one.

    `run_named` says the run was chosen by the user, so `target:entity` means that run's
    batch; otherwise it means the pair's newest batch, as in `tallyclerk batches`.
    """
    root = workspace_of(run)
    if root is None or not has_catalog(root):
        log.warning(
            "run %s has no workspace catalog: its batch sheet shows no decisions", run.run_id
        )
        return render_kind(
            Kind.batch, run.manifest, run.findings(), run.actions(), setup, batch=batch
        )
    record = load_batch(root, batch, run_id=run.run_id, run_named=run_named)
    if record.run_id == run.run_id:
        manifest, findings = run.manifest, run.findings()
    elif (runs_folder(root) / record.run_id / MANIFEST).is_file():
        owner = find_run(root, record.run_id)
        manifest, findings = owner.manifest, owner.findings()
    else:
        # A purge removed the run's folder; the batch lives on in the catalog and may still
        # be decided, so the sheet shows the actions without their findings' details.
        log.warning("run %s has no folder: its batch sheet leaves out the findings", record.run_id)
        manifest = catalog_manifest(root, record.run_id, run.manifest["workspace"])
        findings = pa.table({"finding_id": pa.array([], pa.string())})
        record = replace(record, run_folder_gone=True)
    return render_batch_sheet(
        manifest, record, findings, brand=setup.brand, settings=setup.settings
    )


def render_kind(
    kind: Kind,
    manifest: dict,
    findings: pa.Table,
    actions: pa.Table | None,
    setup: ReportSetup,
    *,
    batch: str | None = None,
    history: History | None = None,
    run_report_href: str = RUN_REPORT,
    executive_href: str = EXECUTIVE_REPORT,
) -> str:
    """One report of a run as HTML."""
    if kind is Kind.batch:
        if batch is None:
            batches = batch_ids(actions)
            if len(batches) != 1:
                raise ConfigError(
                    f"run {manifest['run_id']} has {len(batches)} batches; choose one with "
                    f"--batch: {', '.join(batches) or 'none'}."
                )
            batch = batches[0]
        return render_batch_sheet(
            manifest, actions, findings, batch, brand=setup.brand, settings=setup.settings
        )
    if history is None:
        history = load_history(setup.runs_dir, manifest)
    if kind is Kind.executive:
        return render_executive_report(
            manifest,
            findings,
            actions,
            history=history,
            brand=setup.brand,
            settings=setup.settings,
            run_report_href=run_report_href,
            waiting=waiting_for_approval(actions, setup.workspace, setup.auto_approve),
        )
    return render_run_report(
        manifest,
        findings,
        actions,
        history=history,
        brand=setup.brand,
        settings=setup.settings,
        executive_href=executive_href,
    )
