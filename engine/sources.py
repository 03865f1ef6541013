"""How each kind of source is declared in `tallyclerk.yaml`, and the checks made on load.

A source without `kind` is a file. Secrets are accepted only as `env:NAME`
references, so the workspace file never holds one.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from adapters.conninfo import SECRET_KEYS, is_uri, parse_conninfo
from adapters.secrets import is_env_reference, safe_url
from adapters.x12 import supported_columns, supported_pairs
from tallyclerk.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NumberFormatConfig(_Strict):
    """How a source writes numbers: `1.234,50` is decimal: "," with thousands: "."."""

    decimal: Literal[".", ","] = "."
    thousands: Literal[".", ",", " ", "\u00a0", "'"] | None = None


class WatermarkConfig(_Strict):
    """The source column holding each record's last change, for incremental reads."""

    column: str
    param: str | None = None


class _Source(_Strict):
    """What every source has: the entity it maps onto and how its columns map."""

    entity: str
    columns: dict[str, str | int | float] = {}
    types: dict[str, str] = {}
    value_maps: dict[str, dict[str, str]] = {}
    number_format: NumberFormatConfig | None = None

    @property
    def label(self) -> str:
        raise NotImplementedError(f"{type(self).__name__} must say how it is shown in messages")


class FileSource(_Source):
    """One file, a glob or a folder of daily files: CSV, Parquet, JSON, NDJSON or .xlsx."""

    kind: Literal["file"] = "file"
    file: str
    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: str = "utf-8"
    sheet: str | None = None
    records: str | None = None

    @property
    def label(self) -> str:
        return self.file


class PostgresSource(_Source):
    """One read-only query against PostgreSQL; `url` holds no password."""

    kind: Literal["postgres"]
    url: str
    password: str | None = None
    query: str
    watermark: WatermarkConfig | None = None

    @property
    def label(self) -> str:
        return "postgres query"


class SqliteSource(_Source):
    """One read-only query against a SQLite database file."""

    kind: Literal["sqlite"]
    file: str
    query: str
    watermark: WatermarkConfig | None = None

    @property
    def label(self) -> str:
        return f"sqlite {self.file}"


class AuthConfig(_Strict):
    """A bearer token, or OAuth2 client credentials; secrets only as env:NAME."""

    bearer: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None


class HttpSource(_Source):
    url: str
    auth: AuthConfig | None = None
    timeout: float = Field(30.0, gt=0)
    retries: int = Field(4, ge=0, le=10)
    watermark: WatermarkConfig | None = None

    @property
    def label(self) -> str:
        return safe_url(self.url)


class ODataSource(HttpSource):
    """An OData v4 entity set, as Dynamics 365 and SAP expose them."""

    kind: Literal["odata"]
    select: list[str] = []
    filter: str | None = None
    top: int | None = Field(None, gt=0)
    page_size: int | None = Field(None, gt=0)


class SuiteQLSource(HttpSource):
    """A NetSuite-style SuiteQL query, POSTed and paged by offset."""

    kind: Literal["suiteql"]
    query: str
    page_size: int = Field(1000, gt=0, le=1000)


class CursorPaging(_Strict):
    type: Literal["cursor"]
    param: str = "cursor"
    next: str = "next_cursor"


class PagePaging(_Strict):
    type: Literal["page"]
    param: str = "page"
    size_param: str = "per_page"
    size: int = Field(100, gt=0)
    first: int = 1


class RestSource(HttpSource):
    """A generic JSON REST endpoint returning a list of records, paged by cursor or page."""

    kind: Literal["rest"]
    records: str | None = None
    params: dict[str, str | int] = {}
    paging: Annotated[CursorPaging | PagePaging, Field(discriminator="type")] | None = None


class X12Source(_Source):
    """EDI X12 interchanges: one transaction set mapped onto one entity."""

    kind: Literal["x12"]
    file: str
    transaction: str

    @property
    def label(self) -> str:
        return self.file


SOURCE_KINDS = ("file", "postgres", "sqlite", "odata", "suiteql", "rest", "x12")
SourceConfig = Annotated[
    Annotated[FileSource, Tag("file")]
    | Annotated[PostgresSource, Tag("postgres")]
    | Annotated[SqliteSource, Tag("sqlite")]
    | Annotated[ODataSource, Tag("odata")]
    | Annotated[SuiteQLSource, Tag("suiteql")]
    | Annotated[RestSource, Tag("rest")]
    | Annotated[X12Source, Tag("x12")],
    Discriminator(
        lambda value: value.get("kind", "file") if isinstance(value, dict) else value.kind
    ),
]


# Query parameters that carry credentials; they belong in env:NAME references.
_CREDENTIAL_PARAMS = frozenset(
    {"access_token", "api_key", "apikey", "key", "password", "secret", "sig", "token"}
)


def check_source(source: SourceConfig, *, where: str) -> None:
    """Checks pydantic cannot make alone: secrets by reference, columns, X12 pairs."""
    if not source.columns and not isinstance(source, X12Source):
        raise ConfigError(f"{where}.columns: map at least the key of {source.entity}.")
    if isinstance(source, X12Source):
        _check_x12(source, where=where)
    if isinstance(source, PostgresSource):
        _check_connection_string(source.url, where=f"{where}.url")
        _check_secret(source.password, where=f"{where}.password")
    if isinstance(source, HttpSource):
        _check_url(source.url, where=f"{where}.url", secret_field="auth")
        if source.auth is not None:
            _check_auth(source.auth, where=f"{where}.auth")


def default_columns(source: SourceConfig) -> dict[str, str]:
    """Columns of an X12 source left unmapped: every canonical column the reader yields."""
    if isinstance(source, X12Source):
        return {name: name for name in supported_columns(source.transaction, source.entity)}
    return {}


def _check_x12(source: X12Source, *, where: str) -> None:
    pairs = supported_pairs()
    if (source.transaction, source.entity) not in pairs:
        known = ", ".join(f"{t} as {e}" for t, e in sorted(pairs))
        raise ConfigError(
            f"{where}: X12 {source.transaction} cannot be read as {source.entity}; "
            f"supported are: {known}."
        )


def _check_url(url: str, *, where: str, secret_field: str) -> None:
    if is_env_reference(url):
        return
    parts = urlsplit(url)
    if parts.password:
        raise ConfigError(
            f"{where}: the URL holds a password; remove it and give it as "
            f"`{secret_field}: env:NAME` (the name of an environment variable)."
        )
    for name, _ in parse_qsl(parts.query):
        if name.lower() in _CREDENTIAL_PARAMS:
            raise ConfigError(
                f"{where}: the URL holds the credential parameter {name!r}; remove it and "
                f"give the secret as `{secret_field}` with an env:NAME reference."
            )


def _check_connection_string(url: str, *, where: str) -> None:
    """A PostgreSQL URI, or libpq's key=value pairs: neither may hold the password."""
    if is_env_reference(url) or is_uri(url):
        _check_url(url, where=where, secret_field="password")
        return
    written = SECRET_KEYS & set(parse_conninfo(url, where=where))
    if written:
        raise ConfigError(
            f"{where}: the connection string holds {' and '.join(sorted(written))}=...; "
            "remove it and give the password as `password: env:NAME` (the name of an "
            "environment variable)."
        )


def _check_secret(value: str | None, *, where: str) -> None:
    if value is not None and not is_env_reference(value):
        raise ConfigError(
            f"{where}: secrets are written as env:NAME (the name of an environment "
            "variable holding the value), never as the value itself."
        )


def _check_auth(auth: AuthConfig, *, where: str) -> None:
    _check_secret(auth.bearer, where=f"{where}.bearer")
    _check_secret(auth.client_secret, where=f"{where}.client_secret")
    oauth = (auth.token_url, auth.client_id, auth.client_secret)
    if auth.bearer is None and not all(oauth):
        raise ConfigError(
            f"{where}: give either `bearer: env:NAME`, or `token_url`, `client_id` and "
            "`client_secret` for OAuth2 client credentials."
        )
    if auth.bearer is not None and any(oauth):
        raise ConfigError(f"{where}: give a bearer token or OAuth2 client credentials, not both.")
