"""HTTP for the API adapters: timeouts, retries with backoff, auth from env:NAME references.

5xx answers, 429 and dropped connections are retried with exponential backoff,
honouring `Retry-After`. Every other error status fails at once with a message
naming the URL (without secrets), the status and what to check.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from tallyclerk.errors import ConfigError, SourceError
from tallyclerk.wording import plural

from .records import loads_exact
from .secrets import Secrets, safe_url

log = logging.getLogger(__name__)

BACKOFF_SECONDS = 0.5
MAX_WAIT_SECONDS = 60.0
_RETRIED = frozenset({429, 500, 502, 503, 504})
_HINTS = {
    401: "the credentials were refused: check the token or client secret in the environment",
    403: "the credentials lack permission for this resource: ask the system's admin for read "
    "access",
    404: "the resource does not exist: check `url:` in tallyclerk.yaml",
    429: "the server kept asking to slow down: try again later, or lower the page size",
}


@dataclass(frozen=True)
class Auth:
    """A bearer token, or OAuth2 client credentials; secret fields are env:NAME references."""

    bearer: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None


@dataclass(frozen=True)
class HttpSettings:
    url: str
    auth: Auth | None = None
    timeout: float = 30.0
    retries: int = 4


class HttpClient:
    """One API's connection for one extraction; `where` names system and entity."""

    def __init__(
        self,
        settings: HttpSettings,
        *,
        where: str,
        secrets: Secrets,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings, self.where, self.secrets, self._sleep = settings, where, secrets, sleep
        self._client = httpx.Client(
            timeout=settings.timeout, follow_redirects=True, transport=transport
        )
        self._token: str | None = None
        self.requests = 0

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *_: object) -> None:
        self._client.close()

    def get_json(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        return self.json_of(self.request("GET", url, params=params, headers=headers))

    def post_json(
        self,
        url: str,
        *,
        body: Any,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        return self.json_of(self.request("POST", url, params=params, json=body, headers=headers))

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        """Send one request with auth, retrying what can be retried."""
        headers = {"Accept": "application/json", **(options.pop("headers", None) or {})}
        attempt, refreshed = 0, False
        while True:
            headers.update(self._auth_headers())
            try:
                response = self._client.request(method, url, headers=headers, **options)
                self.requests += 1
            except httpx.TransportError as exc:
                if attempt >= self.settings.retries:
                    raise SourceError(
                        f"{self.where}: {method} {safe_url(url)} failed after "
                        f"{plural(attempt + 1, 'attempt')}: {type(exc).__name__}: "
                        f"{self.secrets.redact(str(exc)) or 'no answer'}. "
                        "Check that the API is reachable and raise `timeout:` if it is slow."
                    ) from None
                self._wait(attempt, None, f"{method} {safe_url(url)}: {type(exc).__name__}")
                attempt += 1
                continue
            if response.status_code < 400:
                return response
            if response.status_code == 401 and self._token is not None and not refreshed:
                # An access token can expire during a long extraction: fetch a new one once.
                self._token, refreshed = None, True
                continue
            if response.status_code in _RETRIED and attempt < self.settings.retries:
                self._wait(attempt, response, f"{method} {safe_url(url)}: {response.status_code}")
                attempt += 1
                continue
            raise self._status_error(method, response, attempts=attempt + 1)

    def _wait(self, attempt: int, response: httpx.Response | None, what: str) -> None:
        delay = BACKOFF_SECONDS * 2**attempt
        advised = _retry_after(response) if response is not None else None
        if advised is not None:
            delay = advised
        if delay > MAX_WAIT_SECONDS:
            raise SourceError(
                f"{self.where}: {what}: the server asks to wait {delay:.0f} s before retrying, "
                f"more than the {MAX_WAIT_SECONDS:.0f} s allowed; run again later."
            )
        log.warning("%s: %s; retrying in %.1f s", self.where, what, delay)
        self._sleep(delay)

    def _status_error(self, method: str, response: httpx.Response, *, attempts: int) -> SourceError:
        status = response.status_code
        hint = _HINTS.get(status) or (
            "the server failed: try again later, or ask the system's admin"
            if status >= 500
            else "the request was refused: check the source settings in tallyclerk.yaml"
        )
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        detail = self.secrets.redact(response.text.strip()[:200])
        return SourceError(
            f"{self.where}: {method} {safe_url(str(response.request.url))} returned HTTP "
            f"{status} {response.reason_phrase}{tried}: {hint}."
            + (f" The server said: {detail!r}" if detail else "")
        )

    def json_of(self, response: httpx.Response) -> Any:
        try:
            return loads_exact(response.content)
        except ValueError as exc:
            kind = response.headers.get("content-type", "no content type")
            raise SourceError(
                f"{self.where}: {response.request.method} {safe_url(str(response.request.url))} "
                f"returned HTTP {response.status_code} with {kind}, not JSON ({exc}); check "
                "`url:` points at the API and not at a login page."
            ) from exc

    def _auth_headers(self) -> dict[str, str]:
        auth = self.settings.auth
        if auth is None:
            return {}
        if auth.bearer is not None:
            return {
                "Authorization": f"Bearer {self.secrets.resolve(auth.bearer, where=self.where)}"
            }
        if self._token is None:
            self._token = self._client_credentials(auth)
        return {"Authorization": f"Bearer {self._token}"}

    def _client_credentials(self, auth: Auth) -> str:
        """An OAuth2 access token for the client credentials grant."""
        if not (auth.token_url and auth.client_id and auth.client_secret):
            raise ConfigError(
                f"{self.where}: auth needs `bearer`, or `token_url`, `client_id` and "
                "`client_secret` for OAuth2 client credentials."
            )
        client_id = auth.client_id
        if client_id.startswith("env:"):
            client_id = self.secrets.resolve(client_id, where=f"{self.where}: auth.client_id")
        form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": self.secrets.resolve(
                auth.client_secret, where=f"{self.where}: auth.client_secret"
            ),
        }
        if auth.scope:
            form["scope"] = auth.scope
        shown = safe_url(auth.token_url)
        try:
            response = self._client.post(auth.token_url, data=form)
        except httpx.TransportError as exc:
            raise SourceError(
                f"{self.where}: POST {shown} (OAuth2 token) failed: {type(exc).__name__}."
            ) from None
        if response.status_code >= 400:
            raise SourceError(
                f"{self.where}: POST {shown} (OAuth2 token) returned HTTP "
                f"{response.status_code} {response.reason_phrase}: the client credentials "
                "were refused; check client_id, client_secret and scope."
            )
        token = self.json_of(response).get("access_token")
        if not token:
            raise SourceError(
                f"{self.where}: POST {shown} (OAuth2 token) returned no access_token."
            )
        self.secrets.remember(token)
        return str(token)


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a `Retry-After` header, given as seconds or as an HTTP date."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def highest(records: list[dict], field: str | None) -> str | None:
    """The largest value of a watermark field among `records` (ISO text compares in order)."""
    if field is None:
        return None
    values = [str(r[field]) for r in records if r.get(field) not in (None, "")]
    return max(values, default=None)
