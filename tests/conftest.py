"""Shared fixtures: the repository root, the sample tenant after its first run, a real
PostgreSQL server with a fresh database per test, and a local API server."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server on loopback, for the whole test session."""
    from tests.postgres import running_server

    with running_server() as server:
        yield server


@pytest.fixture
def postgres_dsn(postgres_server) -> str:
    """A fresh, empty database on the session's server, for one test."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = postgres_server.url(with_password=True)
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    return admin.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def api_server():
    """A local HTTP server speaking OData v4, SuiteQL and JSON REST, fresh for each test."""
    from tests.api_server import running_api

    with running_api() as server:
        yield server


@pytest.fixture(scope="session")
def closed_harborline(tmp_path_factory) -> Callable[..., Path]:
    """Copies of the sample tenant after its first run, on 1 December by `user`."""
    from tests.engine.harborline import make_tenant, run

    templates: dict[str | None, Path] = {}

    def copy(destination: Path, *, user: str | None = "ada") -> Path:
        if user not in templates:
            folder = make_tenant(tmp_path_factory.mktemp(f"harborline-{user}"))
            run(folder, 1, user=user)
            templates[user] = folder
        shutil.copytree(templates[user], destination)
        return destination

    return copy
