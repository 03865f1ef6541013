"""Who is acting and what their role lets them do.

Users and their roles are declared in `tallyclerk.yaml`; the catalog keeps a
copy, so a role change shows in the audit trail the first time a command sees it.
"""

from __future__ import annotations

import os

from tallyclerk.errors import AccessError
from tallyclerk.wording import article

from . import audit
from .catalog import Catalog
from .config import WORKSPACE_FILE, Workspace

USER_ENV = "TALLYCLERK_USER"
# The actor of entries nobody typed: role changes read from the workspace file.
WORKSPACE_ACTOR = f"workspace:{WORKSPACE_FILE}"

PERMISSIONS: dict[str, frozenset[str]] = {
    "view": frozenset({"viewer", "preparer", "approver", "admin"}),
    "run": frozenset({"preparer", "admin"}),
    "post events": frozenset({"preparer", "admin"}),
    "submit": frozenset({"preparer", "admin"}),
    "decide": frozenset({"approver", "admin"}),
    "waive": frozenset({"approver", "admin"}),
    "export": frozenset({"preparer", "approver", "admin"}),
    "apply": frozenset({"preparer", "approver", "admin"}),
    "purge": frozenset({"admin"}),
}


def identity(given: str | None) -> str:
    """The acting user from `--as`, else from the environment, else an error saying how."""
    user = given or os.environ.get(USER_ENV)
    if not user:
        raise AccessError(
            f"who is acting? Pass --as USER or set {USER_ENV}; the users are declared "
            f"under `users` in {WORKSPACE_FILE}."
        )
    return user


def authorize(catalog: Catalog, config: Workspace, user: str, permission: str) -> str:
    """Check that `user` may do `permission`; returns their role."""
    sync_users(catalog, config)
    role = config.users.get(user)
    if role is None:
        known = ", ".join(sorted(config.users)) or "none declared"
        raise AccessError(
            f"unknown user {user!r} in {catalog.folder / WORKSPACE_FILE} (users: {known}); "
            "an admin adds users under `users` with a role: viewer, preparer, approver or admin."
        )
    allowed = PERMISSIONS[permission]
    if role not in allowed:
        raise AccessError(
            f"{user} is {article(role)}, and to {permission} needs the role "
            f"{' or '.join(sorted(allowed))}; ask an admin to change the role in {WORKSPACE_FILE}."
        )
    return role


def sync_users(catalog: Catalog, config: Workspace) -> None:
    """Copy the declared roles into the catalog, recording each change in the audit trail."""
    with catalog.read() as con:
        stored = {row["user_id"]: row["role"] for row in con.execute("SELECT * FROM users")}
    if stored == dict(config.users):
        return
    with catalog.write() as con:
        stored = {row["user_id"]: row["role"] for row in con.execute("SELECT * FROM users")}
        for user in sorted(set(stored) | set(config.users)):
            before, after = stored.get(user), config.users.get(user)
            if before == after:
                continue
            if after is None:
                con.execute("DELETE FROM users WHERE user_id = ?", (user,))
            else:
                con.execute(
                    "INSERT INTO users (user_id, role) VALUES (?, ?) "
                    "ON CONFLICT (user_id) DO UPDATE SET role = excluded.role",
                    (user, after),
                )
            audit.append(
                catalog,
                con,
                actor=WORKSPACE_ACTOR,
                verb="role_change",
                subject=f"user:{user}",
                detail={"from": before, "to": after},
                why=f"roles declared in {WORKSPACE_FILE} changed",
            )
