"""schemathesis against a live server: generated requests to every operation of the OpenAPI
document, failing on any 5xx and on any answer the document does not describe (status,
content type, schema, headers). Few examples per operation keep it well under a minute."""

from __future__ import annotations

import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.live import serving

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory, workspaces_template):
    """A server on a copy of the tenants, and an admin key of acme."""
    from api.keys import KeyStore

    root = tmp_path_factory.mktemp("schemathesis") / "workspaces"
    shutil.copytree(workspaces_template, root)
    store = KeyStore(root)
    key, _ = store.create(tenant="acme", role="admin")
    store.close()
    with serving(root, "--rate", "100000") as url:
        yield url, {"Authorization": f"Bearer {key}"}


def test_every_operation_answers_as_documented(live):
    url, headers = live
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=10,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:
            case.call_and_validate(base_url=url, headers=headers, checks=CHECKS, timeout=60)

        check()
