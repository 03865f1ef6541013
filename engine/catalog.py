"""The workspace catalog: runs, findings history, waivers, actions, batches, decisions,
users and the audit trail, in one transactional file, `.tallyclerk/catalog.sqlite`.

The catalog is SQLite in WAL mode, not DuckDB. A DuckDB file admits one writing
process, and while it is open for writing no other process can open it at all,
so a CLI approval would fail outright while the API serves another. In WAL mode
readers never wait and writers queue: every change runs as an IMMEDIATE
transaction, which takes the write lock before it reads the state it checks, and
waits at most `BUSY_TIMEOUT` seconds for it before failing with a clear "catalog
busy" error. Of two simultaneous decisions on one batch the second therefore
reads the first one's result, and is refused as a conflict. Snapshots and
findings stay in Parquet in the run folders; the catalog holds their state.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tallyclerk.errors import CatalogBusyError, CatalogError

log = logging.getLogger(__name__)

STATE_DIR = ".tallyclerk"
CATALOG_FILE = "catalog.sqlite"
# Seconds a writer waits for another process's transaction before giving up.
BUSY_TIMEOUT = 10.0
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE,
    period TEXT NOT NULL,
    run_date TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    prepared_by TEXT,
    findings INTEGER NOT NULL,
    counts TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS findings (
    finding_id TEXT PRIMARY KEY,
    rule_id TEXT NOT NULL,
    entity TEXT NOT NULL,
    key TEXT NOT NULL,
    field TEXT NOT NULL,
    problem TEXT NOT NULL,
    first_seen_run TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen_run TEXT NOT NULL,
    last_row TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS finding_history (
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    finding_id TEXT NOT NULL REFERENCES findings (finding_id),
    status TEXT NOT NULL,
    age_days INTEGER NOT NULL,
    waiver_id INTEGER REFERENCES waivers (waiver_id),
    PRIMARY KEY (run_id, finding_id)
);
CREATE TABLE IF NOT EXISTS waivers (
    waiver_id INTEGER PRIMARY KEY,
    finding_id TEXT,
    rule_id TEXT,
    key TEXT,
    until TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_by TEXT,
    revoked_at TEXT,
    CHECK ((finding_id IS NULL) <> (rule_id IS NULL AND key IS NULL))
);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    target_system TEXT NOT NULL,
    entity TEXT NOT NULL,
    prepared_by TEXT,
    submitted_by TEXT,
    submitted_at TEXT,
    revision INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS actions (
    action_id TEXT PRIMARY KEY,
    batch_id TEXT NOT NULL REFERENCES batches (batch_id),
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    kind TEXT NOT NULL,
    target_system TEXT NOT NULL,
    entity TEXT NOT NULL,
    key TEXT NOT NULL,
    field TEXT NOT NULL,
    payload TEXT NOT NULL,
    finding_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    amount_at_risk TEXT,
    risk TEXT NOT NULL,
    status TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    comment TEXT,
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    applied_at TEXT,
    confirmation TEXT,
    confirmed_run TEXT
);
CREATE INDEX IF NOT EXISTS actions_by_batch ON actions (batch_id, status);
CREATE TABLE IF NOT EXISTS decisions (
    decision_id INTEGER PRIMARY KEY,
    batch_id TEXT NOT NULL REFERENCES batches (batch_id),
    action_id TEXT NOT NULL REFERENCES actions (action_id),
    decision TEXT NOT NULL,
    user_id TEXT NOT NULL,
    at TEXT NOT NULL,
    comment TEXT
);
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY,
    role TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
    alert_id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    event TEXT NOT NULL,
    subject TEXT NOT NULL,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT,
    message TEXT NOT NULL,
    delivered_at TEXT
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    verb TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,
    why TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
"""


class Catalog:
    """One workspace's catalog; open it, read or write in a transaction, close it."""

    def __init__(self, folder: Path, *, timeout: float = BUSY_TIMEOUT) -> None:
        self.folder = folder
        self.state = folder / STATE_DIR
        self.path = self.state / CATALOG_FILE
        self.timeout = timeout
        self.state.mkdir(parents=True, exist_ok=True)
        try:
            self._con = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise CatalogError(f"cannot open the catalog {self.path}: {exc}") from exc
        self._con.row_factory = sqlite3.Row
        self._after_commit: list = []
        self._prepare()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._con.close()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent view: what other processes commit meanwhile stays invisible."""
        with self._translated("read"):
            self._con.execute("BEGIN DEFERRED")
        try:
            with self._translated("read"):
                yield self._con
        finally:
            self._con.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: the write lock is held from the first read to commit."""
        with self._translated("write"):
            self._con.execute("BEGIN IMMEDIATE")
        try:
            with self._translated("write"):
                yield self._con
            with self._translated("commit"):
                self._con.execute("COMMIT")
        except BaseException:
            self._after_commit.clear()
            if self._con.in_transaction:
                self._con.execute("ROLLBACK")
            raise
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    def after_commit(self, callback) -> None:
        """Run `callback` once the current write transaction has committed."""
        self._after_commit.append(callback)

    def _prepare(self) -> None:
        with self._translated("open"):
            self._con.execute("PRAGMA journal_mode = WAL")
            self._con.execute("PRAGMA synchronous = FULL")
            self._con.execute("PRAGMA foreign_keys = ON")
            version = self._con.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        # Every statement of the schema is CREATE ... IF NOT EXISTS, so running it on an
        # older catalog adds what that version lacked (version 2: the alerts table).
        if version > SCHEMA_VERSION:
            raise CatalogError(
                f"{self.path} was written by a newer tallyclerk (catalog schema {version}); "
                "upgrade tallyclerk to read it."
            )
        with self.write() as con:
            if con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                return
            for statement in _SCHEMA.split(";\n"):
                if statement.strip():
                    con.execute(statement)
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        log.info("created the catalog %s", self.path)

    @contextmanager
    def _translated(self, doing: str) -> Iterator[None]:
        """SQLite's errors as ours: busy, or a catalog that is not what tallyclerk wrote
        (a table dropped, a file that is not a catalog). Errors of our own making, such as
        a broken constraint, stay as they are."""
        try:
            yield
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise
        except sqlite3.DatabaseError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise CatalogBusyError(
                    f"the catalog {self.path} is busy: another tallyclerk process held it for "
                    f"more than {self.timeout:g} s while this one tried to {doing}; "
                    "try again in a moment."
                ) from exc
            raise CatalogError(
                f"the catalog {self.path} failed to {doing}, it is damaged: {exc}; restore it "
                "from a backup (`tallyclerk audit verify` checks its audit trail)."
            ) from exc
