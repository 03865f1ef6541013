"""`tallyclerk rules`: list, explain and print the SQL of a workspace's rules and the packs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
import yaml
from pydantic import TypeAdapter
from rich.table import Column, Table

from engine.config import WORKSPACE_FILE, LoadedWorkspace, load_workspace, parse_period
from engine.rule_set import canonical_context
from rules.compile import rule_sql
from rules.explain import explain
from rules.findings import CompileContext
from rules.model import AnyRule, Rule
from rules.packs import PACKS, load_pack, tables_read
from tallyclerk.errors import ConfigError

from .workflow import out

rules_app = typer.Typer(
    help="Inspect the rules of a workspace and the built-in packs.", no_args_is_help=True
)

# The month a rule's SQL is shown for when none is asked for.
SHOWN_PERIOD = "2026-11"

WorkspaceOption = Annotated[
    Path,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder holding tallyclerk.yaml; left out, in a folder without one, "
        "the built-in packs.",
    ),
]
RuleId = Annotated[
    str,
    typer.Argument(help="A rule id, from the workspace or a built-in pack.", show_default=False),
]


class Dialect(StrEnum):
    duckdb = "duckdb"
    spark = "spark"
    postgres = "postgres"
    snowflake = "snowflake"


@rules_app.command("list")
def rules_list(
    workspace: WorkspaceOption = Path("."),
    pack: Annotated[
        str | None, typer.Option(help="List a built-in pack's rules instead of a workspace's.")
    ] = None,
) -> None:
    """List the rules a workspace runs (its packs' and its own), and the pack rules it skips.

    In a folder without tallyclerk.yaml, and without --workspace, every built-in pack's rules.
    """
    table = Table("kind", "severity", "on", "from", "owner team", "version")
    # Rule ids are what a person copies into the next command: never cut them short.
    table.columns.insert(0, Column("rule", no_wrap=True))
    packs = [pack] if pack is not None else []
    if pack is None and _no_workspace_named(workspace):
        packs = sorted(PACKS)
    if packs:
        for name in packs:
            for declared in load_pack(name).rules:
                table.add_row(*_row(_parse(declared), name))
        out.print(table)
        return
    loaded = load_workspace(workspace)
    for rule in loaded.rules:
        table.add_row(*_row(rule, loaded.origins.get(rule.id, "workspace")))
    out.print(table)
    if loaded.skipped:
        skipped = Table("pack", "why it is skipped", title="Skipped pack rules")
        skipped.columns.insert(0, Column("rule", no_wrap=True))
        for item in loaded.skipped:
            skipped.add_row(item.rule_id, item.pack, item.reason)
        out.print(skipped)


@rules_app.command("explain")
def rules_explain(rule: RuleId, workspace: WorkspaceOption = Path(".")) -> None:
    """Say in words what a rule checks, and show its parameters."""
    found, origin, _ = _find_rule(rule, workspace, SHOWN_PERIOD)
    team = f", owned by {found.owner_team}" if found.owner_team else ""
    lines = [
        f"{found.id} ({found.kind}, severity {found.severity}, version {found.version}{team}; "
        f"from {origin})",
        *([found.description] if found.description else []),
        "",
        *explain(found),
        "",
        "Parameters:",
    ]
    parameters = found.model_dump(
        mode="json",
        exclude_defaults=True,
        exclude={"id", "description", "kind", "severity", "owner_team", "version"},
    )
    # Plain text, never re-wrapped: a person reads it, a script may keep it.
    sys.stdout.write("\n".join(lines) + "\n" + yaml.safe_dump(parameters, sort_keys=False))


@rules_app.command("sql")
def rules_sql(
    rule: Annotated[
        str | None,
        typer.Argument(
            help="A rule id; every rule of the workspace when left out (outside a workspace, "
            "every rule of the built-in packs)."
        ),
    ] = None,
    workspace: WorkspaceOption = Path("."),
    dialect: Annotated[Dialect, typer.Option(help="SQL dialect to print.")] = Dialect.duckdb,
    period: Annotated[
        str, typer.Option(help="The month whose bounds the SQL is written for, as YYYY-MM.")
    ] = SHOWN_PERIOD,
) -> None:
    """Print the SQL a rule compiles to, pretty-printed in the dialect of the chosen engine."""
    if rule is not None:
        chosen = [_find_rule(rule, workspace, period)]
    elif _no_workspace_named(workspace):
        chosen = list(_pack_rules(period))
    else:
        loaded = load_workspace(workspace)
        context = _workspace_context(loaded, period)
        chosen = [(r, loaded.origins.get(r.id, "workspace"), context) for r in loaded.rules]
    for item, origin, context in chosen:
        # Plain text: the SQL must reach a file exactly as it runs, never re-wrapped.
        sys.stdout.write(f"-- rule {item.id} ({item.kind}, from {origin})\n")
        sys.stdout.write(rule_sql(item, context, dialect.value) + ";\n\n")


def _parse(declared: dict) -> AnyRule:
    return TypeAdapter(Rule).validate_python(declared)


def _row(rule: AnyRule, origin: str) -> tuple[str, ...]:
    target = getattr(rule, "table", None) or getattr(rule, "entity", "")
    return (
        rule.id,
        rule.kind,
        rule.severity,
        target,
        origin,
        rule.owner_team or "",
        str(rule.version),
    )


def _find_rule(rule_id: str, workspace: Path, period: str) -> tuple[AnyRule, str, CompileContext]:
    """A rule of the workspace, or of a built-in pack when the workspace has no such rule."""
    if (workspace / WORKSPACE_FILE).is_file():
        loaded = load_workspace(workspace)
        for rule in loaded.rules:
            if rule.id == rule_id:
                origin = loaded.origins.get(rule.id, "workspace")
                return rule, origin, _workspace_context(loaded, period)
        for skipped in loaded.skipped:
            if skipped.rule_id == rule_id:
                raise ConfigError(
                    f"rule {rule_id!r} of pack {skipped.pack} is skipped in {workspace}: "
                    f"{skipped.reason}."
                )
    found = next(_pack_rules(period, only=rule_id), None)
    if found is not None:
        return found
    raise ConfigError(
        f"no rule {rule_id!r} in {workspace} or the built-in packs; "
        "`tallyclerk rules list` shows a workspace's rules, "
        "`tallyclerk rules list --pack NAME` a pack's."
    )


def _no_workspace_named(workspace: Path) -> bool:
    """Whether --workspace was left out in a folder without tallyclerk.yaml: the packs then."""
    return workspace == Path(".") and not (workspace / WORKSPACE_FILE).is_file()


def _pack_rules(
    period: str, *, only: str | None = None
) -> Iterator[tuple[AnyRule, str, CompileContext]]:
    """Every rule of the built-in packs (or the one whose id is `only`), with the canonical
    columns to compile it against."""
    bounds = parse_period(period)
    for pack in sorted(PACKS):
        for declared in load_pack(pack).rules:
            if only is not None and declared["id"] != only:
                continue
            context = canonical_context(
                tables_read(declared),
                period_start=bounds.start.isoformat(sep=" "),
                period_end=bounds.end.isoformat(sep=" "),
            )
            yield _parse(declared), f"pack {pack}, systems named by kind", context


def _workspace_context(loaded: LoadedWorkspace, period: str) -> CompileContext:
    config = loaded.config
    return config.compile_context(config.planned_tables(), parse_period(period, config.timezone))
