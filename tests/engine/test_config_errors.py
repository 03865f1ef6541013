"""A bad setting of the managed-service sections names its key and says what to write."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import load_workspace
from tallyclerk.errors import ConfigError
from tests.engine.harborline import make_tenant

URL = "https://hooks.slack.com/services/T000/B000/secret-token"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"alerts": {"channels": [{"name": "pager", "kind": "pigeon"}]}},
            "alerts.channels[0]: unknown alert channel kind 'pigeon'; "
            "use one of: webhook, slack, teams, email",
        ),
        (
            {"alerts": {"channels": [{"name": "pager", "kind": "slack", "url": URL}]}},
            "alerts.channels[0].url: write it as env:NAME, the name of an environment "
            "variable holding the URL",
        ),
        (
            {"sla": "5d"},
            "sla: expected a mapping of settings; for example "
            "`sla: {critical: 1 business day, high: 5d}`",
        ),
        (
            {"engine": {"memory_limit": 4}},
            "engine.memory_limit: write a size with its unit, for example 4GB, 512MB or 50%",
        ),
    ],
)
def test_a_bad_setting_says_what_to_write(tmp_path: Path, change: dict, expected: str) -> None:
    folder = make_tenant(tmp_path / "t", **change)

    with pytest.raises(ConfigError) as caught:
        load_workspace(folder)

    message = str(caught.value)
    assert f"  {expected}" in message
    assert "rule kind" not in message and "Input should" not in message
    assert "secret-token" not in message
