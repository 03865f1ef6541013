"""Fixtures for report tests: hand-made findings, and a headless Chromium when one is here."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.reports.browser import Chromium, find_chromium


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
