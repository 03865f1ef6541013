"""The run report: every finding of one run, grouped by rule, sortable and filterable offline.

For runs with more findings than a browser handles well, each rule shows its
first rows (most money at risk first) and points to findings.parquet for the rest.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import pyarrow as pa

from engine.config import ReportConfig

from .branding import Brand, brand_for
from .history import History, period_last_day
from .ranking import SEVERITIES, at_risk, exception_order
from .render import render


def render_run_report(
    manifest: dict,
    findings: pa.Table,
    actions: pa.Table | None,
    *,
    history: History | None = None,
    brand: Brand | None = None,
    settings: ReportConfig | None = None,
    executive_href: str | None = "executive.html",
) -> str:
    """HTML of every finding of one run; every value is escaped by the templates."""
    settings = settings or ReportConfig()
    history = history or History(manifest["run_id"], period_last_day(manifest))
    rows = findings.to_pylist()
    for row in rows:
        row["lineage"] = history.lineage(row)

    by_rule: dict[str, list[dict]] = defaultdict(list)
    for row in sorted(rows, key=exception_order):
        by_rule[row["rule_id"]].append(row)
    limit = settings.rows_per_rule
    rules = [
        {
            "id": rule_id,
            "kind": items[0]["kind"],
            "entity": items[0]["entity"],
            "count": len(items),
            "new": sum(1 for item in items if item["lineage"].new),
            "amount": at_risk(items),
            "rows": items[:limit],
            "hidden": max(0, len(items) - limit),
        }
        for rule_id, items in sorted(by_rule.items())
    ]
    severity = Counter(row["severity"] for row in rows)
    action_rows = actions.to_pylist() if actions is not None else []
    return render(
        "run.html.j2",
        manifest=manifest,
        brand=brand or brand_for(None, None),
        settings=settings,
        executive_href=executive_href,
        previous_run=history.previous.run_id if history.previous else None,
        rules=rules,
        total=len(rows),
        shown=sum(len(rule["rows"]) for rule in rules),
        new=sum(1 for row in rows if row["lineage"].new),
        severities=[(name, severity.get(name, 0)) for name in SEVERITIES],
        severity_rank={name: rank for rank, name in enumerate(SEVERITIES)},
        total_amount=at_risk(rows),
        actions_by_target=sorted(Counter(a["target_system"] for a in action_rows).items()),
        batches=sorted(Counter(a["batch_id"] for a in action_rows).items()),
        actions=len(action_rows),
    )
