"""Action payloads in the target system's own field names and units, from the snapshots.

A canonical column that the target system maps from one field of its own is
written under that field's name. One it computes linearly from a field
(`WEIGHT_LB * 0.45359237`) is converted back into that field's unit, rounded to
the decimals the field holds. A column computed any other way cannot be written:
an action that would need to is routed to a person, with the reason (see
`Unwritable`); a record to create leaves such a value out and says so.
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

from adapters.canonical import ENTITIES, SQL_TYPES
from adapters.source_fields import SourceField, source_fields
from tallyclerk.wording import plural

from .config import LoadedWorkspace
from .policy import JournalPolicy, Policy

_KEY_PART = re.compile(r", (?=[A-Za-z_][A-Za-z0-9_]*=)")
_SCALE = re.compile(r"DECIMAL\(\d+, (\d+)\)")


class Unwritable(Exception):
    """An action would write a value its target system has no field of its own for."""


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
    # Decimals of source fields, by (system, entity): see `adapters.source_fields.source_scales`.
    scales: Mapping[tuple[str, str], Mapping[str, int]] = field(default_factory=dict)

    @classmethod
    def for_run(
        cls,
        workspace: LoadedWorkspace,
        tables: Mapping[str, pa.Table],
        posting_date: str,
        scales: Mapping[tuple[str, str], Mapping[str, int]] | None = None,
    ) -> PayloadContext:
        names = {
            (system, source.entity): source_fields(
                workspace.mappings[(system, index)], source.value_maps
            )
            for system, config in workspace.config.systems.items()
            for index, source in enumerate(config.sources)
        }
        return cls(workspace.config.policy, names, tables, posting_date, scales or {})

    def named(self, system: str, entity: str) -> _Named:
        """Canonical names and values of `entity` as `system` writes them."""
        fields = self.fields.get((system, entity), {})
        return _Named(fields, system, entity, self.scales.get((system, entity), {}))

    # --- one payload per kind of action ---------------------------------------------
    # Each raises Unwritable when the target has no field of its own for what it writes.

    def update(self, finding: dict, target: str) -> dict:
        named = self.named(target, finding["entity"])
        name, value_of = named.field(finding["field"]), named.value(finding["field"])
        return {
            "record": named.record(parse_key(finding["key"])),
            "set": {name: value_of(finding["owner_value"])},
            "expect": {name: value_of(finding["other_value"])},
            **named.notes(),
        }

    def create(self, finding: dict, owner: str, target: str) -> dict:
        entity = finding["entity"]
        key = parse_key(finding["key"])
        named = self.named(target, entity)
        record = named.record(key)
        rows = self.records(owner, entity, key)
        wanted = self.fields.get((target, entity), {})
        values = {}
        for column, value in (rows[0] if rows else {}).items():
            if column in wanted and named.writable(column):
                values[named.field(column)] = named.value(column)(_text(value))
        return {"copy_from": owner, "record": record, "values": values, **named.notes()}

    def void(self, finding: dict, target: str) -> dict:
        """Keep the first of the duplicates by their own key, and void the others."""
        entity = finding["entity"]
        named = self.named(target, entity)
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
        named = self.named(target, finding["entity"])
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
        named = self.named(target, "journal_line")
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
            "lines": [
                {named.field(k): named.value(k)(v) for k, v in line.items()} for line in lines
            ],
            **named.notes(),
        }

    def route(self, finding: dict, target: str, to: str, *, reason: str | None = None) -> dict:
        """For a person; `reason` says why a machine may not make the change itself."""
        named = self.named(target, finding["entity"])
        return {
            "to": to,
            "problem": finding["problem"],
            "record": named.record(parse_key(finding["key"]), strict=False),
            "message": finding["message"],
            **({"reason": reason} if reason else {}),
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
    """Canonical names and values to one system's own, remembering what it computes."""

    def __init__(
        self,
        fields: Mapping[str, SourceField],
        system: str,
        entity: str,
        scales: Mapping[str, int],
    ) -> None:
        self._fields = fields
        self._system = system
        self._entity = entity
        self._scales = scales
        self._canonical: dict[str, str] = {}
        self._not_written: dict[str, str] = {}
        self._converted: dict[str, str] = {}

    def writable(self, column: str) -> bool:
        """Whether the system has a field to write `column` into; noted when it has not."""
        source = self._fields.get(column)
        if source is not None and source.field is not None:
            return True
        self._not_written[column] = self._why(column)
        return False

    def field(self, column: str) -> str:
        """The system's field for `column`, or Unwritable saying why there is none."""
        source = self._fields.get(column)
        if not self._fields:
            # Nothing is known of the system's names: say so, and let a person map them.
            self._canonical[column] = self._why(column)
            return column
        if source is None or source.field is None:
            raise Unwritable(f"{self._why(column)}, so no machine can write {column} there")
        if source.linear is not None:
            self._converted[source.field] = (
                f"{self._system} computes {column} as {source.expression}: the value is "
                f"{source.field} in {self._system}'s own unit" + self._rounding(source.field)
            )
        return source.field

    def value(self, column: str):
        """Canonical value to the system's own, or Unwritable for a value that will not convert."""
        source = self._fields.get(column)
        if source is None or source.field is None:
            return lambda value: value
        scale = self._scales.get(source.field)
        canonical_scale = _scale_of(ENTITIES[self._entity].columns.get(column, "string"))

        def convert(value: object) -> object:
            try:
                return source.to_source(value, scale=scale, canonical_scale=canonical_scale)
            except ValueError as exc:
                raise Unwritable(
                    f"{column} cannot be converted into {source.field} of {self._system}: {exc}"
                ) from exc

        return convert

    def record(self, key: Mapping[str, object], *, strict: bool = True) -> dict[str, object]:
        """A record's key in the system's names; `strict=False` names it for a person."""
        if strict:
            return {self.field(name): self.value(name)(value) for name, value in key.items()}
        named = {}
        for name, value in key.items():
            source = self._fields.get(name)
            if source is not None and source.field is not None and source.linear is None:
                named[source.field] = source.to_source(value)
            else:
                self._canonical[name] = self._why(name)
                named[name] = value
        return named

    def notes(self) -> dict[str, dict[str, str]]:
        notes = {
            "canonical": self._canonical,
            "not_written": self._not_written,
            "converted": self._converted,
        }
        return {name: dict(sorted(note.items())) for name, note in notes.items() if note}

    def _why(self, column: str) -> str:
        source = self._fields.get(column)
        if source is None:
            return f"{self._system} maps no field onto it"
        return f"{self._system} computes it as {source.expression}"

    def _rounding(self, name: str) -> str:
        scale = self._scales.get(name)
        if scale is None:
            return ""
        return f", rounded to the {plural(scale, 'decimal')} it holds"


def _scale_of(type_name: str) -> int | None:
    """Decimals a canonical type keeps: 4 for decimal, 2 for money, 0 for integer."""
    if type_name == "integer":
        return 0
    found = _SCALE.search(SQL_TYPES.get(type_name, ""))
    return int(found.group(1)) if found else None


def _text(value: object) -> str | None:
    """A snapshot value as text a target database reads back into its own type."""
    if value is None:
        return None
    return value.isoformat(sep=" ") if isinstance(value, datetime) else str(value)
