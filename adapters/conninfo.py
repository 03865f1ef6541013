"""PostgreSQL connection strings in both forms libpq reads: a URI, or `key=value` pairs.

The key=value form (`host=db port=5432 dbname=wms user=reader`) is parsed here, so
a password can be added to it from an `env:NAME` reference, and so it can be shown
in manifests and messages without its secrets.
"""

from __future__ import annotations

import re

from tallyclerk.errors import ConfigError

from .secrets import safe_url

URI_SCHEMES = ("postgresql://", "postgres://")
# Keys whose values are secrets; shown nowhere.
SECRET_KEYS = frozenset({"password", "sslpassword"})
# Keys that say where the server is; the only ones shown of a key=value string.
_SHOWN_KEYS = ("host", "hostaddr", "port", "dbname")
_PAIR = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*")


def is_uri(text: str) -> bool:
    return text.startswith(URI_SCHEMES)


def parse_conninfo(text: str, *, where: str) -> dict[str, str]:
    """The pairs of a key=value connection string, values unquoted as libpq does.

    Errors never quote the string: it may hold a password.
    """
    pairs: dict[str, str] = {}
    position = 0
    while text[position:].strip():
        match = _PAIR.match(text, position)
        if match is None:
            raise ConfigError(
                f"{where}: not a PostgreSQL connection string: expected `key=value` pairs "
                "(host=... port=... dbname=... user=...) or a postgresql:// URL."
            )
        value, position = _value(text, match.end())
        if value is None:
            raise ConfigError(
                f"{where}: a quoted value of the PostgreSQL connection string is never "
                "closed; close it with '."
            )
        pairs[match.group(1).lower()] = value
    return pairs


def conninfo_text(pairs: dict[str, str]) -> str:
    """A key=value connection string with every value quoted, libpq's way."""
    return " ".join(f"{key}='{_quoted(value)}'" for key, value in pairs.items())


def safe_dsn(text: str) -> str:
    """Where a connection string points, fit for manifests and messages: for a URI, its
    scheme, host, port and database; for key=value pairs, the pairs naming the server."""
    if is_uri(text):
        return safe_url(text.split("?", 1)[0])
    try:
        pairs = parse_conninfo(text, where="")
    except ConfigError:
        return "a PostgreSQL connection string that cannot be shown"
    shown = [f"{key}={pairs[key]}" for key in _SHOWN_KEYS if key in pairs]
    return " ".join(shown) or "the default PostgreSQL server"


def _value(text: str, start: int) -> tuple[str | None, int]:
    """One value from `start`: single-quoted, or up to the next blank; `\\` escapes.
    None when a quoted value is never closed."""
    chars: list[str] = []
    quoted = text.startswith("'", start)
    position = start + 1 if quoted else start
    while position < len(text):
        char = text[position]
        if char == "\\" and position + 1 < len(text):
            chars.append(text[position + 1])
            position += 2
            continue
        if (quoted and char == "'") or (not quoted and char.isspace()):
            return "".join(chars), position + 1
        chars.append(char)
        position += 1
    return (None if quoted else "".join(chars)), position


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")
