"""Shared fixtures: the repository root and a small generated sample tenant."""

from __future__ import annotations

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
def api_server():
    """A local HTTP server speaking OData v4, SuiteQL and JSON REST, fresh for each test."""
    from tests.api_server import running_api

    with running_api() as server:
        yield server
