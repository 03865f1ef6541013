"""The FastAPI application: one per workspaces folder, each tenant a workspace in it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tallyclerk.errors import ConfigError

from . import openapi, problems
from .auth import RateLimiter, metrics_reader
from .jobs import Jobs
from .keys import ApiKey, KeyStore
from .metrics import Guard, Metrics
from .routes_batches import router as batches_router
from .routes_events import router as events_router
from .routes_runs import router as runs_router
from .routes_validate import router as validate_router
from .schemas import problems as problem_answers
from .tenants import DuckDB, Tenants

DESCRIPTION = """\
Runs, findings, reports, ad-hoc validation and the approval workflow of tallyclerk, for
authenticated tenants. Every request but `/healthz` carries an API key made by
`tallyclerk keys create`, as `Authorization: Bearer tck_...`. A key belongs to one tenant
and one role (viewer, preparer, approver, admin); anything of another tenant answers 404.
A request body may be sent with `Content-Encoding: gzip`; the body limit holds for it once
decompressed. Errors are `application/problem+json`.
"""


@dataclass(frozen=True)
class Settings:
    """What a server is told on its command line."""

    workspaces: Path
    max_body_bytes: int = 16 * 1024 * 1024
    max_records: int = 10_000
    max_events: int = 1_000
    requests_per_minute: int = 600
    run_workers: int = 2


def create_app(settings: Settings) -> FastAPI:
    if not settings.workspaces.is_dir():
        raise ConfigError(
            f"--workspaces {settings.workspaces} is not a folder; name the folder holding "
            "one workspace folder per tenant."
        )
    app = FastAPI(
        title="tallyclerk",
        version="1",
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        lifespan=_lifespan,
    )
    metrics = Metrics()
    app.state.settings = settings
    app.state.keys = KeyStore(settings.workspaces)
    app.state.tenants = Tenants(settings.workspaces)
    app.state.limiter = RateLimiter(settings.requests_per_minute)
    app.state.metrics = metrics
    app.state.duckdb = DuckDB()
    scrub = problems.Scrubber([settings.workspaces])
    app.state.jobs = Jobs(metrics, workers=settings.run_workers, scrub=scrub)
    problems.install(app, scrub)

    @app.get("/healthz", tags=["service"], summary="Whether the server answers")
    def healthz() -> dict[str, str]:
        """Answers without a key, for load balancers and probes."""
        return {"status": "ok"}

    @app.get(
        "/metrics",
        tags=["service"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={
            200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
            **problem_answers(401, 403, 429),
        },
    )
    def metrics_text(key: Annotated[ApiKey, Depends(metrics_reader)]) -> Response:
        """Runs by outcome, findings by severity and rule, request latency by route; needs a
        key of the role `metrics`, which reads nothing of any tenant."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    for router in (validate_router, events_router, runs_router, batches_router):
        app.include_router(router)

    openapi.install(app)
    app.add_middleware(Guard, max_body=settings.max_body_bytes, metrics=metrics)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    # Runs still going finish first: a run stopped halfway leaves nothing, but would be lost.
    app.state.jobs.shutdown()
    app.state.keys.close()
