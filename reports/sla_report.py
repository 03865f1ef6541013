"""The partner's monthly SLA report: per tenant, findings opened and resolved, the median
time to resolve, and the breaches of the resolution targets; as HTML and as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime

from engine.sla_month import SEVERITIES, SlaFigures, SlaMonth

from .branding import Brand
from .render import render

CSV_COLUMNS = (
    "workspace",
    "folder",
    "month",
    "severity",
    "opened",
    "resolved",
    "median_days_to_resolve",
    "resolved_in_target",
    "breaches",
)


def render_sla_html(months: Sequence[SlaMonth], *, brand: Brand, month: str) -> str:
    """One page for every tenant's month; every value is escaped by the templates."""
    return render(
        "sla.html.j2",
        brand=brand,
        month=month,
        tenants=months,
        severities=SEVERITIES,
        manifest={"finished_at": datetime.now(UTC).isoformat(timespec="seconds")},
    )


def sla_csv(months: Sequence[SlaMonth]) -> str:
    """One row per tenant and severity, and one per tenant for all severities (`all`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for tenant in months:
        rows = [("all", tenant.total), *tenant.by_severity.items()]
        for severity, figures in rows:
            writer.writerow(
                [tenant.workspace, tenant.folder, tenant.month, severity, *_cells(figures)]
            )
    return buffer.getvalue()


def _cells(figures: SlaFigures) -> list[str | int]:
    median = "" if figures.median_days is None else f"{figures.median_days:g}"
    return [
        figures.opened,
        figures.resolved,
        median,
        figures.resolved_in_target,
        figures.breaches,
    ]
