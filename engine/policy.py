"""The approval side of the workspace file: users and their roles, the action policy
(risk, auto-approval, journals, routing) and the databases actions are applied to."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from adapters.canonical import ENTITIES
from rules.model import Severity
from tallyclerk.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Role = Literal["viewer", "preparer", "approver", "admin"]
RiskLevel = Literal["low", "medium", "high"]
ActionKind = Literal["update", "create", "void", "merge", "journal", "route"]
ROLES: tuple[str, ...] = get_args(Role)
RISK_LEVELS: tuple[str, ...] = get_args(RiskLevel)


class RiskPolicy(_Strict):
    """An action's risk is the highest level its money at risk, kind and severity call for."""

    high_amount: Decimal = Decimal("1000")
    medium_amount: Decimal = Decimal("0.01")
    actions: dict[ActionKind, RiskLevel] = {
        "update": "low",
        "create": "medium",
        "void": "high",
        "merge": "high",
        "journal": "high",
        "route": "low",
    }
    severities: dict[Severity, RiskLevel] = {"critical": "high", "high": "medium"}


class JournalPolicy(_Strict):
    """Accounts of the adjusting journal an aggregate money rule posts to the other system."""

    account: str
    offset_account: str
    description: str = "Adjustment proposed by tallyclerk"


class Policy(_Strict):
    risk: RiskPolicy = RiskPolicy()
    # Risk levels approved without a person; empty means every action waits for an approver.
    auto_approve: list[RiskLevel] = []
    journals: dict[str, JournalPolicy] = {}
    # Who a route action goes to, by rule id; "*" for every other rule.
    route_to: dict[str, str] = {}


class VoidConfig(_Strict):
    column: str
    value: str


class TargetEntity(_Strict):
    """One table of a target database, and how canonical columns name its columns."""

    table: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")
    # Canonical column to table column; the system's source mapping fills in the rest.
    columns: dict[str, str] = {}
    void: VoidConfig | None = None


class TargetConfig(_Strict):
    """A database actions are applied to; the DSN is read from the environment, never the file."""

    kind: Literal["postgres"]
    dsn: str = Field(pattern=r"^env:[A-Za-z_][A-Za-z0-9_]*$")
    entities: dict[str, TargetEntity] = Field(min_length=1)


def check_workflow(
    path: Path,
    *,
    users: Mapping[str, str],
    policy: Policy,
    targets: Mapping[str, TargetConfig],
    rule_ids: set[str],
) -> None:
    """User names, the rules the policy names, and the entities of each target."""
    for user in users:
        if not user.replace("-", "").replace(".", "").replace("_", "").isalnum():
            raise ConfigError(
                f"{path}: users.{user}: a user name is letters, digits, '.', '-' or '_'."
            )
    for section, names in (("journals", policy.journals), ("route_to", policy.route_to)):
        for rule_id in names:
            if rule_id not in rule_ids and not (section == "route_to" and rule_id == "*"):
                raise ConfigError(
                    f"{path}: policy.{section}.{rule_id}: no rule has the id {rule_id!r}; "
                    "use the id of a rule declared under `rules`."
                )
    for system, target in targets.items():
        for entity in target.entities:
            if entity not in ENTITIES:
                raise ConfigError(
                    f"{path}: targets.{system}.entities.{entity}: unknown entity {entity!r}; "
                    f"use one of: {', '.join(sorted(ENTITIES))}."
                )
