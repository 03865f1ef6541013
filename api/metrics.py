"""Prometheus metrics of one server: runs by outcome, findings by severity and rule, and the
latency of requests by route; and the ASGI layer that times requests and caps and decompresses
bodies."""

from __future__ import annotations

import time

import pyarrow as pa
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .encoding import decoded
from .problems import ApiProblem, problem_response

# Headers describing the body as sent, which the body the app reads replaces.
_REWRITTEN = (b"content-encoding", b"content-length")
_BUCKETS = (0.005, 0.01, 0.02, 0.04, 0.06, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The counters and histograms of one application, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "tallyclerk_request_duration_seconds",
            "Time to answer a request, by method, route and status.",
            ["method", "route", "status"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.runs = Counter(
            "tallyclerk_runs",
            "Runs started through the API that ended, by tenant and outcome.",
            ["tenant", "outcome"],
            registry=self.registry,
        )
        self.findings = Counter(
            "tallyclerk_findings",
            "Findings reported, by tenant, where they came from (run, validate, events), "
            "severity and rule.",
            ["tenant", "source", "severity", "rule"],
            registry=self.registry,
        )

    def count_findings(self, tenant: str, source: str, findings: pa.Table) -> None:
        if not findings.num_rows:
            return
        pairs = zip(findings["severity"].to_pylist(), findings["rule_id"].to_pylist(), strict=True)
        counted: dict[tuple[str, str], int] = {}
        for pair in pairs:
            counted[pair] = counted.get(pair, 0) + 1
        for (severity, rule), count in counted.items():
            self.findings.labels(tenant, source, severity or "", rule).inc(count)


class Guard:
    """Pure ASGI: reads every body before the app does, refusing one over `max_body` bytes with
    413 and decompressing one sent with gzip (see `api.encoding`), and times every request
    into the latency histogram by its route's path template."""

    def __init__(self, app: ASGIApp, *, max_body: int, metrics: Metrics) -> None:
        self.app = app
        self.max_body = max_body
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            try:
                body = await self._body(scope, receive)
            except ApiProblem as refused:
                answer = problem_response(refused.status, refused.detail, headers=refused.headers)
                await answer(scope, receive, sending)
                return
            await self.app(scope, _replay(body, receive), sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], template, str(status["code"])).observe(
                time.perf_counter() - started
            )

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        """The body as the app reads it: whole, within the limit and decompressed; the scope's
        headers are changed to describe it."""
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body:
            raise self._too_large()
        body, more = await self._read(receive)
        if more:
            raise self._too_large()

        # A request without a body has nothing to decode, whatever its headers say.
        encoding = _header(scope, b"content-encoding")
        if not body or encoding is None:
            return body
        body = await run_in_threadpool(decoded, body, encoding, max_body=self.max_body)

        # In place, as the router adds the route to this scope: the timing above reads it.
        kept = [(name, value) for name, value in scope["headers"] if name not in _REWRITTEN]
        scope["headers"] = [*kept, (b"content-length", b"%d" % len(body))]
        return body

    async def _read(self, receive: Receive) -> tuple[bytes, bool]:
        """The whole body, or what arrived before it passed the limit and True."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks), False
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return b"", True
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), False

    def _too_large(self) -> ApiProblem:
        return ApiProblem(
            413,
            f"the body is over {self.max_body:,} bytes, this server's limit; send a smaller body, "
            "or fewer records per request.",
        )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    """A header's value; several lines of it are one comma-separated list, as HTTP reads them."""
    values = [value.decode("latin-1") for key, value in scope.get("headers", []) if key == name]
    return ", ".join(values) if values else None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
