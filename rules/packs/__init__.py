"""Built-in rule packs for the month-end close, and how a workspace's systems take them on.

A pack names systems by their kind (erp, wms, tms, finance). A workspace with exactly one
system of each kind a rule reads gets the rule with its own system names; a rule reading a
kind the workspace lacks, or has several of, is skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from tallyclerk.errors import ConfigError

PACKS = (
    "master-data",
    "order-to-ship",
    "ship-to-invoice",
    "freight-audit",
    "inventory-to-finance",
)

# Keys of a rule holding a `system.entity` reference, and the key holding a list of systems.
_REF_KEYS = ("table", "to")
_SYSTEMS_KEY = "systems"


@dataclass(frozen=True)
class Pack:
    name: str
    description: str
    rules: tuple[dict[str, Any], ...]


@cache
def load_pack(name: str) -> Pack:
    """A built-in pack by name, its rules as declared (system kinds, not system names)."""
    if name not in PACKS:
        raise ConfigError(f"unknown pack {name!r}; the built-in packs are: {', '.join(PACKS)}.")
    source = resources.files(__package__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    document = yaml.safe_load(source)
    return Pack(
        name=name,
        description=document.get("description", ""),
        rules=tuple(document["rules"]),
    )


def with_systems(
    rule: Mapping[str, Any], systems_by_kind: Mapping[str, list[str]]
) -> tuple[dict[str, Any] | None, str | None]:
    """The rule with each system kind replaced by the workspace's system of that kind.

    Returns (rule, None), or (None, why it cannot apply) when a kind has no system, or
    more than one, in the workspace.
    """
    problem: list[str] = []

    def system(kind: str) -> str:
        names = systems_by_kind.get(kind, [])
        if len(names) == 1:
            return names[0]
        if not names:
            problem.append(f"the workspace has no {kind} system")
        else:
            problem.append(
                f"the workspace has several {kind} systems ({', '.join(names)}); copy the rule "
                "into rules: naming the one to check"
            )
        return kind

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key in _REF_KEYS and isinstance(value, str) and "." in value:
                    kind, _, entity = value.partition(".")
                    out[key] = f"{system(kind)}.{entity}"
                elif key == _SYSTEMS_KEY and isinstance(value, list):
                    out[key] = [system(kind) for kind in value]
                else:
                    out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    resolved = walk(dict(rule))
    if problem:
        return None, problem[0]
    return resolved, None


def tables_read(rule: Mapping[str, Any]) -> list[str]:
    """Every `system.entity` a declared rule reads, in order of first mention."""
    found: dict[str, None] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _REF_KEYS and isinstance(value, str) and "." in value:
                    found.setdefault(value, None)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(rule)
    if rule.get("kind") == "match":
        for system in rule.get(_SYSTEMS_KEY, []):
            found.setdefault(f"{system}.{rule['entity']}", None)
    return list(found)


def fitted(
    rule: Mapping[str, Any], tables: Mapping[str, list[str]]
) -> tuple[dict[str, Any], list[str]]:
    """The rule without the field comparisons and checks of columns the workspace lacks.

    A pack rule declares every column an entity may have; a workspace maps those its systems
    hold. What a missing column would check is left out, and said so, rather than the whole
    rule. Returns the rule and the parts left out.
    """
    fitted_rule = dict(rule)
    dropped: list[str] = []
    # Without a table at all there is nothing to fit: compiling says what is missing.
    if not all(ref in tables for ref in tables_read(rule)):
        return fitted_rule, dropped
    if rule.get("kind") == "match":
        refs = [f"{system}.{rule['entity']}" for system in rule.get(_SYSTEMS_KEY, [])]

        def everywhere(column: str) -> bool:
            return all(column in tables.get(ref, []) for ref in refs)

        fields = [field for field in rule.get("fields", []) if everywhere(field["name"])]
        dropped += [f"fields {f['name']}" for f in rule.get("fields", []) if f not in fields]
        fitted_rule["fields"] = fields
        if rule.get("money_field") and not everywhere(rule["money_field"]):
            dropped.append(f"money_field {rule['money_field']}")
            fitted_rule.pop("money_field")
    elif rule.get("kind") == "validate":
        available = tables.get(rule["table"], [])
        checks = []
        for check in rule["checks"]:
            named = [check[key] for key in ("column",) if key in check] + check.get("columns", [])
            if all(column in available for column in named):
                checks.append(check)
            else:
                dropped.append(f"the {check['check']} check on {'+'.join(named)}")
        fitted_rule["checks"] = checks
    return fitted_rule, dropped
