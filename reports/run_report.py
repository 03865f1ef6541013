"""The run report: every finding of one run, grouped by rule, as one self-contained HTML file."""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal

import pyarrow as pa
from jinja2 import Environment, PackageLoader, select_autoescape

# Findings shown per rule before the report points to findings.parquet instead.
ROWS_PER_RULE = 500
SEVERITIES = ("critical", "high", "medium", "low")

_env = Environment(
    loader=PackageLoader("reports", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def money(value: Decimal | float | int | None) -> str:
    if value is None:
        return ""
    return f"{Decimal(value):,.2f}"


_env.filters["money"] = money


def render_run_report(manifest: dict, findings: pa.Table, actions: pa.Table | None) -> str:
    """HTML for one run; every value is escaped by the template engine."""
    rows = findings.to_pylist()
    by_rule: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_rule[row["rule_id"]].append(row)
    severity = Counter(row["severity"] for row in rows)
    action_rows = actions.to_pylist() if actions is not None else []
    rules = [
        {
            "id": rule_id,
            "kind": items[0]["kind"],
            "count": len(items),
            "amount": sum((r["amount_at_risk"] or 0 for r in items), Decimal(0)),
            "rows": items[:ROWS_PER_RULE],
            "truncated": max(0, len(items) - ROWS_PER_RULE),
        }
        for rule_id, items in sorted(by_rule.items())
    ]
    return _env.get_template("run.html.j2").render(
        manifest=manifest,
        rules=rules,
        severities=[(name, severity.get(name, 0)) for name in SEVERITIES],
        total_amount=sum((r["amount_at_risk"] or 0 for r in rows), Decimal(0)),
        actions_by_target=sorted(Counter(a["target_system"] for a in action_rows).items()),
        actions=len(action_rows),
    )
