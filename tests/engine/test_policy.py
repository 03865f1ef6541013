"""The approval keys of the workspace file fail fast, naming the key and the fix."""

from __future__ import annotations

import pytest
import yaml

from engine.config import load_workspace
from tallyclerk.errors import ConfigError

SAMPLE = "engine/sample/tallyclerk.yaml"


@pytest.fixture
def workspace(tmp_path, repo_root):
    def write(**changes: object):
        config = yaml.safe_load((repo_root / SAMPLE).read_text())
        config.update(changes)
        (tmp_path / "tallyclerk.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        return tmp_path

    return write


def test_the_sample_declares_users_policy_and_no_targets(workspace):
    config = load_workspace(workspace()).config
    assert config.users == {
        "pat": "preparer",
        "alex": "approver",
        "sam": "approver",
        "ada": "admin",
        "vic": "viewer",
    }
    assert config.policy.auto_approve == ["low"]
    assert config.policy.journals["inventory-value-vs-ledger"].offset_account == "5000"
    assert config.targets == {}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"users": {"pat": "owner"}},
            "users.pat: Input should be 'viewer', 'preparer', 'approver' or 'admin'",
        ),
        (
            {"users": {"pat smith": "viewer"}},
            "users.pat smith: a user name is letters, digits, '.', '-' or '_'.",
        ),
        (
            {"policy": {"journals": {"no-such-rule": {"account": "1", "offset_account": "2"}}}},
            "policy.journals.no-such-rule: no rule has the id 'no-such-rule'",
        ),
        (
            {
                "targets": {
                    "wms": {
                        "kind": "postgres",
                        "dsn": "postgresql://u:secret@h/db",
                        "entities": {"item": {"table": "sku_master"}},
                    }
                }
            },
            "targets.wms.dsn: String should match pattern '^env:[A-Za-z_][A-Za-z0-9_]*$'",
        ),
        (
            {
                "targets": {
                    "crm": {
                        "kind": "postgres",
                        "dsn": "env:CRM",
                        "entities": {"item": {"table": "items"}},
                    }
                }
            },
            "targets.crm: unknown system 'crm'",
        ),
        (
            {
                "targets": {
                    "wms": {
                        "kind": "postgres",
                        "dsn": "env:WMS",
                        "entities": {"sku": {"table": "items"}},
                    }
                }
            },
            "targets.wms.entities.sku: unknown entity 'sku'",
        ),
    ],
)
def test_bad_approval_settings_name_the_key(workspace, changes, message):
    with pytest.raises(ConfigError) as error:
        load_workspace(workspace(**changes))
    assert message in str(error.value)
