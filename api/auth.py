"""Who is calling: the API key in `Authorization: Bearer ...`, its tenant, and whether its role
may do what the endpoint does; and how many requests the key has made this minute.

A key's role is checked against the same permissions as the command line's
(`engine.access.PERMISSIONS`). A key made for a workspace user (`keys create --user`)
acts as that user: the user must still be declared in the tenant's `tallyclerk.yaml`
with a role that allows the step too, and four eyes and the audit trail see the user,
so one person is one identity on the command line and through the API. A key made for
no user acts as `key:<id>`.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from engine.access import PERMISSIONS, authorize

from .keys import METRICS_ROLE, ApiKey, KeyStore
from .problems import ApiProblem
from .tenants import Tenant, Tenants

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="An API key from `tallyclerk keys create`, as `Authorization: Bearer tck_...`.",
)

Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


@dataclass(frozen=True)
class Caller:
    """The key a request came with, and the tenant it belongs to."""

    key: ApiKey
    tenant: Tenant

    @property
    def user(self) -> str:
        return self.key.identity


class RateLimiter:
    """At most `per_minute` requests per key in any 60 seconds."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key_id: str) -> None:
        now = time.monotonic()
        with self._lock:
            seen = self._seen.setdefault(key_id, deque())
            while seen and seen[0] <= now - 60:
                seen.popleft()
            if len(seen) >= self.per_minute:
                wait = max(1, math.ceil(seen[0] + 60 - now))
                raise ApiProblem(
                    429,
                    f"this key made {self.per_minute} requests in the last minute, its limit; "
                    f"try again in {wait} s.",
                    headers={"Retry-After": str(wait)},
                )
            seen.append(now)


def presented_key(request: Request, credentials: HTTPAuthorizationCredentials | None) -> ApiKey:
    """The live key of the request, counted against its rate limit, or 401."""
    if credentials is None:
        raise ApiProblem(
            401,
            "no API key: send one as `Authorization: Bearer tck_...`; "
            "`tallyclerk keys create` makes one.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    store: KeyStore = request.app.state.keys
    key, why = store.verify(credentials.credentials)
    if key is None:
        raise ApiProblem(401, f"API key refused: {why}.", headers={"WWW-Authenticate": "Bearer"})
    request.state.key_id = key.key_id
    request.app.state.limiter.check(key.key_id)
    return key


def caller(permission: str) -> Callable[..., Caller]:
    """A dependency: the caller, when its key's role (and its user's) may `permission`."""
    allowed = PERMISSIONS[permission]

    def dependency(request: Request, credentials: Credentials) -> Caller:
        key = presented_key(request, credentials)
        if key.role == METRICS_ROLE or key.tenant is None:
            raise ApiProblem(403, "a metrics key reads /metrics only.")
        tenants: Tenants = request.app.state.tenants
        tenant = tenants.get(key.tenant)
        if key.role not in allowed:
            raise ApiProblem(
                403,
                f"this key has the role {key.role}; to {permission} needs "
                f"{' or '.join(sorted(allowed))}.",
            )
        if key.user is not None:
            workspace = tenants.workspace(tenant)
            with tenant.catalog() as catalog:
                authorize(catalog, workspace.config, key.user, permission)
        return Caller(key, tenant)

    return dependency


def metrics_reader(request: Request, credentials: Credentials) -> ApiKey:
    key = presented_key(request, credentials)
    if key.role != METRICS_ROLE:
        raise ApiProblem(
            403, "/metrics needs a metrics key (`tallyclerk keys create --role metrics`)."
        )
    return key
