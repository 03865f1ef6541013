"""The workspace file, `tallyclerk.yaml`: systems, source mappings, ownership, rules,
users and their roles, the action policy, and the targets actions are applied to.

Everything in it is checked when it is loaded, so a run never starts on a bad
configuration: each error names the config key and says how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlglot import exp

from adapters.canonical import ENTITIES, SQL_TYPES
from rules.findings import CompileContext
from rules.model import AnyRule, Rule
from rules.packs import PACKS, load_pack
from rules.sql import parse_expression
from tallyclerk.errors import ConfigError

from .alerts import AlertsConfig
from .backends.options import EngineConfig
from .config_errors import validation_message
from .logo import check_logo
from .policy import Policy, Role, TargetConfig, check_workflow
from .retention import RetentionConfig
from .rule_set import SkippedRule, canonical_types, rules_to_run
from .sla import SlaConfig
from .sources import SourceConfig, check_source, default_columns

WORKSPACE_FILE = "tallyclerk.yaml"
SYSTEM_KINDS = ("erp", "wms", "tms", "finance", "other")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SystemConfig(_Strict):
    kind: Literal["erp", "wms", "tms", "finance", "other"]
    sources: list[SourceConfig] = []


class OwnershipConfig(_Strict):
    owner: str
    fields: dict[str, str] = {}


# A CSS colour a workspace may set: hex only, so no value can break out of the style sheet.
Colour = Annotated[str, Field(pattern=r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")]


class ColoursConfig(_Strict):
    primary: Colour = "#1f4e79"
    accent: Colour = "#d9822b"


class BrandingConfig(_Strict):
    """How a partner puts its own name on the reports of its customers' runs."""

    partner_name: str = Field(min_length=1)
    logo: str | None = None
    colours: ColoursConfig = ColoursConfig()
    footer: str = ""
    show_tallyclerk: bool = False


class HeadlineMatch(_Strict):
    """Findings a headline counts: every list given must contain the finding's value.

    Values are shell-style patterns (`missing_in_*`); an empty list matches anything.
    """

    rule: list[str] = []
    kind: list[str] = []
    entity: list[str] = []
    problem: list[str] = []
    field: list[str] = []


class HeadlineConfig(_Strict):
    """One figure of the executive report, in the words of the business."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    label: str = ""
    measure: Literal["count", "amount"] = "count"
    match: list[HeadlineMatch] = []
    show: bool = True


class ReportConfig(_Strict):
    """Settings of the reports; `headlines` replace or add to the built-in ones by id."""

    headlines: list[HeadlineConfig] = []
    currency: str = Field(default="", max_length=8)
    top_exceptions: int = Field(default=10, ge=1, le=200)
    trend_runs: int = Field(default=6, ge=2, le=36)
    rows_per_rule: int = Field(default=500, ge=10, le=100_000)


class Workspace(_Strict):
    name: str
    timezone: str = "UTC"
    systems: dict[str, SystemConfig] = Field(min_length=1)
    ownership: dict[str, OwnershipConfig] = {}
    # Built-in packs to run; a rule of the workspace with a pack rule's id replaces it.
    packs: list[str] = []
    rules: list[Rule] = []
    branding: BrandingConfig | None = None
    report: ReportConfig = ReportConfig()
    users: dict[str, Role] = {}
    policy: Policy = Policy()
    targets: dict[str, TargetConfig] = {}
    sla: SlaConfig = SlaConfig()
    alerts: AlertsConfig = AlertsConfig()
    retention: RetentionConfig = RetentionConfig()
    engine: EngineConfig = EngineConfig()

    def planned_tables(self) -> dict[str, list[str]]:
        """The snapshot columns each source will have, known before anything is read."""
        return {
            f"{system}.{source.entity}": [
                name
                for name in ENTITIES[source.entity].columns
                if name in (source.columns or default_columns(source))
            ]
            for system, system_config in self.systems.items()
            for source in system_config.sources
        }

    def compile_context(
        self,
        tables: dict[str, list[str]],
        period: Period,
        types: dict[str, dict[str, str]] | None = None,
    ) -> CompileContext:
        """What the rules may know: `types` are the snapshots', or else the canonical ones."""
        field_owners = {
            (entity, column): system
            for entity, entry in self.ownership.items()
            for column, system in entry.fields.items()
        }
        return CompileContext(
            tables=tables,
            owners={entity: entry.owner for entity, entry in self.ownership.items()},
            field_owners=field_owners,
            period_start=period.start.isoformat(sep=" "),
            period_end=period.end.isoformat(sep=" "),
            types=canonical_types(tables) if types is None else types,
        )


@dataclass(frozen=True)
class Period:
    """A month a run covers: `start` inclusive, `end` exclusive, in the workspace's zone."""

    label: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class LoadedWorkspace:
    root: Path
    config: Workspace
    mappings: dict[tuple[str, int], dict[str, exp.Expression]]
    # The rules a run evaluates: the packs' rules the workspace can run, then its own.
    rules: tuple[AnyRule, ...] = ()
    skipped: tuple[SkippedRule, ...] = ()
    # Where each rule comes from: a pack's name, or "workspace".
    origins: dict[str, str] = field(default_factory=dict)


def parse_period(text: str, timezone: str = "UTC") -> Period:
    """`2026-11` to the month it names; anything else is a usage error."""
    try:
        first = date.fromisoformat(f"{text}-01")
    except ValueError:
        raise ConfigError(
            f"invalid period {text!r}: write a month as YYYY-MM, for example --period 2026-11."
        ) from None
    if first.year >= 9999:
        raise ConfigError(f"invalid period {text!r}: the year must be before 9999.")
    zone = ZoneInfo(timezone)
    start = datetime(first.year, first.month, 1, tzinfo=zone)
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    end = datetime(following.year, following.month, 1, tzinfo=zone)
    return Period(label=text, start=start, end=end)


def load_workspace(folder: Path) -> LoadedWorkspace:
    """Read and check `tallyclerk.yaml` in `folder`."""
    path = folder / WORKSPACE_FILE
    if not path.is_file():
        raise ConfigError(
            f"no {WORKSPACE_FILE} in {folder}: point the command at a workspace folder, "
            "or run `tallyclerk demo` to create the sample one."
        )
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}{at}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping with `name`, `systems` and `rules`.")
    try:
        config = Workspace.model_validate(document)
    except ValidationError as exc:
        raise ConfigError(validation_message(path, exc, document)) from exc
    _check_references(config, path)
    if config.branding is not None and config.branding.logo is not None:
        check_logo(config.branding.logo, folder=folder, path=path)
    mappings = _parse_mappings(config, path)
    kinds: dict[str, list[str]] = {}
    for system, system_config in config.systems.items():
        kinds.setdefault(system_config.kind, []).append(system)
    # Any period will do: the rules are compiled to check them, not to run them.
    context = config.compile_context(
        config.planned_tables(), parse_period("2000-01", config.timezone)
    )
    rule_set = rules_to_run(config.rules, config.packs, kinds, context, path=path)
    return LoadedWorkspace(
        root=folder,
        config=config,
        mappings=mappings,
        rules=rule_set.rules,
        skipped=rule_set.skipped,
        origins=dict(rule_set.origins),
    )


def _check_references(config: Workspace, path: Path) -> None:
    systems = set(config.systems)

    def known_system(name: str, key: str) -> None:
        if name not in systems:
            raise ConfigError(
                f"{path}: {key}: unknown system {name!r}; declared systems are: "
                f"{', '.join(sorted(systems))}."
            )

    try:
        ZoneInfo(config.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{path}: timezone: unknown time zone {config.timezone!r}; "
            "use a name like Europe/Berlin."
        ) from None
    for system, system_config in config.systems.items():
        mapped: dict[str, int] = {}
        for index, source in enumerate(system_config.sources):
            key = f"systems.{system}.sources[{index}]"
            if source.entity not in ENTITIES:
                raise ConfigError(
                    f"{path}: {key}.entity: unknown entity {source.entity!r}; "
                    f"use one of: {', '.join(sorted(ENTITIES))}."
                )
            if source.entity in mapped:
                raise ConfigError(
                    f"{path}: {key}.entity: {system} already maps a source onto "
                    f"{source.entity} (sources[{mapped[source.entity]}]); "
                    "map one source per entity and system."
                )
            mapped[source.entity] = index
            for column, type_name in source.types.items():
                if type_name not in SQL_TYPES:
                    raise ConfigError(
                        f"{path}: {key}.types.{column}: unknown type {type_name!r}; "
                        f"use one of: {', '.join(SQL_TYPES)}."
                    )
            check_source(source, where=f"{path}: {key}")
    for entity, entry in config.ownership.items():
        if entity not in ENTITIES:
            raise ConfigError(f"{path}: ownership.{entity}: unknown entity {entity!r}.")
        known_system(entry.owner, f"ownership.{entity}.owner")
        for column, system in entry.fields.items():
            if column not in ENTITIES[entity].columns:
                raise ConfigError(
                    f"{path}: ownership.{entity}.fields.{column}: {entity} has no field "
                    f"{column!r}; its fields are: {', '.join(ENTITIES[entity].columns)}."
                )
            known_system(system, f"ownership.{entity}.fields.{column}")
    for index, pack in enumerate(config.packs):
        if pack not in PACKS:
            raise ConfigError(
                f"{path}: packs[{index}]: unknown pack {pack!r}; the built-in packs are: "
                f"{', '.join(PACKS)}."
            )
    seen: set[str] = set()
    for index, rule in enumerate(config.rules):
        if rule.id in seen:
            raise ConfigError(f"{path}: rules[{index}]: the rule id {rule.id!r} is used twice.")
        seen.add(rule.id)
        for system in getattr(rule, "systems", ()):
            known_system(system, f"rules[{index}] (id {rule.id!r}).systems")
    # The policy may name the rules of the packs the workspace enables, too.
    pack_ids = {rule["id"] for pack in config.packs for rule in load_pack(pack).rules}
    check_workflow(
        path,
        users=config.users,
        policy=config.policy,
        targets=config.targets,
        rule_ids=seen | pack_ids,
    )
    for system in config.targets:
        known_system(system, f"targets.{system}")
    for rule_id in config.sla.rules:
        if rule_id not in seen | pack_ids:
            raise ConfigError(
                f"{path}: sla.rules.{rule_id}: no rule has the id {rule_id!r}; "
                "use the id of a rule of the workspace or of one of its packs."
            )


def _parse_mappings(
    config: Workspace, path: Path
) -> dict[tuple[str, int], dict[str, exp.Expression]]:
    parsed: dict[tuple[str, int], dict[str, exp.Expression]] = {}
    for system, system_config in config.systems.items():
        for index, source in enumerate(system_config.sources):
            where = f"{path}: systems.{system}.sources[{index}].columns"
            parsed[(system, index)] = {
                column: parse_expression(text, where=f"{where}.{column}")
                for column, text in (source.columns or default_columns(source)).items()
            }
    return parsed
