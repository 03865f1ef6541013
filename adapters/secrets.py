"""Secrets as `env:NAME` references: resolved only when a connection is made, never shown.

Every secret value resolved through `Secrets` is remembered, so that error messages
built from a driver's or a server's text can be scrubbed of it before they are raised.
Passwords written into connection strings (`password=...`, `user:password@`) are
masked too, whether or not they came through a reference.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from tallyclerk.errors import ConfigError

ENV_PREFIX = "env:"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MASK = "***"
# Query parameters whose values are credentials in the APIs we talk to.
_SECRET_PARAMS = re.compile(r"(token|secret|password|passwd|pwd|key|sig|signature|auth)", re.I)
# A password inside a URL's user info, and `password=value` in a key=value connection
# string or a query string (quoted values may hold blanks and escaped quotes).
_USERINFO_PASSWORD = re.compile(r"(://[^/\s:@]*):[^@/\s]*@")
_PASSWORD_PAIR = re.compile(
    r"\b((?:ssl)?password|passwd|pwd)(\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s&;]*)", re.I
)


def is_env_reference(value: str) -> bool:
    return value.startswith(ENV_PREFIX) and bool(_ENV_NAME.match(value[len(ENV_PREFIX) :]))


class Secrets:
    """Resolves `env:NAME` references and scrubs what it resolved from any text."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self._seen: set[str] = set()

    def resolve(self, reference: str, *, where: str) -> str:
        """The value of `env:NAME`; `where` names the config key for the error."""
        if not is_env_reference(reference):
            raise ConfigError(
                f"{where}: secrets are written as env:NAME (the name of an environment "
                "variable holding the value), never as the value itself."
            )
        name = reference[len(ENV_PREFIX) :]
        value = self._environ.get(name)
        if not value:
            raise ConfigError(
                f"{where}: the environment variable {name} is not set (referenced as "
                f"{reference}); export it before the run."
            )
        self._seen.update({value, quote(value, safe="")})
        return value

    def remember(self, value: str) -> None:
        """Treat a value obtained at run time (an access token) as a secret too."""
        self._seen.update({value, quote(value, safe="")})

    def redact(self, text: str) -> str:
        """`text` with every resolved secret, and passwords in connection strings, masked."""
        for value in sorted(self._seen, key=len, reverse=True):
            text = text.replace(value, MASK)
        return redact_credentials(text)


def redact_credentials(text: str) -> str:
    """`text` with the password of every URL and `password=` pair in it masked."""
    text = _USERINFO_PASSWORD.sub(rf"\1:{MASK}@", text)
    return _PASSWORD_PAIR.sub(rf"\1\2{MASK}", text)


def safe_url(url: str) -> str:
    """A URL fit for manifests and messages: no user info, no credential parameters."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    query = [
        (name, MASK if _SECRET_PARAMS.search(name) else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, host, parts.path, urlencode(query, safe="$,'()* "), ""))
