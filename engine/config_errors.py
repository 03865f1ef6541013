"""pydantic's errors about `tallyclerk.yaml` in our words: each names the config key and
says what to write there instead."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from rules.model import RULE_KINDS

from .sources import SOURCE_KINDS

# What a section of the workspace looks like, for a section written as something else.
_SECTION_EXAMPLES = {
    "sla": "sla: {critical: 1 business day, high: 5d}",
    "retention": "retention: {runs: 400d, snapshots: 90d}",
    "alerts": "alerts: {channels: [{name: pager, kind: webhook, url: env:PAGER_URL}]}",
    "engine": "engine: {backend: duckdb, memory_limit: 4GB}",
    "report": "report: {currency: EUR}",
    "branding": "branding: {partner_name: Northwind Advisory}",
}

# What to write for a setting whose value has a shape pydantic only knows as a pattern.
_FIELD_HINTS = {
    "memory_limit": "write a size with its unit, for example 4GB, 512MB or 50%",
    "url": "write it as env:NAME, the name of an environment variable holding the URL",
    "password": "write it as env:NAME, the name of an environment variable holding the password",
}

# The kinds of each list whose entries pick their shape by `kind`.
_KINDS = {"sources": "source", "channels": "alert channel"}


def validation_message(path: Path, exc: ValidationError, document: dict) -> str:
    lines = []
    for error in exc.errors()[:8]:
        loc = location(error["loc"], document)
        lines.append(f"  {loc}: {_message(error)}")
    return f"{path}: the workspace configuration is not valid:\n" + "\n".join(lines)


def _message(error: dict) -> str:
    kind, loc, message = error["type"], error["loc"], error["msg"]
    last = loc[-1] if loc else None
    if kind == "union_tag_invalid":
        what = next((_KINDS[step] for step in loc if step in _KINDS), "rule")
        tag = error["input"].get("kind") if isinstance(error["input"], dict) else None
        return f"unknown {what} kind {tag!r}; use one of: {', '.join(_kinds_of(what, error))}"
    if kind == "extra_forbidden":
        return "unknown key; remove it or check its spelling"
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    if kind in ("string_type", "string_pattern_mismatch") and last in _FIELD_HINTS:
        # Not echoing the value: a literal URL or password is the secret it should not be.
        return _FIELD_HINTS[last]
    if kind in ("model_type", "dict_type"):
        example = _SECTION_EXAMPLES.get(last) if len(loc) == 1 else None
        hint = f"for example `{example}`" if example else "indent its keys under it"
        return f"expected a mapping of settings; {hint}"
    return message


def _kinds_of(what: str, error: dict) -> list[str]:
    if what == "source":
        return list(SOURCE_KINDS)
    if what == "rule":
        return list(RULE_KINDS)
    expected = error.get("ctx", {}).get("expected_tags", "")
    return [tag.strip(" '") for tag in expected.split(",") if tag.strip(" '")]


def location(loc: tuple, document: dict) -> str:
    """`rules[3] (id 'x').kind` from pydantic's location tuple."""
    parts: list[str] = []
    node: object = document
    for step in loc:
        if isinstance(step, int):
            parts[-1] += f"[{step}]"
            node = node[step] if isinstance(node, list) and step < len(node) else None
            if isinstance(node, dict) and "id" in node:
                parts[-1] += f" (id {node['id']!r})"
        elif isinstance(node, dict) and step in (node.get("kind"), node.get("check")):
            # pydantic names the variant it chose (`match`, `range`); the key says it already.
            continue
        elif isinstance(node, dict) and step in node:
            parts.append(str(step))
            node = node[step]
        elif step in (*RULE_KINDS, *SOURCE_KINDS) or "[" in str(step):
            continue
        else:
            parts.append(str(step))
            node = None
    return ".".join(parts)
