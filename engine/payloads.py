"""Action payloads in the target system's own field names, from the run's snapshots.

A canonical column that the target system maps from one field of its own is
written under that field's name. One the system computes with an expression
(`WEIGHT_LB * 0.45359237`) keeps its canonical name, and the payload lists it
under "canonical" with the expression, so nobody mistakes it for a real field.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from adapters.canonical import ENTITIES
from adapters.mapping import SourceField, source_fields

from .config import LoadedWorkspace
from .policy import JournalPolicy, Policy

_KEY_PART = re.compile(r", (?=[A-Za-z_][A-Za-z0-9_]*=)")


def parse_key(text: str) -> dict[str, str]:
    """`order_id=SO-1, line_no=2` back into {"order_id": "SO-1", "line_no": "2"}."""
    parts = (part.partition("=") for part in _KEY_PART.split(text))
    return {name: value for name, _, value in parts}


def journal_id(finding_id: str, difference: Decimal) -> str:
    """One journal per finding and amount, so posting it twice is recognisable."""
    return "TC-" + hashlib.md5(f"{finding_id}|{difference}".encode()).hexdigest()[:10].upper()


@dataclass(frozen=True)
class PayloadContext:
    """What payloads are built from: the policy, field names per system and the snapshots."""

    policy: Policy = field(default_factory=Policy)
    fields: Mapping[tuple[str, str], Mapping[str, SourceField]] = field(default_factory=dict)
    tables: Mapping[str, pa.Table] = field(default_factory=dict)
    posting_date: str = ""

    @classmethod
    def for_run(
        cls, workspace: LoadedWorkspace, tables: Mapping[str, pa.Table], posting_date: str
    ) -> PayloadContext:
        names = {
            (system, source.entity): source_fields(
                workspace.mappings[(system, index)], source.value_maps
            )
            for system, config in workspace.config.systems.items()
            for index, source in enumerate(config.sources)
        }
        return cls(workspace.config.policy, names, tables, posting_date)

    # --- one payload per kind of action ---------------------------------------------

    def update(self, finding: dict, target: str) -> dict:
        named = _Named(self.fields.get((target, finding["entity"]), {}), target)
        name = named(finding["field"])
        value_of = named.value(finding["field"])
        return {
            "record": named.record(parse_key(finding["key"])),
            "set": {name: value_of(finding["owner_value"])},
            "expect": {name: value_of(finding["other_value"])},
            **named.notes(),
        }

    def create(self, finding: dict, owner: str, target: str) -> dict:
        entity = finding["entity"]
        key = parse_key(finding["key"])
        named = _Named(self.fields.get((target, entity), {}), target)
        rows = self.records(owner, entity, key)
        wanted = self.fields.get((target, entity), {})
        values = {
            named(column): named.value(column)(_text(value))
            for column, value in (rows[0] if rows else {}).items()
            if column in wanted
        }
        return {"copy_from": owner, "record": named.record(key), "values": values, **named.notes()}

    def void(self, finding: dict, target: str) -> dict:
        """Keep the first of the duplicates by their own key, and void the others."""
        entity = finding["entity"]
        named = _Named(self.fields.get((target, entity), {}), target)
        rows = self.records(target, entity, parse_key(finding["key"]))
        own_key = ENTITIES[entity].key
        records = sorted({tuple(_text(row[name]) for name in own_key) for row in rows})
        if len(records) < 2:
            return {
                "keep": None,
                "void": [],
                "identical": len(rows),
                "note": f"the {len(rows)} records share their {entity} key; void all but one "
                f"by hand in {target}",
            }
        keep, *void = (named.record(dict(zip(own_key, values, strict=True))) for values in records)
        return {"keep": keep, "void": void, **named.notes()}

    def merge(self, finding: dict, target: str) -> dict:
        """A near-duplicate pair merges into the record with the lower key."""
        named = _Named(self.fields.get((target, finding["entity"]), {}), target)
        (name, pair), *_ = parse_key(finding["key"]).items()
        keep, *merge = sorted(pair.split("|"))
        return {
            "keep": named.record({name: keep}),
            "merge": [named.record({name: value}) for value in merge],
            "message": finding["message"],
            **named.notes(),
        }

    def journal(
        self, finding: dict, target: str, difference: Decimal, policy: JournalPolicy
    ) -> dict:
        """Two lines moving `difference` onto the account and its opposite onto the offset."""
        named = _Named(self.fields.get((target, "journal_line"), {}), target)
        number = journal_id(finding["finding_id"], difference)
        columns = ENTITIES["journal_line"].columns
        dimensions = {k: v for k, v in parse_key(finding["key"]).items() if k in columns}
        lines = [
            {
                "journal_id": number,
                "line_no": str(line_no),
                "account": account,
                **dimensions,
                "amount": str(amount),
                "posting_date": self.posting_date,
                "description": f"{policy.description}: {finding['rule_id']} {finding['key']}",
            }
            for line_no, (account, amount) in enumerate(
                [(policy.account, difference), (policy.offset_account, -difference)], start=1
            )
        ]
        return {
            "journal": number,
            "lines": [{named(k): named.value(k)(v) for k, v in line.items()} for line in lines],
            **named.notes(),
        }

    def route(self, finding: dict, target: str, to: str) -> dict:
        named = _Named(self.fields.get((target, finding["entity"]), {}), target)
        return {
            "to": to,
            "problem": finding["problem"],
            "record": named.record(parse_key(finding["key"])),
            "message": finding["message"],
            **named.notes(),
        }

    def records(self, system: str, entity: str, key: Mapping[str, str]) -> list[dict]:
        """Rows of a snapshot whose columns equal `key`, as canonical dicts."""
        table = self.tables.get(f"{system}.{entity}")
        if table is None or any(name not in table.column_names for name in key):
            return []
        mask = None
        for name, value in key.items():
            equal = pc.equal(pc.cast(table[name], pa.string()), value)
            mask = equal if mask is None else pc.and_(mask, equal)
        return table.filter(mask).to_pylist()


class _Named:
    """Canonical names to one system's field names, remembering which had no field."""

    def __init__(self, fields: Mapping[str, SourceField], system: str) -> None:
        self._fields = fields
        self._system = system
        self._canonical: dict[str, str] = {}

    def __call__(self, column: str) -> str:
        source = self._fields.get(column)
        if source is not None and source.field is not None:
            return source.field
        self._canonical[column] = (
            f"{self._system} computes it as {source.expression}"
            if source is not None
            else f"{self._system} maps no field onto it"
        )
        return column

    def value(self, column: str):
        source = self._fields.get(column)
        return source.to_source if source is not None and source.field else (lambda v: v)

    def record(self, key: Mapping[str, object]) -> dict[str, object]:
        return {self(name): self.value(name)(value) for name, value in key.items()}

    def notes(self) -> dict[str, dict[str, str]]:
        return {"canonical": dict(sorted(self._canonical.items()))} if self._canonical else {}


def _text(value: object) -> str | None:
    """A snapshot value as text a target database reads back into its own type."""
    if value is None:
        return None
    return value.isoformat(sep=" ") if isinstance(value, datetime) else str(value)
