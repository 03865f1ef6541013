"""Fixtures for report tests: hand-made findings, and a headless Chromium when one is here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from tests.reports.browser import Chromium, find_chromium
from tests.reports.workspace import PERIODS, write_month, write_workspace


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    """Debian's chromium; a missing browser fails the test under CI and skips it elsewhere."""
    binary = find_chromium()
    if binary is None:
        message = "chromium is not installed (apt-get install chromium; .ci/run does it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    browser = Chromium(binary)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def three_months(tmp_path_factory) -> Path:
    """The tiny workspace closed for September, October and November through the CLI."""
    root = write_workspace(tmp_path_factory.mktemp("tiny") / "workspace")
    runner = CliRunner()
    for period in PERIODS:
        write_month(root, period)
        result = runner.invoke(app, ["run", str(root), "--period", period])
        if result.exit_code != 0:
            raise AssertionError(f"run {period} failed: {result.output}") from result.exception
    return root
