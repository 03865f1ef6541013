"""Which rules check posted records: those named, a pack's judging the records' entity, or by
default every rule of the workspace that judges it; and the pack rules that cannot run."""

from __future__ import annotations

from collections.abc import Sequence

from rules.model import AnyRule
from rules.packs import PACKS, load_pack, tables_read
from tallyclerk.errors import ConfigError

from .config import LoadedWorkspace, parse_period
from .rule_set import RuleSet, rules_to_run

# Rule kinds that judge records on their own (with master data to refer to). A match or an
# aggregate compares a whole system with another, so it runs only when named, and what it
# finds missing from the records' system is left out: the records are a batch, not all.
ON_RECORDS = ("validate", "duplicates", "sequence")
# A pack's rules fitted to a workspace that does not enable it, by workspace and pack.
_PACK_RULES: dict[tuple[int, str], tuple[LoadedWorkspace, RuleSet]] = {}
_PACK_CACHE = 512


def select_rules(
    workspace: LoadedWorkspace, ref: str, rule_ids: Sequence[str], packs: Sequence[str]
) -> list[AnyRule]:
    """The rules to check records of `ref` with: those named, and the packs' rules judging
    `ref` on its own; by default every such rule of the workspace (see `ON_RECORDS`)."""
    known = {rule.id: rule for rule in workspace.rules}
    chosen: dict[str, AnyRule] = {}
    for rule_id in rule_ids:
        rule = known.get(rule_id)
        if rule is None:
            raise ConfigError(
                f"unknown rule {rule_id!r}; this workspace's rules are: "
                f"{', '.join(sorted(known)) or 'none'}."
            )
        if ref not in tables_read(rule.model_dump()):
            reads = ", ".join(tables_read(rule.model_dump()))
            raise ConfigError(f"rule {rule_id!r} does not read {ref}; it reads {reads}.")
        if rule.kind in ON_RECORDS and not _judges(rule, ref):
            # Records posted as the master data a rule refers to are a batch, not the whole
            # of it: every row of the table the rule judges would refer to what they lack.
            raise ConfigError(
                f"rule {rule_id!r} checks {rule.table} and reads {ref} only as the data it "
                f"refers to; post records of {rule.table} to check them with it."
            )
        chosen[rule_id] = rule
    for pack in packs:
        if pack not in PACKS:
            raise ConfigError(f"unknown pack {pack!r}; the built-in packs are: {', '.join(PACKS)}.")
        judged = _pack_tables(pack)
        if _as_declared(workspace, ref) not in judged:
            # Checked by nothing, the records would look clean.
            raise ConfigError(
                f"the {pack} pack has no rule checking {ref.partition('.')[2]} records of a "
                f"{_as_declared(workspace, ref).partition('.')[0]} system; its rules check "
                f"{', '.join(judged)}."
            )
        for rule in _pack_rules(workspace, pack).rules:
            if _judges(rule, ref):
                chosen.setdefault(rule.id, rule)
    if not rule_ids and not packs:
        for rule in workspace.rules:
            if _judges(rule, ref):
                chosen[rule.id] = rule
    return list(chosen.values())


def skipped_pack_rules(
    workspace: LoadedWorkspace, ref: str, packs: Sequence[str]
) -> dict[str, str]:
    """The rules of `packs` that would judge records of `ref` but cannot run in this
    workspace (a system kind it lacks or has twice, columns it does not map), and why."""
    judged = _as_declared(workspace, ref)
    found = {}
    for pack in packs:
        declared = {rule["id"]: rule for rule in load_pack(pack).rules}
        for skipped in _pack_rules(workspace, pack).skipped:
            rule = declared[skipped.rule_id]
            if rule["kind"] in ON_RECORDS and rule.get("table") == judged:
                found[skipped.rule_id] = f"the {pack} pack's rule cannot run here: {skipped.reason}"
    return found


def _as_declared(workspace: LoadedWorkspace, ref: str) -> str:
    """`ref` as a pack writes tables: `tms.shipment` for a system named tms_eu of kind tms."""
    system, _, entity = ref.partition(".")
    return f"{workspace.config.systems[system].kind}.{entity}"


def _pack_tables(pack: str) -> list[str]:
    """The tables a pack's rules judge on their own, as the pack writes them."""
    rules = load_pack(pack).rules
    return list(dict.fromkeys(r["table"] for r in rules if r["kind"] in ON_RECORDS))


def _judges(rule: AnyRule, ref: str) -> bool:
    """Whether `rule` judges records of `ref` on their own (see `ON_RECORDS`), rather than
    comparing systems or only referring to `ref`."""
    return rule.kind in ON_RECORDS and getattr(rule, "table", None) == ref


def _pack_rules(workspace: LoadedWorkspace, pack: str) -> RuleSet:
    """The rules of a pack as they run in this workspace, whether it enables the pack or not,
    and those it cannot run."""
    if pack in workspace.config.packs:
        return RuleSet(
            rules=tuple(rule for rule in workspace.rules if workspace.origins.get(rule.id) == pack),
            skipped=tuple(skipped for skipped in workspace.skipped if skipped.pack == pack),
        )
    cached = _PACK_RULES.get((id(workspace), pack))
    if cached is not None and cached[0] is workspace:
        return cached[1]
    config = workspace.config
    kinds: dict[str, list[str]] = {}
    for system, system_config in config.systems.items():
        kinds.setdefault(system_config.kind, []).append(system)
    context = config.compile_context(config.planned_tables(), parse_period("2000-01"))
    found = rules_to_run([], [pack], kinds, context, path=workspace.root / "tallyclerk.yaml")
    if len(_PACK_RULES) >= _PACK_CACHE:
        _PACK_RULES.clear()
    _PACK_RULES[(id(workspace), pack)] = (workspace, found)
    return found
