"""The partner's portfolio: one page across every tenant workspace under a folder, with
money at risk, open and breached findings, the trend per customer, and a link into each
tenant's executive report.

The page carries the partner's brand: `branding` in `portfolio.yaml` beside the tenants
when there is one, else the brand every branded tenant shares. A tenant whose workspace
does not load is listed with its error, so one broken tenant never hides the others.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from engine.config import WORKSPACE_FILE, BrandingConfig, load_workspace
from engine.logo import check_logo
from tallyclerk.errors import ConfigError, TallyclerkError

from .branding import Brand, brand_for
from .charts import Trend, trend
from .history import RunFolder, finished_runs, runs_folder
from .pages import EXECUTIVE_REPORT
from .render import render

log = logging.getLogger(__name__)

PORTFOLIO_FILE = "portfolio.yaml"
TREND_RUNS = 6


class PortfolioConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    branding: BrandingConfig | None = None


@dataclass(frozen=True)
class Tenant:
    name: str
    folder: Path
    run_id: str | None = None
    period: str | None = None
    money_at_risk: Decimal = Decimal(0)
    open: int = 0
    breached: int = 0
    new: int = 0
    causes: int = 0
    executive_href: str | None = None
    money_trend: Trend | None = None
    open_trend: Trend | None = None
    error: str | None = None
    # The tenant's folder under the portfolio's: two tenants may share a display name.
    where: str = ""


@dataclass(frozen=True)
class Portfolio:
    tenants: list[Tenant] = field(default_factory=list)

    @property
    def money_at_risk(self) -> Decimal:
        return sum((t.money_at_risk for t in self.tenants), Decimal(0))

    @property
    def open(self) -> int:
        return sum(t.open for t in self.tenants)

    @property
    def breached(self) -> int:
        return sum(t.breached for t in self.tenants)


def tenant_folders(root: Path) -> list[Path]:
    """Workspaces under `root`: folders holding tallyclerk.yaml, to two levels down."""
    if not root.is_dir():
        raise ConfigError(f"{root} is not a folder; name the folder that holds the tenants.")
    found = sorted({path.parent for path in root.glob(f"*/{WORKSPACE_FILE}")})
    found += sorted({path.parent for path in root.glob(f"*/*/{WORKSPACE_FILE}")})
    if not found:
        raise ConfigError(
            f"no tenant workspaces under {root}: each tenant is a folder holding "
            f"{WORKSPACE_FILE}, directly under {root} or one level deeper."
        )
    return found


def build_portfolio(root: Path, *, out_dir: Path) -> tuple[Portfolio, Brand]:
    """Every tenant's latest run; links are relative to `out_dir`, where the page goes."""
    tenants, brands = [], []
    for folder in tenant_folders(root):
        try:
            workspace = load_workspace(folder)
        except TallyclerkError as exc:
            log.warning("tenant %s does not load: %s", folder, exc)
            error = " ".join(str(exc).split())
            tenants.append(Tenant(folder.name, folder, error=error, where=_where(root, folder)))
            continue
        if workspace.config.branding is not None:
            brands.append((workspace.config.branding, folder))
        tenant = _tenant(workspace.config.name, folder, out_dir)
        tenants.append(replace(tenant, where=_where(root, folder)))
    tenants.sort(key=lambda t: (t.error is not None, -t.money_at_risk, t.name, t.where))
    return Portfolio(tenants), _brand(root, brands)


def render_portfolio(portfolio: Portfolio, brand: Brand) -> str:
    written = datetime.now(UTC).isoformat(timespec="seconds")
    return render(
        "portfolio.html.j2",
        portfolio=portfolio,
        brand=brand,
        manifest={"finished_at": written},
    )


def _where(root: Path, folder: Path) -> str:
    return folder.relative_to(root).as_posix()


def _tenant(name: str, folder: Path, out_dir: Path) -> Tenant:
    runs = finished_runs(runs_folder(folder))
    if not runs:
        return Tenant(name, folder)
    latest = runs[-1]
    rows = [row for row in latest.findings().to_pylist() if _is_open(row)]
    series = runs[-TREND_RUNS:]
    totals = [_totals(run) for run in series]
    labels = [run.run_id for run in series]
    report = latest.folder / EXECUTIVE_REPORT
    href = Path(os.path.relpath(report.resolve(), out_dir.resolve())).as_posix()
    return Tenant(
        name,
        folder,
        run_id=latest.run_id,
        period=latest.manifest.get("period"),
        money_at_risk=sum((row["amount_at_risk"] or Decimal(0) for row in rows), Decimal(0)),
        open=len(rows),
        breached=sum(1 for row in rows if row.get("sla_breached")),
        new=sum(1 for row in rows if row.get("status") in ("new", "reopened")),
        causes=sum(1 for row in rows if row.get("explains")),
        executive_href=href if report.is_file() else None,
        money_trend=trend([money for money, _ in totals], labels, width=140, height=30),
        open_trend=trend([count for _, count in totals], labels, width=140, height=30),
    )


def _totals(run: RunFolder) -> tuple[Decimal, int]:
    rows = [row for row in run.findings().to_pylist() if _is_open(row)]
    return sum((row["amount_at_risk"] or Decimal(0) for row in rows), Decimal(0)), len(rows)


def _is_open(row: dict) -> bool:
    return row.get("waived_until") is None and row.get("status") != "resolved"


def _brand(root: Path, tenants: list[tuple[BrandingConfig, Path]]) -> Brand:
    path = root / PORTFOLIO_FILE
    if path.is_file():
        try:
            config = PortfolioConfig.model_validate(yaml.safe_load(path.read_text("utf-8")) or {})
        except (yaml.YAMLError, ValidationError) as exc:
            raise ConfigError(
                f"{path}: not a portfolio file: {exc}; it may hold `branding:` with "
                "partner_name, logo, colours and footer, as in a workspace."
            ) from exc
        if config.branding is not None:
            if config.branding.logo is not None:
                check_logo(config.branding.logo, folder=root, path=path)
            return brand_for(config.branding, root)
    names = {branding.partner_name for branding, _ in tenants}
    if len(names) == 1:
        return brand_for(*tenants[0])
    return brand_for(None, None)
