"""The executive exception report: money at risk, what is new, what is ageing, who acts.

It answers in one screen what a CFO or operations director asks at month-end,
in the words of the business, with the change since the previous run.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pyarrow as pa

from engine.config import ReportConfig

from .batch import waiting_for_approval
from .branding import Brand
from .charts import Trend, bars, trend
from .headlines import FIGURE_COLUMNS, Figure, figures, headline_table
from .history import History, Lineage
from .ranking import (
    AGE_BUCKETS,
    age_bucket,
    at_risk,
    exception_order,
    owner_of,
    rank_by,
    system_pair,
)
from .render import render


@dataclass(frozen=True)
class Change:
    """A figure of this run beside the same figure of the previous run."""

    value: Decimal | int
    previous: Decimal | int | None
    as_money: bool = False

    @property
    def delta(self) -> Decimal | int | None:
        return None if self.previous is None else self.value - self.previous

    @property
    def direction(self) -> str:
        """`up`, `down` or `flat`; `first` when there is no previous run to compare with."""
        if self.delta is None:
            return "first"
        return "up" if self.delta > 0 else "down" if self.delta < 0 else "flat"


@dataclass(frozen=True)
class Headline:
    id: str
    label: str
    figure: Figure
    change: Change
    trend: Trend


@dataclass(frozen=True)
class RunTotals:
    """The figures of one run that the trend charts follow."""

    run_id: str
    findings: int
    amount: Decimal
    headlines: list[Figure]


def render_executive_report(
    manifest: dict,
    findings: pa.Table,
    actions: pa.Table | None,
    *,
    history: History,
    brand: Brand,
    settings: ReportConfig,
    run_report_href: str = "report.html",
    waiting: list[dict] | None = None,
) -> str:
    """HTML of the executive report of one run; every value is escaped by the templates.

    `waiting` are the actions a person still has to decide (see `waiting_for_approval`);
    without it, every action of the run waits.
    """
    rows = findings.to_pylist()
    lineage = {row["finding_id"]: history.lineage(row) for row in rows}
    table = headline_table(settings.headlines)

    # The current run and the earlier ones the trend shows, each totalled the same way.
    current = _totals(manifest["run_id"], rows, table)
    series = [
        _totals(run.run_id, run.findings(FIGURE_COLUMNS).to_pylist(), table)
        for run in history.trend_runs(settings.trend_runs)
    ] + [current]
    previous = series[-2] if history.previous is not None else None

    # What changed since the previous run.
    new = [row for row in rows if lineage[row["finding_id"]].new]
    resolved = history.resolved(row["finding_id"] for row in rows)
    if waiting is None:
        waiting = waiting_for_approval(actions, None)

    return render(
        "executive.html.j2",
        manifest=manifest,
        brand=brand,
        settings=settings,
        run_report_href=run_report_href,
        cur=f"{settings.currency} " if settings.currency else "",
        previous_run=history.previous.run_id if history.previous else None,
        total=Change(current.amount, previous.amount if previous else None, as_money=True),
        findings=Change(current.findings, previous.findings if previous else None),
        new=_summary(new) if previous else None,
        resolved=_summary(resolved) if previous else None,
        actions=len(waiting),
        batches=len({a["batch_id"] for a in waiting}),
        headlines=_headlines(series, previous),
        by_pair=rank_by(rows, system_pair),
        by_rule=rank_by(rows, lambda row: row["rule_id"]),
        by_owner=rank_by(rows, owner_of),
        ageing=_ageing(rows, lineage),
        trends=_trend_charts(series),
        top=_top(rows, lineage, settings.top_exceptions),
        causes=_causes(rows),
    )


def _causes(rows: list[dict]) -> list[dict]:
    """Findings that explain others, most explained first, with how many of those breach."""
    breached: dict[str, int] = {}
    for row in rows:
        if row.get("cause_id") and row.get("sla_breached"):
            breached[row["cause_id"]] = breached.get(row["cause_id"], 0) + 1
    causes = [row for row in rows if row.get("explains")]
    causes.sort(key=lambda row: (-row["explains"], row["rule_id"], row["key"]))
    return [{**row, "breached": breached.get(row["finding_id"], 0)} for row in causes]


def _totals(run_id: str, rows: list[dict], table: list) -> RunTotals:
    return RunTotals(run_id, len(rows), at_risk(rows), figures(table, rows))


def _summary(rows: list[dict]) -> dict:
    return {"count": len(rows), "amount": at_risk(rows)}


def _headlines(series: list[RunTotals], previous: RunTotals | None) -> list[Headline]:
    result = []
    labels = [run.run_id for run in series]
    for index, figure in enumerate(series[-1].headlines):
        before = previous.headlines[index].value if previous else None
        as_money = figure.headline.measure == "amount"
        values = [run.headlines[index].value for run in series]
        result.append(
            Headline(
                id=figure.headline.id,
                label=figure.headline.label,
                figure=figure,
                change=Change(figure.value, before, as_money=as_money),
                trend=trend(values, labels, width=120, height=28),
            )
        )
    return result


def _ageing(rows: list[dict], lineage: dict[str, Lineage]) -> dict:
    buckets = {
        label: {"label": label, "count": 0, "amount": Decimal(0)} for label, *_ in AGE_BUCKETS
    }
    for row in rows:
        bucket = buckets[age_bucket(lineage[row["finding_id"]].age_days)]
        bucket["count"] += 1
        bucket["amount"] += row["amount_at_risk"] or Decimal(0)
    entries = list(buckets.values())
    chart = bars([entry["count"] for entry in entries], [entry["label"] for entry in entries])
    return {"buckets": entries, "bars": chart}


def _trend_charts(series: list[RunTotals]) -> list[dict]:
    labels = [run.run_id for run in series]
    return [
        {
            "label": "Money at risk",
            "as_money": True,
            "trend": trend([run.amount for run in series], labels, width=460, height=70),
        },
        {
            "label": "Open findings",
            "as_money": False,
            "trend": trend([run.findings for run in series], labels, width=460, height=70),
        },
    ]


def _top(rows: list[dict], lineage: dict[str, Lineage], limit: int) -> list[dict]:
    ranked = sorted(rows, key=exception_order)[:limit]
    return [{**row, "lineage": lineage[row["finding_id"]]} for row in ranked]
