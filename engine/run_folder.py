"""The runs folder of a workspace: run ids claimed atomically, the staging folders of runs
in progress, what killed runs left behind, and the snapshots of the last finished run."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from rules.sql import table_name
from tallyclerk.errors import ConfigError

from .catalog import Catalog
from .snapshot import Previous

log = logging.getLogger(__name__)

# Names of a run in progress: its staging folder (with the pid) and its claimed run id.
STAGING = ".tmp-"
_CLAIM = ".claim-"


def sweep_abandoned(runs: Path) -> None:
    """Remove the staging folders and claims of runs whose process is gone (killed -9)."""
    for path in runs.iterdir():
        if not path.name.startswith((STAGING, _CLAIM)):
            continue
        owner = path.name.removeprefix(STAGING).split("-")[0] if path.is_dir() else None
        if owner is None:
            owner = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
        if owner.isdigit() and not _process_alive(int(owner)):
            log.warning("removing %s, left by run process %s that no longer exists", path, owner)
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def previous_snapshots(runs: Path) -> dict[str, Previous]:
    """The snapshots of the last finished run, by `system.entity`, for incremental reads."""
    finished = []
    for folder in runs.iterdir():
        manifest_path = folder / "manifest.json"
        if folder.name.startswith(".") or not manifest_path.is_file():
            continue
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        finished.append((manifest.get("finished_at", ""), folder.name, folder, manifest))
    if not finished:
        return {}
    _, run_id, folder, manifest = max(finished, key=lambda item: item[:2])
    found = {}
    for entry in manifest.get("snapshots", []):
        ref = f"{entry['system']}.{entry['entity']}"
        path = folder / "snapshots" / f"{table_name(ref)}.parquet"
        if path.is_file():
            found[ref] = Previous(run_id=run_id, manifest=entry, path=path)
    return found


def recorded_runs(catalog: Catalog, period: str) -> set[str]:
    """The run ids of `period` in the catalog; refuses a period before the latest run's.

    Each run is compared with the previous one, so a run of an earlier period after a later
    one would resolve the later period's findings and make its approved actions obsolete.
    """
    with catalog.read() as con:
        latest = con.execute("SELECT run_id, period FROM runs ORDER BY seq DESC LIMIT 1").fetchone()
        ids = {
            row["run_id"]
            for row in con.execute("SELECT run_id FROM runs WHERE period = ?", (period,))
        }
    if latest is not None and period < latest["period"]:
        raise ConfigError(
            f"--period {period} is before {latest['period']}, the period of the latest run "
            f"{latest['run_id']}: runs are compared with the previous one, so an earlier period "
            "run now would resolve the later period's findings. Run the periods in order, or "
            "restate the earlier period in a copy of the workspace without its .tallyclerk folder."
        )
    return ids


def claim_run_id(runs: Path, period: str, recorded: set[str]) -> tuple[str, Path]:
    """The next free run id of the period, claimed atomically so two runs never share one.

    Ids the catalog has recorded stay taken even when their run folder was deleted.
    """
    while True:
        names = [p.name.removeprefix(_CLAIM) for p in runs.iterdir()] + sorted(recorded)
        numbers = [
            int(tail)
            for name in names
            if name.startswith(f"{period}.") and (tail := name.rsplit(".", 1)[1]).isdigit()
        ]
        run_id = f"{period}.{max(numbers, default=0) + 1:03d}"
        claim = runs / f"{_CLAIM}{run_id}"
        try:
            with claim.open("x", encoding="utf-8") as handle:
                handle.write(str(os.getpid()))
        except FileExistsError:
            continue
        if (runs / run_id).exists():
            claim.unlink()
            continue
        return run_id, claim
