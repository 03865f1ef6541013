"""Record a finished run in the catalog and rename its folder into place, together.

The rename happens inside the catalog's write transaction: if recording fails the
folder is not published, and if the commit fails the folder goes back to staging,
so a run is either in the catalog and on disk, or in neither.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa

from tallyclerk.errors import RunError

from . import audit, lifecycle
from .batches import SYSTEM_ACTOR
from .catalog import Catalog
from .config import Policy
from .register import RegisterSummary, register_run


def record_run(
    catalog: Catalog,
    *,
    found: lifecycle.Lifecycle,
    actions: pa.Table,
    manifest: dict,
    policy: Policy,
    run_date: date,
    user: str | None,
    now: datetime,
    staging: Path,
    published: Path,
) -> tuple[RegisterSummary, dict]:
    """Findings history, batches and audit entry of one run; returns them and its manifest."""
    try:
        return _record(
            catalog, found, actions, manifest, policy, run_date, user, now, staging, published
        )
    except BaseException:
        if published.exists() and not staging.exists():
            published.rename(staging)
        raise


def _record(
    catalog: Catalog,
    found: lifecycle.Lifecycle,
    actions: pa.Table,
    manifest: dict,
    policy: Policy,
    run_date: date,
    user: str | None,
    now: datetime,
    staging: Path,
    published: Path,
) -> tuple[RegisterSummary, dict]:
    run_id = manifest["run_id"]
    with catalog.write() as con:
        latest = lifecycle.latest_run(con)
        if latest != found.baseline:
            raise RunError(
                f"run {latest} of this workspace finished while run {run_id} was comparing "
                f"its findings with {found.baseline or 'no earlier run'}; run it again."
            )
        counts = found.counts()
        con.execute(
            "INSERT INTO runs (run_id, seq, period, run_date, finished_at, prepared_by, "
            "findings, counts) VALUES (?, (SELECT coalesce(max(seq), 0) + 1 FROM runs), "
            "?, ?, ?, ?, ?, ?)",
            (
                run_id,
                manifest["period"],
                run_date.isoformat(),
                datetime.now(UTC).isoformat(timespec="seconds"),
                user,
                found.findings.num_rows,
                json.dumps(counts),
            ),
        )
        lifecycle.record(con, found, run_id)
        audit.append(
            catalog,
            con,
            actor=user or SYSTEM_ACTOR,
            verb="run",
            subject=f"run:{run_id}",
            detail={"period": manifest["period"], "lifecycle": counts},
            at=now,
        )
        summary = register_run(
            catalog,
            con,
            run_id=run_id,
            actions=actions,
            open_findings=set(found.findings["finding_id"].to_pylist()),
            resolved=set(found.resolved["finding_id"].to_pylist()),
            reopened=found.reopened(),
            policy=policy,
            prepared_by=user,
            now=now,
        )
        manifest = manifest | {
            "compared_with": found.baseline,
            "lifecycle": counts,
            "batches": list(summary.batches),
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        staging.rename(published)
    return summary, manifest
