"""API keys: each belongs to one tenant and one role, is shown once, and is kept only as a hash.

The store is one SQLite file beside the tenants' workspace folders,
`DIR/.tallyclerk-keys.sqlite`, so the `keys` commands and a running server share it
(WAL mode: the server reads while a command writes). A key reads `tck_<id>_<secret>`;
the id names it in lists, audit entries and logs, and only the SHA-256 of the secret
is stored. The secret has 256 random bits, so a fast hash is enough: nothing short of
the secret itself finds a key from its hash.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tallyclerk.errors import ConfigError
from tallyclerk.wording import article

KEYS_FILE = ".tallyclerk-keys.sqlite"
PREFIX = "tck"
ROLES = ("viewer", "preparer", "approver", "admin")
# A key of this role reads /metrics and nothing of any tenant.
METRICS_ROLE = "metrics"
# Tenant ids are workspace folder names; these are the names a tenant may have.
TENANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_KEY = re.compile(rf"^{PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{43}})$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    key_id TEXT PRIMARY KEY,
    tenant TEXT,
    role TEXT NOT NULL,
    user_id TEXT,
    secret_sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
)
"""


@dataclass(frozen=True)
class ApiKey:
    """One key as stored: never its secret."""

    key_id: str
    tenant: str | None
    role: str
    user: str | None
    created_at: str
    revoked_at: str | None

    @property
    def identity(self) -> str:
        """Who acts with this key, for four eyes and the audit trail: the workspace user the
        key was made for, or else the key itself."""
        return self.user or f"key:{self.key_id}"


class KeyStore:
    """The keys of every tenant served from one workspaces folder."""

    def __init__(self, workspaces: Path) -> None:
        self.path = workspaces / KEYS_FILE
        self._lock = threading.Lock()
        try:
            self._con = sqlite3.connect(
                self.path, timeout=10.0, isolation_level=None, check_same_thread=False
            )
            self._con.row_factory = sqlite3.Row
            self._con.execute("PRAGMA journal_mode = WAL")
            self._con.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigError(
                f"cannot open the key store {self.path}: {exc}; check that the workspaces "
                "folder exists and may be written to."
            ) from exc

    def close(self) -> None:
        self._con.close()

    def create(
        self, *, tenant: str | None, role: str, user: str | None = None
    ) -> tuple[str, ApiKey]:
        """A new key: returns the key to hand over (shown only now) and its record."""
        if role == METRICS_ROLE:
            if tenant is not None or user is not None:
                raise ConfigError(
                    "a metrics key reads /metrics only and belongs to no tenant; "
                    "leave out --tenant and --user."
                )
        elif role not in ROLES:
            raise ConfigError(
                f"unknown role {role!r}; use one of: {', '.join(ROLES)}, or {METRICS_ROLE} "
                "for a key that reads /metrics."
            )
        elif tenant is None:
            raise ConfigError(
                f"{article(role)} key belongs to one tenant; give --tenant, the name of the "
                "tenant's workspace folder."
            )
        elif not TENANT_ID.match(tenant):
            raise ConfigError(
                f"--tenant {tenant!r}: name the tenant's workspace folder (letters, digits, "
                "- and _)."
            )
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            self._con.execute(
                "INSERT INTO keys (key_id, tenant, role, user_id, secret_sha256, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key_id, tenant, role, user, _digest(secret), now),
            )
        return f"{PREFIX}_{key_id}_{secret}", ApiKey(key_id, tenant, role, user, now, None)

    def all(self) -> list[ApiKey]:
        with self._lock:
            rows = self._con.execute("SELECT * FROM keys ORDER BY created_at, key_id").fetchall()
        return [_key(row) for row in rows]

    def revoke(self, key_id: str) -> ApiKey:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            self._con.execute(
                "UPDATE keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (now, key_id),
            )
            row = self._con.execute("SELECT * FROM keys WHERE key_id = ?", (key_id,)).fetchone()
        if row is None:
            raise ConfigError(f"no key {key_id!r}; `tallyclerk keys list` shows the key ids.")
        return _key(row)

    def verify(self, presented: str) -> tuple[ApiKey | None, str]:
        """The live key `presented` is, or None and why not (in words for the caller)."""
        match = _KEY.match(presented)
        if match is None:
            return None, "the key is not a tallyclerk API key (tck_<id>_<secret>)"
        key_id, secret = match.groups()
        with self._lock:
            row = self._con.execute("SELECT * FROM keys WHERE key_id = ?", (key_id,)).fetchone()
        if row is None or not hmac.compare_digest(row["secret_sha256"], _digest(secret)):
            return None, "the key is not known"
        if row["revoked_at"] is not None:
            return None, f"the key {key_id} was revoked at {row['revoked_at']}"
        return _key(row), ""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key(row: sqlite3.Row) -> ApiKey:
    return ApiKey(
        row["key_id"],
        row["tenant"],
        row["role"],
        row["user_id"],
        row["created_at"],
        row["revoked_at"],
    )
