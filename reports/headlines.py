"""Headline figures: the declarative table of `headlines.yaml`, merged with the workspace's.

A headline counts the findings that fit one of its match entries, and shows
either how many there are or how much money they put at risk.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fnmatch import fnmatchcase
from pathlib import Path

import yaml
from pydantic import TypeAdapter, ValidationError

from engine.config import HeadlineConfig, HeadlineMatch
from tallyclerk.errors import ConfigError

from .ranking import at_risk

BUILTIN_FILE = Path(__file__).with_name("headlines.yaml")
# The finding columns a headline may match on, by the name a match entry uses.
MATCH_COLUMNS = {
    "rule": "rule_id",
    "kind": "kind",
    "entity": "entity",
    "problem": "problem",
    "field": "field",
}
# The columns to read from an earlier run to recompute its headline figures.
FIGURE_COLUMNS = ("finding_id", "key", *MATCH_COLUMNS.values(), "amount_at_risk")


@dataclass(frozen=True)
class Figure:
    """One headline's numbers in one run.

    `count` is of records (entity and business key): an invoice both billed twice
    and above its rated cost is one invoice awaiting reconciliation, in two findings.
    """

    headline: HeadlineConfig
    count: int
    amount: Decimal
    findings: int

    @property
    def value(self) -> Decimal | int:
        return self.amount if self.headline.measure == "amount" else self.count


def builtin_headlines() -> list[HeadlineConfig]:
    document = yaml.safe_load(BUILTIN_FILE.read_text(encoding="utf-8"))
    try:
        return TypeAdapter(list[HeadlineConfig]).validate_python(document)
    except ValidationError as exc:
        raise ConfigError(
            f"{BUILTIN_FILE}: the built-in headline table is not valid: {exc}"
        ) from exc


def headline_table(overrides: Sequence[HeadlineConfig] = ()) -> list[HeadlineConfig]:
    """The built-in table with the workspace's entries applied by id; hidden ones dropped.

    An override changes only the keys it sets; a new id is added at the end and
    must give a label and at least one match entry.
    """
    table = {headline.id: headline for headline in builtin_headlines()}
    for override in overrides:
        base = table.get(override.id)
        if base is None:
            if not override.label or not override.match:
                raise ConfigError(
                    f"report.headlines (id {override.id!r}): a new headline needs a `label` "
                    "and at least one `match` entry, for example "
                    "`match: [{rule: [my-rule-id]}]`."
                )
            table[override.id] = override
        else:
            changes = {name: getattr(override, name) for name in override.model_fields_set}
            table[override.id] = base.model_copy(update=changes)
    return [headline for headline in table.values() if headline.show]


def fits(match: HeadlineMatch, finding: dict) -> bool:
    """Whether one finding satisfies every list one match entry gives."""
    for name, column in MATCH_COLUMNS.items():
        patterns = getattr(match, name)
        value = finding.get(column) or ""
        if patterns and not any(fnmatchcase(value, pattern) for pattern in patterns):
            return False
    return True


def counts_towards(headline: HeadlineConfig, finding: dict) -> bool:
    return any(fits(match, finding) for match in headline.match)


def figures(headlines: Sequence[HeadlineConfig], findings: Iterable[dict]) -> list[Figure]:
    """Each headline's records, money at risk and findings over `findings`."""
    rows = list(findings)
    result = []
    for headline in headlines:
        chosen = [row for row in rows if counts_towards(headline, row)]
        records = len({(row["entity"], row["key"]) for row in chosen})
        result.append(Figure(headline, records, at_risk(chosen), len(chosen)))
    return result
