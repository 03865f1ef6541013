"""A tenant's month against its resolution targets, read from the catalog's findings history.

A finding is open from the day of the run that found it (new or reopened) to the day
of the run that no longer finds it; each such stretch is one episode. A month's
figures count the episodes opened and resolved in it, the median days an episode
resolved in it took, and the breaches in it: episodes whose target day passed in the
month while a run still found them open and not waived, or that a run found resolved
only after that day.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from tallyclerk.errors import ConfigError

from .catalog import Catalog
from .sla import SlaConfig, Target

SEVERITIES = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class Episode:
    finding_id: str
    rule_id: str
    key: str
    severity: str
    opened: date
    resolved: date | None
    due: date | None
    breached_seen: bool


@dataclass(frozen=True)
class SlaFigures:
    """One month's figures for one set of episodes (all, or one severity)."""

    opened: int
    resolved: int
    median_days: float | None
    breaches: int
    resolved_in_target: int


@dataclass(frozen=True)
class SlaMonth:
    workspace: str
    month: str
    total: SlaFigures
    by_severity: dict[str, SlaFigures] = field(default_factory=dict)
    breached: list[Episode] = field(default_factory=list)
    # The tenant's workspace folder: two tenants may share a display name.
    folder: str = ""


def month_bounds(text: str) -> tuple[date, date]:
    """`2026-11` to its first day and the first day of the next month."""
    try:
        first = date.fromisoformat(f"{text}-01")
    except ValueError:
        raise ConfigError(
            f"invalid month {text!r}: write it as YYYY-MM, for example --month 2026-11."
        ) from None
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, following


def episodes(catalog: Catalog, sla: SlaConfig) -> list[Episode]:
    """Every open stretch of every finding the catalog has seen, with its target day."""
    with catalog.read() as con:
        runs = {
            r["run_id"]: (r["seq"], date.fromisoformat(r["run_date"]))
            for r in con.execute("SELECT run_id, seq, run_date FROM runs")
        }
        meta = {
            r["finding_id"]: (
                r["rule_id"],
                r["key"],
                json.loads(r["last_row"]).get("severity") or "low",
            )
            for r in con.execute("SELECT finding_id, rule_id, key, last_row FROM findings")
        }
        history = con.execute(
            "SELECT run_id, finding_id, status, waiver_id FROM finding_history"
        ).fetchall()
    by_finding: dict[str, list[tuple[int, date, str, bool]]] = {}
    for row in history:
        seq, day = runs[row["run_id"]]
        by_finding.setdefault(row["finding_id"], []).append(
            (seq, day, row["status"], row["waiver_id"] is not None)
        )
    found = []
    for finding_id, seen in by_finding.items():
        rule_id, key, severity = meta[finding_id]
        target = sla.target(rule_id, severity)
        found += _split((finding_id, rule_id, key, severity), sorted(seen), target)
    return found


def _split(
    identity: tuple[str, str, str, str],
    seen: list[tuple[int, date, str, bool]],
    target: Target | None,
) -> list[Episode]:
    """The episodes of one finding (id, rule, key, severity) from its history, oldest run
    first."""
    result, opened, due, breached = [], None, None, False
    for _, day, status, waived in seen:
        if status in ("new", "reopened") or (opened is None and status != "resolved"):
            opened, breached = day, False
            due = target.due(day) if target is not None else None
        if opened is None:
            continue
        if status == "resolved":
            late = due is not None and day > due
            result.append(Episode(*identity, opened, day, due, breached or late))
            opened = None
        elif due is not None and day > due and not waived:
            breached = True
    if opened is not None:
        result.append(Episode(*identity, opened, None, due, breached))
    return result


def sla_month(
    catalog: Catalog, sla: SlaConfig, month: str, *, workspace: str, folder: str = ""
) -> SlaMonth:
    """The month's figures of one workspace, in total and per severity."""
    start, end = month_bounds(month)
    every = episodes(catalog, sla)
    breached = [e for e in every if _breached_in(e, start, end)]
    breached.sort(key=lambda e: (e.due, e.rule_id, e.finding_id))
    by_severity = {
        severity: _figures([e for e in every if e.severity == severity], start, end)
        for severity in SEVERITIES
    }
    total = _figures(every, start, end)
    return SlaMonth(workspace, month, total, by_severity, breached, folder=folder)


def _figures(every: Iterable[Episode], start: date, end: date) -> SlaFigures:
    every = list(every)
    opened = [e for e in every if start <= e.opened < end]
    resolved = [e for e in every if e.resolved is not None and start <= e.resolved < end]
    days = [(e.resolved - e.opened).days for e in resolved]
    breaches = [e for e in every if _breached_in(e, start, end)]
    in_target = [e for e in resolved if e.due is None or e.resolved <= e.due]
    return SlaFigures(
        opened=len(opened),
        resolved=len(resolved),
        median_days=statistics.median(days) if days else None,
        breaches=len(breaches),
        resolved_in_target=len(in_target),
    )


def _breached_in(episode: Episode, start: date, end: date) -> bool:
    """Breached on the day after its target day, when that day falls in the month."""
    if not episode.breached_seen or episode.due is None:
        return False
    return start <= episode.due + timedelta(days=1) < end
