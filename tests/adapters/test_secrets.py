"""Secrets are env:NAME references, resolved late and scrubbed from every message."""

from __future__ import annotations

import pytest

from adapters.secrets import Secrets, safe_url
from tallyclerk.errors import ConfigError


def test_resolve_reads_the_environment_and_refuses_literal_secrets():
    secrets = Secrets({"ERP_TOKEN": "t0k/en+1"})
    assert secrets.resolve("env:ERP_TOKEN", where="auth.bearer") == "t0k/en+1"
    with pytest.raises(ConfigError) as caught:
        secrets.resolve("t0k/en+1", where="auth.bearer")
    assert str(caught.value) == (
        "auth.bearer: secrets are written as env:NAME (the name of an environment variable "
        "holding the value), never as the value itself."
    )
    assert "t0k/en+1" not in str(caught.value)


def test_redact_masks_resolved_values_also_when_url_encoded():
    secrets = Secrets({"PW": "p@ss/word"})
    secrets.resolve("env:PW", where="password")
    text = "failed for postgresql://u:p%40ss%2Fword@db/x and 'p@ss/word'"
    assert secrets.redact(text) == "failed for postgresql://u:***@db/x and '***'"


def test_safe_url_drops_user_info_and_masks_credential_parameters():
    url = "https://user:pw@erp.example.com:8443/odata/orders?$top=5&access_token=abc&sig=xyz"
    assert safe_url(url) == (
        "https://erp.example.com:8443/odata/orders?$top=5&access_token=***&sig=***"
    )


def test_redact_masks_passwords_in_connection_strings_it_never_resolved():
    secrets = Secrets({})
    text = (
        "host=127.0.0.1 port=55439 dbname=wms user=tally password=Sup3rS3cretXYZ; "
        "host=db password = 'with blank \\' quote' user=u; "
        "postgresql://tally:hunter2@db:5432/wms?sslmode=require&password=zz"
    )
    assert secrets.redact(text) == (
        "host=127.0.0.1 port=55439 dbname=wms user=tally password=***; "
        "host=db password = *** user=u; "
        "postgresql://tally:***@db:5432/wms?sslmode=require&password=***"
    )
    # Words about passwords are left alone.
    assert secrets.redact('password authentication failed for user "tally"') == (
        'password authentication failed for user "tally"'
    )
