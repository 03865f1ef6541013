"""Fixtures of the HTTP API: a workspaces folder with two tenants after their first run, keys
of every role for each, and a TestClient on the application."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import Settings, create_app
from api.keys import KeyStore
from engine.run import run_workspace
from tests.engine.harborline import make_tenant, run

TENANTS = ("acme", "globex")
ROLES = ("viewer", "preparer", "approver", "admin")


@dataclass
class Served:
    """A workspaces folder, the keys made for it, and a client on the app serving it."""

    root: Path
    client: TestClient
    keys: dict[tuple[str, str], str] = field(default_factory=dict)
    store: KeyStore | None = None

    def key(self, tenant: str, role: str, *, user: str | None = None) -> str:
        """A key of `tenant` and `role`; one per tenant and role, unless made for a user."""
        if user is None and (tenant, role) in self.keys:
            return self.keys[(tenant, role)]
        secret, _ = self.store.create(tenant=tenant, role=role, user=user)
        if user is None:
            self.keys[(tenant, role)] = secret
        return secret

    def as_(self, tenant: str, role: str, *, user: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key(tenant, role, user=user)}"}

    def wait(self, job_id: str, headers: dict[str, str]) -> dict:
        """The state of a run started through the API, once it has finished or failed."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = self.client.get(f"/v1/runs/{job_id}", headers=headers).json()
            if state["state"] in ("finished", "failed"):
                return state
            time.sleep(0.2)
        raise AssertionError(f"run {job_id} did not finish: {state}")


@pytest.fixture(scope="session")
def workspaces_template(tmp_path_factory, closed_harborline) -> Path:
    """Two tenants after their first run (prepared by ada), made once per session; globex
    has closed October too (run 2026-10.001, batch finance:journal_line)."""
    root = tmp_path_factory.mktemp("workspaces")
    closed_harborline(root / "acme", user="ada")
    # Globex closed October before November, so it holds a run and a batch that acme has not.
    globex = make_tenant(root / "globex")
    run_workspace(globex, "2026-10", user="pat", now=datetime(2026, 11, 2, 9, tzinfo=UTC))
    run(globex, 1, user="ada")
    return root


@pytest.fixture
def make_served(tmp_path, workspaces_template) -> Iterator[Callable[..., Served]]:
    """A fresh copy of the tenants served by an app built with `settings` changes."""
    import shutil

    clients: list[TestClient] = []

    def make(**changes: object) -> Served:
        root = tmp_path / f"workspaces-{len(clients)}"
        shutil.copytree(workspaces_template, root)
        app = create_app(Settings(workspaces=root, **changes))
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return Served(root=root, client=client, store=app.state.keys)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def served(make_served) -> Served:
    return make_served()
