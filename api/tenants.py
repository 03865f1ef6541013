"""The tenants a server serves: one workspace folder each under the workspaces folder, named
by the folder; their loaded workspaces, kept while `tallyclerk.yaml` is unchanged."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from engine.catalog import STATE_DIR, Catalog
from engine.config import WORKSPACE_FILE, LoadedWorkspace, load_workspace
from engine.run import RUNS_DIR
from rules.sql import table_name
from tallyclerk.duckdb_answers import small_batch_database

from .keys import TENANT_ID
from .problems import ApiProblem


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    folder: Path

    @property
    def runs(self) -> Path:
        return self.folder / STATE_DIR / RUNS_DIR

    def catalog(self) -> Catalog:
        return Catalog(self.folder)

    def run_folder(self, run_id: str) -> Path | None:
        """A finished run's folder, or None; ids are checked so no path leaves the tenant."""
        if not _safe_run_id(run_id):
            return None
        folder = self.runs / run_id
        return folder if (folder / "manifest.json").is_file() else None

    def latest_run(self) -> Path | None:
        with self.catalog() as catalog, catalog.read() as con:
            row = con.execute("SELECT run_id FROM runs ORDER BY seq DESC LIMIT 1").fetchone()
        return self.run_folder(row["run_id"]) if row else None


def _safe_run_id(run_id: str) -> bool:
    return bool(run_id) and not run_id.startswith(".") and "/" not in run_id and "\\" not in run_id


class Tenants:
    """Workspaces by tenant id, loaded once and again when their file changes."""

    def __init__(self, workspaces: Path) -> None:
        self.root = workspaces
        self._lock = threading.Lock()
        self._loaded: dict[str, tuple[tuple[int, int], LoadedWorkspace]] = {}
        self._snapshots: dict[tuple[str, str], pa.Table] = {}

    def get(self, tenant_id: str) -> Tenant:
        folder = self.root / tenant_id
        if not TENANT_ID.match(tenant_id) or not (folder / WORKSPACE_FILE).is_file():
            raise ApiProblem(
                404,
                f"tenant {tenant_id!r} has no workspace on this server; ask its operator to "
                f"create the folder {tenant_id}/ with a {WORKSPACE_FILE}.",
            )
        return Tenant(tenant_id, folder)

    def workspace(self, tenant: Tenant) -> LoadedWorkspace:
        """The tenant's workspace, loaded again only when its file changed."""
        stat = (tenant.folder / WORKSPACE_FILE).stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._loaded.get(tenant.tenant_id)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        loaded = load_workspace(tenant.folder)
        with self._lock:
            self._loaded[tenant.tenant_id] = (stamp, loaded)
        return loaded

    def snapshot(self, run: Path, ref: str) -> pa.Table | None:
        """A finished run's snapshot of `system.entity`; runs never change once finished."""
        key = (str(run), ref)
        with self._lock:
            if key in self._snapshots:
                return self._snapshots[key]
        path = run / "snapshots" / f"{table_name(ref)}.parquet"
        table = pq.read_table(path) if path.is_file() else None
        with self._lock:
            if len(self._snapshots) > 64:
                self._snapshots.clear()
            self._snapshots[key] = table
        return table


class DuckDB:
    """One in-memory DuckDB database for the server's checks, a connection to it per thread:
    a connection may not be shared by threads, and opening a database per request costs
    more than checking a thousand records."""

    def __init__(self) -> None:
        self._database = small_batch_database()
        self._lock = threading.Lock()
        self._local = threading.local()

    def connection(self) -> duckdb.DuckDBPyConnection:
        con = getattr(self._local, "con", None)
        if con is None:
            with self._lock:
                con = self._local.con = self._database.cursor()
        return con
