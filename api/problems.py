"""Errors as `application/problem+json` (RFC 9457): a status, a title and a detail a person
can act on; never a stack trace, a server path or a secret.

The engine's errors are translated here, in one place: access refused is 403, a
conflict with another decision 409, a busy catalog 503, bad input 422. Paths in the
engine's messages are cut to the tenant's own relative path before they leave.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tallyclerk.errors import (
    AccessError,
    CatalogBusyError,
    CatalogError,
    ConfigError,
    ConflictError,
    SourceError,
    TallyclerkError,
)

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    410: "Gone",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}
# The engine's messages speak to the command line; the same advice, said to an HTTP caller.
_FOR_HTTP = (
    (r"`tallyclerk batches show` it again", "read the batch again (GET /v1/batches/{run}/{pair})"),
    (r"\(`tallyclerk batches show` lists them\)", "(GET on the batch lists them)"),
    (r"`tallyclerk batches list` shows (them|all)", r"GET /v1/batches lists \1"),
    (r"\(`tallyclerk batches approve`\)", "(POST .../approve)"),
    (r"`tallyclerk findings list[^`]*` shows", "GET /v1/runs/{id}/findings shows"),
    (r"pass --comment saying why", "give a comment saying why"),
    (r"for example --(period|month) ", "for example "),
    (r"--period (\S+) is before", r"period \1 is before"),
    (r"run `tallyclerk (\w[^`]*)`", r"ask the server's operator to run tallyclerk \1"),
    (r"`tallyclerk (\w[^`]*)`", r"the server's operator's tallyclerk \1"),
)
_FOR_HTTP_RE = tuple((re.compile(pattern), said) for pattern, said in _FOR_HTTP)
# An absolute path left in a message after the known roots were cut: at least two parts.
_ABSOLUTE = re.compile(r"(?<![\w.:/-])/(?:[\w.@+-]+/)+[\w.@+-]*")


class ApiProblem(TallyclerkError):
    """An answer other than success, raised by the API layer itself."""

    def __init__(
        self, status: int, detail: str, *, title: str | None = None, headers: dict | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title or TITLES.get(status, "Error")
        self.detail = detail
        self.headers = headers or {}


def not_found(what: str) -> ApiProblem:
    return ApiProblem(404, f"{what} does not exist, or is not this key's tenant's.")


def problem_response(
    status: int, detail: str, *, title: str | None = None, headers: dict | None = None, **extra
) -> JSONResponse:
    body = {"type": "about:blank", "title": title or TITLES.get(status, "Error"), "status": status}
    body["detail"] = detail
    body |= extra
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


class Scrubber:
    """Cuts server paths out of messages: the workspaces folder becomes nothing, so a
    tenant's file reads `acme/tallyclerk.yaml`; any other absolute path becomes `<path>`.
    Advice to run a command of the command line is said for an HTTP caller instead."""

    def __init__(self, roots: list[Path]) -> None:
        names = {str(root) for root in roots} | {str(root.resolve()) for root in roots}
        self._roots = sorted(names, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for root in self._roots:
            text = text.replace(root + "/", "").replace(root, ".")
        text = _ABSOLUTE.sub("<path>", text)
        # After the paths, since the API's own paths read like server paths.
        for pattern, said in _FOR_HTTP_RE:
            text = pattern.sub(said, text)
        return text


def install(app: FastAPI, scrub: Scrubber) -> None:
    """Answer every error of `app` as a problem document."""

    @app.exception_handler(ApiProblem)
    async def _problem(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(exc.status, scrub(exc.detail), title=exc.title, headers=exc.headers)

    @app.exception_handler(TallyclerkError)
    async def _engine(request: Request, exc: TallyclerkError) -> JSONResponse:
        status, headers = _status_of(exc)
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc)
        return problem_response(status, scrub(str(exc)), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if any(error.get("type") == "json_invalid" for error in exc.errors()):
            # A body that is not JSON at all is a bad request, as the record endpoints say it.
            return problem_response(400, "the body is not valid JSON.")
        errors = [
            {"location": ".".join(str(part) for part in error["loc"]), "message": error["msg"]}
            for error in exc.errors()[:20]
        ]
        first = errors[0] if errors else {"location": "request", "message": "is not valid"}
        detail = f"{first['location']}: {first['message']}"
        return problem_response(422, scrub(detail), errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "")
        detail = scrub(detail)
        if exc.status_code == 404 and detail == "Not Found":
            # The caller's own path, not one of the server's: it is said as it was asked.
            detail = f"there is no {request.url.path}; the OpenAPI document is /openapi.json."
        return problem_response(exc.status_code, detail, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return problem_response(
            500, "the server failed to answer this request; it is logged on the server."
        )


def _status_of(exc: TallyclerkError) -> tuple[int, dict | None]:
    if isinstance(exc, AccessError):
        return 403, None
    if isinstance(exc, ConflictError):
        return 409, None
    if isinstance(exc, CatalogBusyError):
        return 503, {"Retry-After": "5"}
    if isinstance(exc, CatalogError):
        return 500, None
    if isinstance(exc, ConfigError | SourceError):
        return 422, None
    return 500, None
