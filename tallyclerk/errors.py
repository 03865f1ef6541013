"""The error tree shared by every layer: one base, one class per layer.

Bad configuration raises at once; bad data is collected into findings instead.
Exit codes: 1 for a failure, 2 for bad input, 3 for access refused, 4 for a conflict,
143 when stopped by SIGTERM.
Every message names where the problem is and how to fix it.
"""

from __future__ import annotations

import re

# sqlglot describes parse errors with its own reprs; messages show their text instead.
_TOKEN = re.compile(
    r"<Token token_type: TokenType\.(\w+), text: (.*?), line: \d+, col: \d+, "
    r"start: \d+, end: \d+, comments: \[.*?\]>"
)
_CLASS = re.compile(r"<class '(?:\w+\.)*(\w+)'>")


class TallyclerkError(Exception):
    """Base of every error tallyclerk raises on purpose."""

    exit_code = 1


class ConfigError(TallyclerkError):
    """The workspace file, a rule or a command-line argument is wrong."""

    exit_code = 2


class RuleError(ConfigError):
    """A rule cannot be compiled: unknown kind, column, or unsafe expression."""


class ExpressionError(ConfigError):
    """A SQL expression in the configuration cannot be parsed or is not allowed."""


class SourceError(TallyclerkError):
    """A source system's data cannot be read: missing file, malformed row."""


class RunError(TallyclerkError):
    """A run failed while it executed."""


class Interrupted(RunError):
    """The process was told to stop (SIGTERM) while it worked; 128 + 15, as shells expect."""

    exit_code = 143


class CatalogError(TallyclerkError):
    """The workspace catalog cannot be read or written."""


class CatalogBusyError(CatalogError):
    """Another process held the catalog for longer than the bounded wait."""


class ConflictError(CatalogError):
    """Someone else decided first: the batch, action or run changed under this decision."""

    exit_code = 4


class AccessError(TallyclerkError):
    """Who is acting is unknown, lacks the role, or may not decide (four eyes)."""

    exit_code = 3


class ApplyError(TallyclerkError):
    """A batch cannot be exported or applied to its target system as configured."""


def sql_error_reason(exc: Exception) -> str:
    """What sqlglot found wrong with a piece of SQL, in words: no token or class reprs."""
    errors = getattr(exc, "errors", None)
    if errors:
        text = errors[0]["description"]
    else:
        # Only the tokenizer raises without a list of errors; it stops at an open quote.
        return "a quoted string or name is never closed"
    text = _TOKEN.sub(lambda m: "the end of it" if m[1] == "SENTINEL" else repr(m[2]), text)
    return _CLASS.sub(r"\1", text)
