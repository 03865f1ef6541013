"""Near-duplicate pairs joined into clusters: one finding per cluster, listing its members.

Records A~B and B~C are one cluster {A, B, C} even when A and C are not alike enough on
their own. Pairs above the threshold are few, so a union-find over them in Python is
simpler and exact where SQL would need a recursive query not every backend has.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import pyarrow as pa

from .duplicates import MEMBER_COLUMNS, MEMBER_SEPARATOR
from .findings import finding_id
from .model import DuplicatesRule


@dataclass(frozen=True)
class _Member:
    rank: int
    parts: tuple[str, ...]
    value: str | None


def cluster_findings(rule: DuplicatesRule, found: pa.Table) -> pa.Table:
    """Replace the near-duplicate pair rows of `found` by one row per cluster."""
    if MEMBER_COLUMNS[0] not in found.column_names:
        return found
    rows = found.to_pylist()
    pairs = [row for row in rows if row["lower_member"] is not None]
    others = [row for row in rows if row["lower_member"] is None]
    clusters = _clusters(pairs)
    result = others + [_cluster_row(rule, pairs, cluster) for cluster in clusters]
    columns = [name for name in found.column_names if name not in MEMBER_COLUMNS]
    schema = pa.schema([found.schema.field(name) for name in columns])
    return pa.Table.from_pylist(
        [{name: row[name] for name in columns} for row in result], schema=schema
    )


def _clusters(pairs: list[dict]) -> list[list[_Member]]:
    """Connected components of the pair graph, each sorted by key, largest member set first."""
    parent: dict[int, int] = {}
    members: dict[int, _Member] = {}

    def root(rank: int) -> int:
        while parent[rank] != rank:
            parent[rank] = parent[parent[rank]]
            rank = parent[rank]
        return rank

    for pair in pairs:
        for side, value in (("lower", "owner_value"), ("higher", "other_value")):
            rank = pair[f"{side}_rank"]
            parent.setdefault(rank, rank)
            members.setdefault(
                rank,
                _Member(rank, tuple(pair[f"{side}_member"].split(MEMBER_SEPARATOR)), pair[value]),
            )
        first, second = root(pair["lower_rank"]), root(pair["higher_rank"])
        if first != second:
            parent[max(first, second)] = min(first, second)

    grouped: dict[int, list[_Member]] = defaultdict(list)
    for rank, member in members.items():
        grouped[root(rank)].append(member)
    return [sorted(group, key=lambda m: m.rank) for _, group in sorted(grouped.items())]


def _cluster_row(rule: DuplicatesRule, pairs: list[dict], cluster: list[_Member]) -> dict:
    ranks = {member.rank for member in cluster}
    inside = [pair for pair in pairs if pair["lower_rank"] in ranks]
    if len(cluster) == 2:
        # A cluster of two is its one pair, read as the query wrote it.
        return dict(inside[0])

    template = inside[0]
    key = ", ".join(
        f"{column}=" + "|".join(member.parts[position] for member in cluster)
        for position, column in enumerate(rule.key)
    )
    values = [str(member.value) for member in cluster]
    scores = [pair["similarity"] for pair in inside]
    system, _, entity = rule.table.partition(".")
    field = template["field"]
    row = dict(template)
    row.update(
        key=key,
        owner_value=values[0],
        other_value=" | ".join(values[1:]),
        finding_id=finding_id(rule.id, template["entity"], key, field, template["problem"]),
        message=(
            f"{system} {entity} {field}s {', '.join(values[:-1])} and {values[-1]} are "
            f"{min(scores):.3f} to {max(scores):.3f} alike; these {len(cluster)} records "
            f"may be one {entity}"
        ),
    )
    return row
