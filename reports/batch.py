"""The batch sheet: the actions of one batch with before and after values, for an approver."""

from __future__ import annotations

import json
from collections import Counter

import pyarrow as pa

from engine.config import ReportConfig
from tallyclerk.errors import ConfigError

from .branding import Brand, brand_for
from .ranking import at_risk, exception_order
from .render import render


def batch_ids(actions: pa.Table | None) -> list[str]:
    if actions is None or actions.num_rows == 0:
        return []
    return sorted(set(actions["batch_id"].to_pylist()))


def render_batch_sheet(
    manifest: dict,
    actions: pa.Table | None,
    findings: pa.Table,
    batch_id: str,
    *,
    brand: Brand | None = None,
    settings: ReportConfig | None = None,
) -> str:
    """HTML of one batch's actions; a ConfigError names the batches when `batch_id` is unknown."""
    known = batch_ids(actions)
    if batch_id not in known:
        raise ConfigError(
            f"run {manifest['run_id']} has no batch {batch_id!r}; "
            f"its batches are: {', '.join(known) or 'none (the run proposed no actions)'}."
        )
    chosen = [row for row in actions.to_pylist() if row["batch_id"] == batch_id]
    by_id = {row["finding_id"]: row for row in findings.to_pylist()}
    rows = []
    # An action carries its finding's money, severity, rule and key, so it sorts like one.
    for action in sorted(chosen, key=exception_order):
        finding = by_id.get(action["finding_id"], {})
        before, after = before_after(action, finding)
        rows.append({**action, "before": before, "after": after, "finding": finding})

    return render(
        "batch.html.j2",
        manifest=manifest,
        brand=brand or brand_for(None, None),
        settings=settings or ReportConfig(),
        batch_id=batch_id,
        target=chosen[0]["target_system"],
        entity=chosen[0]["entity"],
        rows=rows,
        amount=at_risk(chosen),
        by_action=sorted(Counter(row["action"] for row in chosen).items()),
        by_risk=sorted(Counter(row["risk"] for row in chosen).items()),
        statuses=sorted(Counter(row["status"] for row in chosen).items()),
    )


def before_after(action: dict, finding: dict) -> tuple[str, str]:
    """What the target record holds now, and what it will hold once the action is applied."""
    payload = json.loads(action["payload"] or "{}")
    target = action["target_system"]
    kind = action["action"]
    if kind == "update" and isinstance(payload.get("set"), dict):
        before = "; ".join(_text(value) for value in (payload.get("expect") or {}).values())
        return before or _text(None), "; ".join(_text(v) for v in payload["set"].values())
    if kind == "create":
        source = payload.get("copy_from") or finding.get("owner_system") or "the owner"
        return f"not in {target}", f"created as in {source}"
    if kind == "void":
        voided = len(payload.get("void") or [])
        return f"{finding.get('other_value') or 'several'} records", (
            f"{voided} voided, one kept" if voided else "a person voids all but one"
        )
    if kind == "merge":
        return "two records", "merged into one"
    if kind == "journal":
        lines = payload.get("lines") or []
        return f"{_text(finding.get('other_value'))}", (
            f"journal {payload.get('journal')}: {len(lines)} lines, to "
            f"{_text(finding.get('owner_value'))}"
        )
    # "review" is what runs written before route actions existed call them.
    if kind in ("route", "review"):
        now, owner = finding.get("other_value"), finding.get("owner_value")
        who = payload.get("to")
        decides = f"{who} decides" if who and who != "unassigned" else "a person decides"
        if owner is None:
            return _text(now), decides
        return _text(now), f"as in {finding['owner_system']}: {owner}"
    return "", json.dumps(payload, sort_keys=True)


def _text(value: object) -> str:
    return "(empty)" if value is None or value == "" else str(value)
